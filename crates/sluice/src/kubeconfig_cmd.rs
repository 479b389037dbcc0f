//! `sluice kubeconfig TARGET`: a kubeconfig that points kubectl at a Kubernetes target through
//! the gateway's HTTPS listener, so kubectl itself is unchanged. By default the user entry is
//! an exec credential plugin (`sluice kubeconfig TARGET --exec-credential`), which hands
//! kubectl the credential `sluice login` stored (or `SLUICE_TOKEN`) each time it needs one, so
//! no token is written into the file; `--embed-token` writes the token instead (file mode
//! 0600), for machines without the `sluice` binary.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use serde_json::json;

use crate::admin_client::AdminClient;
use crate::cli::KubeconfigArgs;
use crate::login::api::{self, LoginInfo};

pub async fn run(args: KubeconfigArgs) -> Result<()> {
    let client = AdminClient::connect(&args.connection)?;
    if args.exec_credential {
        println!("{}", exec_credential(&client, &args.connection)?);
        return Ok(());
    }
    let server = match &args.https_url {
        Some(url) => format!("{}/{}", url.trim_end_matches('/'), args.target),
        None => {
            let info: LoginInfo = client.gateway().get_public(api::LOGIN).await?;
            let port = info.listeners.get("http").copied().context(
                "the gateway runs no HTTPS listener ([[listeners]] protocol = \"http\")",
            )?;
            format!("https://{}:{port}/{}", client.gateway().host(), args.target)
        }
    };
    let ca = match args.https_ca.as_deref().or(args.connection.ca.as_deref()) {
        Some(path) => Some(
            std::fs::read(path).with_context(|| format!("reading the CA {}", path.display()))?,
        ),
        None => None,
    };
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "sluice".to_owned());
    let name = format!("sluice-{}", args.target);
    let user = if args.embed_token {
        json!({ "token": client.token().expose() })
    } else {
        let mut plugin_args = vec![
            "kubeconfig".to_owned(),
            args.target.clone(),
            "--exec-credential".to_owned(),
            "--server".to_owned(),
            client.gateway().url().to_owned(),
        ];
        if let Some(ca) = &args.connection.ca {
            plugin_args.push("--ca".to_owned());
            plugin_args.push(ca.display().to_string());
        }
        json!({
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": exe,
                "args": plugin_args,
                "interactiveMode": "Never",
                "provideClusterInfo": false,
            }
        })
    };
    let mut cluster = json!({ "server": server });
    if let Some(ca) = ca {
        cluster["certificate-authority-data"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ca));
    }
    let mut context = json!({ "cluster": name, "user": name });
    if let Some(namespace) = &args.namespace {
        context["namespace"] = json!(namespace);
    }
    // JSON is YAML: kubectl reads either.
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": name, "cluster": cluster }],
        "users": [{ "name": name, "user": user }],
        "contexts": [{ "name": name, "context": context }],
        "current-context": name,
    });
    let text = serde_json::to_string_pretty(&config)? + "\n";
    match &args.output {
        Some(path) => write(path, &text, args.embed_token)?,
        None => print!("{text}"),
    }
    Ok(())
}

/// The ExecCredential kubectl reads from an exec plugin's stdout, with the credential's
/// expiry so kubectl asks again in time.
fn exec_credential(client: &AdminClient, connection: &crate::cli::ServerArg) -> Result<String> {
    let expires = stored_expiry(connection);
    let mut status = json!({ "token": client.token().expose() });
    if let Some(at) = expires {
        status["expirationTimestamp"] = json!(at);
    }
    Ok(json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": status,
    })
    .to_string())
}

/// When the stored credential the plugin hands out expires (RFC 3339); `None` for a token from
/// the environment, whose expiry the CLI does not know.
fn stored_expiry(connection: &crate::cli::ServerArg) -> Option<String> {
    if std::env::var_os(crate::admin_client::TOKEN_ENV).is_some() {
        return None;
    }
    let file = crate::login::credentials::CredentialFile::locate().ok()?;
    let server = crate::login::server_for(connection, &file).ok()?;
    let at = file.load().ok()?.get(&server)?.expires_at?;
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn write(path: &Path, text: &str, secret: bool) -> Result<()> {
    if secret {
        sluice_core::secret::write_private(path, text.as_bytes())
    } else {
        std::fs::write(path, text)
    }
    .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", PathBuf::from(path).display());
    Ok(())
}
