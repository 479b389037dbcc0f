//! The web console over HTTP, as a browser's requests reach it: sign-in through a real OpenID
//! provider (the oidc-provider fixture) with PKCE, the session cookie's attributes, CSRF and
//! origin checks on every form, the policy deciding who sees and decides what, and a held
//! psql statement approved and another denied from the console. The same flows in a real
//! Chromium are in console_browser.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use support::console::*;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_opens_the_console_and_signing_out_ends_the_credential() {
    let c = Console::start("signin").await;
    let agent = Console::agent();

    // Signed out: the page sends the browser to sign in, and back here afterwards.
    let r = agent
        .get(format!("{}/console/reviews/r-404", c.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/console/login?next=/console/reviews/r-404");

    let back = c.sign_in(&agent, oidc::BOB, oidc::BOB_PASSWORD).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&back), "/console/reviews");
    let cookies: Vec<String> = back
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("sluice=slc_"))
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(session.contains(attribute), "{session}");
    }
    // Plaintext admin on loopback: no Secure (browsers would drop the cookie); under TLS the
    // cookie is __Host- and Secure (console_browser.rs).
    assert!(!session.contains("Secure"), "{session}");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("sluice_login=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );

    let r = agent
        .get(format!("{}/console/reviews", c.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(r.headers().get("x-frame-options").unwrap(), "DENY");
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let body = r.text().await.unwrap();
    assert!(body.contains("<h1>Reviews</h1>"), "{body}");
    assert!(body.contains(">bob<"), "the signed-in name: {body}");
    assert!(body.contains("Nothing is waiting for a review."), "{body}");
    // Nothing is loaded from anywhere but the console's own assets.
    let outside: Vec<&str> = body
        .split(['"', '\''])
        .filter(|s| s.starts_with("http"))
        .collect();
    assert!(outside.is_empty(), "a page refers to {outside:?}");
    let token = csrf(&body);

    // The sign-in is audited like the CLI's.
    let audit = c.h.audit().await;
    assert!(
        audit.iter().any(|r| matches!(
            &r.event,
            sluice_audit::AuditEvent::CredentialIssued { identity, purpose, .. }
                if identity == "bob" && purpose == "login"
        )),
        "no credential_issued for bob's sign-in"
    );

    // Forms without the token, with another credential's, or from another origin: refused.
    for (form, origin) in [
        (vec![("csrf", "")], c.admin.clone()),
        (vec![("csrf", "AAAA")], c.admin.clone()),
        (
            vec![("csrf", token.as_str())],
            "http://evil.example".to_owned(),
        ),
    ] {
        let r = agent
            .post(format!("{}/console/logout", c.admin))
            .header("origin", origin)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.text().await.unwrap().contains("CSRF"));
    }
    let (status, _) = c.page(&agent, "/console/reviews").await;
    assert_eq!(status, StatusCode::OK, "still signed in");

    let r = agent
        .post(format!("{}/console/logout", c.admin))
        .header("origin", &c.admin)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("sluice=;")));
    // The credential is revoked, not just forgotten by this browser.
    let revoked = agent
        .get(format!("{}/console/reviews", c.admin))
        .header("cookie", session.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_statement_is_approved_and_another_denied_from_the_console() {
    let c = Console::start("decide").await;
    let bob = Console::agent();
    assert_eq!(
        c.sign_in(&bob, oidc::BOB, oidc::BOB_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let held = c.h.psql_bg(
        "rita",
        "app",
        &format!("DELETE FROM {} WHERE id = 1", c.table),
    );
    let id = c.wait_for_review(&bob).await;
    let (status, page) = c.page(&bob, &format!("/console/reviews/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for shown in [
        "rita",
        &format!("DELETE FROM {} WHERE id = 1", c.table),
        "delete_needs_dba",
        "deleting rows",
        "Policy version",
        "Decide by",
        "Approve",
    ] {
        assert!(page.contains(shown), "{shown} not on the page: {page}");
    }
    let token = csrf(&page);
    let r = c.decide(&bob, &id, "approve", &token).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
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
    // psql's notice linked to the review's page in this console.
    let notices = String::from_utf8_lossy(&out.stderr);
    assert!(
        notices.contains(&format!("{}/console/reviews/{id}", c.admin)),
        "{notices}"
    );
    let (_, page) = c.page(&bob, &format!("/console/reviews/{id}")).await;
    assert!(page.contains("state approved"), "{page}");
    assert!(page.contains("checked"), "the comment: {page}");
    assert!(
        !page.contains("name=\"verdict\""),
        "no form once decided: {page}"
    );

    let held = c.h.psql_bg(
        "rita",
        "app",
        &format!("DELETE FROM {} WHERE id = 2", c.table),
    );
    let id = c.wait_for_review(&bob).await;
    let r = c.decide(&bob, &id, "deny", &token).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let out = tokio::time::timeout(Duration::from_secs(30), held)
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_the_policy_refuses_sees_and_decides_nothing() {
    let c = Console::start("refused").await;
    let bob = Console::agent();
    c.sign_in(&bob, oidc::BOB, oidc::BOB_PASSWORD).await;
    let carol = Console::agent();
    let back = c.sign_in(&carol, CAROL, CAROL_PASSWORD).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);

    let (status, body) = c.page(&carol, "/console/reviews").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("console_for_reviewers"), "{body}");
    assert!(
        !body.contains("href=\"/console/reviews\" aria-current"),
        "{body}"
    );

    let held = c.h.psql_bg(
        "rita",
        "app",
        &format!("DELETE FROM {} WHERE id = 3", c.table),
    );
    let id = c.wait_for_review(&bob).await;
    let (status, _) = c.page(&carol, &format!("/console/reviews/{id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Carol's own form token, on a decision she may not make.
    let (_, any) = c.page(&carol, "/console/grants").await;
    let token = csrf(&any);
    let r = c.decide(&carol, &id, "approve", &token).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Still pending: bob denies it so psql ends.
    let (_, page) = c.page(&bob, &format!("/console/reviews/{id}")).await;
    assert!(page.contains("state pending"), "{page}");
    c.decide(&bob, &id, "deny", &csrf(&page)).await;
    let _ = tokio::time::timeout(Duration::from_secs(30), held).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_the_binarys_own() {
    let c = Console::start("assets").await;
    let agent = Console::agent();
    let r = agent
        .get(format!("{}/console/assets/htmx.min.js", c.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let js = r.bytes().await.unwrap();
    let vendored = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/vendor/htmx.min.js"
    ))
    .unwrap();
    assert_eq!(js.as_ref(), vendored.as_slice());
    let again = agent
        .get(format!("{}/console/assets/htmx.min.js", c.admin))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let (status, _) = c.page(&agent, "/console/assets/../../etc/passwd").await;
    assert_ne!(status, StatusCode::OK);
    let (status, _) = c.page(&agent, "/console/assets/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_show_each_signal_and_chart_the_rounds() {
    let c = Console::start("signals").await;
    let bob = Console::agent();
    c.sign_in(&bob, oidc::BOB, oidc::BOB_PASSWORD).await;
    let (status, body) = c.page(&bob, "/console/signals").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for key in [
        "policy_drift",
        "approval_latency",
        "masking_effectiveness",
        "audit_completeness",
        "access_churn",
    ] {
        assert!(body.contains(&format!("id=\"{key}\"")), "{key}: {body}");
    }
    // Two more rounds (the API's refresh) give every signal a line to draw.
    for _ in 0..2 {
        let (status, _) = support::api::http(
            &c.admin,
            "GET",
            "/signals?refresh=true",
            Some(c.h.token("rita")),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    let (_, body) = c.page(&bob, "/console/signals").await;
    assert_eq!(body.matches("<svg").count(), 5, "{body}");
    assert!(body.contains("<polyline class=\"series s0\""), "{body}");
    assert!(
        body.contains("role=\"img\" aria-label=\"Policy drift over 3 rounds"),
        "{body}"
    );

    let carol = Console::agent();
    c.sign_in(&carol, CAROL, CAROL_PASSWORD).await;
    let (status, _) = c.page(&carol, "/console/signals").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sluice_token_signs_in_and_signing_out_does_not_revoke_it() {
    let c = Console::start("token").await;
    let agent = Console::agent();
    let (status, body) = c
        .page(&agent, "/console/login?provider=token&next=/console/grants")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("action=\"/console/login/token\""), "{body}");
    let post = |token: &str, origin: &str| {
        agent
            .post(format!("{}/console/login/token", c.admin))
            .header("origin", origin)
            .form(&[("token", token), ("next", "/console/grants")])
            .send()
    };
    let wrong = post("slc_not_a_token", &c.admin).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let foreign = post(c.h.token("rita"), "http://evil.example")
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let signed_in = post(c.h.token("rita"), &c.admin).await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/console/grants");
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("sluice_token=slc_"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let (status, page) = c.page(&agent, "/console/grants").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("rita"), "{page}");

    let out = agent
        .post(format!("{}/console/logout", c.admin))
        .header("origin", &c.admin)
        .form(&[("csrf", csrf(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    let (status, _) = c.page(&agent, "/console/grants").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out of the console");
    // The token itself still works: it was rita's before the console and stays hers.
    let (status, _) =
        support::api::http(&c.admin, "GET", "/v1/whoami", Some(c.h.token("rita")), None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_is_asked_approved_and_revoked_from_the_console() {
    let c = Console::start("access").await;
    // alice exists only at the identity provider: the request is decided on her credential.
    let alice = Console::agent();
    c.sign_in(&alice, oidc::ALICE, oidc::ALICE_PASSWORD).await;
    let (status, page) = c.page(&alice, "/console/grants").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let asked = alice
        .post(format!("{}/console/access", c.admin))
        .header("origin", &c.admin)
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("target", "app"),
            ("duration", "1h"),
            ("reason", "incident 42"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        asked.status(),
        StatusCode::SEE_OTHER,
        "{}",
        asked.text().await.unwrap()
    );
    assert!(
        location(&asked).starts_with("/console/reviews/r-"),
        "{}",
        location(&asked)
    );

    let bob = Console::agent();
    c.sign_in(&bob, oidc::BOB, oidc::BOB_PASSWORD).await;
    let id = c.wait_for_review(&bob).await;
    let (_, review) = c.page(&bob, &format!("/console/reviews/{id}")).await;
    assert!(
        review.contains("incident 42") && review.contains("alice"),
        "{review}"
    );
    let r = c.decide(&bob, &id, "approve", &csrf(&review)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (_, grants) = c.page(&bob, "/console/grants").await;
    let grant = attr(&grants, "data-grant").expect("alice's grant is listed");
    assert!(grants.contains("incident 42"), "{grants}");
    let revoked = bob
        .post(format!("{}/console/grants/{grant}/revoke", c.admin))
        .header("origin", &c.admin)
        .form(&[("csrf", csrf(&grants).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let (_, grants) = c.page(&bob, "/console/grants").await;
    assert!(attr(&grants, "data-grant").is_none(), "{grants}");
}
