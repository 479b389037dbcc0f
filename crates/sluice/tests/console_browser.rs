//! The web console in a real headless Chromium (tests/support/browser.rs): a reviewer signs in
//! through the test identity provider's own pages, approves a held psql statement from the
//! live inbox and sees psql complete, denies another, and visits every page; each page is
//! screenshotted (target/test-artifacts/console/), loads nothing from outside the gateway and
//! raises no script or CSP error. A forged form and a person the policy refuses are turned
//! away; the phone layout fits a phone's width. The same flows over plain HTTP, with every
//! assertion on markup, are in console.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use support::browser::Browser;
use support::console::*;
use support::oidc;

/// Signs in through the provider's login and consent pages as a person would, starting from
/// a console page; returns when the console shows that page.
async fn sign_in(b: &Browser, c: &Console, path: &str, user: &str, password: &str) {
    b.goto(&format!("{}{path}", c.admin)).await;
    b.wait_for("input[name=login]").await;
    b.fill("input[name=login]", user).await;
    b.fill("input[name=password]", password).await;
    b.click("button[type=submit]").await;
    // The consent page.
    b.wait_for_text("button[type=submit]", "Allow").await;
    b.click("button[type=submit]").await;
    let want = format!("{}{path}", c.admin);
    b.wait_for_url("the console after sign-in", |u| u.starts_with(&want))
        .await;
    // The provider's pages were on its own origin; what the console loads is checked from here.
    b.resource_urls().await;
    b.console_messages().await;
}

/// Everything the current page requested was on the gateway's origin, and the page raised no
/// error (a CSP refusal, a script exception, a failed load).
async fn only_the_gateway(b: &Browser, c: &Console, page: &str) {
    let own = format!("{}/", c.admin);
    for url in b.resource_urls().await {
        // Not loads from anywhere: Chromium's own pages (its new-tab page asks chrome:// for
        // icons) and inline data (a date field's calendar icon in Chromium's own styles).
        if ["chrome:", "about:", "data:"]
            .iter()
            .any(|s| url.starts_with(s))
        {
            continue;
        }
        assert!(url.starts_with(&own), "{page} loaded {url}");
    }
    let errors: Vec<String> = b
        .console_messages()
        .await
        .into_iter()
        .filter(|m| m.starts_with("SEVERE"))
        .collect();
    assert!(errors.is_empty(), "{page}: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_approves_and_denies_held_statements_in_a_browser() {
    let c = Console::start("browser").await;
    let b = Browser::start().await;
    sign_in(&b, &c, "/console/reviews", oidc::BOB, oidc::BOB_PASSWORD).await;
    let cookies = b.cookies().await;
    let session = cookies.iter().find(|k| k.name == "sluice").unwrap();
    assert!(session.http_only, "{session:?}");
    assert_eq!(session.same_site.as_deref(), Some("Lax"), "{session:?}");
    assert_eq!(session.path.as_deref(), Some("/"), "{session:?}");
    let script_sees: String = b
        .execute("return document.cookie;", Vec::new())
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!script_sees.contains("sluice="), "{script_sees}");

    // A held DELETE appears in the open inbox without a reload.
    let held = c.h.psql_bg(
        "rita",
        "app",
        &format!("DELETE FROM {} WHERE id = 1", c.table),
    );
    b.wait_for("[data-review] a").await;
    b.screenshot("reviews").await;
    only_the_gateway(&b, &c, "reviews").await;
    b.click("[data-review] a").await;
    b.wait_for("button.approve").await;
    let text = b.text("main").await;
    assert!(text.contains("delete_needs_dba"), "{text}");
    assert!(
        text.contains(&format!("DELETE FROM {} WHERE id = 1", c.table)),
        "{text}"
    );
    b.screenshot("review").await;
    only_the_gateway(&b, &c, "review").await;
    b.fill("textarea[name=comment]", "one row, fine").await;
    b.click("button.approve").await;
    b.wait_for_text("main", "approved").await;
    let out = tokio::time::timeout(Duration::from_secs(30), held)
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "DELETE 1");

    // Denied from its page, reached by the link psql's notice carries.
    let held = c.h.psql_bg(
        "rita",
        "app",
        &format!("DELETE FROM {} WHERE id = 2", c.table),
    );
    b.goto(&format!("{}/console/reviews", c.admin)).await;
    b.wait_for("[data-review] a").await;
    b.click("[data-review] a").await;
    b.wait_for("button.deny").await;
    b.click("button.deny").await;
    b.wait_for_text("main", "denied").await;
    let out = tokio::time::timeout(Duration::from_secs(30), held)
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("denied"));

    // A form whose token is not this session's is refused, and nothing is decided.
    let held = c.h.psql_bg(
        "rita",
        "app",
        &format!("DELETE FROM {} WHERE id = 3", c.table),
    );
    b.goto(&format!("{}/console/reviews", c.admin)).await;
    b.wait_for("[data-review] a").await;
    b.click("[data-review] a").await;
    b.wait_for("button.approve").await;
    b.execute(
        "document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged');",
        Vec::new(),
    )
    .await;
    b.click("button.approve").await;
    b.wait_for_text("main", "form").await;
    let refused = b.text("main").await;
    assert!(!refused.contains("approved"), "{refused}");
    b.screenshot("forged-form").await;
    b.goto(&format!("{}/console/reviews", c.admin)).await;
    b.wait_for("[data-review] a").await;
    b.click("[data-review] a").await;
    b.wait_for("button.deny").await;
    b.click("button.deny").await;
    b.wait_for_text("main", "denied").await;
    let _ = tokio::time::timeout(Duration::from_secs(30), held).await;

    // rita's session, found in the list and opened: its statements and their decisions.
    b.goto(&format!("{}/console/sessions?identity=rita", c.admin))
        .await;
    b.wait_for("table.sessions tbody a").await;
    b.screenshot("sessions").await;
    only_the_gateway(&b, &c, "sessions").await;
    b.click("table.sessions tbody a").await;
    b.wait_for_text("main", "delete_needs_dba").await;
    b.screenshot("session").await;
    only_the_gateway(&b, &c, "session").await;

    // The audit trail searched from its form, and one record opened.
    b.goto(&format!("{}/console/audit", c.admin)).await;
    b.wait_for("form.audit-search input[name=identity]").await;
    b.fill("form.audit-search input[name=identity]", "rita")
        .await;
    b.fill("form.audit-search input[name=kind]", "statement")
        .await;
    b.click("form.audit-search button[type=submit]").await;
    b.wait_for_url("the search's results", |u| u.contains("identity=rita"))
        .await;
    b.wait_for("tr[data-record] a").await;
    let results = b.text("table.audit").await;
    assert!(
        results.contains(&format!("DELETE FROM {}", c.table)),
        "{results}"
    );
    b.screenshot("audit").await;
    only_the_gateway(&b, &c, "audit").await;
    b.click("tr[data-record] a").await;
    b.wait_for_text("main", "rita").await;
    b.screenshot("audit-record").await;
    only_the_gateway(&b, &c, "audit-record").await;

    // What the policy would decide, asked from its form (prefilled with an example input).
    b.goto(&format!("{}/console/policy", c.admin)).await;
    b.wait_for("form.evaluate button[type=submit]").await;
    b.screenshot("policy").await;
    only_the_gateway(&b, &c, "policy").await;
    b.click("form.evaluate button[type=submit]").await;
    b.wait_for("#evaluation").await;
    b.screenshot("policy-evaluated").await;
    only_the_gateway(&b, &c, "policy-evaluated").await;

    // The other pages, as this reviewer sees them.
    for (path, name) in [
        ("/console/grants", "grants"),
        ("/console/signals", "signals"),
    ] {
        b.goto(&format!("{}{path}", c.admin)).await;
        b.wait_for("main h1").await;
        b.screenshot(name).await;
        only_the_gateway(&b, &c, name).await;
    }

    // Signing out ends the credential: the next page asks for a sign-in again.
    b.goto(&format!("{}/console/reviews", c.admin)).await;
    b.wait_for("form[action='/console/logout'] button").await;
    b.click("form[action='/console/logout'] button").await;
    b.wait_for_text("main", "Signed out").await;
    b.screenshot("signed-out").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_the_policy_refuses_and_a_phone_sized_screen() {
    let c = Console::start("browser_phone").await;
    let b = Browser::phone().await;
    sign_in(&b, &c, "/console/reviews", CAROL, CAROL_PASSWORD).await;
    let text = b.text("main").await;
    assert!(text.contains("console_for_reviewers"), "{text}");
    assert!(!b.exists("nav a[href='/console/reviews']").await);
    b.screenshot("refused-phone").await;
    only_the_gateway(&b, &c, "refused").await;

    let b2 = Browser::phone().await;
    sign_in(&b2, &c, "/console/signals", oidc::BOB, oidc::BOB_PASSWORD).await;
    for (path, name) in [
        ("/console/reviews", "reviews-phone"),
        ("/console/signals", "signals-phone"),
    ] {
        b2.goto(&format!("{}{path}", c.admin)).await;
        b2.wait_for("main h1").await;
        let fits = b2
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                Vec::new(),
            )
            .await;
        assert_eq!(
            fits,
            serde_json::Value::Bool(true),
            "{name} is wider than the phone"
        );
        b2.screenshot(name).await;
    }
    b2.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_session_is_a_host_only_secure_cookie() {
    let c = Console::start_tls("browser_tls").await;
    assert!(c.admin.starts_with("https://"), "{}", c.admin);
    let b = Browser::start().await;
    sign_in(&b, &c, "/console/reviews", oidc::BOB, oidc::BOB_PASSWORD).await;
    let cookies = b.cookies().await;
    let session = cookies
        .iter()
        .find(|k| k.name == "__Host-sluice")
        .unwrap_or_else(|| panic!("no __Host-sluice cookie: {cookies:?}"));
    assert!(session.secure && session.http_only, "{session:?}");
    assert_eq!(session.path.as_deref(), Some("/"), "{session:?}");
    // Host-only: no Domain attribute, so the browser reports the host itself.
    assert!(
        session.domain.as_deref().is_none_or(|d| d == "127.0.0.1"),
        "{session:?}"
    );
    assert!(!cookies.iter().any(|k| k.name == "sluice"), "{cookies:?}");
    only_the_gateway(&b, &c, "reviews over TLS").await;
    b.screenshot("reviews-tls").await;
    // A form over https passes the origin check (the Origin is https://...).
    b.click("form[action='/console/logout'] button").await;
    b.wait_for_text("main", "Signed out").await;
    b.close().await;
}
