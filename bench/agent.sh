#!/usr/bin/env bash
# pgbench -S (scale 10) through the gateway to a target it reaches itself, against the same
# database reached through a network-resident agent (`shop` vs `shop-via-agent` of the demo,
# whose agent is a separate `sluice agent` process linked over TLS + HTTP/2), alternating in one
# run. Both paths carry the demo's defaults (policy, masking, audit, recording); the difference
# is the agent hop. Prints TPS, the ratio via-agent/direct (target: at least 0.9), latency, and
# the gateway's and the agent's CPU per transaction. For scale, the same run measures the
# database directly and through socat (a plain TCP forwarder, no TLS, no multiplexing): what
# any extra hop costs on this machine, the floor under the agent's. Loopback only; every run
# is time-bounded.
#
#   bench/agent.sh                          # 6 s per run, 2 rounds
#   DURATION=10 ROUNDS=3 bench/agent.sh
#   SLUICE=path/to/sluice bench/agent.sh    # a given binary instead of a fresh build
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-"1 8"}
MODES=${MODES:-"simple prepared"}

. bench/common.sh
bench_build
bench_start_demo
direct_db="$(demo_json .direct_url)?sslmode=disable"
gateway="$(demo_json '.postgres_url["ci-bot"]')?sslmode=disable"
via_agent="$(demo_json '.postgres_via_agent_url["ci-bot"]')?sslmode=disable"
pgbench -i -q -s 10 "$direct_db" > /dev/null 2>&1
pg_port=$(python3 -c "import urllib.parse as u; print(u.urlparse('$direct_db').port)")
socat_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
socat "TCP-LISTEN:$socat_port,bind=127.0.0.1,fork,reuseaddr,nodelay" "TCP:127.0.0.1:$pg_port,nodelay" &
socat_pid=$!
bench_on_exit 'kill "$socat_pid" 2>/dev/null'
via_socat=$(echo "$direct_db" | sed "s/:$pg_port\//:$socat_port\//")
# The demo starts its agent beside the gateway; wait until it carries a session.
agent_pid=""
for _ in $(seq 1 100); do
  agent_pid=$(pgrep -f -- "--state-dir $work/demo/agent" | head -1 || true)
  [ -n "$agent_pid" ] && psql -XAtq "$via_agent" -c 'SELECT 1' > /dev/null 2>&1 && break
  sleep 0.2
done
[ -n "$agent_pid" ] || { echo "the demo's agent did not start" >&2; cat "$work/demo/agent.log" >&2; exit 1; }

results="$work/results.tsv"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # path mode clients url
  local jobs=$(( $3 < 2 ? 1 : 2 ))
  local g0 a0 g1 a1 out
  g0=$(cpu_ticks "$demo_pid"); a0=$(cpu_ticks "$agent_pid")
  out=$(pgbench -n -S -M "$2" -c "$3" -j "$jobs" -T "$DURATION" "$4" 2>&1) || { echo "$out" >&2; return 1; }
  g1=$(cpu_ticks "$demo_pid"); a1=$(cpu_ticks "$agent_pid")
  local tps lat tx
  tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
  tx=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$tps" "$lat" "$tx" "$((g1 - g0))" "$((a1 - a0))" >> "$results"
  printf '  %-8s %-8s c=%-2s %10.0f tps %8.3f ms\n' "$1" "$2" "$3" "$tps" "$lat"
}

echo "pgbench -S scale 10 through the gateway, direct vs via its agent, ${DURATION}s per run, ${ROUNDS} rounds, $(nproc) cores"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  for mode in $MODES; do
    for c in $CLIENTS; do
      # The order alternates between rounds, so neither path always runs on a warmer cache.
      if [ $((round % 2)) -eq 1 ]; then
        run gateway "$mode" "$c" "$gateway"; run agent "$mode" "$c" "$via_agent"
        run direct "$mode" "$c" "$direct_db"; run socat "$mode" "$c" "$via_socat"
      else
        run agent "$mode" "$c" "$via_agent"; run gateway "$mode" "$c" "$gateway"
        run socat "$mode" "$c" "$via_socat"; run direct "$mode" "$c" "$direct_db"
      fi
    done
  done
done

python3 - "$results" "$(getconf CLK_TCK)" <<'PY'
import collections, sys
results, hz = sys.argv[1], int(sys.argv[2])
rows = collections.defaultdict(list)
for line in open(results):
    path, mode, clients, tps, lat, tx, gticks, aticks = line.rstrip("\n").split("\t")
    rows[(mode, int(clients), path)].append((float(tps), float(lat), int(tx), int(gticks), int(aticks)))
mean = lambda xs: sum(xs) / len(xs)
print()
print(f"{'mode':<9}{'clients':>7}{'gateway tps':>13}{'via agent tps':>15}{'agent/gateway':>15}{'added us':>10}{'gateway us/tx':>15}{'(via agent)':>13}{'+agent us/tx':>14}{'socat/direct':>14}{'socat adds us':>15}")
for mode in ("simple", "prepared"):
    for clients in sorted({k[1] for k in rows if k[0] == mode}):
        g, a = rows.get((mode, clients, "gateway")), rows.get((mode, clients, "agent"))
        d, s = rows.get((mode, clients, "direct")), rows.get((mode, clients, "socat"))
        if not (g and a and d and s): continue
        gt, at = mean([r[0] for r in g]), mean([r[0] for r in a])
        dt, st = mean([r[0] for r in d]), mean([r[0] for r in s])
        added = (mean([r[1] for r in a]) - mean([r[1] for r in g])) * 1000
        hop = (mean([r[1] for r in s]) - mean([r[1] for r in d])) * 1000
        per = lambda rs, i: sum(r[i] for r in rs) / hz * 1e6 / max(1, sum(r[2] for r in rs))
        print(f"{mode:<9}{clients:>7}{gt:>13.0f}{at:>15.0f}{at/gt:>15.2f}{added:>10.1f}{per(g, 3):>15.1f}{per(a, 3):>13.1f}{per(a, 4):>14.1f}{st/dt:>14.2f}{hop:>15.1f}")
PY
