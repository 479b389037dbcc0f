# Shared by the bench/ scripts (sourced, not run): installing what a benchmark needs, building
# sluice, a scratch work directory cleaned up on exit, and the demo (a scratch PostgreSQL behind
# a gateway on the embedded defaults) that every benchmark measures against.
#
# After `bench_start_demo`: $work, $demo_pid, $demo_json, and `demo_json QUERY` (jq on the
# demo's JSON). Scripts add their own cleanup with `bench_on_exit 'command'`.

# Everything a benchmark needs (the build, pgbouncer, jq, ...) comes from the one install script.
"$(dirname "${BASH_SOURCE[0]}")/../scripts/install-deps.sh" build bench

# Sets $SLUICE: the given binary, or a fresh release build.
bench_build() {
  if [ -z "${SLUICE:-}" ]; then
    cargo build --release --quiet -p sluice
    SLUICE=./target/release/sluice
  fi
  [ -x "$SLUICE" ] || { echo "SLUICE=$SLUICE is not an executable" >&2; exit 2; }
}

bench_exit_commands=()
bench_on_exit() { bench_exit_commands+=("$1"); }
bench_cleanup() {
  local i
  for ((i = ${#bench_exit_commands[@]} - 1; i >= 0; i--)); do eval "${bench_exit_commands[i]}" || true; done
  [ -n "${demo_pid:-}" ] && kill -INT "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null || true
  [ -n "${work:-}" ] && rm -rf "$work"
}

# Starts the demo in a fresh work directory and waits until it is ready.
bench_start_demo() {
  work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
  chmod 755 "$work"
  trap bench_cleanup EXIT
  # WORKERS sets the gateway's session worker threads (default: one per two cores).
  RUST_BACKTRACE=0 RUST_LOG=warn "$SLUICE" demo --dir "$work/demo" --json ${WORKERS:+--workers "$WORKERS"} \
    > "$work/demo.json" 2> "$work/demo.log" &
  demo_pid=$!
  demo_json="$work/demo.json"
  local _
  for _ in $(seq 1 300); do [ -s "$demo_json" ] && break; sleep 0.2; done
  [ -s "$demo_json" ] || { cat "$work/demo.log"; exit 1; }
}

demo_json() { jq -r "$1" "$demo_json"; }
