#!/usr/bin/env bash
# HTTP through sluice vs through nginx vs straight to the demo's scratch HTTP service,
# alternating in one run: wrk's GET /hello (`{"hello":"world"}`) at 32 connections
# (throughput) and at 1 connection (latency, one request in flight), requests/s and mean,
# median and p99 latency of each, and the CPU each proxy spends per request. Prints per
# connection count the ratios sluice/direct and sluice/nginx of requests/s (target: at least
# 0.7x direct at 32 connections) and the mean latency sluice adds to a request (target: under
# 200 µs at 1 connection). Loopback only; every wrk run is time-bounded.
#
#   bench/http.sh                        # 5 s per run, 3 rounds, as ci-bot
#   DURATION=10 ROUNDS=5 IDENTITY=alice bench/http.sh
#   CONNECTIONS="64 32 1" bench/http.sh  # other connection counts (threads: 2, or 1 for 1)
#   NGINX_WORKERS=1 bench/http.sh        # nginx's worker_processes (default: auto, one per core)
#   NGINX=0 bench/http.sh                # without the nginx leg
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
# demo's policy, masking, audit and recording, and then plain HTTP to the same ScratchHttp;
# nginx (Debian's nginx-light) is the peer: a TLS reverse proxy with the gateway's own
# certificate, kept-alive upstream connections and an injected Authorization header, which
# decides, masks, records and audits nothing, as pgbouncer is for bench/pgbench.sh. wrk keeps
# each connection alive, so TLS costs a handshake per connection (amortized) and encryption
# per request, for sluice and nginx alike. wrk does not verify certificates; one curl before
# the runs does, with the demo's CA (`http_ca`), and checks that the request is allowed: a
# denial would otherwise be measured as fast 403s.
# The example policy lets ci-bot (ci) and alice (developers) read over HTTP. The scratch
# service runs inside the demo's process, on the main runtime (the gateway's sessions run on
# its worker threads), idle during the other runs.
#
# CPU per request (/proc, user + system): nginx's is its master's and workers'; sluice's is
# the demo process's during the sluice run less the same process's during the direct run
# (the scratch service's share), each divided by the requests wrk completed. On a machine
# whose cores are not shared with the load generator and the service, this is the figure
# that sets requests/s per core of proxy. wrk's own CPU is shown too: on two cores, the
# client, the service and the proxy share them, which caps every proxy's ratio to direct.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-"32 1"}
IDENTITY=${IDENTITY:-ci-bot}
DIRECT_ONLY=${DIRECT_ONLY:-}
NGINX=${NGINX:-1}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
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
  if [ "$NGINX" != 0 ]; then
    # nginx as a TLS reverse proxy in front of the same service, with the gateway's certificate.
    nginx_dir="$work/nginx"
    mkdir -p "$nginx_dir"
    nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$nginx_dir/nginx.conf" <<NGINX
daemon off;
worker_processes $NGINX_WORKERS;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $nginx_dir/body;
  proxy_temp_path $nginx_dir/proxy;
  fastcgi_temp_path $nginx_dir/fastcgi;
  uwsgi_temp_path $nginx_dir/uwsgi;
  scgi_temp_path $nginx_dir/scgi;
  upstream scratch { server ${d_url#http://}; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $ca;
    ssl_certificate_key $(dirname "$ca")/server.key;
    location /api/ {
      proxy_pass http://scratch/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')";
    }
  }
}
NGINX
    /usr/sbin/nginx -c "$nginx_dir/nginx.conf" -e "$nginx_dir/error.log" &
    nginx_pid=$!
    bench_on_exit 'kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null'
    n_url="https://127.0.0.1:$nginx_port/api"
    for _ in $(seq 1 50); do [ -s "$nginx_dir/nginx.pid" ] && break; sleep 0.1; done
    paths="direct sluice nginx"
  fi
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
  [ "$NGINX" = 0 ] || check nginx "$n_url" --cacert "$ca"
fi

# CPU seconds (user + system) of a process and its children's live processes, in clock ticks.
ticks() { # pid...
  local total=0 pid t
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    t=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
    total=$((total + t))
  done
  echo "$total"
}
proxy_pids() { # path: the processes whose CPU is measured
  case "$1" in
    nginx) echo "$nginx_pid" $(pgrep -P "$nginx_pid" || true) ;;
    *) echo "${demo_pid:-}" ;;
  esac
}
hz=$(getconf CLK_TCK)

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
    nginx) url=$n_url; auth=() ;;
  esac
  threads=2
  [ "$2" -lt 2 ] && threads=1
  local pids before after wrk_cpu
  pids=$(proxy_pids "$1")
  before=$(ticks $pids)
  out=$( { /usr/bin/time -f 'wrk-cpu %U %S' timeout "$((DURATION + 30))" wrk -t"$threads" -c"$2" -d"${DURATION}s" --timeout 5s --latency \
    -s "$work/report.lua" "${auth[@]}" "$url$REQUEST_PATH"; } 2>&1) ||
    { echo "$out" >&2; echo "$1 c=$2: wrk failed or ran over its time" >&2; exit 1; }
  read -r requests duration mean p50 p99 socket status <<<"$(echo "$out" | sed -n 's/^wrk-result //p')"
  [ -n "${status:-}" ] || { echo "$out" >&2; echo "$1 c=$2: no result from wrk" >&2; exit 1; }
  [ "$status" = 0 ] || { echo "$out" >&2; echo "$1 c=$2: $status responses were not 2xx/3xx" >&2; exit 1; }
  [ "$requests" -gt 0 ] || { echo "$out" >&2; echo "$1 c=$2: no request completed" >&2; exit 1; }
  after=$(ticks $pids)
  wrk_cpu=$(echo "$out" | sed -n 's/^wrk-cpu //p' | awk '{print $1 + $2}')
  rps=$(python3 -c "print(f'{$requests / ($duration / 1e6):.1f}')")
  # Microseconds of CPU per request: the measured process(es), and wrk.
  cpu=$(python3 -c "print(f'{($after - $before) / $hz * 1e6 / $requests:.2f}')")
  wcpu=$(python3 -c "print(f'{${wrk_cpu:-0} * 1e6 / $requests:.2f}')")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$rps" "$mean" "$p50" "$p99" "$socket" "$cpu" "$wcpu" >> "$results"
  printf '  %-7s c=%-3s %10.0f req/s  mean %8.1f µs  p50 %8.1f µs  p99 %8.1f µs  %s socket errors  cpu %6.1f µs/req (wrk %4.1f)\n' \
    "$1" "$2" "$rps" "$mean" "$p50" "$p99" "$socket" "$cpu" "$wcpu"
}

echo "http: GET $REQUEST_PATH, ${DURATION}s per run, ${ROUNDS} rounds, $(nproc) cores, $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "direct: $d_url (plain HTTP)"
[ -z "$DIRECT_ONLY" ] && echo "sluice: $s_url (HTTPS, as $IDENTITY)"
[ -n "${n_url:-}" ] && echo "nginx:  $n_url (HTTPS, $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //'), worker_processes $NGINX_WORKERS)"
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
    path, conns, rps, mean, p50, p99, socket, cpu, wcpu = line.rstrip("\n").split("\t")
    rows[(int(conns), path)].append(
        (float(rps), float(mean), float(p50), float(p99), int(socket), float(cpu), float(wcpu)))
# req/s: the mean over rounds; latencies and CPU: the median of the rounds' figures, so that
# one slow round does not move them.
def agg(xs):
    if not xs:
        return None
    return (statistics.mean(x[0] for x in xs),) + tuple(
        statistics.median(x[i] for x in xs) for i in (1, 2, 3)) + (sum(x[4] for x in xs),) + tuple(
        statistics.median(x[i] for x in xs) for i in (5, 6))
print()
print(f"{'conns':>5}{'direct':>10}{'sluice':>10}{'nginx':>10}{'s/direct':>10}{'s/nginx':>9}{'n/direct':>10}"
      f"{'mean µs d/s/n':>17}{'added µs s/n':>14}{'p99 µs d/s/n':>19}{'cpu µs/req s/n':>16}{'errs':>8}")
verdicts = []
fmt = lambda x, f: "-" if x is None else format(x, f)
for conns in sorted({k[0] for k in rows}, reverse=True):
    d, s, n = (agg(rows.get((conns, p), [])) for p in ("direct", "sluice", "nginx"))
    if not d:
        continue
    # The proxy's CPU: nginx's processes; for sluice, the demo process less its share in the
    # direct run (the scratch service, which answers in both).
    s_cpu = s[5] - d[5] if s else None
    n_cpu = n[5] if n else None
    line = f"{conns:>5}{d[0]:>10.0f}{fmt(s and s[0], '.0f'):>10}{fmt(n and n[0], '.0f'):>10}"
    line += f"{fmt(s and s[0] / d[0], '.2f'):>10}{fmt(s and n and s[0] / n[0], '.2f'):>9}{fmt(n and n[0] / d[0], '.2f'):>10}"
    line += f"{f'{d[1]:.0f}/' + fmt(s and s[1], '.0f') + '/' + fmt(n and n[1], '.0f'):>17}"
    line += f"{fmt(s and s[1] - d[1], '.0f') + '/' + fmt(n and n[1] - d[1], '.0f'):>14}"
    line += f"{f'{d[3]:.0f}/' + fmt(s and s[3], '.0f') + '/' + fmt(n and n[3], '.0f'):>19}"
    line += f"{fmt(s_cpu, '.1f') + '/' + fmt(n_cpu, '.1f'):>16}"
    line += f"{f'{d[4]}/' + fmt(s and s[4], 'd') + '/' + fmt(n and n[4], 'd'):>8}"
    print(line)
    if s and conns == 32:
        ratio = s[0] / d[0]
        verdicts.append(f"sluice/direct req/s at 32 connections: {ratio:.2f} (target >= 0.70: {'met' if ratio >= 0.7 else 'MISSED'})"
                        + (f"; nginx/direct {n[0] / d[0]:.2f}, sluice/nginx {s[0] / n[0]:.2f}" if n else ""))
    if s and conns == 1:
        added = s[1] - d[1]
        verdicts.append(f"added mean latency at 1 connection: {added:.0f} µs (target < 200 µs: {'met' if added < 200 else 'MISSED'})"
                        + (f"; nginx adds {n[1] - d[1]:.0f} µs" if n else ""))
    if s and conns == max(k[0] for k in rows):
        verdicts.append(f"proxy CPU per request at {conns} connections: sluice {s_cpu:.1f} µs"
                        + (f", nginx {n_cpu:.1f} µs" if n else "")
                        + f" (the scratch service {d[5]:.1f} µs, wrk {d[6]:.1f} µs direct)")
if verdicts:
    print()
    print("\n".join(verdicts))
PY
