//! The console's Audit and Policy pages over HTTP: the trail searched with filters and paged
//! newest first, a record's page, the chain's status, the policy in force, the "what would the
//! policy decide" form (allowed, denied, held, bad JSON, CSRF), the reload button, and a
//! person the policy refuses kept out of all of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::{Client, StatusCode};
use support::console::*;
use support::*;

/// The ids of the records on a search page, in the order shown.
fn record_ids(html: &str) -> Vec<String> {
    html.split("data-record=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The "Older" link's target, unescaped from HTML.
fn older_link(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\"")?;
    let start = html[..at].rfind("href=\"")? + 6;
    Some(html[start..at].split('"').next()?.replace("&amp;", "&"))
}

async fn post(
    c: &Console,
    agent: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = agent
        .post(format!("{}{path}", c.admin))
        .header("origin", &c.admin)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_is_searched_paged_and_shown_record_by_record() {
    let c = Console::start("ops_audit").await;
    // 30 statements: with their results, more than a page of rita's records.
    let statements: Vec<String> = (1..=30)
        .map(|i| format!("SELECT note FROM {} WHERE id = {i}", c.table))
        .collect();
    let mut args = Vec::new();
    for s in &statements {
        args.extend(["-c", s.as_str()]);
    }
    // Requester-written text that would be markup if it were not escaped.
    let markup =
        c.h.psql("rita", "app", &["-c", "SELECT '<b>bold</b>' AS x"]);
    assert!(markup.status.success());
    let out = c.h.psql("rita", "app", &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Carol may not read the trail: each refusal is a record too.
    let carol = Console::agent();
    c.sign_in(&carol, CAROL, CAROL_PASSWORD).await;
    let (status, refused) = c.page(&carol, "/console/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, _) = c.page(&carol, "/console/audit/1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post(
        &c,
        &carol,
        "/console/audit/verify",
        &[("csrf", &csrf(&refused))],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    c.h.audit().await;

    let bob = Console::agent();
    c.sign_in(&bob, oidc::BOB, oidc::BOB_PASSWORD).await;
    let (status, page) = c.page(&bob, "/console/audit").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Chain intact"), "{page}");
    assert!(page.contains("Verify now"), "{page}");
    assert!(page.contains("admin_refused"), "{page}");
    assert_eq!(record_ids(&page).len(), 50, "a full page");

    // Rita's statements only, newest first, over two pages.
    let (_, first) = c
        .page(&bob, "/console/audit?identity=rita&kind=statement")
        .await;
    let ids = record_ids(&first);
    assert_eq!(ids.len(), 31, "{first}");
    assert!(first.contains("WHERE id = 30"), "{first}");
    assert!(
        first.find("WHERE id = 30").unwrap() < first.find("WHERE id = 1<").unwrap_or(usize::MAX)
    );
    assert!(!first.contains("admin_refused"));
    let (_, all) = c.page(&bob, "/console/audit?identity=rita&outcome=").await;
    let page1 = record_ids(&all);
    assert_eq!(page1.len(), 50);
    let older = older_link(&all).expect("an Older link");
    assert!(
        older.contains("identity=rita") && older.contains("before="),
        "{older}"
    );
    let (status, rest) = c.page(&bob, &older).await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    let page2 = record_ids(&rest);
    assert!(!page2.is_empty());
    assert!(page2.iter().all(|id| !page1.contains(id)), "pages overlap");
    assert!(older_link(&rest).is_none() || page2.len() == 50);

    // Carol's refusal, by outcome and free text.
    let (_, denied) = c
        .page(&bob, "/console/audit?identity=carol&outcome=deny")
        .await;
    assert!(denied.contains("audit.read"), "{denied}");
    let (_, text) = c
        .page(&bob, "/console/audit?text=where%20ID%20%3D%2017")
        .await;
    assert_eq!(record_ids(&text).len(), 1, "{text}");

    // A record's page shows its fields.
    let id = &ids[0];
    let href = format!("/console/audit/{}", id.replace(':', "%3A"));
    let (status, record) = c.page(&bob, &href).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    for field in [
        "decision",
        "prev",
        "seq",
        "line SHA-256",
        "allow_all",
        "WHERE id = 30",
        "rita",
    ] {
        assert!(record.contains(field), "{field} not shown: {record}");
    }

    // Text from the trail is text.
    let (_, found) = c
        .page(&bob, "/console/audit?text=%3Cb%3E&kind=statement")
        .await;
    let markup_ids = record_ids(&found);
    assert_eq!(markup_ids.len(), 1, "{found}");
    assert!(
        found.contains("&lt;b&gt;bold&lt;/b&gt;") && !found.contains("<b>bold"),
        "{found}"
    );
    let href = format!("/console/audit/{}", markup_ids[0].replace(':', "%3A"));
    let (_, record) = c.page(&bob, &href).await;
    assert!(
        record.contains("&lt;b&gt;bold&lt;/b&gt;") && !record.contains("<b>bold"),
        "{record}"
    );

    // Bad input is a clear page, not a 500.
    let (status, _) = c.page(&bob, "/console/audit/not%01an-id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = c.page(&bob, "/console/audit/nowhere:999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = c.page(&bob, "/console/audit?from=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = c.page(&bob, "/console/audit?before=gw:999999999").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Verify now: a form with the page's token.
    let (status, _) = post(&c, &bob, "/console/audit/verify", &[("csrf", "")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post(&c, &bob, "/console/audit/verify", &[("csrf", &csrf(&page))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_page_shows_what_is_in_force_and_what_it_would_decide() {
    let c = Console::start("ops_policy").await;
    let carol = Console::agent();
    c.sign_in(&carol, CAROL, CAROL_PASSWORD).await;
    let (status, refused) = c.page(&carol, "/console/policy").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let carol_token = csrf(&refused);
    for path in ["/console/policy/evaluate", "/console/policy/reload"] {
        let (status, _) = post(&c, &carol, path, &[("csrf", &carol_token), ("input", "{}")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }

    let bob = Console::agent();
    c.sign_in(&bob, oidc::BOB, oidc::BOB_PASSWORD).await;
    let (status, page) = c.page(&bob, "/console/policy").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let version = c.h.gateway.gateway.policy().current().info.version.clone();
    assert!(page.contains(&version), "{version} not on {page}");
    assert!(page.contains("(this one)"), "the cluster's table: {page}");
    assert!(page.contains("Drift against the repository"), "{page}");
    assert!(page.contains("None since this gateway started"), "{page}");
    assert!(
        page.contains("&quot;action&quot;: &quot;statement&quot;"),
        "the example: {page}"
    );
    let token = csrf(&page);

    let evaluate = |input: &'static str, token: String| {
        let bob = bob.clone();
        let url = format!("{}/console/policy/evaluate", c.admin);
        let origin = c.admin.clone();
        async move {
            let r = bob
                .post(url)
                .header("origin", origin)
                .form(&[("csrf", token.as_str()), ("input", input)])
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, allowed) = evaluate(
        r#"{"identity": {"groups": ["developers"]}, "request": {"action": "statement", "statement": {"command": "SELECT"}}}"#,
        token.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{allowed}");
    assert!(
        allowed.contains("verdict allow") && allowed.contains("allow_all"),
        "{allowed}"
    );
    let (status, denied) = evaluate(
        r#"{"identity": {"groups": ["analysts"]}, "request": {"action": "admin"}}"#,
        token.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{denied}");
    assert!(
        denied.contains("verdict deny") && denied.contains("console_for_reviewers"),
        "{denied}"
    );
    assert!(
        denied.contains("the console is for dba and developers"),
        "{denied}"
    );
    let (_, held) = evaluate(
        r#"{"request": {"action": "statement", "statement": {"command": "DELETE"}}}"#,
        token.clone(),
    )
    .await;
    assert!(
        held.contains("verdict hold") && held.contains("delete_needs_dba"),
        "{held}"
    );
    assert!(held.contains("Approval"), "{held}");
    // Deciding held nothing and recorded no statement.
    let audit = c.h.audit().await;
    assert!(!audit.iter().any(|r| matches!(
        r.event,
        sluice_audit::AuditEvent::ReviewRequested { .. }
            | sluice_audit::AuditEvent::Statement { .. }
    )));

    let (status, bad) = evaluate("{not json", token.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("not JSON"), "{bad}");
    assert!(
        bad.contains("{not json"),
        "the input stays in the form: {bad}"
    );
    let (status, _) = evaluate("[1]", token.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = evaluate("{}", String::new()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = evaluate("{}", carol_token.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another credential's token");
    let r = bob
        .post(format!("{}/console/policy/evaluate", c.admin))
        .header("origin", "http://evil.example")
        .form(&[("csrf", token.as_str()), ("input", "{}")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    let (status, _) = post(
        &c,
        &bob,
        "/console/policy/evaluate",
        &[("csrf", &token), ("input", &big)],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Reload: unchanged, rejected (and kept on the page), then a new version.
    assert!(page.contains("action=\"/console/policy/reload\""), "{page}");
    let (status, same) = post(&c, &bob, "/console/policy/reload", &[("csrf", &token)]).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert!(same.contains("already in force"), "{same}");
    let rego = c.policy_dir.join("policy.rego");
    std::fs::write(&rego, "package sluice\n\ndecision := {").unwrap();
    let (status, rejected) = post(&c, &bob, "/console/policy/reload", &[("csrf", &token)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{rejected}");
    assert!(rejected.contains("Rejected"), "{rejected}");
    let (_, page) = c.page(&bob, "/console/policy").await;
    assert!(!page.contains("None since this gateway started"), "{page}");
    assert!(page.contains(&version), "still in force: {page}");
    std::fs::write(&rego, format!("{POLICY}\n# changed\n")).unwrap();
    let (status, loaded) = post(&c, &bob, "/console/policy/reload", &[("csrf", &token)]).await;
    assert_eq!(status, StatusCode::OK, "{loaded}");
    assert!(loaded.contains("replaces"), "{loaded}");
    assert_ne!(c.h.gateway.gateway.policy().current().info.version, version);
}
