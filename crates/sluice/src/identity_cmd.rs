//! `sluice identity add-key | keys | remove-key`: the SSH public keys that authenticate an
//! identity at the SSH listener, kept in the store beside those in the configuration. Works
//! beside a running gateway, which reads keys at every login.

use anyhow::{bail, Context, Result};
use sluice_core::config::Config;
use sluice_core::gateway::unix_now;
use sluice_core::SshPublicKey;
use sluice_store::SshKeyRecord;

use crate::cli::IdentityCommand;

pub async fn run(command: IdentityCommand) -> Result<()> {
    match command {
        IdentityCommand::AddKey {
            config,
            identity,
            keyfile,
        } => {
            let config = Config::load(&config.config)?;
            if config.identity(&identity).is_none() {
                bail!("no identity {identity} in the configuration");
            }
            let text = std::fs::read_to_string(&keyfile)
                .with_context(|| format!("reading {}", keyfile.display()))?;
            let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if line.contains("PRIVATE KEY") {
                bail!("{} is a private key: give its .pub file", keyfile.display());
            }
            let (key, comment) = SshPublicKey::parse(line)
                .map_err(|e| anyhow::anyhow!("{}: {e}", keyfile.display()))?;
            let store = crate::runtime::open_store(&config).await?;
            let record = SshKeyRecord {
                identity: identity.clone(),
                fingerprint: key.fingerprint(),
                public_key: key.openssh(),
                comment,
                added_at: unix_now(),
            };
            if store.add_ssh_key(&record).await? {
                println!("{} registered to {identity}", record.fingerprint);
            } else {
                println!(
                    "{} was already registered to {identity}",
                    record.fingerprint
                );
            }
        }
        IdentityCommand::Keys { config, identity } => {
            let config = Config::load(&config.config)?;
            for entry in &config.identities {
                if identity.as_deref().is_some_and(|i| i != entry.name) {
                    continue;
                }
                for line in &entry.ssh_keys {
                    if let Ok((key, comment)) = SshPublicKey::parse(line) {
                        println!(
                            "{}\t{}\tconfiguration\t{comment}",
                            entry.name,
                            key.fingerprint()
                        );
                    }
                }
            }
            let store = crate::runtime::open_store(&config).await?;
            for r in store.ssh_keys(identity.as_deref()).await? {
                println!("{}\t{}\tstore\t{}", r.identity, r.fingerprint, r.comment);
            }
        }
        IdentityCommand::RemoveKey {
            config,
            identity,
            fingerprint,
        } => {
            let config = Config::load(&config.config)?;
            let store = crate::runtime::open_store(&config).await?;
            if store.remove_ssh_key(&identity, &fingerprint).await? {
                println!("removed {fingerprint} from {identity}");
            } else {
                bail!("{identity} has no registered key {fingerprint} in the store");
            }
        }
    }
    Ok(())
}
