//! The encoding versions, and why a leaf does not open.

/// The encoding version [`Recorded::seal`] writes: personal values sealed.
pub const CURRENT_ENCODING: u32 = 2;

/// The first encoding version, every value in clear: what [`Recorded::encode`]
/// writes. Still read, so ledgers begun before version 2 stay verifiable.
pub const PLAIN_ENCODING: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("leaf is not a Writ event: {0}")]
    Malformed(String),
    #[error(
        "leaf has encoding version {0}; this build reads versions {PLAIN_ENCODING} to {CURRENT_ENCODING}"
    )]
    Version(u32),
    #[error("leaf is not in canonical form")]
    NotCanonical,
    #[error("personal document is malformed: {0}")]
    PersonalMalformed(String),
    #[error("personal value at `{0}` does not match the leaf's commitment")]
    Tampered(String),
    #[error("personal document holds `{0}`, which the leaf does not seal")]
    UnexpectedPersonal(String),
    #[error("leaf seals personal values (`{}`): open it with its personal document", .0.join("`, `"))]
    Sealed(Vec<String>),
}
