//! The policy page's status: what is in force here and on the other gateways, drift against
//! the repository as the last signals report found it, and the reloads.

use maud::{html, Markup};
use sluice_core::gateway::ClusterView;
use sluice_core::policy::{PolicyInfo, ReloadRejection};
use sluice_signals::PolicyDrift;

use crate::console::page;

pub(super) fn in_force(info: &PolicyInfo, rejection: Option<&ReloadRejection>) -> Markup {
    html! {
        h2 { "In force on this gateway" }
        @if let Some(warning) = &info.warning {
            p class="error" role="alert" { (warning) }
        }
        dl class="facts" {
            dt { "Version" } dd { code class="policy-version" { (info.version) } }
            dt { "Loaded" } dd { (page::when(&info.loaded_at)) " (" (page::relative(&info.loaded_at)) ")" }
            @if let Some(dir) = &info.dir {
                dt { "From" } dd { code { (dir.display()) } }
            }
            @if let Some(commit) = &info.git_commit {
                dt { "Git commit" } dd { code { (commit) } }
            }
            dt { "Files" } dd { (info.files.len()) }
            dt { "Tests passed" } dd { (info.tests_passed) }
        }
        h2 { "Last rejected reload" }
        @match rejection {
            None => p class="muted" { "None since this gateway started." },
            Some(r) => {
                p class="error" role="alert" { (r.reason) }
                dl class="facts" {
                    dt { "When" } dd { (page::when(&r.at)) " (" (page::relative(&r.at)) ")" }
                    @if let Some(digest) = &r.digest {
                        dt { "Rejected bundle" } dd { code { (digest) } }
                    }
                    dt { "Still in force" } dd { code { (info.version) } }
                }
            }
        }
    }
}

/// Every gateway on the store with the version it reported at its last heartbeat.
pub(super) fn cluster(here: &str, view: Result<&ClusterView, &str>) -> Markup {
    html! {
        h2 { "Gateways" }
        @match view {
            Err(why) => p class="error" { "The cluster view is unavailable: " (why) },
            Ok(view) => div class="table-wrap" {
                table class="gateways" {
                    thead { tr { th { "Gateway" } th { "Policy" } th { "Last seen" } th {} } }
                    tbody {
                        // Before its first heartbeat this gateway is not in the store's list.
                        @if !view.gateways.iter().any(|g| g.name == view.gateway) {
                            tr data-gateway=(view.gateway) {
                                td { (view.gateway) " " span class="muted" { "(this one)" } }
                                td { code { (here) } }
                                td { "now" }
                                td { span class="state active" { "same" } }
                            }
                        }
                        @for g in &view.gateways {
                            tr data-gateway=(g.name) {
                                td {
                                    (g.name)
                                    @if g.name == view.gateway { " " span class="muted" { "(this one)" } }
                                }
                                td { code { (g.policy.as_deref().unwrap_or("unknown")) } }
                                td {
                                    (page::relative(&g.last_seen))
                                    @if !g.alive { " " span class="state expired" { "gone" } }
                                }
                                td {
                                    @match g.policy.as_deref() {
                                        Some(v) if v == here => span class="state active" { "same" },
                                        Some(_) => span class="state pending" { "differs" },
                                        None => {},
                                    }
                                }
                            }
                        }
                    }
                }
            },
        }
    }
}

/// The drift signal of the last signals report (docs/signals.md); computing one reads the
/// trail, so the page shows the periodic one and its time.
pub(super) fn drift(report: Option<(&str, &PolicyDrift)>) -> Markup {
    html! {
        h2 { "Drift against the repository" }
        @match report {
            None => p class="muted" {
                "No signals report yet: the gateway computes one every [signals] interval."
            },
            Some((generated_at, d)) => {
                p {
                    span class={ "state " (if d.health.firing() { "denied" } else { "approved" }) } {
                        (d.health.status)
                    }
                    " " span class="muted" { "as of " (page::when(generated_at)) }
                }
                @if !d.health.reasons.is_empty() {
                    ul { @for r in &d.health.reasons { li { (r) } } }
                }
                dl class="facts" {
                    @match &d.repository {
                        None => { dt { "Repository" } dd { "none: gateways are compared with each other" } },
                        Some(repo) => {
                            dt { "Repository HEAD" } dd {
                                code { (repo.commit) }
                                @if let Some(branch) = &repo.branch { " on " (branch) }
                            }
                            dt { "Work tree" } dd {
                                @if repo.head_digest.as_deref() == Some(repo.worktree_digest.as_str()) {
                                    "as committed"
                                } @else {
                                    "differs from HEAD (uncommitted changes)"
                                }
                            }
                        },
                    }
                    dt { "Drifted gateways" } dd { (d.drifted_gateways) }
                }
                @if !d.gateways.is_empty() {
                    div class="table-wrap" {
                        table class="drift" {
                            thead { tr { th { "Gateway" } th { "Version" } th { "State" } } }
                            tbody {
                                @for g in &d.gateways {
                                    tr {
                                        td { (g.gateway) }
                                        td { code { (g.version.as_deref().unwrap_or("unknown")) } }
                                        td { (g.state) }
                                    }
                                }
                            }
                        }
                    }
                }
            },
        }
    }
}
