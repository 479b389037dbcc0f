#!/usr/bin/env bash
# pgbench -S (scale 10), simple and prepared modes, 1 and 8 clients: direct vs through sluice
# vs through pgbouncer (session mode), alternating in one run on one scratch database.
# Prints, per mode and client count:
#   - TPS and the ratios (sluice/direct, pgbouncer/direct, sluice/pgbouncer);
#   - each proxy's CPU per transaction (user + system from /proc/PID/stat around each run) and
#     the throughput one core carries at that cost (1e6 / CPU us): the figure that carries to
#     bigger machines, where the proxy does not share two cores with pgbench and PostgreSQL;
#   - latency percentiles from pgbench's per-transaction log (p50, p99, p99.9, max) and what
#     each proxy adds over the direct connection at p50, p99 and p99.9.
# Loopback only; every run is time-bounded.
#
#   bench/pgbench.sh                          # 6 s per run, 2 rounds
#   DURATION=10 ROUNDS=3 bench/pgbench.sh
#   RELOAD=1 bench/pgbench.sh                 # a policy change is reloaded every second
#   WORKERS=2 bench/pgbench.sh                # the gateway's session workers (default: cores/2)
#   SLUICE=path/to/sluice bench/pgbench.sh    # a given binary instead of a fresh build
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-"1 8"}
MODES=${MODES:-"simple prepared"}
RELOAD=${RELOAD:-0}

. bench/common.sh
bench_build
# The demo gives a scratch PostgreSQL and a gateway on the embedded defaults (audit on).
bench_start_demo
bench_on_exit '[ -n "${bouncer_pid:-}" ] && kill "$bouncer_pid" 2>/dev/null'
# Plaintext on every path, so the comparison is the proxying, not TLS.
direct="$(demo_json .direct_url)?sslmode=disable"
via_sluice="$(demo_json '.postgres_url["ci-bot"]')?sslmode=disable"
pg_port=$(python3 -c "import urllib.parse as u; print(u.urlparse('$direct').port)")
pg_pass=$(python3 -c "import urllib.parse as u; print(u.urlparse('$direct').password)")
bouncer_dir="$work/pgbouncer"
mkdir -p "$bouncer_dir"
# pgbouncer will not run as root: it runs as the postgres user and must own its directory.
[ "$(id -u)" -eq 0 ] && chown postgres "$bouncer_dir"

pgbench -i -q -s 10 "$direct" > /dev/null 2>&1
# pgbouncer in session mode with SCRAM on both legs, the same shape as sluice's.
bouncer_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$bouncer_dir/pgbouncer.ini" <<INI
[databases]
shop = host=127.0.0.1 port=$pg_port dbname=shop
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $bouncer_dir/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = $bouncer_dir/pgbouncer.log
INI
echo "\"sluice_scram\" \"$pg_pass\"" > "$bouncer_dir/userlist.txt"
chmod 644 "$bouncer_dir/pgbouncer.ini" "$bouncer_dir/userlist.txt"
bouncer_user=()
[ "$(id -u)" -eq 0 ] && bouncer_user=(-u postgres)
pgbouncer "${bouncer_user[@]}" "$bouncer_dir/pgbouncer.ini" > /dev/null 2>&1 &
bouncer_pid=$!
via_bouncer="postgresql://sluice_scram:$pg_pass@127.0.0.1:$bouncer_port/shop?sslmode=disable"
for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p "$bouncer_port" && break; sleep 0.1; done

results="$work/results.tsv"
latencies="$work/latencies"
mkdir -p "$latencies"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # path mode clients url
  local jobs=$(( $3 < 2 ? 1 : 2 ))
  local pid=""
  case $1 in sluice) pid=$demo_pid ;; pgbouncer) pid=$bouncer_pid ;; esac
  local before=0 after=0
  [ -n "$pid" ] && before=$(cpu_ticks "$pid")
  local out
  out=$(pgbench -n -S -M "$2" -c "$3" -j "$jobs" -T "$DURATION" \
    --log --log-prefix="$latencies/$1.$2.$3.$round" "$4" 2>&1) || { echo "$out" >&2; return 1; }
  [ -n "$pid" ] && after=$(cpu_ticks "$pid")
  local tps lat tx
  tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
  tx=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$tps" "$lat" "$tx" "$((after - before))" >> "$results"
  printf '  %-9s %-8s c=%-2s %10.0f tps %8.3f ms\n' "$1" "$2" "$3" "$tps" "$lat"
}

if [ "$RELOAD" = 1 ]; then
  # A comment that changes every second gives the bundle a new digest, so the watcher makes the
  # gateway compile, test and enforce a new policy version each time.
  policy_file="$work/demo/policies/groups.rego"
  [ -f "$policy_file" ] || { echo "no $policy_file to change" >&2; exit 1; }
  ( for i in $(seq 1 100000); do echo "# reload $i" >> "$policy_file"; sleep 1; done ) &
  reload_pid=$!
  bench_on_exit 'kill "$reload_pid" 2>/dev/null'
fi

echo "pgbench -S scale 10, ${DURATION}s per run, ${ROUNDS} rounds, $(nproc) cores, reload every second: $RELOAD"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  for mode in $MODES; do
    for c in $CLIENTS; do
      run direct "$mode" "$c" "$direct"
      run sluice "$mode" "$c" "$via_sluice"
      run pgbouncer "$mode" "$c" "$via_bouncer"
    done
  done
done
metrics=$(curl -s "$(demo_json .admin_url)/metrics" || true)
if [ "$RELOAD" = 1 ]; then
  kill "$reload_pid" 2>/dev/null || true
  echo "policy reloads enforced: $(echo "$metrics" | sed -n 's/^sluice_policy_reloads_total \([0-9]*\).*/\1/p')"
fi
# The gateway's own view of stalls: how late its session workers woke a 10 ms timer during the
# whole run. A worker held longer than that (audit fsync, recording writes, a reload, a long
# poll) held every session on it; latency that pgbench sees beyond it came from elsewhere.
lag_count=$(echo "$metrics" | sed -n 's/^sluice_worker_lag_seconds_count \([0-9]*\)$/\1/p')
lag_10ms=$(echo "$metrics" | sed -n 's/^sluice_worker_lag_seconds_bucket{le="0.01"} \([0-9]*\)$/\1/p')
lag_5ms=$(echo "$metrics" | sed -n 's/^sluice_worker_lag_seconds_bucket{le="0.005"} \([0-9]*\)$/\1/p')
lag_max=$(echo "$metrics" | sed -n 's/^sluice_worker_lag_max_seconds \([0-9.e-]*\)$/\1/p')
if [ -n "$lag_count" ]; then
  echo "gateway worker lag (a 10 ms timer, $lag_count samples): over 5 ms $((lag_count - lag_5ms)), over 10 ms $((lag_count - lag_10ms)), max ${lag_max}s"
fi

python3 - "$results" "$latencies" "$(getconf CLK_TCK)" <<'PY'
import collections, glob, os, sys
results, latdir, hz = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = collections.defaultdict(list)
cpu = collections.defaultdict(lambda: [0, 0])
for line in open(results):
    path, mode, clients, tps, lat, tx, ticks = line.rstrip("\n").split("\t")
    key = (mode, int(clients), path)
    rows[key].append((float(tps), float(lat)))
    cpu[key][0] += int(ticks)
    cpu[key][1] += int(tx)
def mean(xs): return sum(xs) / len(xs)
def cells():
    for mode in ("simple", "extended", "prepared"):
        for clients in sorted({k[1] for k in rows if k[0] == mode}):
            yield mode, clients
def percentiles(path, mode, clients):
    # pgbench --log lines: client transaction latency_us script epoch_s epoch_us
    xs = sorted(int(line.split()[2]) for f in glob.glob(os.path.join(latdir, f"{path}.{mode}.{clients}.*"))
                for line in open(f) if len(line.split()) >= 3)
    if not xs: return None
    pick = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    return {"p50": pick(0.50), "p99": pick(0.99), "p99.9": pick(0.999), "max": xs[-1]}

print()
print(f"{'mode':<9}{'clients':>7}{'direct tps':>12}{'sluice tps':>12}{'bouncer tps':>13}{'sluice/direct':>15}{'bouncer/direct':>16}{'sluice/bouncer':>16}{'added us/query':>16}")
for mode, clients in cells():
    d, s, b = (rows.get((mode, clients, p)) for p in ("direct", "sluice", "pgbouncer"))
    if not (d and s and b): continue
    dt, st, bt = (mean([x[0] for x in r]) for r in (d, s, b))
    dl, sl = mean([x[1] for x in d]), mean([x[1] for x in s])
    print(f"{mode:<9}{clients:>7}{dt:>12.0f}{st:>12.0f}{bt:>13.0f}{st/dt:>15.2f}{bt/dt:>16.2f}{st/bt:>16.2f}{(sl-dl)*1000:>16.1f}")

print()
print("proxy CPU per transaction (user + system, /proc) and the transactions one core carries at that cost")
print(f"{'mode':<9}{'clients':>7}{'sluice us/tx':>14}{'bouncer us/tx':>15}{'sluice/bouncer':>16}{'sluice tx/s/core':>18}{'bouncer tx/s/core':>19}")
for mode, clients in cells():
    per = {}
    for p in ("sluice", "pgbouncer"):
        ticks, tx = cpu.get((mode, clients, p), (0, 0))
        if tx and ticks: per[p] = ticks / hz * 1e6 / tx
    if len(per) < 2: continue
    s, b = per["sluice"], per["pgbouncer"]
    print(f"{mode:<9}{clients:>7}{s:>14.1f}{b:>15.1f}{s/b:>16.2f}{1e6/s:>18.0f}{1e6/b:>19.0f}")

print()
print("latency per transaction in us (pgbench --log, all rounds) and what each proxy adds over direct")
print(f"{'mode':<9}{'clients':>7} {'path':<10}{'p50':>8}{'p99':>8}{'p99.9':>8}{'max':>8}{'+p50':>8}{'+p99':>8}{'+p99.9':>8}")
for mode, clients in cells():
    direct = percentiles("direct", mode, clients)
    for p in ("direct", "sluice", "pgbouncer"):
        q = percentiles(p, mode, clients)
        if not q: continue
        added = "".join(f"{q[k] - direct[k]:>8}" for k in ("p50", "p99", "p99.9")) if p != "direct" else ""
        print(f"{mode:<9}{clients:>7} {p:<10}{q['p50']:>8}{q['p99']:>8}{q['p99.9']:>8}{q['max']:>8}{added}")
PY
