//! The organisation as decisions see it: identities, systems, entitlements.

use std::collections::BTreeMap;

use crate::catalog::{Entitlement, System};
use crate::delegation::Delegation;
use crate::event::Event;
use crate::identity::Identity;
use crate::ids::DelegationId;
use crate::names::{EntitlementRef, Name};

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

    /// Applies a catalogue event; returns whether it was one.
    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::IdentityUpserted { identity } => {
                self.identities
                    .insert(identity.name.clone(), identity.clone());
            }
            Event::SystemUpserted { system } => {
                self.systems.insert(system.name.clone(), system.clone());
            }
            Event::EntitlementUpserted { entitlement } => {
                self.entitlements
                    .insert(entitlement.reference(), entitlement.clone());
            }
            Event::DelegationGranted { delegation } => {
                self.delegations
                    .insert(delegation.id.clone(), delegation.clone());
            }
            Event::DelegationRevoked {
                delegation,
                revoked_at,
                ..
            } => {
                if let Some(d) = self.delegations.get_mut(delegation) {
                    d.revoked_at = Some(*revoked_at);
                }
            }
            _ => return false,
        }
        true
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
