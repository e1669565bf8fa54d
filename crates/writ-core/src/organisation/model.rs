//! The organisation as decisions see it: identities, systems, entitlements.

use std::collections::BTreeMap;

use crate::delegation::Delegation;
use crate::values::{DelegationId, Entitlement, EntitlementRef, Identity, Name, System};

/// A value snapshot of the organisation data. Decisions read it; only catalogue
/// events change it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Org {
    pub identities: BTreeMap<Name, Identity>,
    pub systems: BTreeMap<Name, System>,
    pub entitlements: BTreeMap<EntitlementRef, Entitlement>,
    /// Delegations of approval authority, ended ones included (they explain past
    /// decisions).
    pub delegations: BTreeMap<DelegationId, Delegation>,
}

impl Org {
    pub fn identity(&self, name: &Name) -> Option<&Identity> {
        self.identities.get(name)
    }

    pub fn system(&self, name: &Name) -> Option<&System> {
        self.systems.get(name)
    }

    pub fn entitlement(&self, r: &EntitlementRef) -> Option<&Entitlement> {
        self.entitlements.get(r)
    }

    /// Members of a group, in name order.
    pub fn members_of<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Identity> + 'a {
        self.identities
            .values()
            .filter(move |i| i.groups.contains(group))
    }

    /// Walks the manager chain from `name` upwards; true if `candidate` is on it.
    pub fn manages_transitively(&self, candidate: &Name, name: &Name) -> bool {
        let mut current = self.identity(name).and_then(|i| i.manager().cloned());
        let mut hops = 0;
        while let Some(m) = current {
            if &m == candidate {
                return true;
            }
            hops += 1;
            if hops > 64 {
                return false;
            }
            current = self.identity(&m).and_then(|i| i.manager().cloned());
        }
        false
    }
}
