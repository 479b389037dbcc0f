#!/usr/bin/env bash
# The demo command (README): installs the PostgreSQL server from Debian packages if missing,
# then starts `sluice demo` (a scratch database behind a gateway). Arguments go to `sluice demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
fi
exec cargo run --release --quiet -- demo "$@"
