//! How the CLI prints things: tables for people, `--json` for scripts.

use std::fmt::Write;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;
use writ_server::wire::{
    AuditEvent, DelegationView, EntitlementBody, ExplainView, GrantView, IdentityBody,
    IncidentList, JobView, LedgerEntry, NotificationList, PolicyView, RequestView, SystemBody,
    TokenView,
};

pub fn print<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", human());
    }
    Ok(())
}

/// Says on stderr, never in the printed list, that the list was cut at `--limit`.
pub fn more_exist(list: &impl writ::client::Paged) {
    if list.next().is_some() {
        eprintln!(
            "(showing the first {}; more match: raise --limit or pass --all)",
            list.rows()
        );
    }
}

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(header.to_vec());
    t
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

pub fn request(r: &RequestView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Request {}  [{}]", r.id, r.status);
    let _ = writeln!(s, "  requester      {}", r.requester);
    let _ = writeln!(s, "  beneficiary    {}", r.beneficiary);
    let _ = writeln!(
        s,
        "  entitlement    {} ({} risk{})",
        r.entitlement,
        r.risk,
        if r.privileged { ", privileged" } else { "" }
    );
    let _ = writeln!(
        s,
        "  duration       {} (clock starts at final approval)",
        r.duration
    );
    let _ = writeln!(s, "  kind           {}", r.kind);
    if let Some(t) = &r.ticket {
        let _ = writeln!(s, "  ticket         {t}");
    }
    let _ = writeln!(s, "  justification  {}", r.justification);
    if let Some(e) = &r.sod_exception {
        let _ = writeln!(
            s,
            "  SoD exception  rule `{}`: also holds {} ({}) — {}",
            e.rule, e.conflicts_with, e.held_as, e.justification
        );
    }
    if let Some(c) = &r.constraints {
        let _ = writeln!(
            s,
            "  constraints    scopes [{}] environment {} sources [{}]",
            c.api_scopes.join(", "),
            c.environment.as_deref().unwrap_or("-"),
            c.source_ranges.join(", ")
        );
    }
    let _ = writeln!(s, "  submitted      {}", r.submitted_at);
    if let Some(c) = &r.closed_at {
        let _ = writeln!(s, "  closed         {c}");
    }
    if let Some(g) = &r.grant {
        let _ = writeln!(s, "  grant          {g}");
    }
    if let Some(c) = &r.cancel_reason {
        let _ = writeln!(s, "  cancel reason  {c}");
    }
    let _ = writeln!(
        s,
        "  digest         {}  policy {}",
        short(&r.digest),
        short(&r.policy_version)
    );
    if !r.break_glass_by.is_empty() {
        let _ = writeln!(
            s,
            "  BREAK-GLASS    under {}; security notified",
            r.break_glass_by.join(", ")
        );
    }
    if let Some(v) = &r.incident_review {
        let _ = writeln!(
            s,
            "  review         {} (due {}){}",
            v.finding.as_deref().unwrap_or(&v.state),
            v.due,
            v.notes
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        );
    }
    if !r.pre_approved_by.is_empty() {
        let _ = writeln!(
            s,
            "  pre-approved   by policy {} at version {} ({})",
            r.pre_approved_by.join(", "),
            short(&r.policy_version),
            r.pre_approval_facts.join("; ")
        );
    }
    let _ = writeln!(s, "Steps:");
    if r.steps.is_empty() {
        let why = if r.break_glass_by.is_empty() {
            "pre-approved by policy"
        } else {
            "break-glass: granted at once, reviewed afterwards"
        };
        let _ = writeln!(s, "  none ({why})");
    }
    for st in &r.steps {
        match &st.approver {
            Some(a) => {
                let _ = writeln!(
                    s,
                    "  {}. {:<18} {} by {} at {}",
                    st.index,
                    st.role,
                    st.state,
                    a,
                    st.decided_at.as_deref().unwrap_or("")
                );
                let _ = writeln!(s, "     authority: {}", st.basis.as_deref().unwrap_or(""));
                if let (Some(x), Some(d)) = (&st.on_behalf_of, &st.delegation) {
                    let _ = writeln!(s, "     on behalf: {x} under delegation {d}");
                }
                if !st.policies.is_empty() {
                    let _ = writeln!(
                        s,
                        "     policies:  {} (version {})",
                        st.policies.join(", "),
                        short(st.policy_version.as_deref().unwrap_or(""))
                    );
                }
                for f in &st.facts {
                    let _ = writeln!(s, "     fact:      {f}");
                }
                if let Some(c) = &st.comment {
                    let _ = writeln!(s, "     comment:   {c}");
                }
            }
            None => {
                let escalated = if st.escalated { " (escalated)" } else { "" };
                let _ = writeln!(s, "  {}. {:<18} open{escalated}", st.index, st.role);
                for e in &st.eligible {
                    let _ = writeln!(s, "     eligible:  {} — {}", e.identity, e.basis);
                }
                for x in &st.excluded {
                    let _ = writeln!(s, "     excluded:  {} — {}", x.identity, x.why);
                }
                if let Some(n) = &st.note {
                    let _ = writeln!(s, "     note:      {n}");
                }
                if st.eligible.is_empty() && matches!(r.status.as_str(), "pending" | "dry-run") {
                    let _ = writeln!(s, "     nobody can decide this step now");
                }
            }
        }
    }
    s
}

pub fn incidents(l: &IncidentList) -> String {
    if l.reviews.is_empty() {
        return "No post-incident reviews.\n".into();
    }
    let mut t = table(&[
        "request",
        "state",
        "who",
        "entitlement",
        "incident",
        "due",
        "finding",
    ]);
    for r in &l.reviews {
        t.add_row(vec![
            r.request.clone(),
            r.review.state.clone(),
            r.beneficiary.clone(),
            r.entitlement.clone(),
            r.incident.clone(),
            r.review.due.clone(),
            r.review.finding.clone().unwrap_or_default(),
        ]);
    }
    format!("{t}\n")
}

pub fn notifications(l: &NotificationList) -> String {
    if l.notifications.is_empty() {
        return "No notifications.\n".into();
    }
    let mut s = String::new();
    for n in &l.notifications {
        let _ = writeln!(s, "{}  {}  {}  {}", n.at, n.recipient, n.kind, n.message);
    }
    s
}

pub fn delegations(list: &[DelegationView]) -> String {
    if list.is_empty() {
        return "No delegations.\n".into();
    }
    let mut t = table(&[
        "id",
        "state",
        "delegator",
        "delegate",
        "from",
        "until",
        "scope",
        "reason",
    ]);
    for d in list {
        let mut scope: Vec<String> = d.systems.clone();
        scope.extend(d.tiers.iter().map(|t| format!("{t} risk")));
        t.add_row(vec![
            d.id.clone(),
            d.state.clone(),
            d.delegator.clone(),
            d.delegate.clone(),
            d.from.clone(),
            d.until.clone(),
            if scope.is_empty() {
                "all".into()
            } else {
                scope.join(", ")
            },
            d.reason.clone(),
        ]);
    }
    format!("{t}\n")
}

/// `writ policy show`: the version and the Cedar policies in force.
pub fn policy(p: &PolicyView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Approval policy {}", p.version);
    let _ = writeln!(
        s,
        "  Cedar set    {}",
        p.directory
            .as_deref()
            .unwrap_or("shipped (no [policy] dir configured)")
    );
    let mut t = table(&["policy", "effect", "file", "reason"]);
    for i in &p.policies {
        t.add_row(vec![
            i.id.clone(),
            i.effect.clone(),
            i.file.clone(),
            i.reason.clone().unwrap_or_default(),
        ]);
    }
    let _ = writeln!(s, "{t}");
    s
}

/// `writ policy explain`: each step, who decided it under what, who may decide it now.
pub fn explain(e: &ExplainView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Request {}  [{}]", e.request, e.status);
    let _ = writeln!(s, "  submitted under policy {}", short(&e.submitted_under));
    let _ = writeln!(
        s,
        "  judged now under       {} at {}",
        short(&e.policy_version),
        e.at
    );
    for st in &e.steps {
        let _ = writeln!(s, "Step {}. {}  [{}]", st.index, st.role, st.state);
        if let Some(a) = &st.approver {
            let _ = writeln!(
                s,
                "  decided by {a} under {} (version {})",
                if st.decided_under.is_empty() {
                    "the chains before Cedar".to_owned()
                } else {
                    st.decided_under.join(", ")
                },
                short(st.decided_policy_version.as_deref().unwrap_or(""))
            );
            for f in &st.decided_facts {
                let _ = writeln!(s, "    fact: {f}");
            }
        }
        if st.eligible_now.is_empty() {
            let _ = writeln!(s, "  eligible now: nobody");
        }
        for c in &st.eligible_now {
            let _ = writeln!(
                s,
                "  eligible now: {} by {}",
                c.identity,
                c.policies.join(", ")
            );
            for f in &c.facts {
                let _ = writeln!(s, "    fact: {f}");
            }
        }
        for x in &st.excluded_now {
            let _ = writeln!(s, "  excluded:     {} — {}", x.identity, x.why);
        }
        if let Some(n) = &st.note {
            let _ = writeln!(s, "  note:         {n}");
        }
    }
    s
}

pub fn requests(list: &[RequestView]) -> String {
    if list.is_empty() {
        return "No requests.\n".into();
    }
    let mut t = table(&[
        "id",
        "status",
        "beneficiary",
        "entitlement",
        "duration",
        "requester",
        "submitted",
        "steps",
    ]);
    for r in list {
        let steps: Vec<String> = r
            .steps
            .iter()
            .map(|s| format!("{}:{}", s.role, s.state))
            .collect();
        t.add_row(vec![
            r.id.clone(),
            r.status.clone(),
            r.beneficiary.clone(),
            r.entitlement.clone(),
            r.duration.clone(),
            r.requester.clone(),
            r.submitted_at.clone(),
            steps.join(" "),
        ]);
    }
    format!("{t}\n")
}

pub fn grant(g: &GrantView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Grant {}  [{}]", g.id, g.status);
    let _ = writeln!(s, "  beneficiary  {}", g.beneficiary);
    let _ = writeln!(s, "  entitlement  {}", g.entitlement);
    let _ = writeln!(s, "  request      {}", g.request);
    let _ = writeln!(s, "  granted      {}", g.granted_at);
    let _ = writeln!(s, "  expires      {}", g.expires_at);
    let _ = writeln!(s, "  review by    {}", g.review_by);
    if let Some(r) = &g.renews {
        let _ = writeln!(s, "  renews       {r}");
    }
    if let Some(e) = &g.ended_at {
        let _ = writeln!(
            s,
            "  ended        {e} by {} ({})",
            g.ended_by.as_deref().unwrap_or("?"),
            g.end_reason.as_deref().unwrap_or("")
        );
    }
    if g.provisioned_by_connector {
        let _ = writeln!(
            s,
            "  in target    added {}, removed {}",
            g.provisioned_at.as_deref().unwrap_or("(not confirmed)"),
            g.deprovisioned_at.as_deref().unwrap_or("-")
        );
        if let Some(h) = &g.held {
            let _ = writeln!(
                s,
                "  HELD         not provisioned: {h}; once authority is restored, `writ provisioning retry {} --action provision`",
                g.id
            );
        }
        if let Some(f) = &g.failed_job {
            let _ = writeln!(
                s,
                "  FAILED       the {f} job gave up; `writ provisioning retry {} --action {f}`",
                g.id
            );
        }
        for j in &g.jobs {
            let _ = writeln!(s, "  job          {}", job_line(j));
        }
    }
    s
}

fn job_line(j: &JobView) -> String {
    let mut line = format!("{} {} (entry {})", j.action, j.state, j.opened_by_seq);
    if j.attempts > 0 {
        line.push_str(&format!(", {} failed attempt(s)", j.attempts));
    }
    if let Some(n) = &j.next_attempt_at {
        line.push_str(&format!(", next try {n}"));
    }
    if let Some(e) = j.error.as_ref().or(j.last_error.as_ref()) {
        line.push_str(&format!(": {e}"));
    }
    line
}

pub fn jobs(list: &[JobView]) -> String {
    if list.is_empty() {
        return "No provisioning jobs.\n".into();
    }
    let mut t = table(&[
        "grant",
        "action",
        "state",
        "system",
        "beneficiary",
        "target",
        "attempts",
        "error",
    ]);
    for j in list {
        t.add_row(vec![
            j.grant.clone(),
            j.action.clone(),
            j.state.clone(),
            j.system.clone(),
            j.beneficiary.clone(),
            j.target.clone(),
            j.attempts.to_string(),
            j.error
                .clone()
                .or_else(|| j.last_error.clone())
                .unwrap_or_default(),
        ]);
    }
    format!("{t}\n")
}

pub fn grants(list: &[GrantView]) -> String {
    if list.is_empty() {
        return "No grants.\n".into();
    }
    let mut t = table(&[
        "id",
        "status",
        "beneficiary",
        "entitlement",
        "granted",
        "expires",
        "review by",
    ]);
    for g in list {
        t.add_row(vec![
            g.id.clone(),
            g.status.clone(),
            g.beneficiary.clone(),
            g.entitlement.clone(),
            g.granted_at.clone(),
            g.expires_at.clone(),
            g.review_by.clone(),
        ]);
    }
    format!("{t}\n")
}

pub fn identity(i: &IdentityBody) -> String {
    let mut s = format!("{} ({}, {})\n", i.name, i.display_name, i.kind);
    if let Some(m) = &i.manager {
        let _ = writeln!(s, "  manager  {m}");
    }
    if let Some(o) = &i.owner {
        let _ = writeln!(s, "  owner    {o}");
    }
    if !i.groups.is_empty() {
        let _ = writeln!(s, "  groups   {}", i.groups.join(", "));
    }
    if !i.roles.is_empty() {
        let _ = writeln!(s, "  roles    {}", i.roles.join(", "));
    }
    s
}

pub fn identities(list: &[IdentityBody]) -> String {
    let mut t = table(&[
        "name",
        "kind",
        "display name",
        "manager / owner",
        "department / purpose",
        "groups",
        "roles",
        "status",
    ]);
    for i in list {
        t.add_row(vec![
            i.name.clone(),
            i.nhi_kind.clone().unwrap_or_else(|| i.kind.clone()),
            i.display_name.clone(),
            i.manager
                .clone()
                .or_else(|| i.owner.clone())
                .unwrap_or_default(),
            i.department
                .clone()
                .or_else(|| i.purpose.clone())
                .unwrap_or_default(),
            i.groups.join(", "),
            i.roles.join(", "),
            i.status.clone().unwrap_or_default(),
        ]);
    }
    format!("{t}\n")
}

pub fn systems(list: &[SystemBody]) -> String {
    let mut t = table(&["name", "kind", "owner", "display name"]);
    for s in list {
        t.add_row(vec![
            s.name.clone(),
            s.kind.clone(),
            s.owner.clone(),
            s.display_name.clone(),
        ]);
    }
    format!("{t}\n")
}

pub fn entitlements(list: &[EntitlementBody]) -> String {
    let mut t = table(&[
        "entitlement",
        "kind",
        "risk",
        "privileged",
        "max duration",
        "owner",
        "break-glass",
    ]);
    for e in list {
        t.add_row(vec![
            e.reference.clone(),
            e.kind.clone(),
            e.risk.clone(),
            if e.privileged { "yes" } else { "" }.to_owned(),
            e.max_duration.clone(),
            e.owner.clone().unwrap_or_default(),
            if e.break_glass { "yes" } else { "" }.to_owned(),
        ]);
    }
    format!("{t}\n")
}

pub fn tokens(list: &[TokenView]) -> String {
    let mut t = table(&["id", "identity", "label", "issued", "expires", "revoked"]);
    for k in list {
        t.add_row(vec![
            k.id.clone(),
            k.identity.clone(),
            k.label.clone(),
            k.issued_at.clone(),
            k.expires_at.clone().unwrap_or_default(),
            k.revoked_at.clone().unwrap_or_default(),
        ]);
    }
    format!("{t}\n")
}

pub fn audit(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "No events.\n".into();
    }
    let mut t = table(&["seq", "at", "actor", "event", "subject"]);
    for e in events {
        t.add_row(vec![
            e.seq.to_string(),
            e.at.clone(),
            e.actor.clone(),
            e.kind.clone(),
            e.subject.clone(),
        ]);
    }
    format!("{t}\n")
}

pub fn ledger_entry(e: &LedgerEntry) -> String {
    let mut out = format!(
        "Entry {} (seq {}) · {} · {} by {}\n  subject:   {}\n  leaf hash: {}\n  leaf:      {}\n",
        e.index,
        e.event.seq,
        e.event.at,
        e.event.kind,
        e.event.actor,
        e.event.subject,
        e.leaf_hash,
        e.leaf
    );
    if !e.erased.is_empty() {
        out += &format!("  erased:    {}\n", e.erased.join(", "));
    }
    out += &serde_json::to_string_pretty(&e.event.event).unwrap_or_default();
    out.push('\n');
    out
}

pub fn proof(hashes: &[String], what: &str) -> String {
    let mut out = format!("Proof of {what}: {} hashes\n", hashes.len());
    for h in hashes {
        out += &format!("  {h}\n");
    }
    out
}

pub fn reconcile(reports: &[writ_server::reconcile::ReconcileReport], explain: bool) -> String {
    let mut s = String::new();
    for r in reports {
        let _ = writeln!(
            s,
            "{}: {} memberships, {} live grants — {} explained, {} unexplained, {} missing (unexplained access: {})",
            r.system,
            r.memberships,
            r.live_grants,
            r.explained,
            r.unexplained,
            r.missing,
            r.unexplained_policy
        );
        for u in &r.unchecked {
            let _ = writeln!(s, "  not checked: {u}");
        }
        if !r.recorded.is_empty() {
            let mut t = table(&["finding", "entitlement", "account", "grant", "action"]);
            for f in &r.recorded {
                t.add_row(vec![
                    f.kind.clone(),
                    f.entitlement.clone(),
                    f.account.clone().unwrap_or_else(|| f.account_ref.clone()),
                    f.grant.clone().unwrap_or_default(),
                    f.action.clone(),
                ]);
            }
            let _ = writeln!(s, "{t}");
        }
        let open: Vec<_> = r.access.iter().filter(|a| a.state != "explained").collect();
        let shown: Vec<_> = if explain {
            r.access.iter().collect()
        } else {
            open
        };
        if !shown.is_empty() {
            let mut t = table(&["state", "entitlement", "account", "grant", "approved by"]);
            for a in shown {
                t.add_row(vec![
                    a.state.clone(),
                    a.entitlement.clone(),
                    a.account.clone().unwrap_or_else(|| a.account_ref.clone()),
                    a.grant.clone().unwrap_or_default(),
                    a.approved_by.join("; "),
                ]);
            }
            let _ = writeln!(s, "{t}");
        }
    }
    s
}

pub fn issued_credential(c: &writ_server::wire::IssuedCredential) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Credential for grant {}", c.grant);
    let _ = writeln!(s, "  secret       {}", c.secret);
    let _ = writeln!(s, "  fingerprint  {}", c.fingerprint);
    let _ = writeln!(s, "  expires      {}", c.expires_at);
    let _ = writeln!(s, "  rotate by    {}", c.rotate_by);
    if let Some(old) = &c.replaces {
        let _ = writeln!(s, "  replaces     {old} (no longer works)");
    }
    let _ = writeln!(
        s,
        "This is the only time the secret is shown: Writ keeps its fingerprint only."
    );
    s
}

pub fn credential_report(r: &writ_server::wire::CredentialReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Past their rotation deadline: {}",
        r.past_rotation_deadline.len()
    );
    for c in &r.past_rotation_deadline {
        let _ = writeln!(
            s,
            "  {} {} ({}) rotate by {}, expires {}",
            c.nhi, c.entitlement, c.fingerprint, c.rotate_by, c.expires_at
        );
    }
    let _ = writeln!(s, "Without expiry: {}", r.without_expiry.len());
    let _ = writeln!(
        s,
        "NHIs whose owner is inactive: {}",
        r.nhis_with_inactive_owner.len()
    );
    for o in &r.nhis_with_inactive_owner {
        let _ = writeln!(
            s,
            "  {} (owner {}): live grants {}",
            o.nhi,
            o.owner,
            o.live_grants.join(", ")
        );
    }
    s
}
