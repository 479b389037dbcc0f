"""The driver of bench/mcp.sh: one statement, four ways, alternating per round, sequentially.

  a  mcp      an MCP `tools/call` of TOOL through the official SDK (one client session for all
              calls): the gateway runs it as a fresh loopback client of its own PostgreSQL
              listener (connect, SCRAM with the task's cached credential, query, close)
  b  connect  psycopg through the gateway, a new connection per call (what a runs underneath)
  c  kept     psycopg through the gateway, one connection kept for every call
  d  direct   psycopg straight to PostgreSQL, a new connection per call

Environment: MCP_URL, MCP_CA, MCP_TOKEN, GATEWAY_URL, DIRECT_URL (libpq URLs), TOOL, SQL,
ROUNDS, CALLS, WARMUP, CALL_TIMEOUT (seconds; a call that takes longer fails the run).
Prints each round's mean per path, then mean, p50 and p99 ms per call over all rounds, and the
ratios a/b, a/c and b/d.
"""

import asyncio
import json
import os
import ssl
import statistics
import sys
import time

import httpx2
import psycopg
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation

MCP_URL = os.environ["MCP_URL"]
MCP_CA = os.environ["MCP_CA"]
MCP_TOKEN = os.environ["MCP_TOKEN"]
GATEWAY_URL = os.environ["GATEWAY_URL"]
DIRECT_URL = os.environ["DIRECT_URL"]
TOOL = os.environ.get("TOOL", "shop.query")
SQL = os.environ.get("SQL", "SELECT id, ssn FROM customers WHERE id = 1")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CALLS = int(os.environ.get("CALLS", "200"))
WARMUP = int(os.environ.get("WARMUP", "5"))
CALL_TIMEOUT = float(os.environ.get("CALL_TIMEOUT", "30"))

PATHS = ("mcp", "connect", "kept", "direct")
LABEL = {
    "mcp": "a  MCP tools/call (SDK, one session)",
    "connect": "b  psycopg via sluice, new conn/call",
    "kept": "c  psycopg via sluice, kept conn",
    "direct": "d  psycopg direct, new conn/call",
}


def mcp_client():
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {MCP_TOKEN}"},
        verify=ssl.create_default_context(cafile=MCP_CA),
        timeout=httpx2.Timeout(CALL_TIMEOUT),
    )
    return Client(
        streamable_http_client(MCP_URL, http_client=http),
        client_info=Implementation(name="bench-mcp", version="1"),
    )


async def mcp_call(c):
    r = await asyncio.wait_for(c.call_tool(TOOL, {"sql": SQL}), CALL_TIMEOUT)
    if r.is_error:
        raise RuntimeError(f"{TOOL} failed: {r.content}")
    return r.structured_content["results"][0]["rows"]


def pg_once(url):
    with psycopg.connect(url, connect_timeout=int(CALL_TIMEOUT), autocommit=True) as conn:
        return conn.execute(SQL).fetchall()


def pg_kept(conn):
    return conn.execute(SQL).fetchall()


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def main():
    samples = {p: [] for p in PATHS}
    round_means = {p: [] for p in PATHS}
    async with mcp_client() as c:
        kept = psycopg.connect(GATEWAY_URL, connect_timeout=int(CALL_TIMEOUT), autocommit=True)
        try:
            t = time.perf_counter()
            first = await mcp_call(c)  # mints and caches the task's credential
            first_ms = (time.perf_counter() - t) * 1000

            async def call(path):
                if path == "mcp":
                    return await mcp_call(c)
                if path == "connect":
                    return pg_once(GATEWAY_URL)
                if path == "kept":
                    return pg_kept(kept)
                return pg_once(DIRECT_URL)

            # What each path answers (masked through the gateway, the stored value direct).
            for p in PATHS:
                print(f"  {p:<8} answers {json.dumps(await call(p), default=str)}")
            print(f"  first MCP call (credential minted): {first_ms:.2f} ms; first answer {json.dumps(first)}")
            for p in PATHS:
                for _ in range(WARMUP):
                    await call(p)

            for rnd in range(1, ROUNDS + 1):
                line = []
                for p in PATHS:
                    times = []
                    for _ in range(CALLS):
                        t = time.perf_counter()
                        await call(p)
                        times.append((time.perf_counter() - t) * 1000)
                    samples[p] += times
                    round_means[p].append(statistics.fmean(times))
                    line.append(f"{p} {statistics.fmean(times):.3f}")
                print(f"round {rnd}: mean ms  " + "  ".join(line), flush=True)
        finally:
            kept.close()

    print()
    print(f"{ROUNDS} rounds x {CALLS} sequential calls per path: {SQL}")
    print(f"{'path':<40}{'mean ms':>9}{'p50 ms':>9}{'p99 ms':>9}   round means ms")
    stats = {}
    for p in PATHS:
        xs = samples[p]
        stats[p] = (statistics.fmean(xs), pct(xs, 50), pct(xs, 99))
        rm = " / ".join(f"{m:.2f}" for m in round_means[p])
        print(f"{LABEL[p]:<40}{stats[p][0]:>9.3f}{stats[p][1]:>9.3f}{stats[p][2]:>9.3f}   {rm}")
    print()
    for num, den, what in (("mcp", "connect", "a/b  MCP call vs the connection it makes"),
                           ("mcp", "kept", "a/c  MCP call vs a query on a kept connection"),
                           ("connect", "direct", "b/d  gateway vs direct, new connection per call")):
        print(f"{what:<50} mean {stats[num][0] / stats[den][0]:6.2f}   p50 {stats[num][1] / stats[den][1]:6.2f}"
              f"   (+{stats[num][1] - stats[den][1]:.3f} ms at p50)")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:
        print(f"mcp_calls.py: {e!r}", file=sys.stderr)
        sys.exit(1)
