//! The demo organisation: a dozen people, a security team, three systems, twelve
//! entitlements across every risk tier, and three non-human identities — seeded
//! through ordinary commands, so it is in the ledger like everything else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use writ_core::{
    Actor, Command, DurationSpec, EmploymentType, Entitlement, EntitlementKind, Human, Identity,
    IdentityKind, IdentityStatus, Name, Nhi, NhiKind, RiskTier, Role, System, SystemKind,
};
use writ_store::{Envelope, ExecError, Store};

use crate::app::AppState;
use crate::auth::{new_token, token_hash};
use crate::datadir::write_private;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("seeding the demo organisation failed: {0}")]
    Seed(#[from] ExecError),
    #[error("{0}")]
    Name(String),
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not a demo token file: {message}")]
    Read { path: PathBuf, message: String },
}

/// One person of the demo organisation and what they are there to show.
#[derive(Debug, Clone)]
pub struct Persona {
    pub name: &'static str,
    pub about: &'static str,
}

struct Person {
    name: &'static str,
    display: &'static str,
    manager: Option<&'static str>,
    department: &'static str,
    groups: &'static [&'static str],
    roles: &'static [Role],
    about: &'static str,
}

const PEOPLE: &[Person] = &[
    Person {
        name: "morgan",
        display: "Morgan Reyes",
        manager: None,
        department: "executive",
        groups: &[],
        roles: &[],
        about: "CEO; top of the management chain",
    },
    Person {
        name: "priya",
        display: "Priya Natarajan",
        manager: Some("morgan"),
        department: "engineering",
        groups: &[],
        roles: &[],
        about: "VP engineering; manager of alice, bob and carol",
    },
    Person {
        name: "sam",
        display: "Sam Okafor",
        manager: Some("morgan"),
        department: "security",
        groups: &["security"],
        roles: &[],
        about: "CISO; member of security",
    },
    Person {
        name: "grace",
        display: "Grace Lindqvist",
        manager: Some("morgan"),
        department: "sales",
        groups: &[],
        roles: &[],
        about: "head of sales; owns crm/admin",
    },
    Person {
        name: "dan",
        display: "Dan Whitfield",
        manager: Some("morgan"),
        department: "it",
        groups: &[],
        roles: &[],
        about: "IT lead; owns the corp-ldap directory",
    },
    Person {
        name: "alice",
        display: "Alice Martin",
        manager: Some("priya"),
        department: "engineering",
        groups: &[],
        roles: &[],
        about: "engineer; asks for access",
    },
    Person {
        name: "bob",
        display: "Bob Chen",
        manager: Some("priya"),
        department: "engineering",
        groups: &["on-call"],
        roles: &[],
        about: "engineer on call; owns the ci-deploy token; may break glass",
    },
    Person {
        name: "carol",
        display: "Carol Diaz",
        manager: Some("priya"),
        department: "engineering",
        groups: &[],
        roles: &[],
        about: "DBA lead; owns pg-prod and svc-billing",
    },
    Person {
        name: "erin",
        display: "Erin Walsh",
        manager: Some("sam"),
        department: "security",
        groups: &["security"],
        roles: &[],
        about: "security engineer; member of security",
    },
    Person {
        name: "frank",
        display: "Frank Osei",
        manager: Some("grace"),
        department: "sales",
        groups: &[],
        roles: &[],
        about: "sales ops; owns the crm system and crm-sync-key",
    },
    Person {
        name: "ada",
        display: "Ada Kowalski",
        manager: Some("dan"),
        department: "it",
        groups: &[],
        roles: &[Role::Admin],
        about: "Writ admin; catalogues systems, issues tokens",
    },
    Person {
        name: "olivia",
        display: "Olivia Brandt",
        manager: Some("morgan"),
        department: "internal-audit",
        groups: &[],
        roles: &[Role::Auditor],
        about: "auditor; reads everything, changes nothing",
    },
];

fn name(text: &str) -> Result<Name, DemoError> {
    Name::parse(text).map_err(DemoError::Name)
}

fn people() -> Result<Vec<Identity>, DemoError> {
    PEOPLE
        .iter()
        .map(|p| {
            Ok(Identity {
                name: name(p.name)?,
                display_name: p.display.into(),
                status: IdentityStatus::Active,
                groups: p.groups.iter().map(|g| g.to_string()).collect(),
                roles: p.roles.iter().copied().collect::<BTreeSet<_>>(),
                kind: IdentityKind::Human(Human {
                    email: format!("{}@example.com", p.name),
                    manager: p.manager.map(name).transpose()?,
                    department: Some(p.department.into()),
                    employment_type: EmploymentType::Employee,
                }),
            })
        })
        .collect()
}

fn nhis() -> Result<Vec<Identity>, DemoError> {
    let nhi = |n: &str,
               display: &str,
               kind: NhiKind,
               owner: &str,
               purpose: &str,
               env: &str,
               days: u64|
     -> Result<Identity, DemoError> {
        Ok(Identity {
            name: name(n)?,
            display_name: display.into(),
            status: IdentityStatus::Active,
            groups: BTreeSet::new(),
            roles: BTreeSet::new(),
            kind: IdentityKind::Nhi(Nhi {
                nhi_kind: kind,
                owner: name(owner)?,
                purpose: purpose.into(),
                environment: env.into(),
                rotation_period: DurationSpec::days(days),
            }),
        })
    };
    Ok(vec![
        nhi(
            "svc-billing",
            "Billing export service account",
            NhiKind::ServiceAccount,
            "carol",
            "nightly billing export from pg-prod to the finance bucket",
            "prod",
            90,
        )?,
        nhi(
            "crm-sync-key",
            "CRM sync API key",
            NhiKind::ApiKey,
            "frank",
            "syncs CRM contacts to the data warehouse",
            "prod",
            30,
        )?,
        nhi(
            "ci-deploy",
            "CI deploy token",
            NhiKind::Token,
            "bob",
            "CI pipeline that deploys the billing service",
            "ci",
            30,
        )?,
    ])
}

fn systems() -> Result<Vec<System>, DemoError> {
    let sys = |n: &str,
               display: &str,
               kind: SystemKind,
               owner: &str,
               d: &str|
     -> Result<System, DemoError> {
        Ok(System {
            name: name(n)?,
            display_name: display.into(),
            kind,
            owner: name(owner)?,
            description: d.into(),
        })
    };
    Ok(vec![
        sys(
            "corp-ldap",
            "Corporate directory",
            SystemKind::Directory,
            "dan",
            "OpenLDAP directory: VPN, wiki and admin groups",
        )?,
        sys(
            "pg-prod",
            "Production PostgreSQL",
            SystemKind::Database,
            "carol",
            "the billing database",
        )?,
        sys(
            "crm",
            "CRM (SaaS)",
            SystemKind::Saas,
            "frank",
            "customer relationship management, provisioned over SCIM",
        )?,
    ])
}

fn entitlements() -> Result<Vec<Entitlement>, DemoError> {
    #[allow(clippy::too_many_arguments)]
    let ent = |system: &str,
               n: &str,
               display: &str,
               kind: EntitlementKind,
               ext: &str,
               risk: RiskTier,
               privileged: bool,
               max: DurationSpec,
               owner: Option<&str>,
               break_glass: bool|
     -> Result<Entitlement, DemoError> {
        Ok(Entitlement {
            system: name(system)?,
            name: name(n)?,
            display_name: display.into(),
            kind,
            external_ref: ext.into(),
            risk,
            privileged,
            max_duration: max,
            owner: owner.map(name).transpose()?,
            break_glass,
            description: String::new(),
        })
    };
    use EntitlementKind::*;
    use RiskTier::*;
    let d = DurationSpec::days;
    let h = DurationSpec::hours;
    Ok(vec![
        ent(
            "corp-ldap",
            "vpn-users",
            "VPN access",
            Group,
            "cn=vpn-users,ou=groups,dc=example,dc=com",
            Low,
            false,
            d(180),
            None,
            false,
        )?,
        ent(
            "corp-ldap",
            "wiki-editors",
            "Wiki editors",
            Group,
            "cn=wiki-editors,ou=groups,dc=example,dc=com",
            Low,
            false,
            d(365),
            None,
            false,
        )?,
        ent(
            "corp-ldap",
            "engineering",
            "Engineering group",
            Group,
            "cn=engineering,ou=groups,dc=example,dc=com",
            Medium,
            false,
            d(180),
            None,
            false,
        )?,
        ent(
            "corp-ldap",
            "domain-admins",
            "Directory administrators",
            Group,
            "cn=domain-admins,ou=groups,dc=example,dc=com",
            Critical,
            true,
            h(8),
            Some("sam"),
            true,
        )?,
        ent(
            "pg-prod",
            "read-only",
            "Read-only SQL",
            Role,
            "billing_ro",
            Medium,
            false,
            d(30),
            None,
            false,
        )?,
        ent(
            "pg-prod",
            "analytics",
            "Analytics views",
            Role,
            "billing_analytics",
            Low,
            false,
            d(90),
            None,
            false,
        )?,
        ent(
            "pg-prod",
            "read-write",
            "Read-write SQL",
            Role,
            "billing_rw",
            High,
            false,
            d(14),
            None,
            false,
        )?,
        ent(
            "pg-prod",
            "superuser",
            "Database superuser",
            Role,
            "billing_admin",
            Critical,
            true,
            h(4),
            Some("priya"),
            true,
        )?,
        ent(
            "crm",
            "viewer",
            "CRM viewer",
            Group,
            "crm-viewers",
            Low,
            false,
            d(180),
            None,
            false,
        )?,
        ent(
            "crm",
            "sales-rep",
            "CRM sales rep",
            Group,
            "crm-sales-reps",
            Medium,
            false,
            d(90),
            None,
            false,
        )?,
        ent(
            "crm",
            "api-read",
            "CRM read API scope",
            ApiScope,
            "contacts:read",
            Medium,
            false,
            d(90),
            None,
            false,
        )?,
        ent(
            "crm",
            "admin",
            "CRM administrator",
            Group,
            "crm-admins",
            High,
            true,
            d(7),
            Some("grace"),
            false,
        )?,
    ])
}

/// The personas to print, in the order of `PEOPLE`.
pub fn personas() -> Vec<Persona> {
    PEOPLE
        .iter()
        .map(|p| Persona {
            name: p.name,
            about: p.about,
        })
        .collect()
}

pub fn tokens_path(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-tokens.json")
}

/// Seeds the demo organisation if the database has none, and makes sure every
/// persona has a token in `<data-dir>/demo-tokens.json` (mode 0600). Returns
/// whether the organisation was seeded now.
pub async fn seed(state: &AppState, data_dir: &Path) -> Result<bool, DemoError> {
    let store: &dyn Store = state.store.as_ref();
    let actor = Actor::system("demo");
    let run = |command: Command| store.execute(Envelope::new(actor.clone(), command));
    let fresh = store
        .org()
        .await
        .map_err(ExecError::from)?
        .identities
        .is_empty();
    if fresh {
        for identity in people()?.into_iter().chain(nhis()?) {
            run(Command::UpsertIdentity { identity }).await?;
        }
        for system in systems()? {
            run(Command::UpsertSystem { system }).await?;
        }
        for entitlement in entitlements()? {
            run(Command::UpsertEntitlement { entitlement }).await?;
        }
    }
    let path = tokens_path(data_dir);
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| DemoError::Read {
            path: path.clone(),
            message: e.to_string(),
        })?;
        serde_json::from_str::<BTreeMap<String, String>>(&text).map_err(|e| DemoError::Read {
            path: path.clone(),
            message: e.to_string(),
        })?;
        return Ok(fresh);
    }
    let mut tokens = BTreeMap::new();
    for p in PEOPLE {
        let secret = new_token().map_err(|e| DemoError::Name(format!("no OS randomness: {e}")))?;
        run(Command::IssueToken {
            identity: name(p.name)?,
            label: "demo persona".into(),
            hash: token_hash(&state.pepper, secret.expose()),
            expires_at: None,
        })
        .await?;
        tokens.insert(p.name.to_owned(), secret.expose().to_owned());
    }
    let text = serde_json::to_string_pretty(&tokens).unwrap_or_default();
    write_private(&path, text.as_bytes()).map_err(|source| DemoError::Write { path, source })?;
    Ok(fresh)
}
