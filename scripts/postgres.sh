#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for the tests and benchmarks of the PostgreSQL store.
#
# Usage: scripts/postgres.sh start   starts it (or finds it running) and prints
#                                    export FHIRBRIDGE_TEST_POSTGRES_DSN='...'
#                                    so that `eval "$(scripts/postgres.sh start)"` sets it up
#        scripts/postgres.sh dsn     prints the connection string only
#        scripts/postgres.sh stop    stops it and deletes its files
#
# The cluster lives in FHIRBRIDGE_POSTGRES_DIR (default /tmp/fhirbridge-postgres-<hash of this
# checkout>; ctest's postgres fixture passes its own), listens on a Unix socket in that directory only (no TCP port, so clusters of several
# checkouts never collide) and trusts the local user `fhirbridge`. It runs with fsync off: it
# holds test data only. PostgreSQL refuses to run as root, so under root (as in CI) the server
# runs as the unprivileged `postgres` system user, which owns the directory.
#
# With FHIRBRIDGE_SKIP_POSTGRES=1 every command does nothing.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
checkout_hash="$(printf '%s' "$repo_dir" | md5sum | cut -c1-12)"
cluster_dir="${FHIRBRIDGE_POSTGRES_DIR:-/tmp/fhirbridge-postgres-$checkout_hash}"
readonly port=5432
readonly user=fhirbridge
dsn="host=$cluster_dir port=$port user=$user dbname=postgres"

fail() {
  echo "postgres.sh: $*" >&2
  exit 1
}

[[ "${FHIRBRIDGE_SKIP_POSTGRES:-0}" == 1 ]] && exit 0

bin_dir=""
if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
  bin_dir="$(pg_config --bindir)"
else
  bin_dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
fi

# Runs a server program as the cluster's owner.
as_owner=()
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 ||
    fail "running as root needs the 'postgres' system user (apt-get install postgresql)"
  as_owner=(runuser -u postgres --)
fi

running() {
  [[ -f "$cluster_dir/data/PG_VERSION" ]] &&
    "${as_owner[@]}" "$bin_dir/pg_ctl" -D "$cluster_dir/data" status >/dev/null 2>&1
}

start() {
  [[ -n "$bin_dir" && -x "$bin_dir/initdb" ]] ||
    fail "PostgreSQL's server programs are missing; install the postgresql package (scripts/setup.sh)"
  if ! running; then
    rm -rf "$cluster_dir"
    mkdir -p "$cluster_dir"
    chmod 0700 "$cluster_dir"
    if ((${#as_owner[@]})); then chown postgres: "$cluster_dir"; fi
    "${as_owner[@]}" "$bin_dir/initdb" -D "$cluster_dir/data" -U "$user" -A trust -E UTF8 \
      --locale=C --no-sync >"$cluster_dir/initdb.log" 2>&1 ||
      fail "initdb failed; see $cluster_dir/initdb.log"
    "${as_owner[@]}" "$bin_dir/pg_ctl" -D "$cluster_dir/data" -l "$cluster_dir/server.log" -w \
      -t 60 -o "-c listen_addresses='' -c unix_socket_directories='$cluster_dir' -p $port \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null || fail "the server did not start; see $cluster_dir/server.log"
  fi
  echo "export FHIRBRIDGE_TEST_POSTGRES_DSN='$dsn'"
}

stop() {
  if running; then
    "${as_owner[@]}" "$bin_dir/pg_ctl" -D "$cluster_dir/data" -m fast -w stop >/dev/null
  fi
  rm -rf "$cluster_dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  dsn) echo "$dsn" ;;
  *) fail "usage: scripts/postgres.sh start|stop|dsn" ;;
esac
