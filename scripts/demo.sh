#!/usr/bin/env bash
# The demo command (README): installs what the build and the demo need (scripts/install-deps.sh),
# then starts `sluice demo` (a scratch database behind a gateway). Arguments go to `sluice demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build demo
exec cargo run --release --quiet -- demo "$@"
