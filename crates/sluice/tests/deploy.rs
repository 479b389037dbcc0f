//! The deployment artifacts in deploy/ (docs/deploy.md), checked with the tools that consume
//! them, as far as a machine without a container engine allows:
//!
//! - the Kubernetes base and example overlay render with `kubectl kustomize` (kubectl is
//!   not packaged by Debian: without it these two tests skip, saying so, like the Kubernetes
//!   gateway tests), and what they render has the objects,
//!   probes, security settings and grace period the documentation promises; the agent
//!   kustomization (deploy/kubernetes/agent) renders an agent that dials the gateways' Service;
//! - docker-compose.yml is valid (`docker compose config`, when the compose plugin is there)
//!   and, read with PyYAML (python3-yaml; required), wires the gateways as documented, and
//!   the agent (profile `agent`) as the only way from them to the internal network's target;
//! - every sluice.toml in deploy/ loads with the gateway's own `Config::load`;
//! - the policies in the base are examples/policies, all of them, unchanged.
//!
//! The image itself (deploy/Dockerfile) is not built here: that needs a Docker engine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sluice_core::config::Config;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `kubectl kustomize DIR`; `None` (the test skips, saying why) without kubectl, which no
/// Debian package provides recent enough: the same choice as the Kubernetes gateway tests
/// (scripts/install-deps.sh warns once).
fn kustomize(dir: &str) -> Option<String> {
    let out = match Command::new("kubectl")
        .arg("kustomize")
        .arg(repo().join(dir))
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "skipped: kubectl is not on PATH; rendering deploy/kubernetes needs kubectl 1.27 \
                 or newer (kustomize v5) from the Kubernetes project"
            );
            return None;
        }
        Err(e) => panic!("cannot run kubectl: {e}"),
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {dir} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// One rendered object. kustomize prints normalised YAML (two-space indentation, sorted keys,
/// list items at their key's indentation), which these few line-based helpers rely on; the
/// workspace has no YAML parser to lean on.
struct Object {
    text: String,
}

impl Object {
    fn kind(&self) -> &str {
        self.top("kind").unwrap_or("")
    }

    /// A scalar at the top level (`kind: Service`).
    fn top(&self, key: &str) -> Option<&str> {
        let prefix = format!("{key}: ");
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
    }

    fn name(&self) -> String {
        let meta = top_block(&self.text, "metadata");
        meta.lines()
            .find_map(|l| l.strip_prefix("  name: "))
            .unwrap_or_else(|| panic!("no metadata.name in\n{}", self.text))
            .to_owned()
    }

    fn namespace(&self) -> Option<String> {
        let meta = top_block(&self.text, "metadata");
        let ns = meta.lines().find_map(|l| l.strip_prefix("  namespace: "));
        ns.map(str::to_owned)
    }
}

/// The lines under the first `key:` line (at any depth), up to the next line indented no
/// deeper, list items of the key kept. Empty when the key is not there.
fn block(text: &str, key: &str) -> String {
    let want = format!("{key}:");
    lines_under(text, |l| {
        l.trim() == want || l.trim() == format!("- {want}")
    })
}

/// The same for a key at the top level only (`metadata:` of the object, not of its template).
fn top_block(text: &str, key: &str) -> String {
    let want = format!("{key}:");
    lines_under(text, |l| l == want)
}

fn lines_under(text: &str, is_key: impl Fn(&str) -> bool) -> String {
    let mut lines = text.lines();
    let Some(key) = lines.by_ref().find(|l| is_key(l)) else {
        return String::new();
    };
    // A key that opens a list item (`- secret:`) has its content two columns further in.
    let body = key.trim_start();
    let indent = key.len() - body.len() + if body.starts_with("- ") { 2 } else { 0 };
    let mut out = String::new();
    for l in lines {
        let depth = l.len() - l.trim_start().len();
        let item = l.trim_start().starts_with("- ");
        // Blank lines belong to block scalars (policy text); they end nothing.
        if !l.trim().is_empty() && (depth < indent || (depth == indent && !item)) {
            break;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn objects(yaml: &str) -> Vec<Object> {
    yaml.split("\n---\n")
        .filter(|t| !t.trim().is_empty())
        .map(|t| Object { text: t.to_owned() })
        .collect()
}

fn one<'a>(objs: &'a [Object], kind: &str) -> &'a Object {
    let found: Vec<_> = objs.iter().filter(|o| o.kind() == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

fn kinds(objs: &[Object]) -> BTreeSet<&str> {
    objs.iter().map(Object::kind).collect()
}

/// The keys under `data:` of a ConfigMap.
fn data_keys(obj: &Object) -> BTreeSet<String> {
    block(&obj.text, "data")
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.trim().split(':').next().map(str::to_owned))
        .collect()
}

fn duration(config: &toml::Value, table: &str, key: &str) -> Duration {
    let text = config[table][key]
        .as_str()
        .unwrap_or_else(|| panic!("{table}.{key} is not set in the deploy configuration"));
    humantime::parse_duration(text).unwrap()
}

/// The port of `[table] listen = "HOST:PORT"`.
fn listen_port(config: &toml::Value, table: &str) -> u16 {
    let listen = config[table]["listen"]
        .as_str()
        .unwrap_or_else(|| panic!("{table}.listen is not set"));
    listen
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{table}.listen {listen:?} is not HOST:PORT"))
}

fn toml_file(path: &str) -> toml::Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What both renderings share: the gateway itself, probed, drained and locked down as
/// docs/deploy.md says.
fn check_gateway(objs: &[Object], replicas: u32, config: &toml::Value) {
    let sts = one(objs, "StatefulSet");
    let spec = &sts.text;
    assert!(
        spec.contains(&format!("\n  replicas: {replicas}\n")),
        "StatefulSet replicas is not {replicas}:\n{spec}"
    );

    let readiness = block(spec, "readinessProbe");
    assert!(
        readiness.contains("path: /readyz"),
        "readiness probe: {readiness}"
    );
    assert!(
        readiness.contains("port: admin"),
        "readiness probe: {readiness}"
    );
    let liveness = block(spec, "livenessProbe");
    assert!(
        liveness.contains("path: /healthz"),
        "liveness probe: {liveness}"
    );
    assert!(block(spec, "startupProbe").contains("path: /healthz"));
    assert!(
        spec.contains("containerPort: 9187"),
        "admin port 9187 not exposed"
    );
    assert!(
        spec.contains("containerPort: 6432"),
        "postgres port 6432 not exposed"
    );
    assert_eq!(
        listen_port(config, "agents"),
        7443,
        "[agents] listen is not the Service's agents port"
    );
    assert!(
        spec.contains("containerPort: 7443"),
        "agents port 7443 not exposed"
    );
    // One agent certificate for every pod, projected where [agents] tls_cert/tls_key say.
    for key in ["tls_cert", "tls_key"] {
        let path = config["agents"][key]
            .as_str()
            .unwrap_or_else(|| panic!("agents.{key} is not set: each pod would pin its own"));
        let file = path.strip_prefix("/run/secrets/").expect("a secret file");
        assert!(
            spec.contains(&format!("path: {file}")),
            "agents.{key} {path} is not projected"
        );
    }
    assert!(spec.contains("name: sluice-agents-tls"));

    // The kubelet's SIGKILL must not cut the drain short.
    let grace: u64 = block(spec, "spec")
        .lines()
        .find_map(|l| l.trim().strip_prefix("terminationGracePeriodSeconds: "))
        .expect("terminationGracePeriodSeconds")
        .parse()
        .unwrap();
    let drain =
        duration(config, "gateway", "drain_delay") + duration(config, "gateway", "shutdown_grace");
    assert!(
        Duration::from_secs(grace) > drain,
        "terminationGracePeriodSeconds {grace} must exceed drain_delay + shutdown_grace ({drain:?})"
    );

    for needle in [
        "runAsNonRoot: true",
        "runAsUser: 10001",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
    ] {
        assert!(spec.contains(needle), "StatefulSet lacks {needle}");
    }
    assert!(
        block(spec, "capabilities").contains("- ALL"),
        "capabilities are not all dropped"
    );
    // A directory mount, never subPath: subPath mounts do not follow ConfigMap updates.
    assert!(
        !spec.contains("subPath"),
        "a subPath mount would stop policy hot reload"
    );
    // Every pod a data directory of its own.
    assert!(block(spec, "volumeClaimTemplates").contains("name: data"));

    let pdb = one(objs, "PodDisruptionBudget");
    assert!(pdb.text.contains("minAvailable: 1"), "{}", pdb.text);
    let services: Vec<_> = objs
        .iter()
        .filter(|o| o.kind() == "Service")
        .map(Object::name)
        .collect();
    assert!(
        services.iter().any(|s| s == "sluice"),
        "no Service named sluice: {services:?}"
    );
    // Agents dial the same Service as clients, on its port `agents`.
    let service = objs
        .iter()
        .find(|o| o.kind() == "Service" && o.name() == "sluice")
        .unwrap();
    let ports = block(&service.text, "ports");
    assert!(
        ports.contains("name: agents")
            && ports.contains("port: 7443")
            && ports.contains("targetPort: agents"),
        "the sluice Service has no agents port:\n{ports}"
    );

    // The policies ConfigMap keeps its name (hot reload); sluice.toml's is hashed (rolls pods).
    let maps: Vec<_> = objs.iter().filter(|o| o.kind() == "ConfigMap").collect();
    let names: Vec<_> = maps.iter().map(|m| m.name()).collect();
    assert!(
        names.iter().any(|n| n == "sluice-policies"),
        "policies ConfigMap renamed: {names:?}"
    );
    let config_map = names
        .iter()
        .find(|n| n.starts_with("sluice-config-"))
        .unwrap_or_else(|| panic!("no hash-suffixed sluice-config ConfigMap: {names:?}"));
    assert!(
        spec.contains(&format!("name: {config_map}")),
        "StatefulSet does not mount {config_map}"
    );

    // All of examples/policies, nothing else.
    let policies = maps.iter().find(|m| m.name() == "sluice-policies").unwrap();
    assert_eq!(
        data_keys(policies),
        rego_files(&repo().join("examples/policies"))
    );
}

fn rego_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".rego"))
        .collect()
}

#[test]
fn kubernetes_base_renders_with_probes_and_shared_volume() {
    let Some(rendered) = kustomize("deploy/kubernetes/base") else {
        return;
    };
    let objs = objects(&rendered);
    let config = toml_file("deploy/kubernetes/base/sluice.toml");
    assert_eq!(
        kinds(&objs),
        BTreeSet::from([
            "ConfigMap",
            "PersistentVolumeClaim",
            "PodDisruptionBudget",
            "Service",
            "StatefulSet"
        ]),
    );
    check_gateway(&objs, 2, &config);
    // The base keeps recordings on a ReadWriteMany claim every pod mounts.
    let pvc = one(&objs, "PersistentVolumeClaim");
    assert_eq!(pvc.name(), "sluice-recordings");
    assert!(pvc.text.contains("- ReadWriteMany"));
    assert!(one(&objs, "StatefulSet")
        .text
        .contains("claimName: sluice-recordings"));
    // Secrets are referenced, not defined: an overlay (or the cluster's own tooling) makes them.
    assert!(!kinds(&objs).contains("Secret"));
}

#[test]
fn kubernetes_example_overlay_renders_with_secrets_and_s3() {
    let Some(rendered) = kustomize("deploy/kubernetes/overlays/example") else {
        return;
    };
    let objs = objects(&rendered);
    let config = toml_file("deploy/kubernetes/overlays/example/sluice.toml");
    assert_eq!(
        kinds(&objs),
        BTreeSet::from([
            "ConfigMap",
            "Namespace",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "StatefulSet"
        ]),
    );
    check_gateway(&objs, 3, &config);

    for obj in objs.iter().filter(|o| o.kind() != "Namespace") {
        assert_eq!(
            obj.namespace().as_deref(),
            Some("sluice-example"),
            "{} {}",
            obj.kind(),
            obj.name()
        );
    }
    let sts = &one(&objs, "StatefulSet").text;
    assert!(sts.contains("image: registry.example.com/sluice:0.1.0"));

    // Recordings in S3: no shared claim, nothing mounted from it.
    assert!(
        !sts.contains("sluice-recordings"),
        "the recordings volume is still mounted"
    );
    let s3 = config["recording"]
        .get("s3")
        .expect("[recording.s3] in the overlay's sluice.toml");
    assert!(s3.get("bucket").is_some());

    // Each generated Secret is what the pods mount, under its hashed name.
    let secrets: Vec<_> = objs
        .iter()
        .filter(|o| o.kind() == "Secret")
        .map(Object::name)
        .collect();
    for base in [
        "sluice-store",
        "sluice-targets",
        "sluice-audit-signing",
        "sluice-agents-tls",
    ] {
        let name = secrets
            .iter()
            .find(|n| n.starts_with(&format!("{base}-")))
            .unwrap_or_else(|| panic!("no Secret {base}: {secrets:?}"));
        assert!(
            sts.contains(&format!("name: {name}")),
            "StatefulSet does not mount {name}"
        );
    }
    let agents_tls = objs
        .iter()
        .find(|o| o.kind() == "Secret" && o.name().starts_with("sluice-agents-tls-"))
        .unwrap();
    assert_eq!(agents_tls.top("type"), Some("kubernetes.io/tls"));
}

/// deploy/kubernetes/agent: one agent, its state on a claim of its own, dialling the gateways'
/// Service on its agents port, with the token from an optional Secret; locked down like the
/// gateway, and with nothing to probe.
#[test]
fn kubernetes_agent_renders_and_dials_the_gateways() {
    let Some(rendered) = kustomize("deploy/kubernetes/agent") else {
        return;
    };
    let objs = objects(&rendered);
    assert_eq!(kinds(&objs), BTreeSet::from(["StatefulSet"]));
    let sts = one(&objs, "StatefulSet");
    assert_eq!(sts.name(), "sluice-agent");
    // Beside the example overlay's gateways, so that `sluice` resolves to their Service.
    assert_eq!(sts.namespace().as_deref(), Some("sluice-example"));
    let spec = &sts.text;
    assert!(spec.contains("\n  replicas: 1\n"), "one pod per agent name");
    assert!(
        spec.contains("- agent\n"),
        "the container runs `sluice agent`"
    );
    assert!(spec.contains("image: registry.example.com/sluice:0.1.0"));

    let env = block(spec, "env");
    let value_of = |name: &str| {
        let var = format!("- name: {name}");
        let mut lines = env.lines().skip_while(|l| l.trim() != var);
        lines
            .next()
            .unwrap_or_else(|| panic!("no {name} in\n{env}"));
        lines
            .next()
            .and_then(|l| l.trim().strip_prefix("value: "))
            .map(str::to_owned)
    };
    let config = toml_file("deploy/kubernetes/base/sluice.toml");
    assert_eq!(
        value_of("SLUICE_AGENT_SERVER").as_deref(),
        Some(format!("sluice:{}", listen_port(&config, "agents")).as_str()),
        "the agent does not dial the sluice Service's agents port"
    );
    let state = value_of("SLUICE_AGENT_STATE").expect("SLUICE_AGENT_STATE has a value");
    assert!(
        spec.contains(&format!("mountPath: {state}")),
        "the state directory {state} is not a mounted claim"
    );
    assert!(block(spec, "volumeClaimTemplates").contains("name: state"));
    // The token: from a Secret, optional (an enrolled agent no longer needs it).
    assert_eq!(value_of("SLUICE_AGENT_ENROLL"), None);
    let token = block(&env, "secretKeyRef");
    for needle in ["name: sluice-agent-enroll", "key: token", "optional: true"] {
        assert!(token.contains(needle), "token secretKeyRef lacks {needle}");
    }

    for needle in [
        "runAsNonRoot: true",
        "runAsUser: 10001",
        "fsGroup: 10001",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "automountServiceAccountToken: false",
    ] {
        assert!(spec.contains(needle), "the agent lacks {needle}");
    }
    assert!(block(spec, "capabilities").contains("- ALL"));
    assert!(block(spec, "resources").contains("memory:"));
    // It serves nothing: no ports, so no HTTP probes.
    for absent in [
        "containerPort",
        "readinessProbe",
        "livenessProbe",
        "httpGet",
    ] {
        assert!(!spec.contains(absent), "the agent has {absent}");
    }
}

/// The overlay's sluice.toml is the base's with recordings moved to S3; anything else that
/// differs is drift.
#[test]
fn kubernetes_overlay_config_differs_from_base_only_in_recording() {
    let mut base = toml_file("deploy/kubernetes/base/sluice.toml");
    let mut overlay = toml_file("deploy/kubernetes/overlays/example/sluice.toml");
    for c in [&mut base, &mut overlay] {
        c.as_table_mut().unwrap().remove("recording");
    }
    assert_eq!(
        base, overlay,
        "the overlay's sluice.toml drifted from the base's"
    );
}

#[test]
fn kubernetes_policies_are_the_examples() {
    let examples = repo().join("examples/policies");
    let base = repo().join("deploy/kubernetes/base/policies");
    assert_eq!(
        rego_files(&base),
        rego_files(&examples),
        "policy files differ in name"
    );
    for name in rego_files(&examples) {
        assert_eq!(
            std::fs::read(base.join(&name)).unwrap(),
            std::fs::read(examples.join(&name)).unwrap(),
            "deploy/kubernetes/base/policies/{name} differs from examples/policies/{name}: copy it again"
        );
    }
}

/// docker-compose.yml as data: `docker compose config` checks it when the compose plugin is
/// there; the structure is read with PyYAML either way (the workspace has no YAML crate).
#[test]
fn compose_file_parses_and_wires_two_gateways() {
    let file = repo().join("deploy/docker-compose.yml");
    let compose_plugin = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if compose_plugin {
        let out = Command::new("docker")
            .args(["compose", "-f"])
            .arg(&file)
            .args(["config", "--quiet"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker compose config: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("python3 is needed to read docker-compose.yml: {e}"));
    assert!(
        out.status.success(),
        "python3 with PyYAML (Debian: python3-yaml) reads docker-compose.yml{}: {}",
        if compose_plugin {
            ""
        } else {
            " (no docker compose plugin here)"
        },
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let services = &doc["services"];

    let mut data_volumes = BTreeSet::new();
    for (gw, port) in [("gw-a", "6432:6432"), ("gw-b", "6433:6432")] {
        let s = &services[gw];
        assert_eq!(s["hostname"], gw, "{gw}'s host name is its gateway name");
        assert!(
            s["ports"].as_array().unwrap().iter().any(|p| p == port),
            "{gw} publishes {port}"
        );
        for dep in ["store", "shop-db"] {
            assert_eq!(
                s["depends_on"][dep]["condition"], "service_healthy",
                "{gw} waits for {dep}"
            );
        }
        let test = s["healthcheck"]["test"].to_string();
        assert!(test.contains("/readyz"), "{gw}'s healthcheck: {test}");
        let volumes: Vec<&str> = s["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(volumes
            .iter()
            .any(|v| v.ends_with(":/etc/sluice/sluice.toml:ro")));
        assert!(volumes
            .iter()
            .any(|v| v.ends_with(":/etc/sluice/policies:ro")));
        assert!(
            volumes.contains(&"recordings:/var/lib/sluice-recordings"),
            "{gw} shares recordings"
        );
        let data = volumes
            .iter()
            .find(|v| v.ends_with(":/var/lib/sluice"))
            .expect("a data volume");
        data_volumes.insert(data.to_string());
        // Docker's SIGKILL must not cut the drain short.
        let config = toml_file("deploy/compose/sluice.toml");
        let stop = humantime::parse_duration(s["stop_grace_period"].as_str().unwrap()).unwrap();
        let drain = duration(&config, "gateway", "drain_delay")
            + duration(&config, "gateway", "shutdown_grace");
        assert!(
            stop > drain,
            "{gw}: stop_grace_period {stop:?} must exceed {drain:?}"
        );
    }
    assert_eq!(
        data_volumes.len(),
        2,
        "each gateway needs its own data volume: {data_volumes:?}"
    );
    assert_eq!(services["store"]["image"], "postgres:16");
    assert!(services["store"]["healthcheck"].is_object());

    // The agent: the only way from the gateways to the internal network's target.
    let compose_config = toml_file("deploy/compose/sluice.toml");
    let networks_of = |service: &str| -> BTreeSet<String> {
        match &services[service]["networks"] {
            serde_json::Value::Null => BTreeSet::from(["default".to_owned()]),
            serde_json::Value::Array(list) => list
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect(),
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("{service}: networks {other}"),
        }
    };
    assert_eq!(
        doc["networks"]["private"]["internal"], true,
        "the private network must be internal"
    );
    assert_eq!(
        networks_of("orders-db"),
        BTreeSet::from(["private".to_owned()]),
        "orders-db is on the private network only"
    );
    assert!(
        services["orders-db"].get("ports").is_none(),
        "orders-db publishes no port"
    );
    for gw in ["gw-a", "gw-b", "store", "shop-db"] {
        assert!(
            !networks_of(gw).contains("private"),
            "{gw} must not be on the private network: only the agent reaches orders-db"
        );
    }
    let agent = &services["agent"];
    assert_eq!(
        agent["image"], services["gw-a"]["image"],
        "the agent is the gateway image"
    );
    assert_eq!(agent["command"], serde_json::json!(["agent"]));
    assert!(
        agent["profiles"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p == "agent")),
        "the agent is under the profile `agent`, so a plain `up` leaves it out"
    );
    assert!(
        services["gw-a"].get("profiles").is_none(),
        "the gateways start without a profile"
    );
    assert_eq!(
        networks_of("agent"),
        BTreeSet::from(["default".to_owned(), "private".to_owned()]),
        "the agent is on both networks"
    );
    let env = &agent["environment"];
    assert_eq!(
        env["SLUICE_AGENT_SERVER"].as_str(),
        Some(format!("gw-a:{}", listen_port(&compose_config, "agents")).as_str()),
        "the agent dials gw-a's [agents] listen"
    );
    // No value: taken from the shell when set there, left out of the container otherwise (an
    // empty SLUICE_AGENT_ENROLL would be read as a malformed token).
    assert!(
        env.as_object().unwrap().contains_key("SLUICE_AGENT_ENROLL")
            && env["SLUICE_AGENT_ENROLL"].is_null(),
        "SLUICE_AGENT_ENROLL comes from the shell, without a default: {env}"
    );
    let state = env["SLUICE_AGENT_STATE"]
        .as_str()
        .expect("SLUICE_AGENT_STATE");
    let state_volume = agent["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .find_map(|v| {
            let (volume, mount) = v.split_once(':')?;
            (state == mount || state.starts_with(&format!("{mount}/"))).then_some(volume)
        })
        .unwrap_or_else(|| panic!("the agent's state {state} is not on a volume"));
    assert!(
        doc["volumes"].get(state_volume).is_some(),
        "the agent's state is on the named volume {state_volume}, which outlives the container"
    );
    assert_eq!(agent["depends_on"]["gw-a"]["condition"], "service_healthy");

    // The target it serves: the host only the agent resolves, through agent dc1, with a
    // password the gateways are given.
    let orders = compose_config["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"].as_str() == Some("orders"))
        .expect("target orders in compose/sluice.toml");
    assert_eq!(orders["host"].as_str(), Some("orders-db"));
    assert_eq!(orders["via"].as_str(), Some("dc1"));
    let password = orders["password_file"].as_str().unwrap();
    let secret = password.strip_prefix("/run/secrets/").unwrap();
    assert!(
        doc["secrets"].get(secret).is_some(),
        "no compose secret {secret}"
    );
    for gw in ["gw-a", "gw-b"] {
        assert!(
            services[gw]["secrets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == secret),
            "{gw} is not given {secret}"
        );
    }
    assert!(
        services["orders-db"]["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == secret),
        "orders-db's password is not {secret}"
    );

    // Every secret is a file in the repository (examples, compose/secrets/README.md).
    for (name, secret) in doc["secrets"].as_object().unwrap() {
        let path = secret["file"].as_str().unwrap();
        assert!(
            repo().join("deploy").join(path).is_file(),
            "secret {name}: no file {path}"
        );
    }
}

/// Every sluice.toml in deploy/ is accepted by the gateway's own loader, which refuses
/// unknown fields: the [store] table, gateway.name and gateway.drain_delay are part of it.
#[test]
fn deploy_configs_load() {
    for path in [
        "deploy/compose/sluice.toml",
        "deploy/kubernetes/base/sluice.toml",
        "deploy/kubernetes/overlays/example/sluice.toml",
    ] {
        let config = Config::load(&repo().join(path))
            .unwrap_or_else(|e| panic!("{path} does not load: {e}"));
        assert!(
            config.agents.listen.is_some(),
            "{path}: [agents] listen is not set"
        );
    }
    // The compose target through the agent survives the loader's `via` checks.
    let compose = Config::load(&repo().join("deploy/compose/sluice.toml")).unwrap();
    let orders = compose
        .targets
        .iter()
        .find(|t| t.name == "orders")
        .expect("target orders");
    assert_eq!(orders.via, ["dc1"]);
}
