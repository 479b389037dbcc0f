"""An agent on the official MCP SDK (PyPI `mcp`) against the demo gateway's MCP endpoint.

Driven by tests/mcp.rs, which reads the outcome from stdout (one `name: value` line per check)
and then checks the audit trail and the recordings the calls left. Environment: MCP_URL,
MCP_CA, TOKENS (JSON: identity -> token), SLUICE_BIN, ADMIN_URL, HAS_MYSQL, HAS_SSH.
"""

import asyncio
import json
import os
import re
import ssl
import subprocess
import sys

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

URL = os.environ["MCP_URL"]
CA = os.environ["MCP_CA"]
TOKENS = json.loads(os.environ["TOKENS"])
BIN = os.environ["SLUICE_BIN"]
ADMIN = os.environ["ADMIN_URL"]


def say(name, value):
    print(f"{name}: {json.dumps(value, sort_keys=True)}", flush=True)


def http_client(token):
    context = ssl.create_default_context(cafile=CA)
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        verify=context,
        timeout=httpx2.Timeout(30, read=300),
    )


def client(token, mode="auto", name="mcp-test-agent"):
    from mcp.types import Implementation

    return Client(
        streamable_http_client(URL, http_client=http_client(token)),
        mode=mode,
        client_info=Implementation(name=name, version="1"),
    )


def text(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def tools_and_queries():
    async with client(TOKENS["alice"]) as c:
        tools = await c.list_tools()
        say("tools", sorted(t.name for t in tools.tools))
        say("era", "modern" if c.session.discover_result is not None else "handshake")

        r = await c.call_tool("shop.query", {"sql": "SELECT id, ssn FROM customers ORDER BY id LIMIT 2"})
        say("masked.error", r.is_error)
        say("masked.rows", r.structured_content["results"][0]["rows"])
        say("masked.columns", [col["name"] for col in r.structured_content["results"][0]["columns"]])

        r = await c.call_tool("shop.query", {"sql": "SELECT count(*) AS n FROM orders WHERE id > $1", "params": [1]})
        say("params.rows", r.structured_content["results"][0]["rows"])

        r = await c.call_tool("shop.query", {"sql": "SELECT id FROM orders ORDER BY id", "max_rows": 2})
        res = r.structured_content["results"][0]
        say("capped", {"rows": len(res["rows"]), "truncated": res["truncated"], "row_count": res["row_count"]})

        r = await c.call_tool("shop.query", {"sql": "ALTER TABLE orders ADD note text"})
        say("ddl.error", r.is_error)
        say("ddl.text", text(r))

        r = await c.call_tool("shop.describe", {})
        say("describe.tables", sorted(t["name"] for t in r.structured_content["tables"]))
        r = await c.call_tool("shop.describe", {"table": "customers"})
        say("describe.columns", {col["name"]: col["masked"] for col in r.structured_content["columns"]})
        say("describe.notes", r.structured_content["notes"])

        r = await c.call_tool("shop.query", {"sql": 12})
        say("badargs", {"error": r.is_error, "text": text(r)})

        r = await c.call_tool("api.get", {"path": "/hello"})
        say("http.get", {"error": r.is_error, "status": r.structured_content["status"]})

        if os.environ.get("HAS_SSH") == "1":
            r = await c.call_tool("host.run", {"command": "echo hello from $USER"})
            say("ssh.run", {"error": r.is_error, "stdout": r.structured_content["stdout"].strip(),
                            "exit": r.structured_content["exit_status"]})
        if os.environ.get("HAS_MYSQL") == "1":
            r = await c.call_tool("shop-mysql.query", {"sql": "SELECT ssn FROM customers WHERE id = ?", "params": [1]})
            say("mysql.rows", r.structured_content["results"][0]["rows"])


async def approve(review):
    env = dict(os.environ, SLUICE_SERVER=ADMIN, SLUICE_TOKEN=TOKENS["dana"])
    out = await asyncio.to_thread(
        subprocess.run,
        [BIN, "review", "approve", review, "--comment", "agent's delete is fine"],
        env=env, capture_output=True, text=True,
    )
    say("approve.exit", out.returncode)


async def held_write():
    """A production write by alice's agent is held: the review's id arrives as progress, dana
    approves it with the CLI, and the call's result is the DELETE's."""
    approvals = []
    progress = []

    async def on_progress(value, total, message):
        progress.append(message)
        found = re.search(r"review (r-\d+)", message or "")
        if found and not approvals:
            approvals.append(asyncio.create_task(approve(found.group(1))))

    async with client(TOKENS["alice"]) as c:
        r = await c.call_tool(
            "shop.query",
            {"sql": "DELETE FROM orders WHERE id = $1", "params": [4]},
            progress_callback=on_progress,
        )
        if approvals:
            await approvals[0]
        say("held.progress", any("held for approval as review r-" in (m or "") for m in progress))
        say("held.error", r.is_error)
        say("held.command", r.structured_content["results"][0]["command"] if not r.is_error else text(r))


async def abandoned_hold():
    """An agent that stops waiting for a held write: its call ends, and so does the review."""
    async with client(TOKENS["alice"], name="impatient-agent") as c:
        try:
            await c.call_tool("shop.query", {"sql": "DELETE FROM orders WHERE id = $1", "params": [3]},
                              read_timeout_seconds=2)
            say("abandoned", "answered")
        except Exception as e:  # the SDK's timeout
            say("abandoned", "gave up")
    # The review is cancelled once the gateway sees the call's connection go.
    env = dict(os.environ, SLUICE_SERVER=ADMIN, SLUICE_TOKEN=TOKENS["dana"])
    for _ in range(50):
        out = await asyncio.to_thread(subprocess.run, [BIN, "review", "list"], env=env,
                                      capture_output=True, text=True)
        if "impatient-agent" not in out.stdout and "WHERE id = $1" not in out.stdout:
            break
        await asyncio.sleep(0.2)
    say("abandoned.pending", "WHERE id = $1" in out.stdout)


async def handshake_era():
    async with client(TOKENS["ci-bot"], mode="legacy", name="legacy-agent") as c:
        say("legacy.era", "modern" if c.session.discover_result is not None else "handshake")
        r = await c.call_tool("shop.query", {"sql": "SELECT ssn FROM customers WHERE id = 1"})
        say("legacy.rows", r.structured_content["results"][0]["rows"])


async def stdio_bridge():
    params = StdioServerParameters(
        command=BIN,
        args=["mcp", "--server", URL, "--ca", CA],
        env={"SLUICE_TOKEN": TOKENS["alice"], "PATH": os.environ.get("PATH", "")},
    )
    from mcp.types import Implementation

    async with Client(params, client_info=Implementation(name="stdio-agent", version="1")) as c:
        tools = await c.list_tools()
        say("stdio.tools", len(tools.tools) > 0)
        r = await c.call_tool("shop.query", {"sql": "SELECT count(*) AS n FROM customers"})
        say("stdio.rows", r.structured_content["results"][0]["rows"])
        r = await c.call_tool("shop.query", {"sql": "DELETE FROM orders"})
        say("stdio.denied", {"error": r.is_error, "text": text(r)})


async def raw_edges():
    """What the SDK never sends: each gets a JSON-RPC error, and the endpoint goes on."""
    async with http_client(TOKENS["alice"]) as h:
        base = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

        async def post(body, headers=None):
            r = await h.post(URL, content=body, headers={**base, **(headers or {})})
            try:
                return r.status_code, r.json()
            except ValueError:
                return r.status_code, r.text

        status, body = await post(b"{not json")
        say("raw.parse", [status, body["error"]["code"]])
        status, body = await post(b"x" * (2 * 1024 * 1024))
        say("raw.oversized", [status, body["error"]["code"]])
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
        r = await h.post(URL, json=init, headers=base)
        session = r.headers.get("mcp-session-id")
        say("raw.initialize", [r.status_code, r.json()["result"]["protocolVersion"], bool(session)])
        s = {**base, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
        status, body = await post(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "no/such"}).encode(), s)
        say("raw.unknown_method", [status, body["error"]["code"]])
        status, body = await post(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                              "params": {"name": "nowhere.query", "arguments": {}}}).encode(), s)
        say("raw.unknown_tool", [status, body["error"]["code"]])
        status, body = await post(b"[]", s)
        say("raw.batch", [status, body["error"]["code"]])
        status, body = await post(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "ping"}).encode(),
                                  {**s, "Mcp-Session-Id": "0" * 32})
        say("raw.stale_session", status)
        status, body = await post(json.dumps({"jsonrpc": "2.0", "id": 5, "method": "ping"}).encode(), s)
        say("raw.still_serving", [status, body.get("result")])
        status, _ = await post(json.dumps({"jsonrpc": "2.0", "id": 6, "method": "ping"}).encode(),
                               {**s, "Origin": "https://evil.example"})
        say("raw.cross_origin", status)
    async with httpx2.AsyncClient(verify=ssl.create_default_context(cafile=CA)) as anonymous:
        r = await anonymous.post(URL, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                 headers={"Accept": "application/json"})
        say("raw.no_bearer", r.status_code)
    async with http_client("slc_notatoken_at_all") as wrong:
        r = await wrong.post(URL, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                             headers={"Accept": "application/json"})
        say("raw.wrong_bearer", r.status_code)


async def main():
    for step in (tools_and_queries, held_write, abandoned_hold, handshake_era, stdio_bridge, raw_edges):
        try:
            await step()
        except BaseException as e:  # report which step, then fail
            print(f"step {step.__name__} failed: {e!r}", file=sys.stderr, flush=True)
            raise


if __name__ == "__main__":
    asyncio.run(main())
