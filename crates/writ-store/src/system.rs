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

/// 80-bit identifiers from the operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdGen for RandomIds {
    fn next_body(&mut self, _kind: IdKind) -> String {
        let mut bytes = [0u8; 10];
        if getrandom::fill(&mut bytes).is_err() {
            // Without an OS random source Writ cannot mint tokens either; stop loudly.
            panic!("the operating system's random source is unavailable");
        }
        encode_id(bytes)
    }
}
