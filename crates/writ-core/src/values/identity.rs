//! Identities: people and the non-human identities they own.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::names::{Name, within};
use super::time::DurationSpec;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: Name,
    pub display_name: String,
    pub status: IdentityStatus,
    /// Groups such as `security`, used by approval policy.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// Privileges in Writ itself (not access to target systems).
    #[serde(default)]
    pub roles: BTreeSet<Role>,
    pub kind: IdentityKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityStatus {
    Active,
    Inactive,
}

/// What an identity may do in Writ beyond asking and deciding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Catalogues identities, systems and entitlements; issues tokens; revokes grants.
    Admin,
    /// Reads everything, writes nothing.
    Auditor,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IdentityKind {
    Human(Human),
    Nhi(Nhi),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Human {
    pub email: String,
    pub manager: Option<Name>,
    pub department: Option<String>,
    pub employment_type: EmploymentType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentType {
    Employee,
    Contractor,
    Vendor,
}

/// A non-human identity: always owned by a person who answers for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nhi {
    pub nhi_kind: NhiKind,
    pub owner: Name,
    pub purpose: String,
    pub environment: String,
    pub rotation_period: DurationSpec,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NhiKind {
    ServiceAccount,
    ApiKey,
    Token,
    Secret,
    Workload,
    Agent,
}

impl Identity {
    pub fn is_active(&self) -> bool {
        self.status == IdentityStatus::Active
    }

    pub fn is_human(&self) -> bool {
        matches!(self.kind, IdentityKind::Human(_))
    }

    pub fn manager(&self) -> Option<&Name> {
        match &self.kind {
            IdentityKind::Human(h) => h.manager.as_ref(),
            IdentityKind::Nhi(_) => None,
        }
    }

    pub fn owner(&self) -> Option<&Name> {
        match &self.kind {
            IdentityKind::Nhi(n) => Some(&n.owner),
            IdentityKind::Human(_) => None,
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn kind_label(&self) -> &'static str {
        match &self.kind {
            IdentityKind::Human(_) => "human",
            IdentityKind::Nhi(_) => "nhi",
        }
    }

    /// Checks the identity on its own; relations to others are checked by `decide`.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.display_name.trim().chars().count();
        if n == 0 || n > 200 {
            return Err(format!(
                "display name of `{}` must be 1-200 characters",
                self.name
            ));
        }
        if self.has_role(Role::Admin) && self.has_role(Role::Auditor) {
            return Err(format!(
                "`{}` cannot be both admin and auditor: an auditor writes nothing",
                self.name
            ));
        }
        if self.groups.len() > 200 {
            return Err(format!(
                "`{}` is in {} groups; at most 200",
                self.name,
                self.groups.len()
            ));
        }
        for g in &self.groups {
            Name::parse(g).map_err(|e| format!("group of `{}`: {e}", self.name))?;
        }
        match &self.kind {
            IdentityKind::Human(h) => {
                let email = h.email.trim();
                let valid = email.len() <= 254
                    && email
                        .split_once('@')
                        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
                    && !email.chars().any(char::is_whitespace);
                if !valid {
                    return Err(format!("`{}` is not an email address", h.email));
                }
                if let Some(d) = &h.department {
                    within("department", d, 200)?;
                }
                if h.manager.as_ref() == Some(&self.name) {
                    return Err(format!("`{}` cannot be their own manager", self.name));
                }
            }
            IdentityKind::Nhi(nhi) => {
                if nhi.owner == self.name {
                    return Err(format!("`{}` cannot own itself", self.name));
                }
                if nhi.purpose.trim().len() < 10 {
                    return Err(format!(
                        "purpose of NHI `{}` must say what it is for (at least 10 characters)",
                        self.name
                    ));
                }
                within("purpose", &nhi.purpose, 1000)?;
                Name::parse(&nhi.environment).map_err(|e| format!("environment: {e}"))?;
                if !self.roles.is_empty() {
                    return Err(format!(
                        "non-human identity `{}` cannot hold admin or auditor roles",
                        self.name
                    ));
                }
            }
        }
        Ok(())
    }
}
