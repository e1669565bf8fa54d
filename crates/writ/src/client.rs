//! The typed client of Writ's HTTP API. The CLI uses it, and so do the end-to-end
//! tests, so what the tests prove is what a user runs.

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use writ_server::Problem;
use writ_server::wire::{
    AuditPage, CancelBody, ConsistencyProof, CredentialReport, DecisionBody, EntitlementBody,
    EntitlementList, GrantList, GrantView, IdentityBody, IdentityList, InclusionProof,
    IssuedCredential, IssuedToken, JobList, LedgerEntry, Me, NewRequest, NewToken, RequestList,
    RequestView, ResolveBody, RetryBody, RevokeBody, SystemBody, SystemList, TokenList, TokenView,
};
use writ_server::wire::{
    CampaignList, CampaignView, ItemList, NewCampaign, RereviewBody, ReviewDecisionBody,
    ReviewReportView,
};
use writ_server::wire::{
    CloseIncidentBody, DelegationList, DelegationView, ExplainView, IncidentList,
    IncidentReviewView, NewDelegation, NotificationList, PolicyReloaded, PolicyView,
    RevokeDelegationBody,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused, with an RFC 9457 problem.
    #[error("{} (HTTP {}, {})", .problem.detail, .problem.status, .problem.code)]
    Problem { problem: Problem },
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("cannot reach Writ at {base}: {message}")]
    Transport { base: String, message: String },
    #[error("unexpected response from Writ: {0}")]
    Decode(String),
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Problem { problem } => Some(problem.status),
            ClientError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Problem { problem } => Some(&problem.code),
            _ => None,
        }
    }
}

/// A raw response, for callers that need the status and headers themselves.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub content_type: String,
    pub replayed: bool,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as text, for messages.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as `T`; panics with the body when it is not one (for tests).
    #[allow(clippy::panic)]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body_text()))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mine: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_decide: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GrantQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beneficiary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A list the API answers a page at a time, with `next` when there may be more.
pub trait Paged: DeserializeOwned {
    fn next(&self) -> Option<&str>;
    /// How many rows it holds so far.
    fn rows(&self) -> usize;
    /// Appends `more`'s rows and takes its `next`.
    fn extend(&mut self, more: Self);
}

macro_rules! paged {
    ($($list:ty => $rows:ident),* $(,)?) => {$(
        impl Paged for $list {
            fn next(&self) -> Option<&str> {
                self.next.as_deref()
            }
            fn rows(&self) -> usize {
                self.$rows.len()
            }
            fn extend(&mut self, more: Self) {
                self.$rows.extend(more.$rows);
                self.next = more.next;
            }
        }
    )*};
}

paged!(
    RequestList => requests,
    GrantList => grants,
    JobList => jobs,
    IdentityList => identities,
    SystemList => systems,
    EntitlementList => entitlements,
    TokenList => tokens,
    DelegationList => delegations,
    NotificationList => notifications,
    IncidentList => reviews,
    CampaignList => campaigns,
    ItemList => items,
    AuditPage => events,
);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Transport {
                base: base.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The same server, acting as someone else.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            token: Some(token.to_owned()),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends any request and returns the raw response (for probing error handling).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        idempotency_key: Option<&str>,
    ) -> Result<RawResponse, ClientError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some((content_type, bytes)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let res = req.send().await.map_err(|e| self.transport(e))?;
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let replayed = res.headers().contains_key("idempotent-replayed");
        let body = res.bytes().await.map_err(|e| self.transport(e))?.to_vec();
        Ok(RawResponse {
            status,
            content_type,
            replayed,
            body,
        })
    }

    fn transport(&self, e: reqwest::Error) -> ClientError {
        ClientError::Transport {
            base: self.base.clone(),
            message: e.to_string(),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
        idempotency_key: Option<&str>,
    ) -> Result<T, ClientError> {
        let bytes = match body {
            Some(b) => Some((
                "application/json",
                serde_json::to_vec(b).map_err(|e| ClientError::Decode(e.to_string()))?,
            )),
            None => None,
        };
        let res = self.raw(method, path, bytes, idempotency_key).await?;
        decode(res)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<T>(Method::GET, path, None::<&()>, None).await
    }

    /// Follows `next` from `path` (which has a query, perhaps empty) until the list
    /// ends or holds `upto` rows; a list cut at `upto` keeps the `next` it had.
    pub async fn collect<L: Paged>(
        &self,
        path: &str,
        upto: Option<usize>,
    ) -> Result<L, ClientError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page = |have: usize| upto.map_or(1000, |u| u.saturating_sub(have).clamp(1, 1000));
        let mut all: L = self.get(&format!("{path}{sep}limit={}", page(0))).await?;
        while let Some(next) = all.next().map(str::to_owned) {
            if upto.is_some_and(|u| all.rows() >= u) {
                break;
            }
            let more: L = self
                .get(&format!(
                    "{path}{sep}limit={}&cursor={}",
                    page(all.rows()),
                    seg(&next)
                ))
                .await?;
            all.extend(more);
        }
        Ok(all)
    }

    pub async fn me(&self) -> Result<Me, ClientError> {
        self.get("/api/v1/me").await
    }

    pub async fn health(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/healthz").await
    }

    pub async fn create_request(
        &self,
        body: &NewRequest,
        key: Option<&str>,
    ) -> Result<RequestView, ClientError> {
        self.call(Method::POST, "/api/v1/requests", Some(body), key)
            .await
    }

    /// The request `body` would submit, with its steps and eligible approvers;
    /// nothing is recorded.
    pub async fn dry_run_request(&self, body: &NewRequest) -> Result<RequestView, ClientError> {
        self.call(
            Method::POST,
            "/api/v1/requests?dry_run=true",
            Some(body),
            None,
        )
        .await
    }

    pub async fn delegate(&self, body: &NewDelegation) -> Result<DelegationView, ClientError> {
        self.call(Method::POST, "/api/v1/delegations", Some(body), None)
            .await
    }

    pub async fn delegations(&self, active: bool) -> Result<DelegationList, ClientError> {
        self.collect(&format!("/api/v1/delegations?active={active}"), None)
            .await
    }

    pub async fn revoke_delegation(
        &self,
        id: &str,
        body: &RevokeDelegationBody,
    ) -> Result<DelegationView, ClientError> {
        self.call(
            Method::POST,
            &format!("/api/v1/delegations/{}/revoke", seg(id)),
            Some(body),
            None,
        )
        .await
    }

    pub async fn notifications(&self, all: bool) -> Result<NotificationList, ClientError> {
        self.collect(&format!("/api/v1/notifications?all={all}"), None)
            .await
    }

    pub async fn incident_reviews(&self, state: &str) -> Result<IncidentList, ClientError> {
        self.collect(
            &format!("/api/v1/incident-reviews?state={}", seg(state)),
            None,
        )
        .await
    }

    pub async fn close_incident_review(
        &self,
        request: &str,
        body: &CloseIncidentBody,
    ) -> Result<IncidentReviewView, ClientError> {
        self.call(
            Method::POST,
            &format!("/api/v1/requests/{}/incident-review", seg(request)),
            Some(body),
            None,
        )
        .await
    }

    pub async fn explain(&self, id: &str) -> Result<ExplainView, ClientError> {
        self.get(&format!("/api/v1/requests/{}/explain", seg(id)))
            .await
    }

    pub async fn reload_policy(&self) -> Result<PolicyReloaded, ClientError> {
        self.call(Method::POST, "/api/v1/policy/reload", None::<&()>, None)
            .await
    }

    pub async fn request(&self, id: &str) -> Result<RequestView, ClientError> {
        self.get(&format!("/api/v1/requests/{}", seg(id))).await
    }

    /// One page of requests.
    pub async fn requests(&self, q: &RequestQuery) -> Result<RequestList, ClientError> {
        self.get(&format!("/api/v1/requests?{}", query(q)?)).await
    }

    /// Requests, following `next` until `upto` of them (or all, with `None`).
    pub async fn requests_upto(
        &self,
        q: &RequestQuery,
        upto: Option<usize>,
    ) -> Result<RequestList, ClientError> {
        let q = RequestQuery {
            limit: None,
            cursor: None,
            ..q.clone()
        };
        self.collect(&format!("/api/v1/requests?{}", query(&q)?), upto)
            .await
    }

    pub async fn approve(
        &self,
        id: &str,
        body: &DecisionBody,
        key: Option<&str>,
    ) -> Result<RequestView, ClientError> {
        self.call(
            Method::POST,
            &format!("/api/v1/requests/{}/approve", seg(id)),
            Some(body),
            key,
        )
        .await
    }

    pub async fn deny(
        &self,
        id: &str,
        body: &DecisionBody,
        key: Option<&str>,
    ) -> Result<RequestView, ClientError> {
        self.call(
            Method::POST,
            &format!("/api/v1/requests/{}/deny", seg(id)),
            Some(body),
            key,
        )
        .await
    }

    pub async fn cancel(&self, id: &str, body: &CancelBody) -> Result<RequestView, ClientError> {
        self.call(
            Method::POST,
            &format!("/api/v1/requests/{}/cancel", seg(id)),
            Some(body),
            None,
        )
        .await
    }

    /// Launches an access-review campaign (admins).
    pub async fn launch_campaign(
        &self,
        body: &NewCampaign,
        key: Option<&str>,
    ) -> Result<CampaignView, ClientError> {
        self.call(Method::POST, "/api/v1/campaigns", Some(body), key)
            .await
    }

    pub async fn campaigns(&self, open_only: bool) -> Result<CampaignList, ClientError> {
        self.collect(&format!("/api/v1/campaigns?open={open_only}"), None)
            .await
    }

    pub async fn campaign(&self, id: &str) -> Result<CampaignView, ClientError> {
        self.get(&format!("/api/v1/campaigns/{}", seg(id))).await
    }

    /// A campaign's items: the caller's own (`mine`), or all (admins, auditors, owner).
    pub async fn review_items(
        &self,
        id: &str,
        mine: Option<bool>,
        status: Option<&str>,
    ) -> Result<ItemList, ClientError> {
        let mut q = Vec::new();
        if let Some(m) = mine {
            q.push(format!("mine={m}"));
        }
        if let Some(s) = status {
            q.push(format!("status={}", seg(s)));
        }
        self.collect(
            &format!("/api/v1/campaigns/{}/items?{}", seg(id), q.join("&")),
            None,
        )
        .await
    }

    /// Certifies or revokes items (several at once: a bulk decision).
    pub async fn decide_review(
        &self,
        id: &str,
        body: &ReviewDecisionBody,
    ) -> Result<ItemList, ClientError> {
        self.call(
            Method::POST,
            &format!("/api/v1/campaigns/{}/decisions", seg(id)),
            Some(body),
            None,
        )
        .await
    }

    pub async fn require_rereview(
        &self,
        id: &str,
        reviewer: &str,
    ) -> Result<CampaignView, ClientError> {
        let body = RereviewBody {
            reviewer: reviewer.to_owned(),
        };
        self.call(
            Method::POST,
            &format!("/api/v1/campaigns/{}/rereview", seg(id)),
            Some(&body),
            None,
        )
        .await
    }

    pub async fn review_report(&self, id: &str) -> Result<ReviewReportView, ClientError> {
        self.get(&format!("/api/v1/campaigns/{}/report", seg(id)))
            .await
    }

    /// The report as CSV, exactly as the server renders it.
    pub async fn review_report_csv(&self, id: &str) -> Result<String, ClientError> {
        let res = self
            .raw(
                Method::GET,
                &format!("/api/v1/campaigns/{}/report?format=csv", seg(id)),
                None,
                None,
            )
            .await?;
        if res.status != 200 {
            return Err(decode::<serde_json::Value>(res).err().unwrap_or_else(|| {
                ClientError::Decode("unexpected success decoding an error".into())
            }));
        }
        String::from_utf8(res.body).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Live grants past their review date.
    pub async fn overdue_reviews(&self) -> Result<GrantList, ClientError> {
        self.collect("/api/v1/reviews/overdue?", None).await
    }

    /// One page of grants.
    pub async fn grants(&self, q: &GrantQuery) -> Result<GrantList, ClientError> {
        self.get(&format!("/api/v1/grants?{}", query(q)?)).await
    }

    /// Grants, following `next` until `upto` of them (or all, with `None`).
    pub async fn grants_upto(
        &self,
        q: &GrantQuery,
        upto: Option<usize>,
    ) -> Result<GrantList, ClientError> {
        let q = GrantQuery {
            limit: None,
            cursor: None,
            ..q.clone()
        };
        self.collect(&format!("/api/v1/grants?{}", query(&q)?), upto)
            .await
    }

    pub async fn grant(&self, id: &str) -> Result<GrantView, ClientError> {
        self.get(&format!("/api/v1/grants/{}", seg(id))).await
    }

    /// Sends a dead-lettered job (`provision` or `deprovision`) back to the worker.
    /// Closes a removal by hand (admins), after removing the access by other means.
    pub async fn resolve_provisioning(
        &self,
        id: &str,
        action: &str,
        reason: &str,
    ) -> Result<GrantView, ClientError> {
        let body = ResolveBody {
            action: action.to_owned(),
            reason: reason.to_owned(),
        };
        self.call(
            Method::POST,
            &format!("/api/v1/grants/{}/provisioning/resolve", seg(id)),
            Some(&body),
            None,
        )
        .await
    }

    pub async fn retry_provisioning(
        &self,
        id: &str,
        action: &str,
    ) -> Result<GrantView, ClientError> {
        let body = RetryBody {
            action: action.to_owned(),
        };
        self.call(
            Method::POST,
            &format!("/api/v1/grants/{}/provisioning/retry", seg(id)),
            Some(&body),
            None,
        )
        .await
    }

    /// Provisioning jobs, newest first, optionally only those in `state` or of `grant`.
    pub async fn jobs(
        &self,
        state: Option<&str>,
        grant: Option<&str>,
        limit: u32,
    ) -> Result<JobList, ClientError> {
        let mut q = Vec::new();
        if let Some(s) = state {
            q.push(format!("state={}", seg(s)));
        }
        if let Some(g) = grant {
            q.push(format!("grant={}", seg(g)));
        }
        self.collect(
            &format!("/api/v1/provisioning/jobs?{}", q.join("&")),
            Some(limit as usize),
        )
        .await
    }

    /// Sets a new credential for an NHI's grant; the secret is in the answer, once.
    pub async fn issue_credential(&self, grant: &str) -> Result<IssuedCredential, ClientError> {
        self.call(
            Method::POST,
            &format!("/api/v1/grants/{}/credential", seg(grant)),
            None::<&()>,
            None,
        )
        .await
    }

    pub async fn credential_report(&self) -> Result<CredentialReport, ClientError> {
        self.get("/api/v1/reports/credentials").await
    }

    /// Reconciles one system (or every configured one) now.
    pub async fn reconcile(
        &self,
        system: Option<&str>,
    ) -> Result<writ_server::reconcile::ReconcileReports, ClientError> {
        let path = match system {
            Some(s) => format!("/api/v1/reconcile?system={}", seg(s)),
            None => "/api/v1/reconcile".to_owned(),
        };
        self.call(Method::POST, &path, None::<&()>, None).await
    }

    pub async fn revoke_grant(&self, id: &str, reason: &str) -> Result<GrantView, ClientError> {
        let body = RevokeBody {
            reason: reason.to_owned(),
        };
        self.call(
            Method::POST,
            &format!("/api/v1/grants/{}/revoke", seg(id)),
            Some(&body),
            None,
        )
        .await
    }

    /// Every identity, page by page.
    pub async fn identities(&self) -> Result<IdentityList, ClientError> {
        self.collect("/api/v1/identities?", None).await
    }

    pub async fn identity(&self, name: &str) -> Result<IdentityBody, ClientError> {
        self.get(&format!("/api/v1/identities/{}", seg(name))).await
    }

    pub async fn put_identity(
        &self,
        name: &str,
        body: &IdentityBody,
    ) -> Result<IdentityBody, ClientError> {
        self.call(
            Method::PUT,
            &format!("/api/v1/identities/{}", seg(name)),
            Some(body),
            None,
        )
        .await
    }

    pub async fn systems(&self) -> Result<SystemList, ClientError> {
        self.collect("/api/v1/systems?", None).await
    }

    pub async fn put_system(
        &self,
        name: &str,
        body: &SystemBody,
    ) -> Result<SystemBody, ClientError> {
        self.call(
            Method::PUT,
            &format!("/api/v1/systems/{}", seg(name)),
            Some(body),
            None,
        )
        .await
    }

    pub async fn entitlements(&self) -> Result<EntitlementList, ClientError> {
        self.collect("/api/v1/entitlements?", None).await
    }

    pub async fn put_entitlement(
        &self,
        reference: &str,
        body: &EntitlementBody,
    ) -> Result<EntitlementBody, ClientError> {
        let (system, name) = reference.split_once('/').unwrap_or((reference, ""));
        self.call(
            Method::PUT,
            &format!("/api/v1/entitlements/{}/{}", seg(system), seg(name)),
            Some(body),
            None,
        )
        .await
    }

    pub async fn issue_token(&self, body: &NewToken) -> Result<IssuedToken, ClientError> {
        self.call(Method::POST, "/api/v1/tokens", Some(body), None)
            .await
    }

    pub async fn tokens(&self) -> Result<TokenList, ClientError> {
        self.collect("/api/v1/tokens?", None).await
    }

    pub async fn revoke_token(&self, id: &str) -> Result<TokenView, ClientError> {
        self.call(
            Method::POST,
            &format!("/api/v1/tokens/{}/revoke", seg(id)),
            None::<&()>,
            None,
        )
        .await
    }

    pub async fn audit_events(&self, after: u64, limit: u32) -> Result<AuditPage, ClientError> {
        self.get(&format!("/api/v1/audit/events?after={after}&limit={limit}"))
            .await
    }

    pub async fn policy(&self) -> Result<PolicyView, ClientError> {
        self.get("/api/v1/policy").await
    }

    async fn text(&self, method: Method, path: &str) -> Result<String, ClientError> {
        let res = self.raw(method, path, None, None).await?;
        if (200..300).contains(&res.status) {
            return String::from_utf8(res.body).map_err(|e| ClientError::Decode(e.to_string()));
        }
        decode::<serde_json::Value>(res).map(|_| String::new())
    }

    /// The latest signed checkpoint note; with `sign`, one signed now.
    pub async fn checkpoint(&self, sign: bool) -> Result<String, ClientError> {
        let method = if sign { Method::POST } else { Method::GET };
        self.text(method, "/api/v1/ledger/checkpoint").await
    }

    /// The verifier key string for checkpoints.
    pub async fn ledger_key(&self) -> Result<String, ClientError> {
        Ok(self
            .text(Method::GET, "/api/v1/ledger/key")
            .await?
            .trim_end()
            .to_owned())
    }

    pub async fn ledger_entry(&self, index: u64) -> Result<LedgerEntry, ClientError> {
        self.get(&format!("/api/v1/ledger/entries/{index}")).await
    }

    pub async fn inclusion_proof(
        &self,
        index: u64,
        size: Option<u64>,
    ) -> Result<InclusionProof, ClientError> {
        let size = size.map(|s| format!("&size={s}")).unwrap_or_default();
        self.get(&format!(
            "/api/v1/ledger/proof/inclusion?index={index}{size}"
        ))
        .await
    }

    pub async fn consistency_proof(
        &self,
        old: u64,
        new: Option<u64>,
    ) -> Result<ConsistencyProof, ClientError> {
        let new = new.map(|n| format!("&new={n}")).unwrap_or_default();
        self.get(&format!("/api/v1/ledger/proof/consistency?old={old}{new}"))
            .await
    }

    /// The evidence bundle of a request or grant, as the server wrote it.
    pub async fn evidence(&self, id: &str) -> Result<serde_json::Value, ClientError> {
        self.get(&format!("/api/v1/evidence/{}", seg(id))).await
    }
}

/// Percent-encodes one path segment.
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query(q: &impl Serialize) -> Result<String, ClientError> {
    serde_urlencoded::to_string(q).map_err(|e| ClientError::Decode(e.to_string()))
}

fn decode<T: DeserializeOwned>(res: RawResponse) -> Result<T, ClientError> {
    let status = StatusCode::from_u16(res.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_success() {
        return serde_json::from_slice(&res.body).map_err(|e| ClientError::Decode(e.to_string()));
    }
    if res.content_type.starts_with("application/problem+json")
        && let Ok(problem) = serde_json::from_slice::<Problem>(&res.body)
    {
        return Err(ClientError::Problem { problem });
    }
    Err(ClientError::Http {
        status: res.status,
        body: String::from_utf8_lossy(&res.body)
            .chars()
            .take(500)
            .collect(),
    })
}
