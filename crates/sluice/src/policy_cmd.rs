//! `sluice policy check | test | eval | status`: the tools a policy author runs before a bundle
//! reaches a gateway, and the drift check between a checkout and what a gateway enforces.

use std::path::Path;

use anyhow::{bail, Context, Result};
use sluice_core::config::Config;
use sluice_core::policy::{PolicyFile, PolicySource};
use sluice_decision::RegoPolicy;

use crate::cli::PolicyCommand;

pub async fn run(command: PolicyCommand) -> Result<()> {
    match command {
        PolicyCommand::Check { dir } => {
            // The same gate a gateway applies before enforcing a bundle.
            let source = PolicySource::read(&dir)?;
            let checked = sluice_core::policy::compile_checked(&source, AUTHOR_TIMEOUT)?;
            println!(
                "ok: {} files compiled, {} tests passed, version {}",
                source.files.len(),
                checked.tests.passed.len(),
                checked.policy.version()
            );
            Ok(())
        }
        PolicyCommand::Test { dir, verbose } => test(&dir, verbose),
        PolicyCommand::Eval { dir, input } => eval(&dir, &input),
        PolicyCommand::Status {
            server,
            config,
            against,
            json,
        } => status(server, &config.config, against.as_deref(), json).await,
    }
}

/// Generous: an author's machine evaluating one input, not a gateway on the hot path.
const AUTHOR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn compile(dir: &Path) -> Result<RegoPolicy> {
    let source = PolicySource::read(dir)?;
    Ok(sluice_core::policy::compile(&source, AUTHOR_TIMEOUT)?)
}

fn test(dir: &Path, verbose: bool) -> Result<()> {
    let policy = compile(dir)?;
    let report = policy.run_tests();
    if verbose {
        for t in &report.passed {
            println!("PASS {}.{}", t.package, t.name);
        }
    }
    for t in &report.failed {
        println!("FAIL {}.{}: {}", t.package, t.name, t.message);
    }
    let (passed, failed) = (report.passed.len(), report.failed.len());
    println!("{passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        bail!(if passed == 0 {
            "no test_* rules found".to_owned()
        } else {
            format!("{failed} policy tests failed")
        });
    }
    Ok(())
}

fn eval(dir: &Path, input: &Path) -> Result<()> {
    let policy = compile(dir)?;
    let text = if input == Path::new("-") {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?
    };
    let explained = policy.evaluate_json(&text)?;
    let d = &explained.decision;
    match d.deny_reason() {
        None => println!("allow (rule {}, policy {})", d.rule, d.policy),
        Some(reason) => println!("deny (rule {}, policy {}): {reason}", d.rule, d.policy),
    }
    println!(
        "data.sluice.decision = {}",
        serde_json::to_string_pretty(&explained.document)?
    );
    Ok(())
}

/// What a gateway reports on `/policy`.
#[derive(serde::Deserialize, serde::Serialize)]
struct Enforced {
    version: String,
    digest: Option<String>,
    git_commit: Option<String>,
    dir: Option<String>,
    files: Vec<PolicyFile>,
    tests_passed: usize,
    loaded_at: String,
    /// Present when no policy is enforced (audit-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

async fn status(
    server: Option<String>,
    config: &Path,
    against: Option<&Path>,
    json: bool,
) -> Result<()> {
    let server = match server {
        Some(s) => s,
        None => {
            let config = Config::load(config)?;
            let addr = config
                .admin
                .listen
                .context("the configuration has no admin listener; pass --server URL")?;
            let scheme = if config.admin.tls().is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{addr}")
        }
    };
    // The CA for an https gateway comes from SLUICE_CA, as for the commands that take --ca.
    let connection = crate::cli::ServerArg {
        server: Some(server),
        ca: std::env::var_os("SLUICE_CA")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from),
    };
    let enforced: Enforced = crate::admin_client::AdminClient::connect(&connection)?
        .get("/policy")
        .await
        .context("the gateway's /policy answer is not what this version of sluice expects")?;
    if json && against.is_none() {
        println!("{}", serde_json::to_string_pretty(&enforced)?);
        return Ok(());
    }
    if !json {
        println!("enforced: {}", enforced.version);
        println!("loaded:   {}", enforced.loaded_at);
        if let Some(warning) = &enforced.warning {
            println!("WARNING:  {warning}");
        }
        if let Some(dir) = &enforced.dir {
            println!(
                "from:     {dir} ({} files, {} tests passed)",
                enforced.files.len(),
                enforced.tests_passed
            );
        }
    }
    let Some(dir) = against else {
        return Ok(());
    };
    let local = PolicySource::read(dir)?;
    let local_files: Vec<PolicyFile> = local
        .files
        .iter()
        .map(|(path, sha256)| PolicyFile {
            path: path.clone(),
            sha256: sha256.clone(),
        })
        .collect();
    let drift = file_drift(&enforced.files, &local_files);
    let same = enforced.digest.as_deref() == Some(local.bundle.digest());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "enforced": enforced,
                "checkout": { "digest": local.bundle.digest(), "git_commit": local.git_commit },
                "drift": !same,
                "files": drift,
            }))?
        );
    } else {
        println!(
            "checkout: {}{} in {}",
            local.bundle.digest(),
            local
                .git_commit
                .as_deref()
                .map(|c| format!(" git:{}", &c[..c.len().min(12)]))
                .unwrap_or_default(),
            dir.display()
        );
        for line in &drift {
            println!("  {line}");
        }
    }
    if !same {
        bail!(
            "drift: the gateway does not enforce the policy in {}",
            dir.display()
        );
    }
    if !json {
        println!("no drift: the gateway enforces this checkout");
    }
    Ok(())
}

/// File-level differences, worded from the checkout's point of view.
fn file_drift(enforced: &[PolicyFile], local: &[PolicyFile]) -> Vec<String> {
    let mut out = Vec::new();
    for f in local {
        match enforced.iter().find(|e| e.path == f.path) {
            None => out.push(format!("added in checkout:   {}", f.path)),
            Some(e) if e.sha256 != f.sha256 => out.push(format!("changed in checkout: {}", f.path)),
            Some(_) => {}
        }
    }
    for e in enforced {
        if !local.iter().any(|f| f.path == e.path) {
            out.push(format!("removed in checkout: {}", e.path));
        }
    }
    out
}
