//! Reading and checking `[[identity_providers]]`.

use std::io::Write;
use std::time::Duration;

use crate::{check_all, Identities, Kind, ProviderConfig, Providers};

fn parse(extra: &str) -> Result<ProviderConfig, toml::de::Error> {
    toml::from_str(&format!(
        "name = \"corp\"\nissuer = \"https://idp.example\"\nclient_id = \"sluice\"\n{extra}"
    ))
}

fn check_err(extra: &str) -> String {
    let config = parse(extra).expect("parses");
    config.check().expect_err(extra).to_string()
}

#[test]
fn defaults() {
    let c = parse("").expect("parses");
    assert_eq!(c.effective_audiences(), ["sluice"]);
    assert_eq!(
        c.effective_discovery_url(),
        "https://idp.example/.well-known/openid-configuration"
    );
    assert_eq!(c.jwks_cache, Duration::from_secs(3600));
    assert_eq!(c.clock_skew, Duration::from_secs(60));
    assert_eq!(c.algorithms, ["RS256", "ES256", "PS256", "EdDSA"]);
    assert_eq!(c.claims.name, None);
    assert_eq!(
        (c.claims.email.as_str(), c.claims.groups.as_str()),
        ("email", "groups")
    );
    assert_eq!(c.kind, Kind::Human);
    assert_eq!(c.identities, Identities::Declared);
    assert_eq!(c.scopes, ["openid", "email", "profile", "groups"]);
    assert_eq!(c.max_credential_ttl, None);
    c.check().expect("valid");

    let c = parse(
        "jwks_cache = \"15m\"\nmax_credential_ttl = \"8h\"\nidentities = \"dynamic\"\nkind = \"agent\"\n",
    )
    .expect("parses");
    assert_eq!(c.jwks_cache, Duration::from_secs(900));
    assert_eq!(c.max_credential_ttl, Some(Duration::from_secs(8 * 3600)));
    assert_eq!((c.identities, c.kind), (Identities::Dynamic, Kind::Agent));
}

#[test]
fn mistakes_are_named_by_provider_and_field() {
    for (extra, wanted) in [
        (
            "algorithms = [\"HS256\"]",
            "identity provider corp: algorithms: HS256 is refused",
        ),
        ("algorithms = [\"none\"]", "algorithms: none is refused"),
        ("algorithms = [\"XS1\"]", "algorithms: XS1 is not one of"),
        ("algorithms = []", "algorithms: must name at least one"),
        ("jwks_uri = \"ftp://x\"", "jwks_uri: url must start with"),
        ("allowed_domains = [\"@corp\"]", "allowed_domains:"),
        ("jwks_cache = \"1s\"", "jwks_cache: must be at least 10s"),
        ("max_credential_ttl = \"0s\"", "max_credential_ttl:"),
        ("[claims]\nname = \"\"", "claims.name: must not be empty"),
    ] {
        let err = check_err(extra);
        assert!(err.contains(wanted), "{extra}: {err}");
    }
    let err = toml::from_str::<ProviderConfig>(
        "name = \"ci\"\nissuer = \"https://token.actions.example\"\n",
    )
    .expect("parses")
    .check()
    .expect_err("no audience")
    .to_string();
    assert!(err.starts_with("identity provider ci: audiences:"), "{err}");
    assert!(
        parse("colour = \"red\"").is_err(),
        "unknown fields are refused"
    );
    assert!(parse("[claims]\nshoe = \"x\"").is_err());
}

#[test]
fn two_providers_cannot_share_a_name_or_an_issuer() {
    let a = parse("").expect("a");
    let mut b = a.clone();
    b.name = "other".into();
    let err = check_all(&[a.clone(), b]).expect_err("issuer").to_string();
    assert!(
        err.contains("issuer: provider corp has the same issuer"),
        "{err}"
    );
    let mut c = a.clone();
    c.issuer = "https://elsewhere.example".into();
    let err = check_all(&[a, c]).expect_err("name").to_string();
    assert!(
        err.contains("name: another provider has this name"),
        "{err}"
    );
}

#[test]
fn the_client_secret_is_read_trimmed_and_never_shown() {
    let mut file = tempfile::NamedTempFile::new().expect("file");
    writeln!(file, "  hunter2  ").expect("write");
    let config = parse(&format!(
        "client_secret_file = \"{}\"",
        file.path().display()
    ))
    .expect("parses");
    let providers = Providers::new(vec![config]).expect("providers");
    let provider = providers.find("corp").expect("corp");
    assert_eq!(
        provider.secret.as_ref().map(|s| s.expose()),
        Some("hunter2")
    );
    assert!(!format!("{:?} {providers:?}", provider.secret).contains("hunter2"));

    let missing = parse("client_secret_file = \"/nonexistent/secret\"").expect("parses");
    let err = Providers::new(vec![missing])
        .expect_err("missing")
        .to_string();
    assert!(
        err.contains("client_secret_file /nonexistent/secret"),
        "{err}"
    );
}
