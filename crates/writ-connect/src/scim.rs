//! Group membership on a SCIM 2.0 service provider (RFC 7643/7644).
//!
//! An account is the SCIM user whose `userName` is the system's `user_name` template
//! filled with the Writ identity name; an entitlement's target is a SCIM group id.
//! Grant and revoke read the group's members first and PATCH only when something has
//! to change, so the receipt says whether the call changed anything:
//!
//! - resolve: `GET {base}/Users?filter=userName eq "<name>"` → the user's `id`;
//! - grant: `PATCH {base}/Groups/{id}` with `{"op": "add", "path": "members", …}`;
//! - revoke: `PATCH {base}/Groups/{id}` with `{"op": "remove",
//!   "path": "members[value eq \"<user id>\"]"}`;
//! - list: each group's members, mapped back through one paged read of `/Users`.
//!
//! Status codes: a missing group, a missing user on grant, 400, 409 and other 4xx are
//! permanent (with the provider's SCIM `detail`); 401 and 403 (a token being rotated),
//! 408, 429, 5xx, connection failures and timeouts are transient. Redirects are not
//! followed, so the bearer token never leaves the configured origin.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{ConfigError, ScimConfig, fill, http_url, unfill};
use crate::secret::Secret;
use crate::{Assignment, Change, Connector, ConnectorError, Membership, Receipt};

const SCIM_JSON: &str = "application/scim+json";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Users asked for per page when listing.
const PAGE: usize = 200;
/// The longest piece of a provider's reply quoted in an error.
const QUOTE: usize = 300;

/// A SCIM 2.0 service provider. `Debug` shows where it points, never the token.
pub struct ScimConnector {
    system: String,
    base: Url,
    token: Secret,
    user_name: String,
    client: reqwest::Client,
}

impl fmt::Debug for ScimConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimConnector")
            .field("system", &self.system)
            .field("base_url", &self.base.as_str())
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

impl ScimConnector {
    /// Check the configuration and read the token; no network traffic.
    pub fn new(system: &str, config: &ScimConfig) -> Result<Self, ConfigError> {
        let base = http_url(
            system,
            "base_url",
            &config.base_url,
            "the bearer token comes from `token`",
        )?;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(ConfigError::new(
                system,
                "base_url",
                "must not have a query or a fragment",
            ));
        }
        if !config.user_name.contains("{account}") {
            return Err(ConfigError::new(
                system,
                "user_name",
                format!("`{}` does not contain `{{account}}`", config.user_name),
            ));
        }
        let token = config.token.read(system, "token")?;
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("writ/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ConfigError::new(
                    system,
                    "base_url",
                    format!("cannot build an HTTP client: {e}"),
                )
            })?;
        Ok(ScimConnector {
            system: system.to_owned(),
            base,
            token,
            user_name: config.user_name.clone(),
            client,
        })
    }

    /// `{base}/{segments…}`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Send one request; a 2xx reply's body (parsed, `Value::Null` when empty), any
    /// other reply as an error classified by status.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, ScimFailure> {
        let mut request = self
            .client
            .request(method.clone(), url)
            .bearer_auth(self.token.expose())
            .header(reqwest::header::ACCEPT, SCIM_JSON);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| ScimFailure::Transport(describe_with_url(&e)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ScimFailure::Transport(describe_with_url(&e)))?;
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|e| {
                ScimFailure::Status(
                    status,
                    format!("{method} {what}: HTTP {status} with a body that is not JSON ({e})"),
                )
            });
        }
        Err(ScimFailure::Status(
            status,
            format!("{method} {what}: HTTP {status}{}", scim_detail(&bytes)),
        ))
    }

    /// The id of the SCIM user for `account`, or `None` when there is none.
    async fn find_user(&self, account: &str) -> Result<(String, Option<String>), ConnectorError> {
        let user_name = fill(&self.user_name, account);
        let mut url = self.url(&["Users"]);
        url.query_pairs_mut().append_pair(
            "filter",
            &format!("userName eq \"{}\"", escape_filter(&user_name)),
        );
        let what = format!("/Users?filter=userName eq `{user_name}`");
        let reply = self
            .call(Method::GET, url, None, &what)
            .await
            .map_err(|f| self.error(f, None))?;
        let page: UserList = serde_json::from_value(reply).map_err(|e| {
            self.permanent(format!(
                "GET {what}: the reply is not a SCIM ListResponse: {e}"
            ))
        })?;
        // userName is case-insensitive in SCIM (RFC 7643 §4.1.1): prefer an exact match,
        // accept a single case-insensitive one.
        let users = page.resources;
        let exact = users
            .iter()
            .find(|u| u.user_name.as_deref() == Some(user_name.as_str()));
        let found = match exact {
            Some(user) => Some(user.id.clone()),
            None => {
                let mut folded = users.iter().filter(|u| {
                    u.user_name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&user_name))
                });
                match (folded.next(), folded.next()) {
                    (Some(user), None) => Some(user.id.clone()),
                    (Some(_), Some(_)) => {
                        return Err(self.permanent(format!(
                            "more than one SCIM user matches userName `{user_name}`"
                        )));
                    }
                    _ => None,
                }
            }
        };
        Ok((user_name, found))
    }

    /// The member ids of group `target`; a missing group is a permanent error.
    async fn members(&self, target: &str) -> Result<Vec<Member>, ConnectorError> {
        let mut url = self.url(&["Groups", target]);
        url.query_pairs_mut().append_pair("attributes", "members");
        let what = format!("/Groups/{target}");
        let reply = self
            .call(Method::GET, url, None, &what)
            .await
            .map_err(|f| self.error(f, Some(target)))?;
        let group: GroupResource = serde_json::from_value(reply).map_err(|e| {
            self.permanent(format!("GET {what}: the reply is not a SCIM group: {e}"))
        })?;
        Ok(group.members)
    }

    async fn patch(&self, target: &str, operation: Value) -> Result<(), ConnectorError> {
        let body = json!({ "schemas": [PATCH_OP], "Operations": [operation] });
        let what = format!("/Groups/{target}");
        self.call(
            Method::PATCH,
            self.url(&["Groups", target]),
            Some(body),
            &what,
        )
        .await
        .map_err(|f| self.error(f, Some(target)))?;
        Ok(())
    }

    /// Every user's id → userName, one paged read of `/Users`.
    async fn user_names(&self) -> Result<HashMap<String, String>, ConnectorError> {
        let mut names = HashMap::new();
        let mut start = 1usize;
        loop {
            let mut url = self.url(&["Users"]);
            url.query_pairs_mut()
                .append_pair("startIndex", &start.to_string())
                .append_pair("count", &PAGE.to_string());
            let what = format!("/Users?startIndex={start}");
            let reply = self
                .call(Method::GET, url, None, &what)
                .await
                .map_err(|f| self.error(f, None))?;
            let page: UserList = serde_json::from_value(reply).map_err(|e| {
                self.permanent(format!(
                    "GET {what}: the reply is not a SCIM ListResponse: {e}"
                ))
            })?;
            let got = page.resources.len();
            for user in page.resources {
                if let Some(name) = user.user_name {
                    names.insert(user.id, name);
                }
            }
            start += got;
            // An empty page ends the read even if totalResults promised more.
            if got == 0 || page.total_results.is_none_or(|total| start > total) {
                return Ok(names);
            }
        }
    }

    fn permanent(&self, message: String) -> ConnectorError {
        ConnectorError::Permanent(format!("scim `{}`: {message}", self.system))
    }

    fn error(&self, failure: ScimFailure, group: Option<&str>) -> ConnectorError {
        let system = &self.system;
        match failure {
            ScimFailure::Transport(message) => {
                ConnectorError::Transient(format!("scim `{system}`: {message}"))
            }
            ScimFailure::Status(status, message) => {
                let message = match (status, group) {
                    (StatusCode::NOT_FOUND, Some(group)) => {
                        format!("no SCIM group `{group}` ({message})")
                    }
                    (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => {
                        format!("{message} (is the token valid and allowed to manage groups?)")
                    }
                    (s, _) if s.is_redirection() => {
                        format!("{message}: redirects are not followed")
                    }
                    _ => message,
                };
                let message = format!("scim `{system}`: {message}");
                if transient_status(status) {
                    ConnectorError::Transient(message)
                } else {
                    ConnectorError::Permanent(message)
                }
            }
        }
    }
}

#[async_trait]
impl Connector for ScimConnector {
    fn kind(&self) -> &'static str {
        "scim"
    }

    async fn grant(&self, assignment: &Assignment) -> Result<Receipt, ConnectorError> {
        let (user_name, id) = self.find_user(&assignment.account).await?;
        let Some(id) = id else {
            return Err(self.permanent(format!(
                "no SCIM user with userName `{user_name}` (account `{}`, for {})",
                assignment.account, assignment.entitlement
            )));
        };
        let target = &assignment.target;
        let receipt = |change, detail| Receipt {
            change,
            account_ref: id.clone(),
            target_ref: target.clone(),
            detail,
        };
        if self.members(target).await?.iter().any(|m| m.value == id) {
            return Ok(receipt(
                Change::AlreadyPresent,
                format!("`{user_name}` is already a member of SCIM group `{target}`"),
            ));
        }
        self.patch(
            target,
            json!({ "op": "add", "path": "members", "value": [{ "value": id }] }),
        )
        .await?;
        Ok(receipt(
            Change::Added,
            format!("added `{user_name}` to SCIM group `{target}`"),
        ))
    }

    async fn revoke(&self, assignment: &Assignment) -> Result<Receipt, ConnectorError> {
        let (user_name, id) = self.find_user(&assignment.account).await?;
        let target = &assignment.target;
        let members = self.members(target).await?;
        // A user that no longer exists is in no group: the access is gone either way.
        let Some(id) = id else {
            return Ok(Receipt {
                change: Change::AlreadyAbsent,
                account_ref: user_name.clone(),
                target_ref: target.clone(),
                detail: format!(
                    "no SCIM user with userName `{user_name}`, so not a member of `{target}`"
                ),
            });
        };
        let receipt = |change, detail| Receipt {
            change,
            account_ref: id.clone(),
            target_ref: target.clone(),
            detail,
        };
        if !members.iter().any(|m| m.value == id) {
            return Ok(receipt(
                Change::AlreadyAbsent,
                format!("`{user_name}` is not a member of SCIM group `{target}`"),
            ));
        }
        let path = format!("members[value eq \"{}\"]", escape_filter(&id));
        self.patch(target, json!({ "op": "remove", "path": path }))
            .await?;
        Ok(receipt(
            Change::Removed,
            format!("removed `{user_name}` from SCIM group `{target}`"),
        ))
    }

    async fn list(&self, targets: &[String]) -> Result<Vec<Membership>, ConnectorError> {
        let mut groups = Vec::with_capacity(targets.len());
        for target in targets {
            groups.push((target, self.members(target).await?));
        }
        if groups.iter().all(|(_, members)| members.is_empty()) {
            return Ok(Vec::new());
        }
        let names = self.user_names().await?;
        let mut memberships = Vec::new();
        for (target, members) in groups {
            for member in members {
                let account = names
                    .get(&member.value)
                    .and_then(|name| unfill(&self.user_name, name));
                memberships.push(Membership {
                    target: target.clone(),
                    account,
                    account_ref: member.value,
                });
            }
        }
        memberships.sort();
        memberships.dedup();
        Ok(memberships)
    }
}

/// Why a request failed, before it is classified.
enum ScimFailure {
    /// No HTTP reply: connection refused, reset, timed out.
    Transport(String),
    /// A reply with this status, and a message quoting the provider's detail.
    Status(StatusCode, String),
}

fn transient_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::REQUEST_TIMEOUT
            | StatusCode::TOO_MANY_REQUESTS
    ) || status.is_server_error()
}

/// `: <scimType>: <detail>` from a SCIM error body, or a short quote of any other body.
fn scim_detail(body: &[u8]) -> String {
    if let Ok(Value::Object(error)) = serde_json::from_slice::<Value>(body) {
        let detail = error.get("detail").and_then(Value::as_str).unwrap_or("");
        let kind = error.get("scimType").and_then(Value::as_str);
        return match (kind, detail.is_empty()) {
            (Some(kind), false) => format!(": {kind}: {}", quote(detail)),
            (Some(kind), true) => format!(": {kind}"),
            (None, false) => format!(": {}", quote(detail)),
            (None, true) => String::new(),
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", quote(text))
    }
}

fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A value inside a double-quoted SCIM filter string (RFC 7644 §3.4.2.2: JSON string
/// escaping).
fn escape_filter(value: &str) -> String {
    let quoted = Value::String(value.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

#[derive(Deserialize)]
struct UserList {
    #[serde(rename = "totalResults")]
    total_results: Option<usize>,
    #[serde(rename = "Resources", default)]
    resources: Vec<UserResource>,
}

#[derive(Deserialize)]
struct UserResource {
    id: String,
    #[serde(rename = "userName")]
    user_name: Option<String>,
}

#[derive(Deserialize)]
struct GroupResource {
    #[serde(default)]
    members: Vec<Member>,
}

#[derive(Deserialize)]
struct Member {
    value: String,
}

/// A transport error with its URL (without the query) before what went wrong.
fn describe_with_url(error: &reqwest::Error) -> String {
    let message = crate::http_failure(error);
    match error.url() {
        Some(url) => {
            let mut url = url.clone();
            url.set_query(None);
            format!("{url}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretSource;

    fn config(base_url: &str, user_name: &str) -> ScimConfig {
        ScimConfig {
            base_url: base_url.to_owned(),
            token: SecretSource::Env("WRIT_SCIM_UNIT_TOKEN".to_owned()),
            user_name: user_name.to_owned(),
            timeout_ms: 1000,
        }
    }

    #[test]
    fn the_configuration_is_checked_field_by_field() {
        let e = ScimConnector::new("idp", &config("ftp://x/scim", "{account}")).unwrap_err();
        assert_eq!(e.field, "base_url", "{e}");
        let e = ScimConnector::new("idp", &config("not a url", "{account}")).unwrap_err();
        assert_eq!(e.field, "base_url", "{e}");
        let e = ScimConnector::new("idp", &config("https://u:p@x/scim", "{account}")).unwrap_err();
        assert_eq!(e.field, "base_url", "{e}");
        let e = ScimConnector::new("idp", &config("https://x/scim", "fixed")).unwrap_err();
        assert_eq!(e.field, "user_name", "{e}");
        let e = ScimConnector::new("idp", &config("https://x/scim", "{account}")).unwrap_err();
        assert_eq!(e.field, "token", "{e}");
    }

    #[test]
    fn filter_values_are_escaped_and_urls_encoded() {
        assert_eq!(escape_filter(r#"a"b\c"#), r#"a\"b\\c"#);
        let base = Url::parse("https://idp.example/scim/v2/").unwrap();
        let c = ScimConnector {
            system: "idp".into(),
            base,
            token: Secret::new("t".into()),
            user_name: "{account}".into(),
            client: reqwest::Client::new(),
        };
        assert_eq!(
            c.url(&["Groups", "a/b c"]).as_str(),
            "https://idp.example/scim/v2/Groups/a%2Fb%20c"
        );
        assert!(!format!("{c:?}").contains("\"t\""));
    }

    #[test]
    fn scim_errors_quote_the_detail() {
        let body = br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidFilter","detail":"bad"}"#;
        assert_eq!(scim_detail(body), ": invalidFilter: bad");
        assert_eq!(scim_detail(b"oops"), ": oops");
        assert_eq!(scim_detail(b""), "");
        assert!(transient_status(StatusCode::UNAUTHORIZED));
        assert!(transient_status(StatusCode::BAD_GATEWAY));
        assert!(!transient_status(StatusCode::CONFLICT));
    }
}
