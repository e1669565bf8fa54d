//! How the catalogue and delegation events change the organisation data.

use crate::event::Event;

use super::model::Org;

impl Org {
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
}
