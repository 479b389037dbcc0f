//! MCP over the machine's curl, in the handshake era (`initialize`, then calls on its
//! session, answers as JSON): for tests that need a few tool calls without the Python SDK.

use std::process::Command;

use serde_json::{json, Value};

use super::{stderr, stdout};

/// MCP over curl, in the handshake era: `initialize`, then calls on its session.
pub struct McpCurl {
    url: String,
    ca: String,
    token: String,
    session: String,
}

impl McpCurl {
    fn post(
        url: &str,
        ca: &str,
        token: &str,
        session: Option<&str>,
        body: &Value,
    ) -> (String, String) {
        let mut args = vec![
            "-sS".to_owned(),
            "-D".into(),
            "-".into(),
            "--cacert".into(),
            ca.into(),
            "-H".into(),
            format!("Authorization: Bearer {token}"),
            "-H".into(),
            "Content-Type: application/json".into(),
            "-H".into(),
            "Accept: application/json".into(),
            "--data-binary".into(),
            body.to_string(),
        ];
        if let Some(s) = session {
            args.extend(["-H".into(), format!("Mcp-Session-Id: {s}")]);
        }
        args.push(url.into());
        let out = Command::new("curl").args(&args).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head.to_owned(), body.to_owned())
    }

    pub fn open(url: String, ca: String, token: String) -> McpCurl {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "curl", "version": "1"}}});
        let (head, body) = McpCurl::post(&url, &ca, &token, None, &init);
        let session = head
            .lines()
            .find_map(|l| l.strip_prefix("mcp-session-id: "))
            .unwrap_or_else(|| panic!("no session: {head}{body}"))
            .trim()
            .to_owned();
        McpCurl {
            url,
            ca,
            token,
            session,
        }
    }

    pub fn call(&self, tool: &str, arguments: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                          "params": {"name": tool, "arguments": arguments}});
        let (_, body) = McpCurl::post(&self.url, &self.ca, &self.token, Some(&self.session), &body);
        let answer: Value = serde_json::from_str(&body).unwrap();
        answer["result"].clone()
    }

    pub fn tools(&self) -> Vec<String> {
        let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
        let (_, body) = McpCurl::post(&self.url, &self.ca, &self.token, Some(&self.session), &body);
        let answer: Value = serde_json::from_str(&body).unwrap();
        answer["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }
}
