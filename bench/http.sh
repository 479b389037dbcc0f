#!/usr/bin/env bash
# HTTP through sluice vs straight to the demo's scratch HTTP service, alternating in one run:
# wrk's GET /hello (`{"hello":"world"}`) at 32 connections (throughput) and at 1 connection
# (latency, one request in flight), requests/s and mean, median and p99 latency of each. Prints
# per connection count the ratio sluice/direct of requests/s (target: at least 0.7 at 32
# connections) and the mean latency sluice adds to a request (target: under 200 µs at 1
# connection). Loopback only; every wrk run is time-bounded.
#
#   bench/http.sh                        # 5 s per run, 3 rounds, as ci-bot
#   DURATION=10 ROUNDS=5 IDENTITY=alice bench/http.sh
#   CONNECTIONS="64 32 1" bench/http.sh  # other connection counts (threads: 2, or 1 for 1)
#   SLUICE=target/release/sluice bench/http.sh
#                                        # a sluice binary already built (no build)
#   DIRECT_ONLY=1 DIRECT_URL=http://127.0.0.1:8080 bench/http.sh
#                                        # only the direct half, against any service that
#                                        # answers GET /hello (no build, no demo); one is
#                                        # `cargo test -p sluice --test scratch_http --
#                                        # --ignored --nocapture serve_until_killed`
#
# The legs: direct is plain HTTP/1.1 to the demo's ScratchHttp (`direct_http_url` in the
# demo's JSON); sluice is HTTPS to the gateway's listener (`http_url[IDENTITY]`, the target
# `api` as a path prefix), with IDENTITY's bearer token (`tokens[IDENTITY]`), through the
# demo's policy, masking, audit and recording, and then plain HTTP to the same ScratchHttp.
# wrk keeps each connection alive, so TLS costs a handshake per connection (amortized) and
# encryption per request, and that is part of what the ratio measures. wrk does not verify
# certificates; one curl before the runs does, with the demo's CA (`http_ca`), and checks
# that the request is allowed: a denial would otherwise be measured as fast 403s.
# The example policy lets ci-bot (ci) and alice (developers) read over HTTP. The scratch
# service runs inside the demo's process, on the gateway's runtime, idle during direct runs.
#
# DIRECT_TLS (an idea, not implemented): a direct leg over TLS too (the scratch service behind
# a certificate) would separate what TLS costs from what sluice's relay costs; today the
# ratio includes both.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-"32 1"}
IDENTITY=${IDENTITY:-ci-bot}
DIRECT_ONLY=${DIRECT_ONLY:-}
REQUEST_PATH=/hello

. bench/common.sh

if [ -n "$DIRECT_ONLY" ]; then
  : "${DIRECT_URL:?DIRECT_ONLY needs DIRECT_URL, http://HOST:PORT of a service that answers GET /hello}"
  work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
  trap bench_cleanup EXIT
  paths="direct"
  d_url=${DIRECT_URL%/}
else
  bench_build
  bench_start_demo
  d_url=$(demo_json '.direct_http_url // empty')
  [ -n "$d_url" ] || { echo "the demo's JSON has no direct_http_url: this sluice's demo has no HTTP service (no HTTP gateway yet?)" >&2; exit 1; }
  s_url=$(demo_json ".http_url[\"$IDENTITY\"]? // empty")
  [ -n "$s_url" ] || { echo "the demo's JSON has no http_url.$IDENTITY: this sluice's demo has no HTTPS gateway listener for $IDENTITY" >&2; exit 1; }
  ca=$(demo_json '.http_ca // empty')
  [ -n "$ca" ] && [ -s "$ca" ] || { echo "the demo's JSON has no http_ca, or its file is missing or empty: '$ca'" >&2; exit 1; }
  token=$(demo_json ".tokens[\"$IDENTITY\"] // empty")
  [ -n "$token" ] || { echo "the demo's JSON has no tokens.$IDENTITY" >&2; exit 1; }
  paths="direct sluice"
fi

# One request per leg before measuring: it must answer 200 with the expected body.
check() { # path url [curl options...]
  local path=$1 url=$2 code
  shift 2
  code=$(curl -sS --max-time 10 -o "$work/check.body" -w '%{http_code}' "$@" "$url$REQUEST_PATH") ||
    { echo "$path: GET $url$REQUEST_PATH failed (curl above)" >&2; exit 1; }
  if [ "$code" != 200 ] || [ "$(cat "$work/check.body")" != '{"hello":"world"}' ]; then
    echo "$path: GET $url$REQUEST_PATH answered $code: $(head -c 500 "$work/check.body")" >&2
    exit 1
  fi
}
check direct "$d_url"
if [ -z "$DIRECT_ONLY" ]; then
  check sluice "$s_url" --cacert "$ca" -H "Authorization: Bearer $token"
fi

# wrk's summary as one line of numbers (its latencies are in µs), instead of its text.
cat > "$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk-result %d %d %.1f %.1f %.1f %d %d\n", summary.requests,
    summary.duration, latency.mean, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

results="$work/results.tsv"
: > "$results"
run() { # path connections
  local url threads out requests duration mean p50 p99 socket status rps
  local -a auth
  case "$1" in
    direct) url=$d_url; auth=() ;;
    sluice) url=$s_url; auth=(-H "Authorization: Bearer $token") ;;
  esac
  threads=2
  [ "$2" -lt 2 ] && threads=1
  out=$(timeout "$((DURATION + 30))" wrk -t"$threads" -c"$2" -d"${DURATION}s" --timeout 5s --latency \
    -s "$work/report.lua" "${auth[@]}" "$url$REQUEST_PATH" 2>&1) ||
    { echo "$out" >&2; echo "$1 c=$2: wrk failed or ran over its time" >&2; exit 1; }
  read -r requests duration mean p50 p99 socket status <<<"$(echo "$out" | sed -n 's/^wrk-result //p')"
  [ -n "${status:-}" ] || { echo "$out" >&2; echo "$1 c=$2: no result from wrk" >&2; exit 1; }
  [ "$status" = 0 ] || { echo "$out" >&2; echo "$1 c=$2: $status responses were not 2xx/3xx" >&2; exit 1; }
  [ "$requests" -gt 0 ] || { echo "$out" >&2; echo "$1 c=$2: no request completed" >&2; exit 1; }
  rps=$(python3 -c "print(f'{$requests / ($duration / 1e6):.1f}')")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$rps" "$mean" "$p50" "$p99" "$socket" >> "$results"
  printf '  %-7s c=%-3s %10.0f req/s  mean %8.1f µs  p50 %8.1f µs  p99 %8.1f µs  %s socket errors\n' \
    "$1" "$2" "$rps" "$mean" "$p50" "$p99" "$socket"
}

echo "http: GET $REQUEST_PATH, ${DURATION}s per run, ${ROUNDS} rounds, $(nproc) cores, $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "direct: $d_url (plain HTTP)"
[ -z "$DIRECT_ONLY" ] && echo "sluice: $s_url (HTTPS, as $IDENTITY)"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  for c in $CONNECTIONS; do
    for path in $paths; do run "$path" "$c"; done
  done
done

python3 - "$results" <<'PY'
import sys, collections, statistics
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    path, conns, rps, mean, p50, p99, socket = line.rstrip("\n").split("\t")
    rows[(int(conns), path)].append((float(rps), float(mean), float(p50), float(p99), int(socket)))
# req/s: the mean over rounds; latencies: the median of the rounds' figures, so that one slow
# round does not move them.
def agg(xs):
    return (statistics.mean(x[0] for x in xs),) + tuple(
        statistics.median(x[i] for x in xs) for i in (1, 2, 3)) + (sum(x[4] for x in xs),)
print()
print(f"{'conns':>5}{'direct req/s':>14}{'sluice req/s':>14}{'sluice/direct':>15}{'target':>8}"
      f"{'mean µs d/s':>16}{'added µs':>10}{'p99 µs d/s':>18}{'socket errs':>13}")
verdicts = []
for conns in sorted({k[0] for k in rows}, reverse=True):
    d, s = rows.get((conns, "direct")), rows.get((conns, "sluice"))
    if not d: continue
    d = agg(d)
    line = f"{conns:>5}{d[0]:>14.0f}"
    if s:
        s = agg(s)
        ratio = s[0] / d[0]
        goal = "0.70x" if conns == 32 else "-"
        line += f"{s[0]:>14.0f}{ratio:>15.2f}{goal:>8}"
        line += f"{f'{d[1]:.0f}/{s[1]:.0f}':>16}{s[1] - d[1]:>10.0f}{f'{d[3]:.0f}/{s[3]:.0f}':>18}"
        line += f"{f'{d[4]}/{s[4]}':>13}"
        if conns == 32:
            verdicts.append(f"sluice/direct req/s at 32 connections: {ratio:.2f} (target >= 0.70: {'met' if ratio >= 0.7 else 'MISSED'})")
        if conns == 1:
            added = s[1] - d[1]
            verdicts.append(f"added mean latency at 1 connection: {added:.0f} µs (target < 200 µs: {'met' if added < 200 else 'MISSED'})")
    else:
        line += f"{'-':>14}{'-':>15}{'-':>8}{f'{d[1]:.0f}/-':>16}{'-':>10}{f'{d[3]:.0f}/-':>18}{f'{d[4]}/-':>13}"
    print(line)
if verdicts:
    print()
    print("\n".join(verdicts))
PY
