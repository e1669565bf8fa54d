//! Who each caller could be allowed to decide for (`Authority::reach`), kept while the
//! organisation and the policy it was worked out under stay the ones in force.
//!
//! Reach is read on every inbox, every request list and every 404 of a pending
//! request; working it out costs about as much as the rest of such a call. Both
//! inputs are immutable snapshots the store swaps when they change, so a cache keyed
//! by the snapshots themselves can never answer from an old organisation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use writ_core::{ActivePolicy, Name, Org, Reach};

/// Entries kept before the cache starts again (one per caller).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub struct ReachCache {
    inner: Mutex<Option<Snapshot>>,
}

#[derive(Debug)]
struct Snapshot {
    org: Arc<Org>,
    policy: Arc<ActivePolicy>,
    reach: HashMap<Name, Option<Arc<Reach>>>,
}

impl ReachCache {
    /// `who`'s reach under `org` and `policy`: `None` when the policies do not narrow
    /// who may decide.
    pub fn get(
        &self,
        org: &Arc<Org>,
        policy: &Arc<ActivePolicy>,
        who: &Name,
    ) -> Option<Arc<Reach>> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let current = inner
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(&s.org, org) && Arc::ptr_eq(&s.policy, policy));
        if !current || inner.as_ref().is_some_and(|s| s.reach.len() >= MAX_ENTRIES) {
            *inner = Some(Snapshot {
                org: org.clone(),
                policy: policy.clone(),
                reach: HashMap::new(),
            });
        }
        let snapshot = inner.as_mut()?;
        snapshot
            .reach
            .entry(who.clone())
            .or_insert_with(|| {
                policy
                    .authority
                    .reach(org, &policy.policy, who)
                    .map(Arc::new)
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_organisation_is_never_answered_from_the_old_one() {
        let policy = Arc::new(ActivePolicy::new(writ_core::ApprovalPolicy::default()));
        let (a, b) = (Arc::new(Org::default()), Arc::new(Org::default()));
        let cache = ReachCache::default();
        let who = Name::parse("priya").unwrap();
        let first = cache.get(&a, &policy, &who);
        assert_eq!(first, cache.get(&a, &policy, &who));
        let _ = cache.get(&b, &policy, &who);
        let held = cache.inner.lock().unwrap();
        assert!(Arc::ptr_eq(&held.as_ref().unwrap().org, &b));
    }
}
