//! `sluice demo --json` as a child process: started in a temporary directory, its JSON line
//! read, stopped with SIGINT (as Ctrl-C) when dropped. Shared by tests/demo.rs and tests/mcp.rs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

pub struct Demo {
    pub child: Child,
    pub info: Value,
    /// Removed when the demo is dropped.
    _dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        // SIGINT, as Ctrl-C: the demo stops its gateway and its scratch database.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

pub fn start() -> Demo {
    let dir = tempfile::Builder::new()
        .prefix("sluice-test-demo-")
        .tempdir()
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["demo", "--json", "--dir"])
        .arg(dir.path().join("demo"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    Demo {
        child,
        info,
        _dir: dir,
    }
}
