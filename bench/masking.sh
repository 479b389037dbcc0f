#!/usr/bin/env bash
# Inline masking: the cost of reading a wide table of personal data (ROWS rows) directly, through
# sluice for an identity whose decision carries no mask (ci-bot), and through sluice for one
# whose decision masks columns and content (alice), alternating in one run on one scratch
# database. Prints per-round seconds, the medians, the ratios, the result size, the gateway's
# CPU seconds per run and the masking throughput (result MB per extra CPU second of the
# gateway). Loopback only, plaintext on every path; every run and every wait is bounded.
#
#   bench/masking.sh                          # 100k rows, 3 rounds
#   ROWS=200000 ROUNDS=5 bench/masking.sh
#   MASK='{"columns": [{"column": "*ssn*", "strategy": "redact"}]}' bench/masking.sh   # another mask
#   MASK= bench/masking.sh                    # alice unmasked too: checks the pipeline only
#   SLUICE=/path/to/sluice bench/masking.sh   # that binary, no build
#   STMT_SECONDS=10 bench/masking.sh          # longer per-statement runs (0: skip them)
#
# Then the per-statement cost of masking by lineage: pgbench (1 client, simple and prepared)
# through ci-bot (no mask) and alice (masked) on three one-row statements: one on a table with
# no masked column (lineage is skipped: a few cache lookups), one reading unmasked columns of
# the masked table (lineage traced), one computing from a masked column (traced, masked).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-100000}
ROUNDS=${ROUNDS:-3}
STMT_SECONDS=${STMT_SECONDS:-5}
RUN_TIMEOUT=${RUN_TIMEOUT:-300} # seconds; a run that takes longer fails the benchmark
DEFAULT_MASK='{"columns": [{"column": "public.bench_pii.ssn", "strategy": "redact"}, {"column": "public.bench_pii.card_number", "strategy": {"keep_last": 4}}, {"column": "public.bench_pii.email", "strategy": "email_domain"}], "content": [{"detector": "*", "strategy": "redact"}]}'
MASK=${MASK-$DEFAULT_MASK}
QUERY="SELECT * FROM bench_pii"

case "$ROWS" in '' | *[!0-9]* | 0) echo "ROWS must be a positive integer" >&2; exit 2 ;; esac
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "ROUNDS must be a positive integer" >&2; exit 2 ;; esac
case "$STMT_SECONDS" in '' | *[!0-9]*) echo "STMT_SECONDS must be a whole number of seconds" >&2; exit 2 ;; esac
if [ -n "$MASK" ]; then
  python3 -c 'import json,sys; assert isinstance(json.loads(sys.argv[1]), dict)' "$MASK" 2>/dev/null \
    || { echo "MASK must be a JSON object (the decision's \"mask\"), or empty for none" >&2; exit 2; }
fi

. bench/common.sh
bench_build
# The demo gives a scratch PostgreSQL and a gateway on the embedded defaults (audit on). Its
# process is the gateway: its CPU time is what masking costs.
bench_start_demo
json() { python3 -c "import json,sys; d=json.load(open('$demo_json')); print(eval(sys.argv[1]))" "$1"; }
# Plaintext on every path, so the comparison is the proxying and the masking, not TLS.
direct="$(json 'd["direct_url"]')?sslmode=disable"
via_nomask="$(json 'd["postgres_url"]["ci-bot"]')?sslmode=disable"
via_mask="$(json 'd["postgres_url"]["alice"]')?sslmode=disable"
admin_url=$(json 'd["admin_url"]')
# The admin API needs a credential; dana administers the demo's gateway.
admin_auth="Authorization: Bearer $(json 'd["tokens"]["dana"]')"
policy_dir=$(json 'd["policies"]')
[ "$admin_url" != "None" ] || { echo "the demo has no admin listener" >&2; exit 1; }

# The table, created directly. Half the rows carry an email address and a phone number in free
# text, for the content detectors; ssn, card_number and email are masked by column.
psql "$direct" -X -q -v ON_ERROR_STOP=1 -v rows="$ROWS" > /dev/null <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_pii;
CREATE TABLE bench_pii (id int PRIMARY KEY, name text, email text, ssn text, card_number text,
                        phone text, notes text, amount numeric);
INSERT INTO bench_pii
SELECT g,
       'User ' || g,
       'user' || g || '@example.com',
       '123-45-' || lpad((g % 9999 + 1)::text, 4, '0'),
       '4' || lpad(((g::bigint * 7919) % 1000000000000000)::text, 15, '0'),
       '+1 202 555 ' || lpad((g % 10000)::text, 4, '0'),
       CASE WHEN g % 2 = 0
            THEN 'customer called from +1 202 555 ' || lpad((g % 10000)::text, 4, '0')
                 || ' to change the contact address to user' || g || '@example.org, ticket ' || g
            ELSE 'order ' || g || ' shipped without issues, no further action needed'
       END,
       round((g % 100000) / 100.0, 2)
FROM generate_series(1, :rows) g;
ANALYZE bench_pii;
DROP TABLE IF EXISTS bench_plain;
CREATE TABLE bench_plain AS SELECT id, amount FROM bench_pii;
ALTER TABLE bench_plain ADD PRIMARY KEY (id);
ANALYZE bench_plain;
SQL

# The bench policy, in place of the demo's: everything is allowed; alice's statements carry the
# mask, ci-bot's do not. No tests (a bundle's tests must pass for it to load).
before=$(curl -sf --max-time 5 -H "$admin_auth" "$admin_url/policy")
if [ -n "$MASK" ]; then
  alice_rule="decision := {
	\"allow\": true,
	\"rule\": \"bench_masked\",
	\"reasons\": [\"benchmark: alice reads through the mask\"],
	\"mask\": $MASK,
} if {
	input.request.action == \"statement\"
	input.identity.name == \"alice\"
}"
else
  alice_rule="# MASK is empty: alice is not masked either."
fi
cat > "$policy_dir/.bench.rego.tmp" <<REGO
# Written by bench/masking.sh.
package sluice

import rego.v1

default decision := {
	"allow": true,
	"rule": "bench_allow_all",
	"reasons": ["benchmark: everything is allowed"],
}

$alice_rule
REGO
find "$policy_dir" -mindepth 1 -maxdepth 1 ! -name .bench.rego.tmp -exec rm -rf {} +
mv "$policy_dir/.bench.rego.tmp" "$policy_dir/bench.rego"
# The watcher would pick it up within a second; asking is quicker and says why on rejection.
reload=$(curl -s --max-time 10 -w '\n%{http_code}' -H "$admin_auth" -X POST "$admin_url/policy/reload")
[ "${reload##*$'\n'}" = 200 ] || { echo "the gateway rejected the bench policy: ${reload%$'\n'*}" >&2; exit 1; }
loaded=
for _ in $(seq 1 50); do
  now=$(curl -sf --max-time 5 -H "$admin_auth" "$admin_url/policy") || now=
  if [ -n "$now" ] && python3 - "$before" "$now" <<'PY'
import json, os, sys
before, now = json.loads(sys.argv[1]), json.loads(sys.argv[2])
names = [os.path.basename(f["path"]) for f in now.get("files", [])]
sys.exit(0 if now.get("version") != before.get("version") and names == ["bench.rego"] else 1)
PY
  then loaded=1; break; fi
  sleep 0.2
done
[ -n "$loaded" ] || { echo "the bench policy was not loaded within 10 s; /policy says: ${now:-nothing}" >&2; exit 1; }
policy_version=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["version"])' "$now")

# The gateway's CPU seconds so far (utime + stime of all its threads, /proc/PID/stat fields 14
# and 15; the command name in field 2 may hold spaces, hence the cut at the last parenthesis).
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { local s; s=$(cat "/proc/$demo_pid/stat"); s=${s##*) }; set -- $s; echo $(( ${12} + ${13} )); }

# One psql run of the query; on failure, the benchmark stops with psql's message.
query() { # path url
  local err="$work/psql.err" rc=0
  timeout "$RUN_TIMEOUT" psql "$2" -X -At -c "$QUERY" 2> "$err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ "$rc" -eq 124 ]; then echo "$1: the query took longer than ${RUN_TIMEOUT}s" >&2
    else echo "$1: psql failed (exit $rc): $(cat "$err")" >&2; fi
    if grep -q "does not support yet" "$err"; then
      echo "This gateway denies any decision carrying \"mask\": inline masking has not landed yet," >&2
      echo "so the masked path cannot be measured. (MASK= runs the rest of the pipeline.)" >&2
    fi
    exit 1
  fi
}

# Untimed: warm every path, check each returns the whole table, size the result, and check the
# mask changes what alice sees (a mask that changes nothing would measure nothing).
query direct "$direct" > "$work/direct.out"
query sluice-nomask "$via_nomask" > "$work/nomask.out"
query sluice-mask "$via_mask" > "$work/mask.out"
for f in direct nomask mask; do
  n=$(wc -l < "$work/$f.out")
  [ "$n" -eq "$ROWS" ] || { echo "$f: $n rows instead of $ROWS" >&2; exit 1; }
done
cmp -s "$work/direct.out" "$work/nomask.out" || { echo "ci-bot's rows through sluice differ from the direct ones" >&2; exit 1; }
if [ -n "$MASK" ] && cmp -s "$work/direct.out" "$work/mask.out"; then
  echo "alice's rows are identical to the direct ones: the mask was not applied" >&2; exit 1
fi
bytes=$(wc -c < "$work/direct.out")
masked_bytes=$(wc -c < "$work/mask.out")
sample_direct=$(sed -n 2p "$work/direct.out")
sample_mask=$(sed -n 2p "$work/mask.out")
rm -f "$work"/*.out

results="$work/results.tsv"
run() { # path url
  local c0 c1 t0 t1
  c0=$(cpu_ticks)
  t0=$(date +%s.%N)
  query "$1" "$2" > /dev/null
  t1=$(date +%s.%N)
  c1=$(cpu_ticks)
  local secs cpu
  secs=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
  cpu=$(python3 -c "print(f'{($c1 - $c0) / $clk_tck:.2f}')")
  printf '%s\t%s\t%s\n' "$1" "$secs" "$cpu" >> "$results"
  printf '  %-14s %8.3f s   sluice cpu %6.2f s\n' "$1" "$secs" "$cpu"
}

echo "$QUERY: $ROWS rows, $(python3 -c "print(f'{$bytes / 1e6:.1f}')") MB as psql -At text ($(python3 -c "print(f'{$masked_bytes / 1e6:.1f}')") MB masked), ${ROUNDS} rounds, $(nproc) cores"
echo "policy $policy_version; alice's mask: ${MASK:-none}"
echo "  row 2 direct: $sample_direct"
echo "  row 2 masked: $sample_mask"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  run direct "$direct"
  run sluice-nomask "$via_nomask"
  run sluice-mask "$via_mask"
done

python3 - "$results" "$bytes" "$clk_tck" <<'PY'
import sys, collections, statistics
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    path, secs, cpu = line.rstrip("\n").split("\t")
    rows[path].append((float(secs), float(cpu)))
mb = int(sys.argv[2]) / 1e6
# Wall time: medians. Gateway CPU: means over the rounds (total ticks / rounds), steadier than a
# median of values counted in 1/CLK_TCK-second ticks.
med = {p: statistics.median(x[0] for x in r) for p, r in rows.items()}
cpu = {p: statistics.fmean(x[1] for x in r) for p, r in rows.items()}
d, n, m = (med[p] for p in ("direct", "sluice-nomask", "sluice-mask"))
print()
print(f"{'path':<15}{'median s':>10}{'sluice cpu s/run (mean)':>25}")
for p in ("direct", "sluice-nomask", "sluice-mask"):
    print(f"{p:<15}{med[p]:>10.3f}{cpu[p]:>25.3f}")
print()
print(f"sluice-nomask / direct        {n / d:6.2f}")
ratio = m / n
print(f"sluice-mask / sluice-nomask   {ratio:6.2f}   (target <= 1.5: {'met' if ratio <= 1.5 else 'NOT met'})")
print(f"result size                   {mb:6.1f} MB (psql -At text of the unmasked rows)")
extra = cpu["sluice-mask"] - cpu["sluice-nomask"]
resolution = 2 / int(sys.argv[3])  # two ticks of the CPU counters
if extra >= resolution:
    print(f"masking CPU per run           {extra:6.3f} s (sluice-mask minus sluice-nomask)")
    print(f"masking throughput            {mb / extra:6.1f} MB/s per core")
else:
    print(f"masking CPU per run           {extra:6.3f} s (below the counters' resolution, {resolution:.2f} s)")
    print("masking throughput            n/a (the masked runs cost the gateway no measurable extra CPU)")
PY

[ "$STMT_SECONDS" -gt 0 ] || exit 0

# Per statement: tps of pgbench runs alternating between ci-bot (no mask) and alice (masked).
stmt_results="$work/statements.tsv"
declare -A STATEMENTS=(
  [no-masked-table]="SELECT amount FROM bench_plain WHERE id = :id"
  [masked-table]="SELECT id, amount FROM bench_pii WHERE id = :id"
  [computed-masked]="SELECT reverse(ssn), amount FROM bench_pii WHERE id = :id"
)
for name in no-masked-table masked-table computed-masked; do
  printf '\\set id random(1, %s)\n%s;\n' "$ROWS" "${STATEMENTS[$name]}" > "$work/$name.sql"
done
stmt_run() { # statement mode path url
  local out tps c0 c1 txns
  c0=$(cpu_ticks)
  out=$(timeout $((STMT_SECONDS + 60)) pgbench -n -f "$work/$1.sql" -M "$2" -c 1 -T "$STMT_SECONDS" "$4" 2>&1) \
    || { echo "$1 $2 $3: pgbench failed: $out" >&2; exit 1; }
  c1=$(cpu_ticks)
  tps=$(awk '/^tps = / {print $3; exit}' <<< "$out")
  txns=$(awk '/^number of transactions actually processed: / {print $6; exit}' <<< "$out")
  [ -n "$tps" ] && [ -n "$txns" ] || { echo "$1 $2 $3: no tps in pgbench's output: $out" >&2; exit 1; }
  # The gateway's CPU per statement: steadier than tps when the machine is shared.
  local us
  us=$(python3 -c "print(f'{($c1 - $c0) / $clk_tck * 1e6 / $txns:.1f}')")
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$tps" "$us" >> "$stmt_results"
  printf '  %-16s %-9s %-14s %10.0f tps %8.1f us cpu/stmt\n' "$1" "$2" "$3" "$tps" "$us"
}
echo
echo "per statement: pgbench, 1 client, ${STMT_SECONDS}s per run, ${ROUNDS} rounds"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  for name in no-masked-table masked-table computed-masked; do
    for mode in simple prepared; do
      stmt_run "$name" "$mode" sluice-nomask "$via_nomask"
      stmt_run "$name" "$mode" sluice-mask "$via_mask"
    done
  done
done
python3 - "$stmt_results" <<'PY'
import sys, collections, statistics
tps = collections.defaultdict(list)
cpu = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, mode, path, t, us = line.rstrip("\n").split("\t")
    tps[(name, mode, path)].append(float(t))
    cpu[(name, mode, path)].append(float(us))
print()
print(f"{'statement':<18}{'mode':<10}{'nomask tps':>12}{'mask tps':>12}{'mask/nomask':>13}"
      f"{'nomask us':>11}{'mask us':>9}{'mask-nomask us':>16}")
for name in ("no-masked-table", "masked-table", "computed-masked"):
    for mode in ("simple", "prepared"):
        n = statistics.median(tps[(name, mode, "sluice-nomask")])
        m = statistics.median(tps[(name, mode, "sluice-mask")])
        cn = statistics.median(cpu[(name, mode, "sluice-nomask")])
        cm = statistics.median(cpu[(name, mode, "sluice-mask")])
        print(f"{name:<18}{mode:<10}{n:>12.0f}{m:>12.0f}{m / n:>13.2f}{cn:>11.1f}{cm:>9.1f}{cm - cn:>16.1f}")
print("(us: the gateway's CPU per statement, median over rounds; 10 ms ticks over the run)")
PY

