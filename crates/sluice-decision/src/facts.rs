//! Facts are borrowed views built by the caller; the decision crate never fetches anything.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy)]
pub struct IdentityFacts<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub groups: &'a [String],
}

#[derive(Debug, Clone, Copy)]
pub struct TargetFacts<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub database: &'a str,
    pub tags: &'a BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy)]
pub struct SessionFacts<'a> {
    pub identity: IdentityFacts<'a>,
    pub target: TargetFacts<'a>,
    pub client_addr: &'a str,
    pub protocol: &'a str,
}

/// One request as the client sent it. Later issues add the parsed statement here.
#[derive(Debug, Clone, Copy)]
pub struct StatementFacts<'a> {
    pub text: &'a str,
}
