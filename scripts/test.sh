#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need from Debian packages when it
# is missing, then runs formatting, lint and the whole test suite against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v pgbench >/dev/null 2>&1 || missing+=(postgresql-contrib)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
# sluice-sql builds PostgreSQL's parser (libpg_query); its bindings need libclang.
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# PostgreSQL refuses to run as root; the harness runs it as the 'postgres' system user.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home /var/lib/postgresql --shell /bin/sh postgres
fi

# psycopg (PyPI) for the Python driver test, in a venv of our own: Debian's system Python
# refuses pip installs outside one.
venv=target/test-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || {
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"; python3 -m venv "$venv"
  }
fi
"$venv/bin/python" -c "import psycopg" 2>/dev/null ||
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'psycopg[binary]'
export SLUICE_TEST_PYTHON="$PWD/$venv/bin/python"

# A one-off build gains nothing from incremental state, which is half the target directory.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
df -h . | sed 's/^/disk: /'

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
