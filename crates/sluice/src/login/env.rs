//! `sluice login env`: the stored credential as the environment each client reads, so that
//! `eval "$(sluice login env --target app)"` then plain `psql`, `mysql` or `sshpass -e ssh`
//! connect through the gateway. The token is printed only here, to stdout.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde_json::json;
use sluice_core::secret::Secret;

use crate::cli::{EnvProtocol, EnvShell};

/// What the lines are built from.
pub struct EnvContext<'a> {
    /// The gateway's host, as in the server URL: the data listeners share it.
    pub host: &'a str,
    /// `GET /v1/login`'s listener ports by protocol.
    pub listeners: &'a BTreeMap<String, u16>,
    pub identity: &'a str,
    pub token: &'a Secret,
    pub target: Option<&'a str>,
    /// Only this protocol; every listener the gateway runs when `None`.
    pub only: Option<EnvProtocol>,
}

/// One client's settings: the variables to export and a command that then works.
struct Block {
    protocol: &'static str,
    port: u16,
    vars: Vec<(&'static str, String)>,
    command: String,
}

fn blocks(ctx: &EnvContext<'_>) -> Vec<Block> {
    let wanted = |p: EnvProtocol| ctx.only.is_none_or(|only| only == p);
    let port = |name: &str| ctx.listeners.get(name).copied();
    let host = ctx.host.to_owned();
    let token = ctx.token.expose().to_owned();
    let identity = ctx.identity;
    let mut out = Vec::new();
    if let (true, Some(port)) = (wanted(EnvProtocol::Postgres), port("postgres")) {
        let mut vars = vec![
            ("PGHOST", host.clone()),
            ("PGPORT", port.to_string()),
            ("PGUSER", identity.to_owned()),
            ("PGPASSWORD", token.clone()),
            ("PGSSLMODE", "require".to_owned()),
        ];
        if let Some(target) = ctx.target {
            vars.push(("PGDATABASE", target.to_owned()));
        }
        out.push(Block {
            protocol: "postgres",
            port,
            vars,
            command: "psql".to_owned(),
        });
    }
    if let (true, Some(port)) = (wanted(EnvProtocol::Mysql), port("mysql")) {
        // mysql reads MYSQL_PWD; `-p` would prompt instead, so the line leaves it out.
        out.push(Block {
            protocol: "mysql",
            port,
            vars: vec![("MYSQL_PWD", token.clone())],
            command: format!(
                "mysql -h {host} -P {port} -u {identity}{}",
                ctx.target.map(|t| format!(" {t}")).unwrap_or_default()
            ),
        });
    }
    if let (true, Some(port)) = (wanted(EnvProtocol::Ssh), port("ssh")) {
        // The SSH listener reads the target from `IDENTITY+TARGET`.
        let user = match ctx.target {
            Some(target) => format!("{identity}+{target}"),
            None => identity.to_owned(),
        };
        out.push(Block {
            protocol: "ssh",
            port,
            vars: vec![("SSHPASS", token)],
            command: format!("sshpass -e ssh -p {port} {user}@{host}"),
        });
    }
    out
}

pub fn render(shell: EnvShell, ctx: &EnvContext<'_>) -> Result<String> {
    let blocks = blocks(ctx);
    if blocks.is_empty() {
        match ctx.only {
            Some(p) => bail!("the gateway runs no {} listener", protocol_name(p)),
            None => bail!("the gateway announces no postgres, mysql or ssh listener"),
        }
    }
    Ok(match shell {
        EnvShell::Sh => lines(&blocks, |name, value| {
            format!("export {name}={}", sh_quote(value))
        }),
        EnvShell::Fish => lines(&blocks, |name, value| {
            format!("set -gx {name} {}", fish_quote(value))
        }),
        EnvShell::Json => {
            let mut object = serde_json::Map::new();
            object.insert("host".into(), json!(ctx.host));
            object.insert("identity".into(), json!(ctx.identity));
            object.insert("target".into(), json!(ctx.target));
            for b in &blocks {
                let vars: serde_json::Map<_, _> = b
                    .vars
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), json!(v)))
                    .collect();
                object.insert(
                    b.protocol.into(),
                    json!({"port": b.port, "env": vars, "command": b.command}),
                );
            }
            format!("{}\n", serde_json::to_string_pretty(&object)?)
        }
    })
}

fn lines(blocks: &[Block], export: impl Fn(&str, &str) -> String) -> String {
    let mut out = String::new();
    for b in blocks {
        out.push_str(&format!("# {}, then: {}\n", b.protocol, b.command));
        for (name, value) in &b.vars {
            out.push_str(&export(name, value));
            out.push('\n');
        }
    }
    out
}

fn protocol_name(p: EnvProtocol) -> &'static str {
    match p {
        EnvProtocol::Postgres => "postgres",
        EnvProtocol::Mysql => "mysql",
        EnvProtocol::Ssh => "ssh",
    }
}

/// POSIX single quotes: nothing inside is special except `'` itself.
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// fish single quotes: only `\` and `'` are special inside.
fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listeners() -> BTreeMap<String, u16> {
        [("postgres", 6432), ("mysql", 3307), ("ssh", 2222)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    fn render_with(shell: EnvShell, target: Option<&str>, only: Option<EnvProtocol>) -> String {
        let l = listeners();
        let token = Secret::new("slc_0123456789ab_s3cret".into());
        render(
            shell,
            &EnvContext {
                host: "gw.example",
                listeners: &l,
                identity: "alice@corp.example",
                token: &token,
                target,
                only,
            },
        )
        .unwrap()
    }

    #[test]
    fn sh_lines_export_every_client_and_comment_the_commands() {
        let out = render_with(EnvShell::Sh, Some("app"), None);
        assert_eq!(
            out,
            "# postgres, then: psql\n\
             export PGHOST='gw.example'\n\
             export PGPORT='6432'\n\
             export PGUSER='alice@corp.example'\n\
             export PGPASSWORD='slc_0123456789ab_s3cret'\n\
             export PGSSLMODE='require'\n\
             export PGDATABASE='app'\n\
             # mysql, then: mysql -h gw.example -P 3307 -u alice@corp.example app\n\
             export MYSQL_PWD='slc_0123456789ab_s3cret'\n\
             # ssh, then: sshpass -e ssh -p 2222 alice@corp.example+app@gw.example\n\
             export SSHPASS='slc_0123456789ab_s3cret'\n"
        );
    }

    #[test]
    fn one_protocol_and_no_target() {
        let out = render_with(EnvShell::Sh, None, Some(EnvProtocol::Ssh));
        assert_eq!(
            out,
            "# ssh, then: sshpass -e ssh -p 2222 alice@corp.example@gw.example\n\
             export SSHPASS='slc_0123456789ab_s3cret'\n"
        );
    }

    #[test]
    fn fish_and_json() {
        let out = render_with(EnvShell::Fish, Some("app"), Some(EnvProtocol::Mysql));
        assert!(
            out.contains("set -gx MYSQL_PWD 'slc_0123456789ab_s3cret'\n"),
            "{out}"
        );
        let out = render_with(EnvShell::Json, Some("app"), None);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["postgres"]["port"], 6432);
        assert_eq!(v["postgres"]["env"]["PGDATABASE"], "app");
        assert_eq!(v["ssh"]["env"]["SSHPASS"], "slc_0123456789ab_s3cret");
        assert_eq!(v["identity"], "alice@corp.example");
    }

    #[test]
    fn quoting_survives_hostile_values() {
        assert_eq!(sh_quote("a'b $x"), r"'a'\''b $x'");
        assert_eq!(fish_quote(r"a'b\c"), r"'a\'b\\c'");
    }

    #[test]
    fn a_missing_listener_is_an_error() {
        let l = BTreeMap::new();
        let token = Secret::new("t".into());
        let ctx = EnvContext {
            host: "h",
            listeners: &l,
            identity: "i",
            token: &token,
            target: None,
            only: Some(EnvProtocol::Postgres),
        };
        let e = render(EnvShell::Sh, &ctx).unwrap_err().to_string();
        assert!(e.contains("postgres"), "{e}");
    }
}
