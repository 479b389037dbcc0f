#!/usr/bin/env bash
# MCP tool calls: what one `tools/call` of `shop.query` costs an agent, against the connection
# the gateway makes underneath. One statement (`SELECT id, ssn FROM customers WHERE id = 1`, as
# ci-bot: reads allowed, ssn masked), sequentially, four ways alternating per round on the
# demo's scratch database (bench/mcp_calls.py):
#   a  an MCP tools/call through the official Python SDK, one client session for every call
#      (the gateway runs each as a fresh loopback client of its own PostgreSQL listener: connect,
#      SCRAM with the task's credential, minted once and cached, query, close)
#   b  psycopg through the gateway, a new connection per call (what a does underneath)
#   c  psycopg through the gateway, one kept connection
#   d  psycopg straight to PostgreSQL, a new connection per call
# Prints mean, p50 and p99 ms per call for each and the ratios a/b, a/c and b/d. The MCP leg is
# HTTPS (the demo's certificate); the PostgreSQL legs are plaintext, as the gateway's own
# loopback leg is when its listener does not require TLS (the demo's does not). Loopback only;
# every call is bounded (CALL_TIMEOUT) and so is the whole run (RUN_TIMEOUT).
#
#   bench/mcp.sh                              # 3 rounds of 200 calls per path
#   ROUNDS=5 CALLS=500 bench/mcp.sh
#   SLUICE=/path/to/sluice bench/mcp.sh       # that binary, no build
#   PYTHON=/path/to/python bench/mcp.sh       # a Python with mcp 2.3.0, httpx2 and psycopg
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
CALLS=${CALLS:-200}
WARMUP=${WARMUP:-5}
CALL_TIMEOUT=${CALL_TIMEOUT:-30}  # seconds per call
RUN_TIMEOUT=${RUN_TIMEOUT:-900}   # seconds for the whole measurement
IDENTITY=${IDENTITY:-ci-bot}
PYTHON=${PYTHON:-target/test-venv/bin/python}

case "$ROUNDS" in '' | *[!0-9]* | 0) echo "ROUNDS must be a positive integer" >&2; exit 2 ;; esac
case "$CALLS" in '' | *[!0-9]* | 0) echo "CALLS must be a positive integer" >&2; exit 2 ;; esac

. bench/common.sh
# The SDK and psycopg, in the venv the test suite uses (scripts/test.sh), with the same pins.
if ! "$PYTHON" -c "import mcp, httpx2, psycopg" 2>/dev/null; then
  if [ "$PYTHON" = target/test-venv/bin/python ]; then
    [ -x "$PYTHON" ] || python3 -m venv target/test-venv
    "$PYTHON" -m pip install --quiet --disable-pip-version-check 'psycopg[binary]' 'mcp==2.3.0'
  else
    echo "PYTHON=$PYTHON lacks mcp, httpx2 or psycopg" >&2; exit 2
  fi
fi
bench_build
bench_start_demo

mcp_url=$(demo_json .mcp_url)
[ "$mcp_url" != null ] || { echo "the demo has no MCP endpoint (no HTTPS listener?)" >&2; exit 1; }

echo "MCP tools/call vs PostgreSQL connections, ${ROUNDS} rounds x ${CALLS} calls per path, as $IDENTITY, $(nproc) cores"
MCP_URL="$mcp_url" \
MCP_CA=$(demo_json .http_ca) \
MCP_TOKEN=$(demo_json ".tokens[\"$IDENTITY\"]") \
GATEWAY_URL="$(demo_json ".postgres_url[\"$IDENTITY\"]")?sslmode=disable" \
DIRECT_URL="$(demo_json .direct_url)?sslmode=disable" \
ROUNDS="$ROUNDS" CALLS="$CALLS" WARMUP="$WARMUP" CALL_TIMEOUT="$CALL_TIMEOUT" \
  timeout "$RUN_TIMEOUT" "$PYTHON" bench/mcp_calls.py
