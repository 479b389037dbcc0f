#!/usr/bin/env bash
# The one place that names sluice's system dependencies: installs, from Debian packages, what
# the build, the demo, the tests and the benchmarks need, checking for the exact file each
# consumer loads (not a look-alike: libclang-cpp.so is not libclang.so).
#
#   scripts/install-deps.sh GROUP...          install what GROUP needs (build demo test bench)
#   scripts/install-deps.sh --check GROUP...  install nothing; list what is missing, exit 1 if any
#
# Quiet when nothing is missing; otherwise one line naming each package and why. Needs root or
# sudo only when something is missing. Called by scripts/demo.sh (build demo), scripts/test.sh
# (build test) and bench/common.sh (build bench).
set -euo pipefail

# group | Debian package | what the consumer loads (a path glob, or `python3-module NAME`) | why
manifest=(
  "build|libclang-dev|/usr/lib/llvm-*/lib/libclang.so|bindgen (pg_query) loads libclang.so to read libpg_query's headers"
  "build|libclang-dev|/usr/lib/llvm-*/lib/clang/*/include/stddef.h|clang's own headers, which that parse includes"
  "build|gcc|/usr/bin/cc|cc compiles libpg_query, AWS-LC and SQLite"
  "build|libc6-dev|/usr/include/stdio.h|the C headers those compile against"
  "demo|postgresql|/usr/lib/postgresql/*/bin/initdb|the demo's scratch database server"
  "demo|postgresql-client|/usr/bin/psql|the client the demo prints commands for"
  "demo|mariadb-server|/usr/sbin/mariadbd|the demo's scratch MySQL-protocol database server"
  "demo|mariadb-server|/usr/bin/mariadb-install-db|creates that server's data directory (the package also makes the mysql user it runs as under root)"
  "demo|mariadb-client|/usr/bin/mariadb|the demo loads its MariaDB schema with it and prints commands for it"
  "demo|openssh-server|/usr/sbin/sshd|the demo's scratch SSH target"
  "demo|openssh-client|/usr/bin/ssh-keygen|the demo makes the keys of its SSH target and identities"
  "test|postgresql|/usr/lib/postgresql/*/bin/initdb|the tests' scratch database servers"
  "test|postgresql-client|/usr/bin/psql|tests drive psql"
  "test|postgresql|/usr/lib/postgresql/*/bin/pgbench|tests drive pgbench"
  "test|openssl|/usr/bin/openssl|tests make TLS certificates"
  "test|python3-venv|python3-module ensurepip|the psycopg driver test runs in a venv of its own"
  "test|mariadb-server|/usr/sbin/mariadbd|the MySQL tests' scratch database servers"
  "test|mariadb-server|/usr/bin/mariadb-install-db|creates their data directories (the package also makes the mysql user they run as under root)"
  "test|mariadb-client|/usr/bin/mariadb|tests drive the mariadb client"
  "test|mariadb-client|/usr/bin/mariadb-dump|client tests drive mariadb-dump, the MySQL world's pg_dump"
  "test|sysbench|/usr/bin/sysbench|tests drive sysbench, the MySQL-protocol load generator"
  "test|openssh-server|/usr/sbin/sshd|the SSH tests' scratch sshd targets"
  "test|openssh-client|/usr/bin/ssh|tests drive ssh, scp and sftp"
  "test|openssh-client|/usr/bin/ssh-keygen|tests make SSH keys"
  "test|sshpass|/usr/bin/sshpass|tests log in to sluice with a token as the SSH password"
  "test|iproute2|/usr/sbin/ip|the agent tests put the target and the agent in a network namespace of their own (ip netns)"
  "test|python3-yaml|/usr/lib/python3/dist-packages/yaml/__init__.py|the deploy tests read docker-compose.yml with PyYAML"
  "test|rsync|/usr/bin/rsync|tests copy files with rsync over ssh"
  "test|asciinema|/usr/bin/asciinema|tests play a terminal recording with asciinema"
  "test|tmux|/usr/bin/tmux|tests drive an interactive ssh shell in a real pseudo-terminal"
  "test|nodejs|/usr/bin/node|runs the OIDC fixture (tests/fixtures/oidc), a real OpenID Provider"
  "test|npm|/usr/bin/npm|installs that fixture's pinned node_modules (npm ci)"
  "test|curl|/usr/bin/curl|tests drive curl through the HTTPS listener (HTTP services, Kubernetes)"
  "test|git|/usr/bin/git|policy repository tests make packed objects, linked worktrees and submodules with git (the gateway reads them with gix); the signals tests commit a policy directory"
  "test|chromium|/usr/lib/chromium/chromium|the browser tests (tests/support/browser.rs) load the web console in a real headless Chromium (this binary, not the /usr/bin/chromium wrapper, whose flags switch extensions and Google services on)"
  "test|chromium-driver|/usr/bin/chromedriver|the browser tests drive that Chromium over WebDriver through chromedriver (Debian's, built from the same source, so its version always matches the browser's)"
  "bench|postgresql|/usr/lib/postgresql/*/bin/initdb|the benchmarks' scratch database server"
  "bench|postgresql-client|/usr/bin/psql|benchmarks drive psql"
  "bench|postgresql|/usr/lib/postgresql/*/bin/pgbench|benchmarks drive pgbench"
  "bench|pgbouncer|/usr/sbin/pgbouncer|the peer bench/pgbench.sh measures against"
  "bench|mariadb-server|/usr/sbin/mariadbd|the MySQL benchmarks' scratch database server"
  "bench|mariadb-server|/usr/bin/mariadb-install-db|creates its data directory (the package also makes the mysql user it runs as under root)"
  "bench|mariadb-client|/usr/bin/mariadb|the scratch server's accounts and schema are made with it"
  "bench|sysbench|/usr/bin/sysbench|the MySQL-protocol load generator"
  "bench|wrk|/usr/bin/wrk|bench/http.sh's load generator"
  "bench|socat|/usr/bin/socat|bench/agent.sh measures a plain TCP forwarder beside the agent: the cost of any extra hop"
  "bench|time|/usr/bin/time|bench/http.sh reads the CPU time wrk takes"
  "bench|nginx-light|/usr/sbin/nginx|the peer bench/http.sh measures against: a TLS reverse proxy that decides, masks and records nothing"
  "bench|jq|/usr/bin/jq|benchmarks read the demo's JSON"
  "bench|openssh-server|/usr/sbin/sshd|bench/ssh.sh's scratch SSH target"
  "bench|openssh-client|/usr/bin/scp|bench/ssh.sh copies with scp and sftp"
  "bench|curl|/usr/bin/curl|benchmarks call the admin API"
  "conformance|postgresql|/usr/lib/postgresql/*/bin/initdb|scripts/conformance.sh's scratch database servers"
  "conformance|postgresql-client|/usr/lib/postgresql/*/lib/pgxs/src/test/regress/pg_regress|pg_regress runs PostgreSQL's own regression suite (Debian ships it with the client)"
  "conformance|postgresql-client|/usr/lib/postgresql/*/bin/psql|pg_regress drives psql"
  "conformance|postgresql-server-dev-15|/usr/include/postgresql/*/server/postgres.h|the server headers regress.so, the regression suite's C functions, compiles against"
  "conformance|gcc|/usr/bin/cc|cc compiles regress.so"
  "conformance|dpkg-dev|/usr/bin/dpkg-source|unpacks PostgreSQL's Debian source package, Debian's patches applied, for its regression suite"
  "conformance|bzip2|/usr/bin/bzip2|PostgreSQL's source tarball is bzip2-compressed"
  "conformance|python3-venv|python3-module ensurepip|asyncpg's test suite runs in a venv of its own"
)

# Crates in Cargo.lock that build native code or link a system library, and the packages of
# this script they need ("none" with the reason otherwise). crates/sluice/tests/system_deps.rs
# fails when `cargo metadata` shows such a crate that is not listed here.
#   crate pg_query: libclang-dev gcc libc6-dev
#   crate clang-sys: libclang-dev
#   crate aws-lc-sys: gcc libc6-dev
#   crate libsqlite3-sys: gcc libc6-dev
#   crate ring: gcc libc6-dev
# psm and stacker are sqlparser's recursion guard (growing the stack for deeply nested MySQL
# text rather than overflowing it); they assemble a few lines with the C compiler.
#   crate psm: gcc libc6-dev
#   crate stacker: gcc libc6-dev
#   crate aws-lc-rs: none (its `links` key names aws-lc-sys's library, built from vendored source)
#   crate prettyplease: none (`links` only keeps one version in a build)
#   crate verus_prettyplease: none (`links` only keeps one version in a build)
#   crate rayon-core: none (`links` only keeps one version in a build)
#   crate defmt: none (`links` only keeps one version in a build)

check_only=false
if [ "${1:-}" = "--check" ]; then check_only=true; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--check] build|demo|test|bench..." >&2; exit 2; }
for group in "$@"; do
  case "$group" in build | demo | test | bench | conformance) ;; *) echo "$0: unknown group $group" >&2; exit 2 ;; esac
done

present() {
  case "$1" in
    python3-module\ *) python3 -c "import ${1#python3-module }" >/dev/null 2>&1 ;;
    *) compgen -G "$1" >/dev/null ;;
  esac
}

packages=()
reasons=()
for row in "${manifest[@]}"; do
  IFS='|' read -r group package file why <<<"$row"
  [[ " $* " == *" $group "* ]] || continue
  present "$file" && continue
  [[ " ${packages[*]} " == *" $package "* ]] && continue
  packages+=("$package")
  reasons+=("$package ($why: no $file)")
done

# Not a Debian package: the OIDC fixture's node_modules, installed by npm from its lock file
# once node and npm are there. Installed modules of another oidc-provider version than the one
# package.json pins count as missing: a checkout made before a re-pin (9.x, which needs Node
# >= 20.18, became 8.x for Debian's Node 18) would otherwise keep running the old one.
oidc_fixture="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/oidc"
oidc_pinned="$(sed -n 's/^ *"oidc-provider": *"\([^"]*\)".*/\1/p' "$oidc_fixture/package.json")"
oidc_installed="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
  "$oidc_fixture/node_modules/oidc-provider/package.json" 2>/dev/null | head -n 1 || true)"
oidc_modules_missing=false
if [[ " $* " == *" test "* ]] && [ "$oidc_installed" != "$oidc_pinned" ]; then
  oidc_modules_missing=true
fi
# Not installable here: kubectl 1.30 or newer (WebSocket exec, kubectl's default since 1.30).
# Debian's kubernetes-client is 1.20; the Kubernetes gateway tests skip, saying so, without
# one. Said once, on stderr, and never a failure: the rest of the suite does not need it.
if [[ " $* " == *" test "* ]] && ! $check_only; then
  kubectl_minor="$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -n 1)"
  if [ -z "$kubectl_minor" ] || [ "$kubectl_minor" -lt 30 ]; then
    echo "install-deps: no kubectl 1.30+ on PATH (Debian packages none): the Kubernetes gateway tests will skip; install kubectl from the Kubernetes project to run them" >&2
  fi
fi
install_oidc_modules() {
  echo "install-deps: npm ci in $oidc_fixture (the OIDC fixture's pinned oidc-provider)"
  (cd "$oidc_fixture" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

if [ ${#packages[@]} -eq 0 ]; then
  if ! $oidc_modules_missing; then exit 0; fi
  if ! $check_only; then install_oidc_modules; exec "$0" --check "$@"; fi
fi
if $check_only; then
  [ ${#reasons[@]} -eq 0 ] || printf 'missing: %s\n' "${reasons[@]}" >&2
  if $oidc_modules_missing; then
    echo "missing: $oidc_fixture/node_modules with oidc-provider $oidc_pinned (npm ci there; found ${oidc_installed:-none})" >&2
  fi
  exit 1
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "install-deps: need root or sudo to install ${packages[*]}" >&2; exit 1
  fi
}
echo "install-deps: installing $(IFS=';'; echo "${reasons[*]}" | sed 's/;/; /g')"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${packages[@]}" > /dev/null 2> >(grep -v "^debconf: delaying" >&2)

if $oidc_modules_missing; then install_oidc_modules; fi

# What was installed must now provide every file: a package that no longer ships a file under
# the name checked for is a broken manifest, not something to discover at build time.
exec "$0" --check "$@"
