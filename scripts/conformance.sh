#!/usr/bin/env bash
# Runs two clients' own test suites against a PostgreSQL server twice, directly and through a
# sluice gateway that allows everything, and reports every test whose outcome differs:
# PostgreSQL's regression suite (pg_regress, the whole parallel_schedule) and asyncpg's test
# suite. docs/conformance.md says what it does and how to read the result.
#
#   scripts/conformance.sh [--suite pg_regress|asyncpg]... [--results DIR] [--no-pgoptions]
#
#   --suite NAME     run only this suite (repeatable; default: both)
#   --results DIR    where to keep the results (default: target/conformance/<UTC time>)
#   --no-pgoptions   pg_regress always connects with PGOPTIONS="-c intervalstyle=postgres_verbose";
#                    make that setting a database default instead and start psql without
#                    PGOPTIONS, in both runs (to see past a gateway that refuses `options`)
#
# Environment: SLUICE (the binary, default target/release/sluice; build it first, this script
# does not), ASYNCPG_VERSION (default 0.30.0), PG_REGRESS_TIMEOUT and ASYNCPG_TIMEOUT (seconds
# per run of a suite, default 1800), CONFORMANCE_TEST_TIMEOUT (seconds per asyncpg test,
# default 120), CONFORMANCE_CACHE (downloaded sources, default target/conformance-cache),
# CONFORMANCE_SSLMODE (the clients' sslmode, default disable: the same plaintext transport
# both ways; `prefer` has the clients use TLS to the gateway).
#
# Exit status: 0 when every difference is listed in scripts/conformance/expected-differences.txt,
# 1 when one is not, 2 when the harness itself failed. Needs network access to the Debian
# mirror apt is configured with (PostgreSQL's source package) and to PyPI (asyncpg), only
# when what they provide is not cached yet. Everything it starts listens on 127.0.0.1 and is
# stopped on exit; its scratch directories are removed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
HERE=$ROOT/scripts/conformance

SLUICE=${SLUICE:-target/release/sluice}
ASYNCPG_VERSION=${ASYNCPG_VERSION:-0.30.0}
PG_REGRESS_TIMEOUT=${PG_REGRESS_TIMEOUT:-1800}
ASYNCPG_TIMEOUT=${ASYNCPG_TIMEOUT:-1800}
CONFORMANCE_TEST_TIMEOUT=${CONFORMANCE_TEST_TIMEOUT:-120}
CONFORMANCE_SSLMODE=${CONFORMANCE_SSLMODE:-disable}
CACHE=${CONFORMANCE_CACHE:-$ROOT/target/conformance-cache}
VENV=$ROOT/target/conformance-venv

suites=()
results=""
no_pgoptions=false
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) [ $# -ge 2 ] || { echo "$0: --suite needs a name" >&2; exit 2; }
      case "$2" in pg_regress | asyncpg) suites+=("$2") ;; *) echo "$0: unknown suite $2" >&2; exit 2 ;; esac
      shift 2 ;;
    --results) [ $# -ge 2 ] || { echo "$0: --results needs a directory" >&2; exit 2; }
      results=$2; shift 2 ;;
    --no-pgoptions) no_pgoptions=true; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "$0: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#suites[@]} -gt 0 ] || suites=(pg_regress asyncpg)

log() { printf '[conformance %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

scripts/install-deps.sh conformance

[ -x "$SLUICE" ] || die "no sluice binary at $SLUICE: build it (cargo build --release) or set SLUICE"
SLUICE=$(realpath "$SLUICE")

PG_BINDIR=$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n 1)")
PG_MAJOR=$(basename "$(dirname "$PG_BINDIR")")
PG_PKGLIBDIR=$("$PG_BINDIR/pg_config" --pkglibdir)
# Debian ships pg_regress with the client (postgresql-client-15), in the PGXS tree.
PG_REGRESS=$PG_PKGLIBDIR/pgxs/src/test/regress/pg_regress
[ -x "$PG_REGRESS" ] || die "no pg_regress for PostgreSQL $PG_MAJOR at $PG_REGRESS"

if [ -z "$results" ]; then results=$ROOT/target/conformance/$(date -u +%Y%m%dT%H%M%SZ); fi
mkdir -p "$results"
results=$(realpath "$results")

# Scratch space: servers, gateways, the suites' working copies. Removed on exit.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-conformance.XXXXXX")
chmod 755 "$WORK"
gateway_pids=()
clusters=()
bounded_pid=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$bounded_pid" ]; then
    kill -TERM -- "-$bounded_pid" 2>/dev/null || kill -TERM "$bounded_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$bounded_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$bounded_pid" 2>/dev/null || true
  fi
  for pid in "${gateway_pids[@]}"; do
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for data in "${clusters[@]}"; do
    as_pg "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# PostgreSQL refuses to run as root: then the servers (and so the files they write) belong to
# the postgres system user, as in crates/sluice/src/scratch_pg.rs.
if [ "$(id -u)" -eq 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
  own() { chown -R postgres: "$@"; }
else
  as_pg() { "$@"; }
  own() { :; }
fi

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A clean environment for the clients: nothing from the caller's PG* variables. Both runs of a
# suite use the same transport: plaintext unless CONFORMANCE_SSLMODE says otherwise (the
# scratch servers have no TLS, the gateway does, so `prefer` means TLS through sluice only).
client_env() {
  env -i PATH="$PATH" HOME="$WORK" LANG=C.UTF-8 TZ=UTC PGSSLMODE="$CONFORMANCE_SSLMODE" "$@"
}

# run_bounded LOG DIR SECONDS VAR=VALUE... -- COMMAND...: COMMAND in DIR, in the clients' clean
# environment plus the VARs, stopped after SECONDS (then exit status 124). It runs in the
# background, in a process group of its own (timeout's), so that Ctrl-C reaches this script at
# once and the cleanup can stop all of it, psql processes included.
run_bounded() {
  local log=$1 dir=$2 limit=$3 vars=() status=0
  shift 3
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  (cd "$dir" && exec env -i PATH="$PATH" HOME="$WORK" LANG=C.UTF-8 TZ=UTC \
    PGSSLMODE="$CONFORMANCE_SSLMODE" "${vars[@]}" timeout -k 30 "$limit" "$@") >"$log" 2>&1 &
  bounded_pid=$!
  wait "$bounded_pid" || status=$?
  bounded_pid=""
  return "$status"
}

SUPERUSER_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# start_cluster NAME: a fresh cluster in $WORK/NAME; sets CLUSTER_PORT. The superuser postgres
# logs in with SCRAM (its password is what the gateway holds); other roles, which the suites
# create for themselves, are trusted on loopback, so that a suite's reconnection as one of its
# roles works directly, as it does in the suites' own setups.
start_cluster() {
  local dir=$WORK/$1
  mkdir -p "$dir"
  printf '%s' "$SUPERUSER_PASSWORD" >"$dir/pwfile"
  own "$dir"
  as_pg "$PG_BINDIR/initdb" -D "$dir/pgdata" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --pwfile="$dir/pwfile" >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pwfile"
  CLUSTER_PORT=$(free_port)
  printf '%s\n' \
    "host all postgres 127.0.0.1/32 scram-sha-256" \
    "host all all 127.0.0.1/32 trust" >"$dir/pgdata/pg_hba.conf"
  cat >>"$dir/pgdata/postgresql.conf" <<EOF
# scripts/conformance.sh
listen_addresses = '127.0.0.1'
port = $CLUSTER_PORT
unix_socket_directories = ''
max_connections = 200
max_prepared_transactions = 10
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  own "$dir"
  clusters+=("$dir/pgdata")
  as_pg "$PG_BINDIR/pg_ctl" -D "$dir/pgdata" -l "$dir/postgres.log" -w -t 60 start >/dev/null \
    || { cat "$dir/postgres.log" >&2; die "postgres did not start"; }
}

stop_cluster() {
  as_pg "$PG_BINDIR/pg_ctl" -D "$WORK/$1/pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# superuser_sql PORT DATABASE SQL
superuser_sql() {
  client_env PGPASSWORD="$SUPERUSER_PASSWORD" "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$1" -U postgres -d "$2" -c "$3" >/dev/null
}

# start_gateway NAME CLUSTER_PORT: a gateway in $WORK/NAME in front of that cluster, with the
# allow-everything policy of scripts/conformance/policy, identity `postgres` (the name the
# clients log in with) and targets `regression` and `postgres` (databases of those names),
# which log in as the superuser. Sets GATEWAY_PORT and TOKEN.
start_gateway() {
  local dir=$WORK/$1 admin_port
  mkdir -p "$dir"
  cp -r "$HERE/policy" "$dir/policy"
  (umask 077; printf '%s' "$SUPERUSER_PASSWORD" >"$dir/target-password")
  GATEWAY_PORT=$(free_port)
  admin_port=$(free_port)
  local target
  {
    cat <<EOF
# Written by scripts/conformance.sh
[gateway]
data_dir = "data"

[postgres]
listen = "127.0.0.1:$GATEWAY_PORT"

[admin]
listen = "127.0.0.1:$admin_port"

[log]
format = "json"
level = "info"

[policy]
dir = "policy"
watch = false
# The policy is trivial; a longer limit keeps a loaded machine from turning slowness into denials.
eval_timeout = "2s"

[[identities]]
name = "postgres"
kind = "service"
EOF
    # A target for every database the suites connect to, those asyncpg's tests create as
    # they run included: sluice reaches only configured targets, as a deployment would
    # configure the databases it serves.
    for target in regression postgres testdb asyncpg_intro_test; do
      cat <<EOF

[[targets]]
name = "$target"
kind = "postgres"
host = "127.0.0.1"
port = $2
database = "$target"
user = "postgres"
password_file = "target-password"
tls = "disable"
EOF
    done
  } >"$dir/sluice.toml"
  TOKEN=$("$SLUICE" token create --config "$dir/sluice.toml" --identity postgres --ttl 4h 2>/dev/null) \
    || die "sluice token create failed"
  "$SLUICE" serve --config "$dir/sluice.toml" >"$dir/sluice.log" 2>&1 &
  gateway_pids+=($!)
  local pid=$!
  for _ in $(seq 300); do
    port_open "$GATEWAY_PORT" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$dir/sluice.log" >&2
  die "the gateway did not start"
}

stop_gateway() {
  local pid=${gateway_pids[-1]}
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL's regression suite, from the Debian source package of the installed server.

# Sets REGRESS_SRC to a cached copy of src/test/regress of the installed server's source
# package (Debian's patches applied), fetched with apt from the configured Debian mirror.
fetch_regress_source() {
  local binpkg srcpkg version cached
  binpkg=$(dpkg-query -S "$PG_BINDIR/postgres" | cut -d: -f1)
  srcpkg=$(dpkg-query -W -f='${source:Package}' "$binpkg")
  version=$(dpkg-query -W -f='${source:Version}' "$binpkg")
  cached=$CACHE/$srcpkg-$version
  REGRESS_SRC=$cached/regress
  if [ -f "$cached/source-version" ]; then
    REGRESS_SOURCE_VERSION=$(cat "$cached/source-version")
    return
  fi
  log "fetching the source package $srcpkg (installed: $version) for its regression suite"
  # A private apt configuration: the system's Debian sources as deb-src, lists in $WORK.
  local apt=$WORK/apt f
  mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/src"
  : >"$apt/sources.list"
  if [ -f /etc/apt/sources.list ]; then
    sed -nE 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list >>"$apt/sources.list"
  fi
  for f in /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -nE 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >>"$apt/sources.list"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed -E 's/^Types:.*$/Types: deb-src/' "$f" >"$apt/sources.list.d/$(basename "$f")"
  done
  local aptopts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1
    -o APT::Sandbox::User="$(id -un)" -o Acquire::Retries=3)
  timeout 600 apt-get "${aptopts[@]}" -qq update >"$apt/update.log" 2>&1 \
    || log "apt-get update reported problems (see below if the download fails)"
  # The installed version first; a mirror may serve a security update's binaries and not its
  # source, so then the newest other version of the same source package.
  local candidates=("$version") v got=""
  while read -r v; do
    [ "$v" != "$version" ] && candidates+=("$v")
  done < <(apt-cache "${aptopts[@]}" showsrc "$srcpkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -Vru)
  for v in "${candidates[@]}"; do
    if (cd "$apt/src" && timeout 600 apt-get "${aptopts[@]}" -qq source --download-only "$srcpkg=$v") \
      >>"$apt/source.log" 2>&1; then
      got=$v
      break
    fi
  done
  if [ -z "$got" ]; then
    cat "$apt/update.log" "$apt/source.log" >&2
    die "could not download the source package $srcpkg (tried ${candidates[*]})"
  fi
  [ "$got" = "$version" ] || log "warning: the mirror has no source for $srcpkg $version; using $got's regression suite"
  dpkg-source --no-check -x "$apt/src/${srcpkg}_${got#*:}.dsc" "$apt/src/tree" >"$apt/dpkg-source.log" 2>&1 \
    || { cat "$apt/dpkg-source.log" >&2; die "dpkg-source could not unpack $srcpkg $got"; }
  rm -rf "$cached.partial"
  mkdir -p "$cached.partial/regress"
  local regress=$apt/src/tree/src/test/regress
  cp -r "$regress/sql" "$regress/expected" "$regress/data" "$regress/parallel_schedule" \
    "$regress/resultmap" "$regress/regress.c" "$cached.partial/regress/"
  echo "$got" >"$cached.partial/source-version"
  rm -rf "$cached"
  mv "$cached.partial" "$cached"
  rm -rf "$apt"
  REGRESS_SOURCE_VERSION=$got
}

# The suite's C functions (regress.so), beside the contrib modules its setup loads.
build_regress_lib() {
  local lib=$WORK/regress-lib
  mkdir -p "$lib"
  # shellcheck disable=SC2046
  cc $("$PG_BINDIR/pg_config" --cflags) $("$PG_BINDIR/pg_config" --cflags_sl) \
    -I"$("$PG_BINDIR/pg_config" --includedir-server)" -shared \
    -o "$lib/regress.so" "$REGRESS_SRC/regress.c" >"$WORK/regress-cc.log" 2>&1 \
    || { cat "$WORK/regress-cc.log" >&2; die "could not compile regress.so"; }
  ln -s "$PG_PKGLIBDIR/autoinc.so" "$PG_PKGLIBDIR/refint.so" "$lib/"
  REGRESS_LIB=$lib
}

# run_pg_regress MODE PORT PASSWORD: the whole schedule, into $results/pg_regress/MODE.
run_pg_regress() {
  local mode=$1 port=$2 password=$3
  local out=$WORK/pg_regress-$mode bindir=$PG_BINDIR status=0 started
  mkdir -p "$out/results"
  own "$out"
  if $no_pgoptions; then bindir=$WORK/psql-without-pgoptions; fi
  started=$(date +%s)
  run_bounded "$out/pg_regress.out" "$out" "$PG_REGRESS_TIMEOUT" PGPASSWORD="$password" -- \
    "$PG_REGRESS" --use-existing --bindir="$bindir" \
    --inputdir="$WORK/regress-src" --outputdir="$out" --dlpath="$REGRESS_LIB" \
    --schedule="$WORK/regress-src/parallel_schedule" \
    --host=127.0.0.1 --port="$port" --user=postgres --dbname=regression || status=$?
  local took=$(($(date +%s) - started))
  [ "$status" -eq 124 ] && log "pg_regress $mode: timed out after ${PG_REGRESS_TIMEOUT}s"
  mkdir -p "$results/pg_regress/$mode"
  cp -r "$out/." "$results/pg_regress/$mode/"
  echo "$took" >"$results/pg_regress/$mode/seconds"
  log "pg_regress $mode: $(grep -cE '\.\.\. +ok' "$out/pg_regress.out" || true) ok, $(grep -cE '\.\.\. +(FAILED|failed)' "$out/pg_regress.out" || true) failed, ${took}s"
}

# The regression database as pg_regress would create it without --use-existing.
create_regression_database() {
  local port=$1 db=regression
  superuser_sql "$port" postgres "CREATE DATABASE $db TEMPLATE=template0"
  superuser_sql "$port" postgres "ALTER DATABASE $db SET lc_messages TO 'C';
    ALTER DATABASE $db SET lc_monetary TO 'C'; ALTER DATABASE $db SET lc_numeric TO 'C';
    ALTER DATABASE $db SET lc_time TO 'C'; ALTER DATABASE $db SET bytea_output TO 'hex';
    ALTER DATABASE $db SET timezone_abbreviations TO 'Default';"
  if $no_pgoptions; then
    superuser_sql "$port" postgres "ALTER DATABASE $db SET intervalstyle TO 'postgres_verbose'"
  fi
}

suite_pg_regress() {
  fetch_regress_source
  build_regress_lib
  log "pg_regress: PostgreSQL $PG_MAJOR's suite from source package version $REGRESS_SOURCE_VERSION, server $("$PG_BINDIR/postgres" --version | awk '{print $3}')"
  cp -r "$REGRESS_SRC" "$WORK/regress-src"
  own "$WORK/regress-src" "$REGRESS_LIB"
  mkdir -p "$results/pg_regress"
  sed -n 's/^test: *//p' "$WORK/regress-src/parallel_schedule" | tr ' ' '\n' | sed '/^$/d' \
    >"$results/pg_regress/tests.txt"
  echo "$REGRESS_SOURCE_VERSION" >"$results/pg_regress/source-version"
  if $no_pgoptions; then
    mkdir -p "$WORK/psql-without-pgoptions"
    printf '#!/bin/sh\nunset PGOPTIONS\nexec %s/psql "$@"\n' "$PG_BINDIR" >"$WORK/psql-without-pgoptions/psql"
    chmod 755 "$WORK/psql-without-pgoptions/psql"
  fi

  log "pg_regress: directly against a scratch server"
  start_cluster pg-direct
  create_regression_database "$CLUSTER_PORT"
  run_pg_regress direct "$CLUSTER_PORT" "$SUPERUSER_PASSWORD"
  stop_cluster pg-direct
  cp "$WORK/pg-direct/postgres.log" "$results/pg_regress/direct/postgres.log"

  log "pg_regress: through sluice, in front of another scratch server"
  start_cluster pg-sluice
  create_regression_database "$CLUSTER_PORT"
  start_gateway gw-pg "$CLUSTER_PORT"
  run_pg_regress sluice "$GATEWAY_PORT" "$TOKEN"
  stop_gateway
  stop_cluster pg-sluice
  cp "$WORK/pg-sluice/postgres.log" "$results/pg_regress/sluice/postgres.log"
  cp "$WORK/gw-pg/sluice.log" "$results/pg_regress/sluice/gateway.log"
}

# ---------------------------------------------------------------------------------------------
# asyncpg's test suite, from its sdist, against the asyncpg release of the same version.

prepare_asyncpg() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import asyncpg, distro, sys; sys.exit(asyncpg.__version__ != '$ASYNCPG_VERSION')" 2>/dev/null; then
    log "installing asyncpg $ASYNCPG_VERSION and its tests' requirements into $VENV"
    "$VENV/bin/pip" install -q "asyncpg==$ASYNCPG_VERSION" 'distro~=1.9.0' || die "pip install failed"
  fi
  local sdist=$CACHE/asyncpg-$ASYNCPG_VERSION.tar.gz
  if [ ! -f "$sdist" ]; then
    log "downloading asyncpg $ASYNCPG_VERSION's sdist for its tests"
    mkdir -p "$CACHE"
    "$VENV/bin/pip" download -q --no-deps --no-binary :all: -d "$WORK/sdist" "asyncpg==$ASYNCPG_VERSION" \
      || die "could not download asyncpg's sdist"
    mv "$WORK/sdist/asyncpg-$ASYNCPG_VERSION.tar.gz" "$sdist"
  fi
  # Only tests/: asyncpg's own source beside it would shadow the installed, compiled package.
  mkdir -p "$WORK/asyncpg-tests"
  tar -xzf "$sdist" -C "$WORK/asyncpg-tests" --strip-components=1 "asyncpg-$ASYNCPG_VERSION/tests"
}

# run_asyncpg OUTPUT_NAME PORT PASSWORD [TEST_ID...]: into $results/asyncpg/OUTPUT_NAME.{tsv,tracebacks,out}
run_asyncpg() {
  local name=$1 port=$2 password=$3 status=0 started
  shift 3
  started=$(date +%s)
  run_bounded "$results/asyncpg/$name.out" "$WORK/asyncpg-tests" "$ASYNCPG_TIMEOUT" \
    PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGPASSWORD="$password" PGDATABASE=postgres \
    CONFORMANCE_TEST_TIMEOUT="$CONFORMANCE_TEST_TIMEOUT" -- \
    "$VENV/bin/python" "$HERE/asyncpg_runner.py" "$WORK/asyncpg-tests" "$results/asyncpg/$name" "$@" \
    || status=$?
  local took=$(($(date +%s) - started))
  echo "$took" >"$results/asyncpg/$name.seconds"
  [ "$status" -eq 124 ] && log "asyncpg $name: timed out after ${ASYNCPG_TIMEOUT}s"
  log "asyncpg $name: $(cut -f2 "$results/asyncpg/$name.tsv" 2>/dev/null | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')${took}s"
}

suite_asyncpg() {
  prepare_asyncpg
  mkdir -p "$results/asyncpg"
  echo "$ASYNCPG_VERSION" >"$results/asyncpg/asyncpg-version"
  log "asyncpg $ASYNCPG_VERSION: directly against a scratch server"
  start_cluster apg-direct
  local direct_port=$CLUSTER_PORT
  run_asyncpg direct "$direct_port" "$SUPERUSER_PASSWORD"
  log "asyncpg $ASYNCPG_VERSION: through sluice, in front of another scratch server"
  start_cluster apg-sluice
  start_gateway gw-apg "$CLUSTER_PORT"
  run_asyncpg sluice "$GATEWAY_PORT" "$TOKEN"
  # Timing-sensitive tests can differ by chance: run the differing ones again, both ways.
  mapfile -t differing < <("$VENV/bin/python" "$HERE/compare.py" --differing "$results" asyncpg)
  if [ ${#differing[@]} -gt 0 ]; then
    log "asyncpg: running the ${#differing[@]} differing test(s) again, both ways"
    run_asyncpg rerun-direct "$direct_port" "$SUPERUSER_PASSWORD" "${differing[@]}"
    run_asyncpg rerun-sluice "$GATEWAY_PORT" "$TOKEN" "${differing[@]}"
  fi
  stop_gateway
  stop_cluster apg-sluice
  stop_cluster apg-direct
  cp "$WORK/gw-apg/sluice.log" "$results/asyncpg/gateway.log"
  cp "$WORK/apg-direct/postgres.log" "$results/asyncpg/postgres-direct.log"
  cp "$WORK/apg-sluice/postgres.log" "$results/asyncpg/postgres-sluice.log"
}

# ---------------------------------------------------------------------------------------------

# The venv's Python also serves the harness (free ports, the comparison).
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"

log "results: $results"
log "sluice: $SLUICE"
for suite in "${suites[@]}"; do
  "suite_$suite"
done

status=0
"$VENV/bin/python" "$HERE/compare.py" "$results" "$HERE/expected-differences.txt" "${suites[@]}" \
  | tee "$results/summary.txt" || status=$?
for suite in "${suites[@]}"; do
  case "$suite" in
    pg_regress) echo "pg_regress took $(cat "$results/pg_regress/direct/seconds")s directly, $(cat "$results/pg_regress/sluice/seconds")s through sluice" ;;
    asyncpg) echo "asyncpg took $(cat "$results/asyncpg/direct.seconds")s directly, $(cat "$results/asyncpg/sluice.seconds")s through sluice" ;;
  esac
done | tee -a "$results/summary.txt"
echo "results, per-test diffs and logs: $results" | tee -a "$results/summary.txt"
exit "$status"
