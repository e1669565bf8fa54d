//! API tokens.

use rusqlite::{Connection, Row, params};
use writ_core::{Name, Timestamp, Token, TokenId};

use super::{DbError, DbResult, corrupt};

const TOKEN_COLUMNS: &str = "id, identity, label, hash, issued_at, expires_at, revoked_at";

fn token_from(r: &Row<'_>) -> DbResult<Token> {
    let id: String = r.get(0)?;
    let what = format!("token `{id}`");
    Ok(Token {
        id: TokenId::parse(&id).map_err(|e| corrupt(&what, e))?,
        identity: Name::parse(&r.get::<_, String>(1)?).map_err(|e| corrupt(&what, e))?,
        label: r.get(2)?,
        hash: r.get(3)?,
        issued_at: Timestamp(r.get(4)?),
        expires_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        revoked_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
    })
}

pub fn load_token(conn: &Connection, id: &TokenId) -> DbResult<Option<Token>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"))?;
    let mut rows = stmt.query(params![id.as_str()])?;
    match rows.next()? {
        Some(r) => Ok(Some(token_from(r)?)),
        None => Ok(None),
    }
}

pub fn load_token_by_hash(conn: &Connection, hash: &str) -> DbResult<Option<Token>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"
    ))?;
    let mut rows = stmt.query(params![hash])?;
    match rows.next()? {
        Some(r) => Ok(Some(token_from(r)?)),
        None => Ok(None),
    }
}

pub fn load_tokens(conn: &Connection, identity: Option<&Name>) -> DbResult<Vec<Token>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE (?1 IS NULL OR identity = ?1) ORDER BY issued_at, id"
    ))?;
    let mut rows = stmt.query(params![identity.map(Name::as_str)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(token_from(r)?);
    }
    Ok(out)
}

pub fn insert_token(conn: &Connection, t: &Token) -> DbResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        t.id.as_str(),
        t.identity.as_str(),
        t.label,
        t.hash,
        t.issued_at.millis(),
        t.expires_at.map(Timestamp::millis),
        t.revoked_at.map(Timestamp::millis),
    ])?;
    Ok(())
}

pub fn revoke_token(conn: &Connection, id: &TokenId, at: Timestamp) -> DbResult<()> {
    let n = conn
        .prepare_cached("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1")?
        .execute(params![id.as_str(), at.millis()])?;
    if n != 1 {
        return Err(DbError::Corrupt(format!(
            "token `{id}` is not in the projection"
        )));
    }
    Ok(())
}
