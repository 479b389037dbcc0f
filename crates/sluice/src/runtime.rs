//! A running gateway: state opened in a fixed order, listeners started, and a graceful stop.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use sluice_audit::{AuditError, AuditEvent, AuditLog, CheckpointSigner, Durability};
use sluice_core::config::{AuditDurability, Config};
use sluice_core::policy::PolicyState;
use sluice_core::Gateway;
use sluice_http::HttpServer;
use sluice_mysql::MysqlServer;
use sluice_outbound::sinks::{AuditSinkTasks, AuditSinks};
use sluice_postgres::{PgServer, ShutdownPhase};
use sluice_ssh::SshServer;
use sluice_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin;

pub struct RunningGateway {
    pub gateway: Gateway,
    pub postgres_addr: Option<SocketAddr>,
    pub mysql_addr: Option<SocketAddr>,
    pub ssh_addr: Option<SocketAddr>,
    /// The SSH listener's host key fingerprint (`SHA256:...`), when it runs.
    pub ssh_fingerprint: Option<String>,
    /// The HTTPS listener for HTTP services and Kubernetes API servers.
    pub http_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    /// Where network-resident agents connect (`[agents] listen`).
    pub agents_addr: Option<SocketAddr>,
    control: Arc<watch::Sender<ShutdownPhase>>,
    admin_stop: watch::Sender<bool>,
    postgres_task: Option<JoinHandle<()>>,
    mysql_task: Option<JoinHandle<()>>,
    ssh_task: Option<JoinHandle<()>>,
    http_task: Option<JoinHandle<()>>,
    admin_task: Option<JoinHandle<std::io::Result<()>>>,
    agents_task: Option<JoinHandle<()>>,
    /// The `[[audit_sinks]]`, each tailing the audit file on its own.
    audit_sinks: AuditSinkTasks,
    policy_watch: JoinHandle<()>,
    housekeeping: JoinHandle<()>,
    /// Signs the audit trail's checkpoints: the periodic ones and the last one at stop.
    audit_signer: Arc<CheckpointSigner>,
    audit_sealing: JoinHandle<()>,
}

/// The store the configuration names: SQLite in the data directory, or the shared PostgreSQL
/// store with its password read from `[store] password_file`.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let location = config.store_location();
    let password = match &config.store.password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading store.password_file {}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
        None => None,
    };
    sluice_store::open(&location, password.as_deref())
        .await
        .with_context(|| format!("opening the store {location}"))
}

/// The 32-byte key that keys the gateway's own derivations (fake salts for unknown
/// identities): `[gateway] key_file` when set (several gateways share one), else created in
/// the data directory on first start, kept private to the gateway's user.
pub fn load_gateway_key(config: &Config) -> Result<[u8; 32]> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (path, create) = match &config.gateway.key_file {
        Some(path) => (path.clone(), false),
        None => (config.gateway.data_dir.join("gateway.key"), true),
    };
    match std::fs::read(&path) {
        // 32 bytes as written at first start, or 64 hex digits as a secret is easily made.
        Ok(bytes) => {
            let hex_key = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| hex::decode(t.trim()).ok());
            return hex_key
                .as_deref()
                .unwrap_or(&bytes)
                .try_into()
                .map_err(|_| {
                    anyhow::anyhow!("{} is not 32 bytes or 64 hex digits", path.display())
                });
        }
        Err(e) if !create || e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("reading the gateway key {}", path.display()))
        }
        Err(_) => {}
    }
    let key: [u8; 32] = rand::random();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(&key))
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(key)
}

pub fn open_audit(config: &Config) -> Result<AuditLog> {
    let durability = match config.audit.durability {
        AuditDurability::Buffered => Durability::Buffered {
            sync_interval: config.audit.sync_interval,
        },
        AuditDurability::Strict => Durability::Strict,
    };
    let path = config.audit_path();
    // Named, so that every record says which gateway wrote it, and no two gateways ever
    // write one chain.
    AuditLog::open_named(&path, durability, Some(&config.gateway_name())).with_context(|| {
        format!(
            "opening the audit trail {} (is another gateway using this data directory?)",
            path.display()
        )
    })
}

/// Opens the state, records the start in the audit trail, and starts the listeners.
pub async fn start(config: Config, config_text: &str) -> Result<RunningGateway> {
    std::fs::create_dir_all(&config.gateway.data_dir)
        .with_context(|| format!("creating {}", config.gateway.data_dir.display()))?;
    let key = load_gateway_key(&config)?;
    // Before anything is opened: a gateway given a policy it cannot enforce does not start.
    let policy = PolicyState::load(&config.policy).context("loading the policy")?;
    // Likewise a sink that cannot work as configured (an unreadable token file, a cursor that
    // holds no seq): found before anything is opened, started once everything else is.
    let audit_sinks = AuditSinks::prepare(
        &config.audit_sinks,
        &config.audit_path(),
        &config.gateway.data_dir,
    )
    .context("preparing the audit sinks")?;
    let store = open_store(&config).await?;
    // Before the first record: a gateway that cannot sign its trail's checkpoints does not
    // start, rather than run with a trail it cannot seal.
    let audit_signer = Arc::new(
        sluice_core::audit_key::load_or_create_signing_key(&config.audit_signing_key_path())
            .context("loading the audit signing key")?,
    );
    let audit = open_audit(&config)?;
    audit
        .record(&AuditEvent::GatewayStarted {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config_digest: hex::encode(Sha256::digest(config_text.as_bytes())),
        })
        .await
        .context("writing the first audit record")?;
    let loaded = policy.current().info.clone();
    audit
        .record(&loaded.loaded_event("start", None))
        .await
        .context("auditing the policy in force")?;
    if let Some(warning) = &loaded.warning {
        tracing::warn!("{warning}");
        eprintln!("sluice: {warning}");
    }
    let pg_listen = config.postgres.listen;
    let mysql_listen = config.mysql.as_ref().and_then(|m| m.listen);
    let ssh_listen = config.ssh.as_ref().and_then(|m| m.listen);
    let http_listen = config.http.as_ref().and_then(|h| h.listen);
    let mut config = config;
    let admin_tls = match (config.admin.listen, config.admin.tls()) {
        (Some(_), Some((cert, key))) => {
            Some(crate::admin_tls::server_config(cert, key).with_context(|| {
                format!(
                    "loading the admin listener's certificate {}",
                    cert.display()
                )
            })?)
        }
        _ => None,
    };
    // Bound before the gateway exists so that links to reviews name the real port when the
    // configuration asks for an ephemeral one.
    let admin_listener = match config.admin.listen {
        Some(addr) => {
            let listener = admin::bind(addr)
                .await
                .with_context(|| format!("binding the admin listener on {addr}"))?;
            config.admin.listen = Some(listener.local_addr()?);
            Some(listener)
        }
        None => None,
    };
    let grace = config.gateway.shutdown_grace;
    let checkpoint_interval = config.audit.checkpoint_interval;
    let workers = Arc::new(sluice_core::workers::Workers::start(
        config.gateway.worker_threads,
    )?);
    let agents_listen = config.agents.listen;
    let gateway = Gateway::new(config, store.clone(), audit, policy, key)?;
    workers.probe_lag({
        let gateway = gateway.clone();
        move |lag| gateway.metrics().worker_lagged(lag)
    });
    let policy_watch = tokio::spawn({
        let gateway = gateway.clone();
        async move { gateway.watch_policy().await }
    });
    let housekeeping = tokio::spawn({
        let gateway = gateway.clone();
        async move {
            // Review and grant expiry, recording retention, and the store's change
            // notifications, until the gateway stops.
            tokio::join!(
                gateway.run_approvals(),
                gateway.enforce_recording_retention(),
                gateway.watch_revocations(),
                gateway.follow_store(),
                gateway.run_signals(),
                verify_periodically(gateway.clone())
            );
        }
    });
    let audit_sealing = tokio::spawn(seal_periodically(
        gateway.audit().clone(),
        audit_signer.clone(),
        checkpoint_interval,
    ));

    let (control, _) = watch::channel(ShutdownPhase::Running);
    let control = Arc::new(control);
    let (admin_stop, admin_stop_rx) = watch::channel(false);

    let mut postgres_addr = None;
    let mut postgres_task = None;
    if let Some(addr) = pg_listen {
        let server = PgServer::bind(gateway.clone(), addr, workers.clone())
            .await
            .with_context(|| format!("binding the PostgreSQL listener on {addr}"))?;
        postgres_addr = Some(server.local_addr()?);
        postgres_task = Some(tokio::spawn(server.run(control.clone(), grace)));
    }
    let mut mysql_addr = None;
    let mut mysql_task = None;
    if let Some(addr) = mysql_listen {
        let server = MysqlServer::bind(gateway.clone(), addr, workers.clone())
            .await
            .with_context(|| format!("binding the MySQL listener on {addr}"))?;
        mysql_addr = Some(server.local_addr()?);
        mysql_task = Some(tokio::spawn(server.run(control.clone(), grace)));
    }
    let mut ssh_addr = None;
    let mut ssh_task = None;
    let mut ssh_fingerprint = None;
    if let Some(addr) = ssh_listen {
        let server = SshServer::bind(gateway.clone(), addr, workers.clone())
            .await
            .with_context(|| format!("binding the SSH listener on {addr}"))?;
        ssh_addr = Some(server.local_addr()?);
        ssh_fingerprint = Some(server.host_key_fingerprint().to_owned());
        ssh_task = Some(tokio::spawn(server.run(control.clone(), grace)));
    }
    let mut http_addr = None;
    let mut http_task = None;
    if let Some(addr) = http_listen {
        let mut server = HttpServer::bind(gateway.clone(), addr, workers.clone())
            .await
            .with_context(|| format!("binding the HTTPS listener on {addr}"))?;
        if config_mcp_enabled(&gateway) {
            let mcp = sluice_mcp::McpServer::new(gateway.clone(), ssh_fingerprint.clone())
                .context("starting the MCP endpoint")?;
            server = server
                .with_endpoint(Arc::new(mcp))
                .context("mounting the MCP endpoint on the HTTPS listener")?;
        }
        http_addr = Some(server.local_addr()?);
        http_task = Some(tokio::spawn(server.run(control.clone(), grace)));
    }
    for (protocol, addr) in [
        ("postgres", postgres_addr),
        ("mysql", mysql_addr),
        ("ssh", ssh_addr),
        ("http", http_addr),
    ] {
        if let Some(addr) = addr {
            gateway.announce_listener(protocol, addr.port());
        }
    }
    let mut agents_addr = None;
    let mut agents_task = None;
    if let Some(addr) = agents_listen {
        // Installed before the first session can dial: a `via` target before it has no way.
        let hub = sluice_agent::hub::AgentHub::bind(gateway.clone(), store, addr, workers.clone())
            .await
            .with_context(|| format!("binding the agents' listener on {addr}"))?;
        agents_addr = Some(hub.local_addr()?);
        agents_task = Some(tokio::spawn(hub.run(admin_stop_rx.clone())));
    }
    let mut admin_addr = None;
    let mut admin_task = None;
    if let Some(listener) = admin_listener {
        admin_addr = Some(listener.local_addr()?);
        admin_task = Some(tokio::spawn(admin::serve(
            listener,
            gateway.clone(),
            admin_tls,
            admin_stop_rx,
        )));
    }
    let audit_sinks = audit_sinks.spawn();
    tracing::info!(
        ?postgres_addr,
        ?mysql_addr,
        ?ssh_addr,
        ?ssh_fingerprint,
        ?http_addr,
        ?admin_addr,
        ?agents_addr,
        "sluice is ready"
    );
    Ok(RunningGateway {
        gateway,
        audit_sinks,
        postgres_addr,
        mysql_addr,
        ssh_addr,
        ssh_fingerprint,
        http_addr,
        admin_addr,
        agents_addr,
        control,
        admin_stop,
        postgres_task,
        mysql_task,
        ssh_task,
        http_task,
        admin_task,
        agents_task,
        policy_watch,
        housekeeping,
        audit_signer,
        audit_sealing,
    })
}

/// `[signals] verify_interval`: `sluice audit verify` over the gateway's own trail and
/// recordings, its outcome handed to the audit-completeness signal.
async fn verify_periodically(gateway: Gateway) {
    let interval = gateway.config().signals.verify_interval;
    if interval.is_zero() {
        return std::future::pending().await;
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (ok, summary) = match crate::audit_cmd::verify_own(gateway.config()).await {
            Ok(outcome) => outcome,
            Err(e) => (false, format!("verify could not run: {e:#}")),
        };
        if !ok {
            tracing::warn!(%summary, "periodic audit verify found problems");
        }
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        gateway.note_verify(sluice_signals::VerifyOutcome { at, ok, summary });
    }
}

/// Writes a signed checkpoint every `every` while anything new was recorded, until the log
/// closes. A failure is logged and retried at the next tick: the records stay in the chain,
/// only their seal is late, and the next checkpoint covers them too.
async fn seal_periodically(audit: AuditLog, signer: Arc<CheckpointSigner>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    // After a stall, one checkpoint covers everything; a burst of them would seal nothing more.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick completes at once; the trail was just opened.
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if !write_checkpoint(&audit, &signer).await {
            return;
        }
    }
}

/// One checkpoint; false once the log is closed (nothing more can be sealed).
async fn write_checkpoint(audit: &AuditLog, signer: &CheckpointSigner) -> bool {
    match audit.checkpoint(signer).await {
        // Logged with its head so that a copy of the logs kept elsewhere can later show the
        // file cut back to an earlier checkpoint, which the file alone cannot.
        Ok(Some(written)) => tracing::info!(
            seq = written.seq,
            count = written.count,
            head = %written.head,
            key = signer.key_id(),
            "audit checkpoint written"
        ),
        Ok(None) => {}
        Err(AuditError::Closed) => return false,
        Err(error) => tracing::error!(%error, "writing an audit checkpoint failed"),
    }
    true
}

impl RunningGateway {
    /// Stops reloading on file changes (SIGHUP and the admin API still reload).
    pub fn stop_policy_watch(&mut self) {
        self.policy_watch.abort();
    }

    /// Stops accepting, drains sessions within the grace period, records the stop, and syncs
    /// the audit trail.
    pub async fn shutdown(mut self, reason: &str) -> Result<()> {
        self.policy_watch.abort();
        self.housekeeping.abort();
        self.audit_sealing.abort();
        let _ = self.control.send(ShutdownPhase::Draining);
        if let Some(task) = self.postgres_task.take() {
            let _ = task.await;
        }
        if let Some(task) = self.mysql_task.take() {
            let _ = task.await;
        }
        if let Some(task) = self.ssh_task.take() {
            let _ = task.await;
        }
        if let Some(task) = self.http_task.take() {
            let _ = task.await;
        }
        let _ = self.admin_stop.send(true);
        if let Some(task) = self.admin_task.take() {
            let _ = task.await;
        }
        if let Some(task) = self.agents_task.take() {
            let _ = task.await;
        }
        let audit = self.gateway.audit().clone();
        audit
            .record(&AuditEvent::GatewayStopped {
                reason: reason.to_owned(),
            })
            .await?;
        // Seals the whole run, the stop included, so a trail that ends in a verified
        // checkpoint is a complete one.
        write_checkpoint(&audit, &self.audit_signer).await;
        audit.close().await?;
        // What the sinks have not sent yet goes out after the next start, from their cursors.
        self.audit_sinks.abort();
        tracing::info!("sluice stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() -> Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// `sluice serve`.
pub async fn serve(config_path: &Path) -> Result<()> {
    let (config, text) = Config::load_with_text(config_path)?;
    crate::logging::init(&config.log);
    // Before starting: SIGHUP's default action would end the process.
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let running = start(config, &text).await?;
    if let (Some(addr), Some(fingerprint)) = (running.ssh_addr, &running.ssh_fingerprint) {
        // What users compare with the fingerprint ssh shows at their first connection.
        eprintln!("sluice: SSH listener on {addr}, host key {fingerprint}");
    }
    let signal = {
        let gateway = running.gateway.clone();
        let reloads = async move {
            while hangup.recv().await.is_some() {
                gateway.reload_policy("sighup").await;
            }
        };
        tokio::select! {
            signal = shutdown_signal() => signal?,
            _ = reloads => "SIGHUP handler ended",
        }
    };
    // Ctrl-C is someone at a terminal, not an orchestrator: no load balancer to wait for.
    let delay = match signal {
        "SIGTERM" => running.gateway.config().gateway.drain_delay,
        _ => Duration::ZERO,
    };
    running.gateway.start_draining();
    if !delay.is_zero() {
        // Everything is still served while `/readyz` says "draining", so that a load balancer
        // takes this gateway out before its listeners close.
        tracing::info!(signal, delay = %humantime::format_duration(delay), "draining: not ready, still serving");
        tokio::time::sleep(delay).await;
    }
    tracing::info!(signal, "shutting down");
    running.shutdown(&format!("{signal} received")).await
}

/// The MCP endpoint rides on the HTTPS listener unless `[listeners.mcp] enabled = false`.
fn config_mcp_enabled(gateway: &Gateway) -> bool {
    gateway
        .config()
        .http
        .as_ref()
        .is_some_and(|http| http.mcp.enabled)
}
