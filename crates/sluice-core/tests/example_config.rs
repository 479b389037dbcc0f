//! The documented example configuration must stay loadable.

#[test]
fn example_config_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/sluice.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = sluice_core::config::Config::parse(&text).unwrap();
    assert_eq!(config.targets.len(), 2);
    assert_eq!(config.identities.len(), 4);
    assert_eq!(
        config.approvals.max_grant,
        std::time::Duration::from_secs(8 * 3600)
    );
}
