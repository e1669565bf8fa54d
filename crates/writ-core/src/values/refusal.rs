//! Why a command was refused. Refusals change nothing.

use std::fmt;

/// The class of a refusal; the server maps each to one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// The command's content is invalid (unknown entitlement, too long, …): 422.
    Invalid,
    /// The thing the command is about does not exist: 404.
    NotFound,
    /// The actor may not do this: 403.
    Forbidden,
    /// The state no longer allows it (not pending, already decided, duplicate): 409.
    Conflict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    /// A stable slug naming the rule, e.g. `not-eligible`, `not-pending`.
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Invalid,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::NotFound,
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Forbidden,
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Conflict,
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}
