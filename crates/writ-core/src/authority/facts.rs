//! The facts a decision rests on, in words: only what its determining policies read.

use std::collections::BTreeSet;

use crate::organisation::Org;
use crate::requests::Submission;
use crate::values::{Identity, Name, Timestamp};

use super::Authority;

impl Authority {
    /// The facts about `principal` the determining `policies` rested on, in words,
    /// from the organisation data and catalogue. Values that are personal data
    /// (a department's name, say) are named, not quoted.
    pub fn facts(
        &self,
        org: &Org,
        s: &Submission,
        principal: &Name,
        group: Option<&str>,
        policies: &[String],
    ) -> Vec<String> {
        let mut facts = Vec::new();
        let mut used: BTreeSet<&str> = BTreeSet::new();
        let mut groups: BTreeSet<&str> = BTreeSet::new();
        for id in policies {
            if let Some(u) = self.uses.get(id) {
                used.extend(u.iter().copied());
            }
            if let Some(named) = self.named_groups.get(id) {
                groups.extend(named.iter().map(String::as_str));
            }
        }
        let b = org.identity(&s.beneficiary);
        let requester = org.identity(&s.requester);
        if used.contains("beneficiary-manager") && b.and_then(Identity::manager) == Some(principal)
        {
            facts.push(format!("manager of `{}`", s.beneficiary));
        }
        if used.contains("nhi-owner") && b.and_then(Identity::owner) == Some(principal) {
            facts.push(format!("owner of NHI `{}`", s.beneficiary));
        }
        let relation = if b.and_then(Identity::manager) == Some(&s.requester) {
            Some("manager of")
        } else if b.and_then(Identity::owner) == Some(&s.requester) {
            Some("owner of NHI")
        } else {
            None
        };
        if used.contains("requester-manager")
            && requester.and_then(Identity::manager) == Some(principal)
        {
            facts.push(match relation {
                Some(rel) => format!(
                    "manager of `{}`, who is the requester and {rel} `{}` (skip-level)",
                    s.requester, s.beneficiary
                ),
                None => format!("manager of the requester `{}`", s.requester),
            });
        }
        if let Some(m) = b.and_then(Identity::manager)
            && used.contains("managers-manager")
            && org.identity(m).and_then(Identity::manager) == Some(principal)
        {
            facts.push(format!("manager of `{m}`, who manages `{}`", s.beneficiary));
        }
        let ent = org.entitlement(&s.entitlement);
        if used.contains("entitlement-owner")
            && ent.and_then(|e| e.owner.as_ref()) == Some(principal)
        {
            facts.push(format!("owner of entitlement `{}`", s.entitlement));
        }
        if let Some(sys) = org.system(&s.entitlement.system)
            && used.contains("system-owner")
            && &sys.owner == principal
        {
            if used.contains("entitlement-owner") && ent.is_some_and(|e| e.owner.is_none()) {
                facts.push(format!(
                    "owner of system `{}` (entitlement `{}` has no owner of its own)",
                    sys.name, s.entitlement
                ));
            } else {
                facts.push(format!("owner of system `{}`", sys.name));
            }
        }
        let who = org.identity(principal);
        if let Some(g) = group.filter(|_| used.contains("step-group")) {
            groups.insert(g);
        }
        for g in groups {
            if who.is_some_and(|i| i.groups.contains(g)) {
                facts.push(format!("member of group `{g}`"));
            }
        }
        for (token, words) in [
            ("principal-department", "department"),
            ("principal-employment", "employment type"),
        ] {
            if used.contains(token) {
                facts.push(format!("{words} of `{principal}`"));
            }
        }
        facts
    }

    /// The basis recorded with a decision: the facts, when they held, and the policies.
    pub fn basis(&self, facts: &[String], policies: &[String], at: Timestamp) -> String {
        let named: Vec<String> = policies
            .iter()
            .map(
                |id| match self.info.get(id).and_then(|i| i.reason.as_deref()) {
                    Some(r) => format!("`{id}` ({r})"),
                    None => format!("`{id}`"),
                },
            )
            .collect();
        let facts = if facts.is_empty() {
            "no relation to the request".to_owned()
        } else {
            facts.join("; ")
        };
        format!(
            "{facts}, per organisation data at {}; policy {}",
            at.to_rfc3339(),
            named.join(", ")
        )
    }
}
