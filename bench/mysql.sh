#!/usr/bin/env bash
# sysbench oltp_point_select and oltp_read_only, 1 and 8 threads: direct to the demo's MariaDB
# vs through sluice's MySQL listener (the demo's policy, audit and recording on), alternating
# in one run on one scratch database. Prints TPS, average latency and the ratios. ProxySQL,
# the peer the issue names, is not packaged in Debian, so it is not measured. Loopback only;
# every run is time-bounded.
#
#   bench/mysql.sh                     # 6 s per run, 2 rounds
#   DURATION=10 ROUNDS=3 bench/mysql.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-"1 8"}
TESTS=${TESTS:-"oltp_point_select oltp_read_only"}
TABLE_SIZE=${TABLE_SIZE:-10000}

. bench/common.sh
bench_build
bench_start_demo
[ "$(demo_json '.direct_mysql_url // empty')" ] || { echo "the demo has no MariaDB (is mariadb-server installed?)" >&2; exit 1; }

# host port user password database, from a mysql:// URL.
url_parts() {
  python3 -c 'import sys, urllib.parse as u
p = u.urlparse(sys.argv[1])
print(p.hostname, p.port, u.unquote(p.username), u.unquote(p.password), p.path.lstrip("/"))' "$1"
}
read -r d_host d_port d_user d_pass d_db <<<"$(url_parts "$(demo_json .direct_mysql_url)")"
read -r s_host s_port s_user s_pass s_db <<<"$(url_parts "$(demo_json '.mysql_url["ci-bot"]')")"

sb() { # host port user password db test threads [command]
  sysbench "$6" --db-driver=mysql --mysql-host="$1" --mysql-port="$2" --mysql-user="$3" \
    --mysql-password="$4" --mysql-db="$5" --mysql-ssl=off --tables=1 --table-size="$TABLE_SIZE" \
    --threads="$7" --time="$DURATION" --report-interval=0 --db-ps-mode=auto "${8:-run}"
}
sb "$d_host" "$d_port" "$d_user" "$d_pass" "$d_db" oltp_read_only 1 prepare > /dev/null

results="$work/results.tsv"
run() { # path test threads host port user password db
  local out
  out=$(sb "$4" "$5" "$6" "$7" "$8" "$2" "$3") || { echo "$out" >&2; return 1; }
  local tps lat errors
  tps=$(echo "$out" | sed -n 's/^ *transactions: *[0-9]* *(\([0-9.]*\) per sec.)/\1/p')
  lat=$(echo "$out" | sed -n 's/^ *avg: *\([0-9.]*\)$/\1/p' | head -1)
  errors=$(echo "$out" | sed -n 's/^ *ignored errors: *\([0-9]*\).*/\1/p')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$tps" "$lat" "$errors" >> "$results"
  printf '  %-7s %-18s t=%-2s %10.0f tps %8.3f ms  %s errors\n' "$1" "$2" "$3" "$tps" "$lat" "$errors"
}

echo "sysbench, ${TABLE_SIZE} rows, ${DURATION}s per run, ${ROUNDS} rounds, $(nproc) cores"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  for test in $TESTS; do
    for t in $THREADS; do
      run direct "$test" "$t" "$d_host" "$d_port" "$d_user" "$d_pass" "$d_db"
      run sluice "$test" "$t" "$s_host" "$s_port" "$s_user" "$s_pass" "$s_db"
    done
  done
done

python3 - "$results" <<'PY'
import sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    path, test, threads, tps, lat, errors = line.rstrip("\n").split("\t")
    rows[(test, int(threads), path)].append((float(tps), float(lat)))
def mean(xs): return sum(xs) / len(xs)
targets = {("oltp_point_select", 8): 0.8, ("oltp_read_only", 8): 0.9}
print()
print(f"{'test':<19}{'threads':>7}{'direct tps':>12}{'sluice tps':>12}{'sluice/direct':>15}{'target':>8}{'added ms/txn':>14}")
for test in ("oltp_point_select", "oltp_read_only"):
    for threads in sorted({k[1] for k in rows if k[0] == test}):
        d, s = rows.get((test, threads, "direct")), rows.get((test, threads, "sluice"))
        if not (d and s): continue
        dt, st = mean([x[0] for x in d]), mean([x[0] for x in s])
        dl, sl = mean([x[1] for x in d]), mean([x[1] for x in s])
        goal = targets.get((test, threads))
        print(f"{test:<19}{threads:>7}{dt:>12.0f}{st:>12.0f}{st/dt:>15.2f}{(f'{goal:.1f}x' if goal else '-'):>8}{sl-dl:>14.3f}")
PY
