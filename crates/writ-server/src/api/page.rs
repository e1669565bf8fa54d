//! Cursor paging, the same for every list endpoint: `?limit=` (1-1000; outside that
//! range is refused, never quietly capped) and `?cursor=` (the `next` of the page
//! before). A list answers `next` whenever there may be more; a client follows it
//! until it is absent.
//!
//! A cursor is sealed: the position inside (a time or sequence number and an id) is
//! encrypted and authenticated under a key derived from the data directory's pepper,
//! so it says nothing about rows the caller may not see, cannot be forged or edited,
//! and is refused by any other listing, caller or set of filters than the one that
//! gave it out (only `limit` may change between pages).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use writ_store::{Keyed, Page, Position};

use crate::datadir::Pepper;
use crate::problem::ApiError;

/// The most rows one page may hold.
pub const MAX_LIMIT: u32 = 1000;

/// The query of a list that takes nothing but its page.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

/// The page a list request asked for.
#[derive(Debug, Clone)]
pub struct Paging {
    listing: String,
    pub limit: u32,
    pub after: Option<Position>,
}

impl Paging {
    /// The `limit` and `cursor` query parameters of `listing`, checked.
    /// `listing` names the list, its caller and its filters: a cursor opens only
    /// under the same.
    pub fn parse(
        pepper: &Pepper,
        listing: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
        default: u32,
    ) -> Result<Paging, ApiError> {
        let limit = limit.unwrap_or(default);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid-query",
                format!("limit must be 1-{MAX_LIMIT}, got {limit}"),
            ));
        }
        let after = match cursor {
            None => None,
            Some(c) => Some(open(pepper, listing, c).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid-cursor",
                    "cursor is not one this listing gave out (take `next` from the previous page)",
                )
            })?),
        };
        Ok(Paging {
            listing: listing.to_owned(),
            limit,
            after,
        })
    }

    /// The store's page: this many rows after the cursor's position.
    pub fn page(&self) -> Page {
        self.page_of(self.limit)
    }

    /// The store's page of `size` rows after the cursor's position.
    pub fn page_of(&self, size: u32) -> Page {
        Page {
            after: self.after.clone(),
            limit: size,
        }
    }

    /// The cursor of the page after `position`.
    pub fn next(&self, pepper: &Pepper, position: &Position) -> String {
        seal(pepper, &self.listing, position)
    }

    /// `next` for a page read straight from the store: present when the store
    /// returned a full page, so that there may be more.
    pub fn next_of<T>(&self, pepper: &Pepper, rows: &[Keyed<T>]) -> Option<String> {
        match rows.last() {
            Some(last) if rows.len() as u32 >= self.limit => {
                Some(self.next(pepper, &last.position))
            }
            _ => None,
        }
    }

    /// Pages an in-memory list already in ascending order of `key` (compared as
    /// strings, so the key must sort as the list does): the rows after the cursor,
    /// and `next` when more remain.
    pub fn slice<'a, T>(
        &self,
        pepper: &Pepper,
        rows: impl IntoIterator<Item = &'a T>,
        key: impl Fn(&T) -> String,
    ) -> (Vec<&'a T>, Option<String>)
    where
        T: 'a,
    {
        let after = self.after.as_ref().map(|p| p.id.as_str());
        let mut out = Vec::new();
        let mut more = false;
        for row in rows {
            let k = key(row);
            if after.is_some_and(|a| k.as_str() <= a) {
                continue;
            }
            if out.len() as u32 == self.limit {
                more = true;
                break;
            }
            out.push(row);
        }
        let next = match out.last() {
            Some(last) if more => Some(self.next(
                pepper,
                &Position {
                    at: 0,
                    id: key(last),
                },
            )),
            _ => None,
        };
        (out, next)
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(pepper: &Pepper, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = match HmacSha256::new_from_slice(pepper.bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes a key of any length"),
    };
    m.update(b"writ cursor v1\0");
    m.update(label);
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// XORs `data` with a keystream of HMAC-SHA256(pepper, nonce ‖ block) blocks.
fn stream(pepper: &Pepper, nonce: &[u8], data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(32).enumerate() {
        let block = mac(pepper, b"stream", &[nonce, &(i as u64).to_be_bytes()]);
        for (d, k) in chunk.iter_mut().zip(block) {
            *d ^= k;
        }
    }
}

const NONCE: usize = 12;
const TAG: usize = 16;

fn seal(pepper: &Pepper, listing: &str, p: &Position) -> String {
    use base64::Engine;
    let mut nonce = [0u8; NONCE];
    if getrandom::fill(&mut nonce).is_err() {
        // A repeated nonce only lets someone tell two equal positions apart.
        nonce = mac(pepper, b"nonce", &[p.id.as_bytes(), &p.at.to_be_bytes()])[..NONCE]
            .try_into()
            .unwrap_or_default();
    }
    let mut body = Vec::with_capacity(8 + p.id.len());
    body.extend_from_slice(&p.at.to_be_bytes());
    body.extend_from_slice(p.id.as_bytes());
    stream(pepper, &nonce, &mut body);
    let tag = mac(pepper, b"tag", &[listing.as_bytes(), &nonce, &body]);
    let mut out = Vec::with_capacity(NONCE + body.len() + TAG);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag[..TAG]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
}

fn open(pepper: &Pepper, listing: &str, cursor: &str) -> Option<Position> {
    use base64::Engine;
    if cursor.len() > 1024 {
        return None;
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    if raw.len() < NONCE + 8 + TAG {
        return None;
    }
    let (nonce, rest) = raw.split_at(NONCE);
    let (body, tag) = rest.split_at(rest.len() - TAG);
    let want = mac(pepper, b"tag", &[listing.as_bytes(), nonce, body]);
    // Constant time: the tag is a MAC.
    let diff = want[..TAG]
        .iter()
        .zip(tag)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return None;
    }
    let mut body = body.to_vec();
    stream(pepper, nonce, &mut body);
    let (at, id) = body.split_at(8);
    Some(Position {
        at: i64::from_be_bytes(at.try_into().ok()?),
        id: String::from_utf8(id.to_vec()).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper(b: u8) -> Pepper {
        Pepper::from_seed(b)
    }

    #[test]
    fn a_cursor_opens_only_for_its_listing_and_pepper_and_hides_its_position() {
        let p = Position {
            at: 1_772_442_000_123,
            id: "req_0123456789abcdef".into(),
        };
        let c = seal(&pepper(1), "requests", &p);
        assert_eq!(open(&pepper(1), "requests", &c), Some(p.clone()));
        assert_eq!(open(&pepper(1), "grants", &c), None);
        assert_eq!(open(&pepper(2), "requests", &c), None);
        assert!(!c.contains("req_") && !c.contains("0123456789abcdef"));
        // Two cursors of the same position differ (a fresh nonce each).
        assert_ne!(c, seal(&pepper(1), "requests", &p));
        // Any edited byte is refused.
        let mut bytes: Vec<char> = c.chars().collect();
        bytes[20] = if bytes[20] == 'A' { 'B' } else { 'A' };
        let edited: String = bytes.into_iter().collect();
        assert_eq!(open(&pepper(1), "requests", &edited), None);
        assert_eq!(open(&pepper(1), "requests", "not a cursor"), None);
        assert_eq!(open(&pepper(1), "requests", ""), None);
    }
}
