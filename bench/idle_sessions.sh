#!/usr/bin/env bash
# Gateway memory per idle PostgreSQL session: opens SESSIONS sessions through one gateway (the
# demo, as ci-bot, each running one statement so its relay is up), reads the gateway's RSS with
# all of them idle, closes them, and prints the growth per session; without TLS on the client
# leg, then with it, each in a fresh gateway (memory freed by the first run would otherwise be
# reused by the second). The scratch PostgreSQL's max_connections and the gateway's are raised for
# the run. Loopback only; every wait is bounded.
#
#   bench/idle_sessions.sh                    # 2000 sessions
#   SESSIONS=500 bench/idle_sessions.sh
#   SLUICE=path/to/sluice bench/idle_sessions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-2000}
PYTHON=${PYTHON:-target/test-venv/bin/python}
case "$SESSIONS" in '' | *[!0-9]* | 0) echo "SESSIONS must be a positive integer" >&2; exit 2 ;; esac

. bench/common.sh
# psycopg, in the venv the test suite uses (scripts/test.sh).
if ! "$PYTHON" -c "import psycopg" 2>/dev/null; then
  if [ "$PYTHON" = target/test-venv/bin/python ]; then
    [ -x "$PYTHON" ] || python3 -m venv target/test-venv
    "$PYTHON" -m pip install --quiet --disable-pip-version-check 'psycopg[binary]'
  else
    echo "PYTHON=$PYTHON lacks psycopg" >&2; exit 2
  fi
fi
# Every session is one client connection and one upstream connection, and each end is a file
# descriptor of the gateway and of this client.
ulimit -n $(( SESSIONS * 2 + 1024 )) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
export SLUICE_SCRATCH_MAX_CONNECTIONS=$(( SESSIONS + 100 ))
bench_build
echo "$SESSIONS idle PostgreSQL sessions through one gateway, $(nproc) cores"
results=$(mktemp /tmp/sluice-idle.XXXXXX)
bench_on_exit 'rm -f "$results"'
for sslmode in disable require; do
  if [ -n "${demo_pid:-}" ]; then
    kill -INT "$demo_pid"; wait "$demo_pid" 2>/dev/null || true; rm -rf "$work"; demo_pid=""
  fi
  bench_start_demo
  "$PYTHON" - "$demo_pid" "$(demo_json '.postgres_url["ci-bot"]')" "$SESSIONS" "$sslmode" "$results" <<'PY'
import sys, time
import psycopg

pid, url, sessions, sslmode, results = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
label = "TLS" if sslmode == "require" else "plaintext"

def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit("no VmRSS for the gateway")

def open_sessions(n, sslmode):
    conns = []
    for _ in range(n):
        c = psycopg.connect(f"{url}?sslmode={sslmode}", autocommit=True, connect_timeout=30)
        c.execute("SELECT 1").fetchall()
        conns.append(c)
    return conns

def close_all(conns):
    for c in conns:
        c.close()

# A warm-up of the same kind, so buffers and caches that every session shares are in.
close_all(open_sessions(50, sslmode))
time.sleep(1)
before = rss_kib()
started = time.monotonic()
conns = open_sessions(sessions, sslmode)
opened_s = time.monotonic() - started
time.sleep(2)
during = rss_kib()
if conns[0].info.pgconn.ssl_in_use != (sslmode == "require"):
    raise SystemExit(f"{label}: the client leg's TLS is not what was asked for")
close_all(conns)
time.sleep(2)
after = rss_kib()
print(f"  {label:<9} RSS before {before/1024:7.1f} MiB, with {sessions} idle {during/1024:7.1f} MiB, "
      f"after closing {after/1024:7.1f} MiB; opened in {opened_s:5.1f} s")
with open(results, "a") as f:
    f.write(f"{label}\t{(during - before) / sessions:.1f}\n")
PY
done
echo
printf '%-12s%22s%10s\n' "client leg" "KiB per idle session" "target"
while IFS=$'\t' read -r label per; do printf '%-12s%22s%10s\n' "$label" "$per" "< 100"; done < "$results"
