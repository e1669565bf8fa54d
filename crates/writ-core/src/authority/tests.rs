use super::*;

fn source(files: &[(&str, &str)]) -> PolicySource {
    PolicySource {
        files: files
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect(),
    }
}

#[test]
fn the_shipped_set_compiles_with_its_ids() {
    let a = Authority::compile(&PolicySource::shipped()).unwrap();
    let ids: Vec<&str> = a.policies().map(|p| p.id.as_str()).collect();
    assert!(ids.contains(&"manager-of-beneficiary"), "{ids:?}");
    assert!(ids.contains(&"group-member"), "{ids:?}");
}

#[test]
fn schema_errors_syntax_errors_and_duplicate_ids_are_refused_with_file_names() {
    let typo = source(&[(
        "a.cedar",
        r#"permit(principal, action == Writ::Action::"decide", resource) when { principal.departmnt == "x" };"#,
    )]);
    let e = Authority::compile(&typo).unwrap_err();
    assert!(e.to_string().contains("a.cedar"), "{e}");
    assert!(e.to_string().contains("departmnt"), "{e}");

    let broken = source(&[("b.cedar", "permit(principal, action, resource) when {")]);
    let e = Authority::compile(&broken).unwrap_err();
    assert!(e.to_string().contains("b.cedar: does not parse"), "{e}");

    let twice = source(&[
        (
            "a.cedar",
            r#"@id("x") permit(principal, action == Writ::Action::"decide", resource);"#,
        ),
        (
            "b.cedar",
            r#"@id("x") permit(principal, action == Writ::Action::"decide", resource);"#,
        ),
    ]);
    let e = Authority::compile(&twice).unwrap_err();
    assert!(e.to_string().contains("`x` is also used in a.cedar"), "{e}");

    assert!(Authority::compile(&source(&[])).is_err());

    let both = source(&[
        ("broken.cedar", "permit(principal, action, resource) when {"),
        (
            "typo.cedar",
            r#"permit(principal, action == Writ::Action::"decide", resource) when { principal.departmnt == "x" };"#,
        ),
    ]);
    let e = Authority::compile(&both).unwrap_err().to_string();
    assert!(e.contains("broken.cedar: does not parse"), "{e}");
    assert!(e.contains("typo.cedar") && e.contains("departmnt"), "{e}");
}

#[test]
fn who_a_decide_permit_can_allow_is_read_off_the_policies() {
    let shipped = Authority::compile(&PolicySource::shipped()).unwrap();
    let sources: Vec<Source> = shipped
        .deciders
        .clone()
        .unwrap()
        .into_iter()
        .map(|d| d.source)
        .collect();
    assert!(sources.contains(&Source::Path(vec!["beneficiary".into(), "manager".into()])));
    assert!(sources.contains(&Source::Path(vec![
        "beneficiary".into(),
        "manager".into(),
        "manager".into()
    ])));
    assert!(sources.contains(&Source::Path(vec!["entitlement".into(), "owner".into()])));
    assert!(sources.contains(&Source::Path(vec!["system".into(), "owner".into()])));
    assert!(sources.contains(&Source::StepGroup));
    assert!(sources.contains(&Source::Group("security".into())));
    // The break-glass permit is about another action: it adds nobody.
    assert!(!sources.contains(&Source::Group("on-call".into())));

    // A permit on an attribute of the principal can allow anyone: ask everyone.
    let open = Authority::compile(&source(&[(
        "dept.cedar",
        r#"permit(principal, action == Writ::Action::"decide", resource)
           when { principal has department && principal.department == "Finance" };"#,
    )]))
    .unwrap();
    assert_eq!(open.deciders, None);
    // A disjunction restricts only when both sides do.
    let either = Authority::compile(&source(&[(
        "either.cedar",
        r#"permit(principal, action == Writ::Action::"decide", resource)
           when { resource.system.owner == principal || principal in Writ::Group::"sre" };
           permit(principal, action, resource) when { resource.system.owner == principal || principal.active };"#,
    )]))
    .unwrap();
    assert_eq!(either.deciders, None);
    let scoped = Authority::compile(&source(&[(
        "scoped.cedar",
        r#"permit(principal in Writ::Group::"sre", action, resource) when { principal.active };
           permit(principal == Writ::Identity::"ada", action == Writ::Action::"decide", resource);
           forbid(principal, action, resource) when { principal.kind == "nhi" };"#,
    )]))
    .unwrap();
    assert_eq!(
        scoped
            .deciders
            .map(|ds| ds.into_iter().map(|d| d.source).collect::<Vec<_>>()),
        Some(vec![
            Source::Group("sre".into()),
            Source::Identity("ada".into())
        ])
    );
}

#[test]
fn a_step_is_judged_only_by_the_policies_that_can_apply_to_it() {
    let a = Authority::compile(&PolicySource::shipped()).unwrap();
    let ids = |kind: &str| -> Vec<String> {
        let mut ids: Vec<String> = a.by_step[kind]
            .policies()
            .map(|p| p.id().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids("system_owner"),
        ["escalated-to-security", "system-owner"]
    );
    assert_eq!(ids("security"), ["escalated-to-security", "group-member"]);
    assert_eq!(
        ids("manager"),
        [
            "escalated-to-next-manager",
            "escalated-to-security",
            "manager-of-beneficiary",
            "owner-of-nhi",
            "skip-level-manager",
            "skip-level-nhi-owner"
        ]
    );
    // A forbid without a step condition applies to every step.
    let f = Authority::compile(&source(&[(
        "f.cedar",
        r#"forbid(principal, action, resource) when { principal.kind == "nhi" };
           permit(principal, action == Writ::Action::"decide", resource)
           when { context.step == "manager" || context.step == "group" };"#,
    )]))
    .unwrap();
    assert_eq!(f.by_step["security"].policies().count(), 1);
    assert_eq!(f.by_step["group"].policies().count(), 2);
}

#[test]
fn unannotated_policies_are_named_by_file_and_position() {
    let a = Authority::compile(&source(&[(
        "extra.cedar",
        r#"permit(principal in Writ::Group::"sre", action == Writ::Action::"decide", resource);
           forbid(principal, action == Writ::Action::"decide", resource) when { principal.kind == "nhi" };"#,
    )]))
    .unwrap();
    let ids: Vec<&str> = a.policies().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["extra.cedar:1", "extra.cedar:2"]);
    assert_eq!(
        a.named_groups["extra.cedar:1"],
        BTreeSet::from(["sre".to_owned()])
    );
}
