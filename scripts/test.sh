#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the build and the tests need
# (scripts/install-deps.sh), then runs formatting, lint and the whole test suite against real
# servers.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build test

# psycopg (PyPI) for the Python driver tests, in a venv of our own: Debian's system Python
# refuses pip installs outside one.
venv=target/test-venv
if [ ! -x "$venv/bin/python" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
fi
# PyMySQL (with cryptography, for caching_sha2_password's RSA exchange without TLS) and
# mysql-connector-python (server-side prepared statements) for the MySQL driver test.
# The official MCP SDK (`mcp`, pinned: its client negotiates the protocol era) for the agent
# test (tests/mcp.rs).
"$venv/bin/python" -c "import psycopg, pymysql, cryptography, mysql.connector, mcp" 2>/dev/null ||
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'psycopg[binary]' \
    PyMySQL cryptography mysql-connector-python 'mcp==2.3.0'
export SLUICE_TEST_PYTHON="$PWD/$venv/bin/python"

# A one-off build gains nothing from incremental state, which is half the target directory.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
df -h . | sed 's/^/disk: /'

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace

# Suites nobody here wrote, directly and through sluice (docs/conformance.md), with the debug
# binary the tests just built. A difference not listed in
# scripts/conformance/expected-differences.txt fails the run (exit 1). When the harness
# itself cannot run (exit 2: a suite's source could not be fetched), that is said loudly but
# does not fail: the mirrors it needs are outside this repository's control.
set +e
SLUICE=target/debug/sluice scripts/conformance.sh --results target/conformance/last
status=$?
set -e
case $status in
  0) ;;
  2) echo "WARNING: the conformance harness could not run (see above); its suites were not compared" >&2 ;;
  *) exit "$status" ;;
esac
