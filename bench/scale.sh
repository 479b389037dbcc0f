#!/usr/bin/env bash
# Several gateways on one PostgreSQL store (issue 19). Throughput of one gateway against two on
# this 2-core machine says nothing (they share the cores), so this measures what scale-out
# changes: how fast a statement held on gateway A is released when approved through gateway B
# rather than through A itself (alternating in one run; target: under 50 ms median across
# gateways), and how many store queries a statement costs on the hot path (target: zero).
# Two release-built gateways on a scratch store and target, started by the test harness
# (crates/sluice/tests/cluster.rs, `scale_bench`). Loopback only; every wait is bounded.
#
#   bench/scale.sh                       # 20 rounds each way, 20000 statements
#   ROUNDS=50 STATEMENTS=50000 bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export ROUNDS=${ROUNDS:-20} STATEMENTS=${STATEMENTS:-20000}
case "$ROUNDS$STATEMENTS" in *[!0-9]*) echo "ROUNDS and STATEMENTS must be positive integers" >&2; exit 2 ;; esac
scripts/install-deps.sh build test
cargo test --release -q -p sluice --test cluster -- --ignored --exact scale_bench --nocapture 2>&1 \
  | grep -v -E '^(running|test |$)|test result'
