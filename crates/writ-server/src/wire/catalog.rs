//! The organisation on the wire: identities, systems and entitlements.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use writ_core::{
    DurationSpec, EmploymentType, Entitlement, EntitlementKind, Identity, IdentityKind,
    IdentityStatus, Name, NhiKind, RiskTier, Role, System, SystemKind,
};

/// An identity as the API shows and accepts it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    /// Ignored on PUT (the path names the identity).
    #[serde(default)]
    pub name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    /// `human` or `nhi`.
    pub kind: String,
    /// `active` (default) or `inactive`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// `admin` and/or `auditor` (not both).
    #[serde(default)]
    pub roles: Vec<String>,
    // human
    /// Required for a human (the schema says so with `if`/`then` on `kind`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 254)]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub manager: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub department: Option<String>,
    /// `employee`, `contractor` or `vendor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employment_type: Option<String>,
    // nhi
    /// `service_account`, `api_key`, `token`, `secret`, `workload` or `agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nhi_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 10, max_length = 1000)]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub environment: Option<String>,
    /// ISO 8601 or short form; default 90 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period: Option<String>,
}

fn enum_from<T: serde::de::DeserializeOwned>(
    field: &str,
    text: &str,
    allowed: &str,
) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("{field} `{text}` is not one of: {allowed}"))
}

fn enum_to<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn required(field: &str, v: &Option<String>) -> Result<String, String> {
    v.clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("{field} is required"))
}

impl IdentityBody {
    pub fn to_domain(&self, name: &Name) -> Result<Identity, String> {
        let status = match self.status.as_deref() {
            None | Some("active") => IdentityStatus::Active,
            Some("inactive") => IdentityStatus::Inactive,
            Some(other) => return Err(format!("status `{other}` is not one of: active, inactive")),
        };
        let mut roles = BTreeSet::new();
        for r in &self.roles {
            roles.insert(enum_from::<Role>("role", r, "admin, auditor")?);
        }
        let kind = match self.kind.as_str() {
            "human" => IdentityKind::Human(writ_core::Human {
                email: required("email", &self.email)?,
                manager: self.manager.as_deref().map(Name::parse).transpose()?,
                department: self.department.clone(),
                employment_type: match self.employment_type.as_deref() {
                    None => EmploymentType::Employee,
                    Some(t) => enum_from("employment_type", t, "employee, contractor, vendor")?,
                },
            }),
            "nhi" => IdentityKind::Nhi(writ_core::Nhi {
                nhi_kind: enum_from(
                    "nhi_kind",
                    &required("nhi_kind", &self.nhi_kind)?,
                    "service_account, api_key, token, secret, workload, agent",
                )?,
                owner: Name::parse(&required("owner", &self.owner)?)?,
                purpose: required("purpose", &self.purpose)?,
                environment: required("environment", &self.environment)?,
                rotation_period: match &self.rotation_period {
                    None => DurationSpec::days(90),
                    Some(p) => DurationSpec::parse(p)?,
                },
            }),
            other => return Err(format!("kind `{other}` is not one of: human, nhi")),
        };
        Ok(Identity {
            name: name.clone(),
            display_name: self.display_name.trim().to_owned(),
            status,
            groups: self.groups.iter().cloned().collect(),
            roles,
            kind,
        })
    }
}

impl From<&Identity> for IdentityBody {
    fn from(i: &Identity) -> Self {
        let mut b = IdentityBody {
            name: i.name.to_string(),
            display_name: i.display_name.clone(),
            kind: i.kind_label().into(),
            status: Some(if i.is_active() { "active" } else { "inactive" }.into()),
            groups: i.groups.iter().cloned().collect(),
            roles: i.roles.iter().map(enum_to).collect(),
            email: None,
            manager: None,
            department: None,
            employment_type: None,
            nhi_kind: None,
            owner: None,
            purpose: None,
            environment: None,
            rotation_period: None,
        };
        match &i.kind {
            IdentityKind::Human(h) => {
                b.email = Some(h.email.clone());
                b.manager = h.manager.as_ref().map(|m| m.to_string());
                b.department = h.department.clone();
                b.employment_type = Some(enum_to(&h.employment_type));
            }
            IdentityKind::Nhi(n) => {
                b.nhi_kind = Some(enum_to::<NhiKind>(&n.nhi_kind));
                b.owner = Some(n.owner.to_string());
                b.purpose = Some(n.purpose.clone());
                b.environment = Some(n.environment.clone());
                b.rotation_period = Some(n.rotation_period.to_iso8601());
            }
        }
        b
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityList {
    pub identities: Vec<IdentityBody>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemBody {
    #[serde(default)]
    pub name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    /// `directory`, `database`, `saas` or `other`.
    pub kind: String,
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub owner: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
}

impl SystemBody {
    pub fn to_domain(&self, name: &Name) -> Result<System, String> {
        Ok(System {
            name: name.clone(),
            display_name: self.display_name.trim().to_owned(),
            kind: enum_from::<SystemKind>("kind", &self.kind, "directory, database, saas, other")?,
            owner: Name::parse(&self.owner)?,
            description: self.description.clone(),
        })
    }
}

impl From<&System> for SystemBody {
    fn from(s: &System) -> Self {
        SystemBody {
            name: s.name.to_string(),
            display_name: s.display_name.clone(),
            kind: enum_to(&s.kind),
            owner: s.owner.to_string(),
            description: s.description.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SystemList {
    pub systems: Vec<SystemBody>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntitlementBody {
    /// `<system>/<name>`; ignored on PUT (the path names it).
    #[serde(default)]
    pub reference: String,
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    /// `role`, `group`, `account`, `secret`, `api_scope` or `permission`.
    pub kind: String,
    /// LDAP group DN, PostgreSQL role, SCIM group id, OAuth scope.
    #[schema(min_length = 1, max_length = 1024)]
    pub external_ref: String,
    /// `low`, `medium`, `high` or `critical`.
    pub risk: String,
    #[serde(default)]
    pub privileged: bool,
    /// ISO 8601 or short form.
    pub max_duration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub owner: Option<String>,
    #[serde(default)]
    pub break_glass: bool,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
}

impl EntitlementBody {
    pub fn to_domain(&self, r: &writ_core::EntitlementRef) -> Result<Entitlement, String> {
        Ok(Entitlement {
            system: r.system.clone(),
            name: r.entitlement.clone(),
            display_name: self.display_name.trim().to_owned(),
            kind: enum_from::<EntitlementKind>(
                "kind",
                &self.kind,
                "role, group, account, secret, api_scope, permission",
            )?,
            external_ref: self.external_ref.clone(),
            risk: enum_from::<RiskTier>("risk", &self.risk, "low, medium, high, critical")?,
            privileged: self.privileged,
            max_duration: DurationSpec::parse(&self.max_duration)?,
            owner: self.owner.as_deref().map(Name::parse).transpose()?,
            break_glass: self.break_glass,
            description: self.description.clone(),
        })
    }
}

impl From<&Entitlement> for EntitlementBody {
    fn from(e: &Entitlement) -> Self {
        EntitlementBody {
            reference: e.reference().to_string(),
            display_name: e.display_name.clone(),
            kind: enum_to(&e.kind),
            external_ref: e.external_ref.clone(),
            risk: e.risk.to_string(),
            privileged: e.privileged,
            max_duration: e.max_duration.to_iso8601(),
            owner: e.owner.as_ref().map(|o| o.to_string()),
            break_glass: e.break_glass,
            description: e.description.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntitlementList {
    pub entitlements: Vec<EntitlementBody>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
