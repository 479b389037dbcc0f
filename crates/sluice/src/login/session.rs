//! `sluice login status` and `sluice logout`: the stored credential as the gateway sees it.

use anyhow::{bail, Context, Result};
use serde_json::json;
use sluice_core::gateway::unix_now;
use sluice_outbound::http::Method;

use super::api::{self, Whoami};
use super::credentials::{Credential, CredentialFile};
use super::{describe, gateway_for, server_for, unix_rfc3339};
use crate::admin_client::{relative, Gateway};
use crate::cli::ServerArg;

/// What the gateway says about a credential.
enum Liveness {
    Live(Whoami),
    /// 401: revoked, expired, or from another gateway's store.
    Rejected,
    /// Unreachable, or an answer that says nothing about the credential.
    Unknown(String),
}

async fn liveness(gateway: &Gateway, credential: &Credential) -> Liveness {
    match gateway
        .send(Method::GET, api::WHOAMI, Some(&credential.token), None)
        .await
    {
        Ok(reply) if reply.status.as_u16() == 401 => Liveness::Rejected,
        Ok(reply) => match reply.success::<Whoami>(api::WHOAMI) {
            Ok(who) => Liveness::Live(who),
            Err(e) => Liveness::Unknown(format!("{e:#}")),
        },
        Err(e) => Liveness::Unknown(format!("{e:#}")),
    }
}

/// Prints the credential, then fails unless the gateway accepts it, so scripts can test
/// `sluice login status` before running admin commands.
pub async fn status(connection: &ServerArg, json: bool) -> Result<()> {
    let file = CredentialFile::locate()?;
    let server = server_for(connection, &file)?;
    let credentials = file.load()?;
    let credential = credentials.get(&server).with_context(|| {
        format!("not signed in to {server}: run `sluice login --server {server}`")
    })?;
    let is_default = credentials.default.as_deref() == Some(server.as_str());
    let expired = credential.expired(unix_now());
    let gateway = gateway_for(connection, &server)?;
    let live = liveness(&gateway, credential).await;
    let verdict = match &live {
        Liveness::Live(_) => "accepted by the gateway".to_owned(),
        Liveness::Rejected => "revoked or expired on the gateway".to_owned(),
        Liveness::Unknown(why) => format!("could not be checked: {why}"),
    };
    if json {
        let whoami = match &live {
            Liveness::Live(who) => serde_json::to_value(who)?,
            _ => serde_json::Value::Null,
        };
        let value = json!({
            "server": server,
            "default": is_default,
            "identity": credential.identity,
            "kind": credential.kind,
            "groups": credential.groups,
            "provider": credential.provider,
            "token_id": credential.token_id,
            "expires_at": credential.expires_at,
            "expired": expired,
            "live": match live { Liveness::Live(_) => Some(true), Liveness::Rejected => Some(false), Liveness::Unknown(_) => None },
            "whoami": whoami,
        });
        crate::admin_client::print_json(&value)?;
    } else {
        let now = time::OffsetDateTime::now_utc();
        let expiry = match credential.expires_at {
            Some(at) if expired => format!("{} (expired)", unix_rfc3339(at)),
            Some(at) => {
                let text = unix_rfc3339(at);
                format!("{text} ({})", relative(&text, now))
            }
            None => "never".to_owned(),
        };
        let default = if is_default { " (default)" } else { "" };
        println!("server:    {server}{default}");
        println!("identity:  {}", describe(credential));
        println!(
            "provider:  {}",
            credential.provider.as_deref().unwrap_or("-")
        );
        println!("token id:  {}", credential.token_id);
        println!("expires:   {expiry}");
        println!("status:    {verdict}");
    }
    match live {
        Liveness::Live(_) => Ok(()),
        Liveness::Rejected => bail!(
            "the credential for {server} was revoked or expired on the gateway: run \
             `sluice login --server {server}`"
        ),
        Liveness::Unknown(why) => bail!("could not check the credential with {server}: {why}"),
    }
}

/// Revokes the stored credential on the gateway, then forgets it. Only an unreachable gateway
/// keeps it stored, so that the revocation can be retried.
pub async fn logout(connection: &ServerArg) -> Result<()> {
    let file = CredentialFile::locate()?;
    let server = server_for(connection, &file)?;
    let credentials = file.load()?;
    let credential = credentials
        .get(&server)
        .with_context(|| format!("not signed in to {server}"))?;
    let gateway = gateway_for(connection, &server)?;
    match gateway
        .send(Method::POST, api::LOGOUT, Some(&credential.token), None)
        .await
    {
        Ok(reply) if reply.status.is_success() => {
            eprintln!("revoked {} on {server}", credential.token_id)
        }
        Ok(reply) => eprintln!(
            "the gateway did not revoke {} ({}); forgetting it anyway",
            credential.token_id,
            reply.error()
        ),
        Err(e) if Gateway::is_unreachable(&e) => {
            return Err(e.context(format!(
                "could not reach {server} to revoke the credential; it is still stored, \
                 run `sluice logout` again"
            )))
        }
        Err(e) => eprintln!("revoking on the gateway failed ({e:#}); forgetting it anyway"),
    }
    file.update(|c| c.remove(&server))?;
    eprintln!("signed out of {server}");
    Ok(())
}
