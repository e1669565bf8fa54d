//! How the review events change a campaign and its items.

use crate::event::Event;
use crate::values::CampaignId;

use super::model::{Campaign, ItemOpened, ItemStatus, ReviewDecision, ReviewItem};

impl Campaign {
    /// The campaign as `CampaignLaunched` creates it.
    pub fn launched(rec: &crate::event::Recorded) -> Option<Campaign> {
        match &rec.event {
            Event::CampaignLaunched {
                campaign,
                spec,
                schedule,
                population,
                live_grants,
                digest,
            } => Some(Campaign {
                id: campaign.clone(),
                spec: spec.clone(),
                owner: rec.actor.to_string(),
                launched_at: rec.at,
                schedule: schedule.clone(),
                population: *population,
                live_grants: *live_grants,
                digest: digest.clone(),
                open: *population,
                certified: 0,
                revoked: 0,
                kept: 0,
                reminded: false,
                escalated: false,
                closed_at: None,
            }),
            _ => None,
        }
    }

    pub fn apply(&mut self, rec: &crate::event::Recorded) {
        match &rec.event {
            Event::ReviewDecided {
                campaign, decision, ..
            } if campaign == &self.id => {
                self.open = self.open.saturating_sub(1);
                match decision {
                    ReviewDecision::Certify => self.certified += 1,
                    ReviewDecision::Revoke => self.revoked += 1,
                    ReviewDecision::Keep => self.kept += 1,
                }
            }
            // Reopened items were certified; they are decided afresh.
            Event::ReviewItemsReassigned {
                campaign,
                items,
                reopen: true,
                ..
            } if campaign == &self.id => {
                self.open += items.len() as u64;
                self.certified = self.certified.saturating_sub(items.len() as u64);
                self.closed_at = None;
            }
            Event::ReviewNotified {
                campaign, notice, ..
            } if campaign == &self.id => match notice.as_str() {
                "reminder" => self.reminded = true,
                "escalation" => self.escalated = true,
                _ => {}
            },
            Event::CampaignClosed { campaign, .. } if campaign == &self.id => {
                self.closed_at = Some(rec.at);
            }
            _ => {}
        }
    }
}

impl ReviewItem {
    pub fn opened(campaign: &CampaignId, o: &ItemOpened) -> ReviewItem {
        ReviewItem {
            campaign: campaign.clone(),
            item: o.item,
            grant: o.grant.clone(),
            reviewer: o.reviewer.clone(),
            basis: o.basis.clone(),
            status: ItemStatus::Open,
            decided_by: None,
            decided_at: None,
            bulk: false,
            defaulted: false,
        }
    }
}
