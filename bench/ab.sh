#!/usr/bin/env bash
# A/B of two sluice builds on the PostgreSQL path: a demo of each side by side, pgbench -S
# against one then the other, round after round, so that both see the same machine at the same
# time. Prints, per round and build, TPS and the gateway's CPU per transaction (user + system
# from /proc), then the means. What a change to a shared path is measured with (before/after).
#
#   bench/ab.sh OLD_BINARY NEW_BINARY                 # simple and prepared, 1 and 8 clients
#   MODES=prepared CLIENTS=8 DURATION=10 ROUNDS=5 bench/ab.sh OLD NEW
# Loopback only; every run is time-bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: bench/ab.sh OLD_BINARY NEW_BINARY" >&2; exit 2; }
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-"1 8"}
MODES=${MODES:-"simple prepared"}
SLUICE=$1
. bench/common.sh
bench_build
declare -A bin=([a]=$1 [b]=$2) pid via
work=$(mktemp -d /tmp/sluice-ab.XXXXXX)
chmod 755 "$work"
cleanup() {
  for k in a b; do [ -n "${pid[$k]:-}" ] && kill -INT "${pid[$k]}" 2>/dev/null && wait "${pid[$k]}" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
for k in a b; do
  RUST_BACKTRACE=0 RUST_LOG=warn "${bin[$k]}" demo --dir "$work/$k" --json > "$work/$k.json" 2> "$work/$k.log" &
  pid[$k]=$!
  for _ in $(seq 1 300); do [ -s "$work/$k.json" ] && break; sleep 0.2; done
  [ -s "$work/$k.json" ] || { cat "$work/$k.log"; exit 1; }
  pgbench -i -q -s 10 "$(jq -r .direct_url "$work/$k.json")?sslmode=disable" > /dev/null 2>&1
  via[$k]="$(jq -r '.postgres_url["ci-bot"]' "$work/$k.json")?sslmode=disable"
done
hz=$(getconf CLK_TCK)
results="$work/results.tsv"
echo "A = $1, B = $2; pgbench -S scale 10, ${DURATION}s per run, ${ROUNDS} rounds, $(nproc) cores"
for mode in $MODES; do
  for c in $CLIENTS; do
    jobs=$(( c < 2 ? 1 : 2 ))
    for k in a b; do pgbench -n -S -M "$mode" -c "$c" -j "$jobs" -T 2 "${via[$k]}" > /dev/null 2>&1; done
    for r in $(seq 1 "$ROUNDS"); do
      for k in a b; do
        x=$(awk '{print $14 + $15}' "/proc/${pid[$k]}/stat")
        out=$(pgbench -n -S -M "$mode" -c "$c" -j "$jobs" -T "$DURATION" "${via[$k]}" 2>&1)
        y=$(awk '{print $14 + $15}' "/proc/${pid[$k]}/stat")
        tx=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
        tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$c" "$k" "$tps" "$tx" "$((y - x))" >> "$results"
        printf '  %-8s c=%-2s %s %8.0f tps\n' "$mode" "$c" "${k^^}" "$tps"
      done
    done
  done
done
python3 - "$results" "$hz" <<'PY'
import collections, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    mode, c, k, tps, tx, ticks = line.split()
    rows[(mode, int(c), k)].append((float(tps), int(tx), int(ticks)))
hz = int(sys.argv[2])
print(f"\n{'mode':<9}{'clients':>7}{'A tps':>9}{'B tps':>9}{'B/A':>7}{'A us/tx':>9}{'B us/tx':>9}")
for mode, c in sorted({(m, c) for m, c, _ in rows}):
    a, b = rows[(mode, c, "a")], rows[(mode, c, "b")]
    ta, tb = (sum(r[0] for r in x) / len(x) for x in (a, b))
    ua, ub = (sum(r[2] for r in x) / hz * 1e6 / max(1, sum(r[1] for r in x)) for x in (a, b))
    print(f"{mode:<9}{c:>7}{ta:>9.0f}{tb:>9.0f}{tb/ta:>7.3f}{ua:>9.1f}{ub:>9.1f}")
PY
