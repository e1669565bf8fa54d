//! Who caused a change.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::names::Name;

/// Who caused a change: an authenticated identity, or Writ itself (the scheduler,
/// start-up, the offline bootstrap). Encoded as the identity's name or `system:<what>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Actor {
    Identity(Name),
    System(String),
}

impl Actor {
    pub fn system(what: &str) -> Actor {
        Actor::System(what.to_owned())
    }

    pub fn identity(&self) -> Option<&Name> {
        match self {
            Actor::Identity(n) => Some(n),
            Actor::System(_) => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Identity(n) => f.write_str(n.as_str()),
            Actor::System(w) => write!(f, "system:{w}"),
        }
    }
}

impl TryFrom<String> for Actor {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.strip_prefix("system:") {
            Some(w) => Ok(Actor::System(Name::parse(w)?.to_string())),
            None => Ok(Actor::Identity(Name::parse(&s)?)),
        }
    }
}

impl From<Actor> for String {
    fn from(a: Actor) -> String {
        a.to_string()
    }
}
