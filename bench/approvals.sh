#!/usr/bin/env bash
# Just-in-time approval: how long a held statement takes to run once a reviewer approves it
# (target: within a second), next to the same statement run directly and through sluice
# unheld, alternating in one run on one scratch database. A held round: alice's DELETE on
# the demo's production target waits for a dba; as soon as its review shows up, dana approves
# it through the admin API; the time from sending the approval to psql's exit is the release
# latency. Loopback only; every wait is bounded.
#
#   bench/approvals.sh                 # 20 rounds
#   ROUNDS=50 bench/approvals.sh
#   SLUICE=/path/to/sluice bench/approvals.sh   # that binary, no build
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-20}
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "ROUNDS must be a positive integer" >&2; exit 2 ;; esac

. bench/common.sh
bench_build
bench_start_demo
direct="$(demo_json .direct_url)?sslmode=disable"
as_alice="$(demo_json .postgres_url.alice)?sslmode=disable"
as_ci="$(demo_json '.postgres_url["ci-bot"]')?sslmode=disable"
admin=$(demo_json .admin_url)
dana=$(demo_json .tokens.dana)
# A statement the example policy holds for alice (a DELETE on production by a person) and
# lets ci-bot run at once; it matches no row, so every round starts from the same table.
SQL="DELETE FROM orders WHERE id = -1"

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.4f}')" "$1" "$2"; }
timed() { local t0; t0=$(now); timeout 30 psql "$1" -X -q -c "$SQL" > /dev/null; elapsed "$t0" "$(now)"; }

pending_review() {
  for _ in $(seq 1 500); do
    id=$(curl -sf -H "Authorization: Bearer $dana" "$admin/reviews" | jq -r '.reviews[0].id // empty')
    [ -n "$id" ] && { echo "$id"; return; }
    sleep 0.01
  done
  echo "no review appeared" >&2
  exit 1
}

held_round() {
  timeout 60 psql "$as_alice" -X -q -c "$SQL" > /dev/null 2> "$work/held.err" &
  local client=$! id t0
  id=$(pending_review)
  t0=$(now)
  curl -sf -X POST -H "Authorization: Bearer $dana" -H 'Content-Type: application/json' \
    -d '{"comment": "bench"}' "$admin/reviews/$id/approve" > /dev/null
  wait "$client" || { cat "$work/held.err" >&2; exit 1; }
  elapsed "$t0" "$(now)"
}

: > "$work/direct"; : > "$work/unheld"; : > "$work/release"
for round in $(seq 1 "$ROUNDS"); do
  timed "$direct" >> "$work/direct"
  timed "$as_ci" >> "$work/unheld"
  held_round >> "$work/release"
  printf 'round %d: direct %s s, unheld %s s, release %s s\n' "$round" \
    "$(tail -1 "$work/direct")" "$(tail -1 "$work/unheld")" "$(tail -1 "$work/release")"
done

python3 - "$work" <<'PY'
import statistics, sys
work = sys.argv[1]
read = lambda name: sorted(float(x) for x in open(f"{work}/{name}"))
direct, unheld, release = read("direct"), read("unheld"), read("release")
p = lambda xs, q: xs[min(len(xs) - 1, max(0, round(q * len(xs)) - 1))]
print(f"statement run directly:          median {statistics.median(direct):.3f} s")
print(f"through sluice, not held:        median {statistics.median(unheld):.3f} s  "
      f"(ratio to direct {statistics.median(unheld) / statistics.median(direct):.2f})")
print(f"held, approval sent -> psql exit: median {statistics.median(release):.3f} s, "
      f"p90 {p(release, 0.9):.3f} s, max {max(release):.3f} s  (target: within 1 s)")
print(f"release over an unheld run:      {statistics.median(release) / statistics.median(unheld):.2f}")
PY
