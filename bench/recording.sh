#!/usr/bin/env bash
# Session recording: what recording every session costs. One scratch database behind two
# gateways started from the same configuration, one recording (the demo, recording on by
# default) and one not (`[recording] enabled = false`), alternating per round with the direct
# connection:
#   - a large result: `psql -At -c "SELECT * FROM bench_rec"` (ROWS rows, ~100 bytes each);
#   - small statements: `pgbench -n -S` (one-row SELECTs), DURATION seconds, 1 client, in the
#     simple and the prepared (extended) protocol.
# Prints per-round figures, medians, the recorded/unrecorded ratios, each gateway's CPU seconds
# per large-result run, and the recording throughput. Loopback only; every run is bounded.
#
#   bench/recording.sh                    # 100k rows, 3 rounds, 5 s pgbench
#   ROWS=200000 ROUNDS=5 DURATION=10 bench/recording.sh
#   SLUICE=/path/to/sluice bench/recording.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-100000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
for v in ROWS ROUNDS DURATION; do
  case "${!v}" in '' | *[!0-9]* | 0) echo "$v must be a positive integer" >&2; exit 2 ;; esac
done

. bench/common.sh
bench_build
bench_start_demo
bench_on_exit '[ -n "${norec_pid:-}" ] && kill -INT "$norec_pid" 2>/dev/null && wait "$norec_pid" 2>/dev/null'
direct="$(demo_json .direct_url)?sslmode=disable"
recorded="$(demo_json '.postgres_url["ci-bot"]')?sslmode=disable"

# The second gateway: the demo's own configuration (same policies, target and credential),
# its own ports and data directory, recording off.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pg_port=$(free_port); admin_port=$(free_port)
python3 - "$work/demo/sluice.toml" "$work/demo/norec.toml" "$pg_port" "$admin_port" <<'PY'
import re, sys
src, dst, pg, admin = sys.argv[1:]
text = open(src).read()
text = text.replace('data_dir = "data"', 'data_dir = "data-norec"', 1)
text = re.sub(r'(\[postgres\]\nlisten = "127\.0\.0\.1:)\d+', r'\g<1>' + pg, text, count=1)
text = re.sub(r'(\[admin\]\nlisten = "127\.0\.0\.1:)\d+', r'\g<1>' + admin, text, count=1)
open(dst, "w").write(text + "\n[recording]\nenabled = false\n")
PY
token=$("$SLUICE" token create --config "$work/demo/norec.toml" --identity ci-bot --ttl 1h)
RUST_BACKTRACE=0 RUST_LOG=warn "$SLUICE" serve --config "$work/demo/norec.toml" 2> "$work/norec.log" &
norec_pid=$!
for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null && break; sleep 0.1; done
db=$(demo_json '.postgres_url["ci-bot"]' | sed 's|.*/||')
unrecorded="postgresql://ci-bot:${token}@127.0.0.1:${pg_port}/${db}?sslmode=disable"

psql "$direct" -X -q -v ON_ERROR_STOP=1 -v rows="$ROWS" > /dev/null <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_rec;
CREATE TABLE bench_rec AS
SELECT g AS id, 'row ' || g || ' of the recording benchmark' AS label, g * 1.5 AS amount, now() AS at
FROM generate_series(1, :rows) g;
ANALYZE bench_rec;
SQL
pgbench -i -s 1 -q "$direct" > /dev/null 2>&1

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in clock ticks
hz=$(getconf CLK_TCK)
now() { date +%s.%N; }
large() {  # url [pid] -> "seconds cpu_seconds"
  local t0 c0=0 c1=0 t1
  [ -n "${2:-}" ] && c0=$(cpu "$2")
  t0=$(now)
  timeout 300 psql "$1" -X -At -c "SELECT * FROM bench_rec" > /dev/null
  t1=$(now)
  [ -n "${2:-}" ] && c1=$(cpu "$2")
  python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.4f} {(int(sys.argv[4])-int(sys.argv[3]))/int(sys.argv[5]):.3f}')" "$t0" "$t1" "$c0" "$c1" "$hz"
}
tps() { timeout $((DURATION + 60)) pgbench -n -S -M "$2" -T "$DURATION" -c 1 "$1" 2>/dev/null | awk '/^tps/ {print int($3)}'; }

: > "$work/results"
for round in $(seq 1 "$ROUNDS"); do
  d=$(large "$direct"); r=$(large "$recorded" "$demo_pid"); u=$(large "$unrecorded" "$norec_pid")
  dt=$(tps "$direct" simple); rt=$(tps "$recorded" simple); ut=$(tps "$unrecorded" simple)
  dp=$(tps "$direct" prepared); rp=$(tps "$recorded" prepared); up=$(tps "$unrecorded" prepared)
  echo "$d $r $u $dt $rt $ut $dp $rp $up" >> "$work/results"
  printf 'round %d: large direct %ss, recorded %ss (cpu %ss), unrecorded %ss (cpu %ss); pgbench -S tps simple %s/%s/%s, prepared %s/%s/%s (direct/recorded/unrecorded)\n' \
    "$round" "${d% *}" "${r% *}" "${r#* }" "${u% *}" "${u#* }" "$dt" "$rt" "$ut" "$dp" "$rp" "$up"
done
bytes=$(psql "$direct" -X -At -c "SELECT * FROM bench_rec" | wc -c)
python3 - "$work/results" "$bytes" "$ROWS" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
col = lambda i: statistics.median(r[i] for r in rows)
d, _, r, rc, u, uc, dt, rt, ut, dp, rp, up = (col(i) for i in range(12))
mb = int(sys.argv[2]) / 1e6
print(f"large result ({sys.argv[3]} rows, {mb:.1f} MB as text): direct {d:.3f}s, recorded {r:.3f}s, unrecorded {u:.3f}s")
print(f"  recorded/unrecorded wall: {r/u:.2f}; gateway CPU per run: recorded {rc:.3f}s, unrecorded {uc:.3f}s")
if rc > uc:
    print(f"  recording costs {mb/(rc-uc):.0f} MB of result text per CPU second")
print(f"pgbench -S simple, 1 client: direct {dt:.0f} tps, recorded {rt:.0f}, unrecorded {ut:.0f}; recorded/unrecorded {rt/ut:.2f}")
print(f"pgbench -S prepared, 1 client: direct {dp:.0f} tps, recorded {rp:.0f}, unrecorded {up:.0f}; recorded/unrecorded {rp/up:.2f}")
PY
