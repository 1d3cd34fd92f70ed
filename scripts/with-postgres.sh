#!/usr/bin/env bash
# Usage: scripts/with-postgres.sh CMD [ARGS...]
#
# Starts a throwaway PostgreSQL cluster (loopback only, fsync off, trust auth), creates the
# role/database migrepo/migrepo, runs CMD with
#   MIGREPO_TEST_PG_URL=postgresql+psycopg://migrepo:migrepo@127.0.0.1:<port>/migrepo
# exported, then stops the server and deletes its temp dir (also on Ctrl-C / SIGTERM).
# Exits with CMD's exit status.
#
# If the server binaries are missing and we are root, Debian's `postgresql` package is
# installed with apt-get. If the server cannot be started:
#   - CI=true:  print an error and exit 1 (CMD is not run);
#   - otherwise: warn on stderr and run CMD without MIGREPO_TEST_PG_URL (PG tests skip).
#
# Environment knobs:
#   MIGREPO_PG_BIN            directory with initdb/pg_ctl/pg_isready/psql; default: the
#                             highest /usr/lib/postgresql/<ver>/bin. When set, nothing is
#                             installed; set it to a nonexistent dir (e.g. /nonexistent) to
#                             simulate a server that cannot be started (tests the CI path).
#   MIGREPO_PG_START_TIMEOUT  seconds to wait for the server to accept connections (30).
#   MIGREPO_PG_KEEP_TMP=1     keep the temp dir (data dir + logs) for debugging.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

readonly START_TIMEOUT="${MIGREPO_PG_START_TIMEOUT:-30}"
readonly DB_USER=migrepo DB_PASSWORD=migrepo DB_NAME=migrepo

log() { echo "with-postgres: $*" >&2; }

# is_root, free_port, show_logs
source "$(dirname "${BASH_SOURCE[0]}")/server-lib.sh"

TMP_DIR=""
PG_BIN=""
DATA_DIR=""
SERVER_LOG=""
SETUP_LOG=""
SERVER_STARTED=0

# Run a PostgreSQL server-side binary as the postgres user when we are root (initdb and
# postgres refuse to run as root), as ourselves otherwise. cd to TMP_DIR so the postgres
# user never needs access to the caller's working directory.
as_pg() {
    if is_root; then
        if command -v runuser >/dev/null 2>&1; then
            (cd "$TMP_DIR" && runuser -u postgres -- "$@")
        else
            (cd "$TMP_DIR" && su -s /bin/sh postgres -c "$(printf '%q ' "$@")")
        fi
    else
        (cd "$TMP_DIR" && "$@")
    fi
}

find_pg_bin() {
    if [[ -n "${MIGREPO_PG_BIN:-}" ]]; then
        PG_BIN="$MIGREPO_PG_BIN"
        return 0
    fi
    local candidates
    candidates=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V || true)
    if [[ -z "$candidates" ]]; then
        return 1
    fi
    PG_BIN=$(dirname "$(tail -n 1 <<<"$candidates")")
}

install_postgresql() {
    if ! is_root; then
        log "PostgreSQL server binaries not found and not root: cannot install 'postgresql'"
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "PostgreSQL server binaries not found and apt-get is not available"
        return 1
    fi
    log "installing Debian package 'postgresql' (apt-get)..."
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql; } \
        >"$SETUP_LOG" 2>&1; then
        log "apt-get install postgresql failed; tail of $SETUP_LOG:"
        tail -n 30 "$SETUP_LOG" >&2 || true
        return 1
    fi
}

ensure_postgres_user() {
    is_root || return 0
    id -u postgres >/dev/null 2>&1 && return 0
    log "creating system user 'postgres'"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin postgres
}

# Returns non-zero (never exits) if the server could not be brought up.
start_server() {
    if ! find_pg_bin; then
        install_postgresql || return 1
        find_pg_bin || { log "no initdb under /usr/lib/postgresql/*/bin after install"; return 1; }
    fi
    local tool
    for tool in initdb pg_ctl pg_isready psql; do
        if [[ ! -x "$PG_BIN/$tool" ]]; then
            log "$PG_BIN/$tool not found or not executable"
            return 1
        fi
    done
    ensure_postgres_user || { log "could not create the 'postgres' user"; return 1; }
    if is_root; then
        chown postgres: "$TMP_DIR" || return 1
    fi

    if ! as_pg "$PG_BIN/initdb" -D "$DATA_DIR" --auth=trust -U postgres -E UTF8 --locale=C \
        --no-sync >>"$SETUP_LOG" 2>&1; then
        log "initdb failed"
        return 1
    fi

    local attempt
    for attempt in 1 2 3; do
        PORT=$(free_port)
        local opts="-c listen_addresses=127.0.0.1 -c port=$PORT"
        opts+=" -c unix_socket_directories=$TMP_DIR"
        opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        opts+=" -c max_connections=200"
        if as_pg "$PG_BIN/pg_ctl" start -D "$DATA_DIR" -l "$SERVER_LOG" -o "$opts" \
            -w -t "$START_TIMEOUT" >>"$SETUP_LOG" 2>&1; then
            SERVER_STARTED=1
            break
        fi
        # pg_ctl may have timed out with the postmaster still running: stop it before retrying.
        if [[ -f "$DATA_DIR/postmaster.pid" ]]; then
            SERVER_STARTED=1
            stop_server
        fi
        log "server start attempt $attempt on port $PORT failed"
    done
    [[ $SERVER_STARTED -eq 1 ]] || return 1

    local deadline=$((SECONDS + START_TIMEOUT))
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2 -d postgres -U postgres; do
        if ((SECONDS >= deadline)); then
            log "server not ready after ${START_TIMEOUT}s"
            return 1
        fi
        sleep 0.2
    done

    if ! "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres \
        -d postgres \
        -c "CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD'" \
        -c "GRANT pg_signal_backend TO $DB_USER" \
        -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >>"$SETUP_LOG" 2>&1; then
        log "could not create role/database '$DB_NAME'"
        return 1
    fi
}

stop_server() {
    [[ $SERVER_STARTED -eq 1 ]] || return 0
    SERVER_STARTED=0
    if as_pg "$PG_BIN/pg_ctl" stop -D "$DATA_DIR" -m fast -w -t 15 >>"$SETUP_LOG" 2>&1; then
        return 0
    fi
    as_pg "$PG_BIN/pg_ctl" stop -D "$DATA_DIR" -m immediate -w -t 10 >>"$SETUP_LOG" 2>&1 \
        && return 0
    # Last resort: kill the postmaster (its pid is the first line of postmaster.pid).
    local pid
    pid=$(head -n 1 "$DATA_DIR/postmaster.pid" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]]; then
        log "killing postmaster $pid"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM  # don't leave a server behind if interrupted again while cleaning up
    stop_server || true
    if [[ -n "$TMP_DIR" && -d "$TMP_DIR" ]]; then
        if [[ "${MIGREPO_PG_KEEP_TMP:-}" == 1 ]]; then
            log "keeping $TMP_DIR"
        else
            rm -rf -- "$TMP_DIR"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Under root use /tmp, which the postgres user can traverse; otherwise honour TMPDIR.
if is_root; then
    TMP_DIR=$(mktemp -d /tmp/migrepo-pg.XXXXXX)
else
    TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/migrepo-pg.XXXXXX")
fi
DATA_DIR="$TMP_DIR/data"
SERVER_LOG="$TMP_DIR/server.log"
SETUP_LOG="$TMP_DIR/setup.log"
PORT=""

if start_server; then
    export MIGREPO_TEST_PG_URL="postgresql+psycopg://$DB_USER:$DB_PASSWORD@127.0.0.1:$PORT/$DB_NAME"
    log "PostgreSQL $("$PG_BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$PORT"
else
    show_logs
    stop_server || true
    if [[ "${CI:-}" == "true" ]]; then
        log "ERROR: could not start the throwaway PostgreSQL server (CI=true: failing)"
        exit 1
    fi
    log "WARNING: could not start a PostgreSQL server; running without it" \
        "(PostgreSQL tests will be skipped)"
    unset MIGREPO_TEST_PG_URL
fi

rc=0
"$@" || rc=$?
exit "$rc"
