#!/usr/bin/env bash
# A private PostgreSQL server for the test suite.
#
#   scripts/postgres.sh [start]   ensure it runs; print the DATABASE_URL on stdout (only that)
#   scripts/postgres.sh stop      stop it
#   scripts/postgres.sh restart   stop it (fast: connections are ended) and start it again
#   scripts/postgres.sh url       print the DATABASE_URL
#
# Env: PGTEST_PORT (54329), PGTEST_DIR (data directory; default .data/pgtest), PGTEST_DB
# (member_roles_test). Listens on 127.0.0.1 only, trust authentication, fsync off: for tests only.
# pg_stat_statements is loaded, so the benchmark can count the statements each request costs.
# As root it runs the server as the `postgres` system user (PostgreSQL refuses to run as root).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${PGTEST_PORT:-54329}"
db="${PGTEST_DB:-member_roles_test}"
superuser=postgres
url="postgres://${superuser}@127.0.0.1:${port}/${db}"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  local candidate
  if command -v pg_ctl >/dev/null 2>&1; then
    candidate="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
    if [[ -x "$candidate/initdb" && -x "$candidate/postgres" ]]; then echo "$candidate"; return 0; fi
  fi
  # Newest installed major version.
  candidate="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$candidate" && -x "$candidate/pg_ctl" ]]; then echo "$candidate"; return 0; fi
  return 1
}

ensure_binaries() {
  if bindir="$(find_bindir)"; then return 0; fi
  if [[ "$(id -u)" -ne 0 ]]; then
    log "PostgreSQL server binaries not found; install them (apt-get install postgresql) or run as root."
    exit 1
  fi
  log "PostgreSQL server binaries not found; installing with apt-get."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  bindir="$(find_bindir)" || { log "still no pg_ctl after installing postgresql"; exit 1; }
}

# Runs a command as the user that owns the cluster.
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

choose_owner_and_dir() {
  if [[ "$(id -u)" -eq 0 ]]; then
    owner=postgres
    if ! id "$owner" >/dev/null 2>&1; then
      log "creating system user $owner"
      useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
    fi
  else
    owner="$(id -un)"
  fi

  if [[ -n "${PGTEST_DIR:-}" ]]; then
    datadir="$PGTEST_DIR"
  else
    datadir="$root/.data/pgtest"
    # A checkout under /root (mode 700) is not reachable by the postgres user: use /tmp instead,
    # at a path derived from the checkout so that `stop` finds the same cluster.
    if [[ "$(id -u)" -eq 0 ]] && ! runuser -u "$owner" -- test -x "$root"; then
      datadir="${TMPDIR:-/tmp}/member-roles-pgtest-$(printf '%s' "$root" | md5sum | cut -c1-8)"
    fi
  fi
}

is_running() {
  [[ -f "$datadir/PG_VERSION" ]] && as_owner "$bindir/pg_ctl" status -D "$datadir" >/dev/null 2>&1
}

start() {
  ensure_binaries
  choose_owner_and_dir
  local version
  version="$("$bindir/pg_ctl" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/')"
  if (( version < 15 )); then
    log "PostgreSQL $version found in $bindir; 15 or newer is required."
    exit 1
  fi

  if [[ ! -f "$datadir/PG_VERSION" ]]; then
    log "initializing a cluster in $datadir (PostgreSQL $version)"
    mkdir -p "$datadir"
    if [[ "$(id -u)" -eq 0 ]]; then chown "$owner" "$datadir"; fi
    chmod 700 "$datadir"
    as_owner "$bindir/initdb" -D "$datadir" -U "$superuser" --auth=trust --encoding=UTF8 \
      --locale=C --no-instructions >/dev/null
  fi

  if is_running; then
    log "already running ($datadir)"
  else
    log "starting on 127.0.0.1:$port ($datadir)"
    # No Unix socket (its default directory may not exist or be writable); TCP on loopback only.
    as_owner "$bindir/pg_ctl" start -D "$datadir" -w -t 60 -l "$datadir/server.log" \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c fsync=off \
          -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
          -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" >/dev/null \
      || { log "failed to start; last lines of $datadir/server.log:"; tail -n 20 "$datadir/server.log" >&2; exit 1; }
  fi

  if [[ "$(as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$superuser" -d postgres -tAc \
        "select 1 from pg_database where datname = '$db'")" != 1 ]]; then
    log "creating database $db"
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$superuser" "$db"
  fi
  echo "$url"
}

stop() {
  bindir="$(find_bindir)" || { log "no PostgreSQL binaries; nothing to stop"; return 0; }
  choose_owner_and_dir
  if is_running; then
    as_owner "$bindir/pg_ctl" stop -D "$datadir" -m fast -w >/dev/null
    log "stopped ($datadir)"
  else
    log "not running ($datadir)"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  url) echo "$url" ;;
  *) echo "usage: $0 [start|stop|restart|url]" >&2; exit 2 ;;
esac
