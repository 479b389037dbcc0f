#!/usr/bin/env bash
# pgbench -S (scale 10), simple and prepared modes, 1 and 8 clients: direct vs through sluice
# vs through pgbouncer (session mode), alternating in one run on one scratch database.
# Prints TPS, average latency and the ratios. Loopback only; every run is time-bounded.
#
#   bench/pgbench.sh                 # 6 s per run, 2 rounds
#   DURATION=10 ROUNDS=3 bench/pgbench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-"1 8"}
MODES=${MODES:-"simple prepared"}

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
run() { # path mode clients url
  local jobs=$(( $3 < 2 ? 1 : 2 ))
  local out
  out=$(pgbench -n -S -M "$2" -c "$3" -j "$jobs" -T "$DURATION" "$4" 2>&1) || { echo "$out" >&2; return 1; }
  local tps lat
  tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$tps" "$lat" >> "$results"
  printf '  %-9s %-8s c=%-2s %10.0f tps %8.3f ms\n' "$1" "$2" "$3" "$tps" "$lat"
}

echo "pgbench -S scale 10, ${DURATION}s per run, ${ROUNDS} rounds, $(nproc) cores"
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

python3 - "$results" <<'PY'
import sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    path, mode, clients, tps, lat = line.split("\t")
    rows[(mode, int(clients), path)].append((float(tps), float(lat)))
def mean(xs): return sum(xs) / len(xs)
print()
print(f"{'mode':<9}{'clients':>7}{'direct tps':>12}{'sluice tps':>12}{'bouncer tps':>13}{'sluice/direct':>15}{'bouncer/direct':>16}{'sluice/bouncer':>16}{'added us/query':>16}")
for mode in ("simple", "extended", "prepared"):
    for clients in sorted({k[1] for k in rows if k[0] == mode}):
        d, s, b = (rows.get((mode, clients, p)) for p in ("direct", "sluice", "pgbouncer"))
        if not (d and s and b): continue
        dt, st, bt = (mean([x[0] for x in r]) for r in (d, s, b))
        dl, sl = mean([x[1] for x in d]), mean([x[1] for x in s])
        print(f"{mode:<9}{clients:>7}{dt:>12.0f}{st:>12.0f}{bt:>13.0f}{st/dt:>15.2f}{bt/dt:>16.2f}{st/bt:>16.2f}{(sl-dl)*1000:>16.1f}")
PY
