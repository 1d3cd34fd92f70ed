#!/usr/bin/env bash
# Usage: scripts/with-mariadb.sh CMD [ARGS...]
#
# Starts a throwaway MariaDB server (loopback only, a socket and data dir in a temp dir, no
# binlog, no fsync), creates the user/database migrepo/migrepo, runs CMD with
#   MIGREPO_TEST_MYSQL_URL=mysql+pymysql://migrepo:migrepo@127.0.0.1:<port>/migrepo
# exported, then stops the server and deletes its temp dir (also on Ctrl-C / SIGTERM).
# Exits with CMD's exit status. The system's own server (/var/lib/mysql, the Debian
# service), if there is one, is neither used nor touched.
#
# If `mariadbd` (or `mysqld`) is missing and we are root, Debian's packages are installed
# with apt-get: `mariadb-server-core mariadb-client-core`, which hold the server, the
# install-db script and the client, and have no maintainer scripts (nothing is started,
# no /var/lib/mysql is created); where those names do not exist (before Debian 12) the
# `mariadb-server` package instead. If the server cannot be started:
#   - CI=true:  print an error and exit 1 (CMD is not run);
#   - otherwise: warn on stderr and run CMD without MIGREPO_TEST_MYSQL_URL (tests skip).
#
# Environment knobs:
#   MIGREPO_MYSQL_BIN            directory with mariadbd (or mysqld), mariadb-install-db (or
#                                mysql_install_db) and mariadb (or mysql); default: PATH,
#                                /usr/sbin, /usr/bin. When set, nothing is installed; set it
#                                to a nonexistent dir to simulate a server that cannot start.
#   MIGREPO_MYSQL_START_TIMEOUT  seconds to wait for the server to accept connections (60).
#   MIGREPO_MYSQL_KEEP_TMP=1     keep the temp dir (data dir + logs) for debugging.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

readonly START_TIMEOUT="${MIGREPO_MYSQL_START_TIMEOUT:-60}"
readonly DB_USER=migrepo DB_PASSWORD=migrepo DB_NAME=migrepo

log() { echo "with-mariadb: $*" >&2; }

# is_root, free_port, show_logs
source "$(dirname "${BASH_SOURCE[0]}")/server-lib.sh"

TMP_DIR=""
SERVER=""
INSTALL_DB=""
CLIENT=""
DATA_DIR=""
SOCKET=""
SERVER_LOG=""
SETUP_LOG=""
SERVER_PID=""
PORT=""

# The first of the names found in MIGREPO_MYSQL_BIN, or else on PATH, /usr/sbin, /usr/bin.
find_tool() {
    local name dir
    for name in "$@"; do
        if [[ -n "${MIGREPO_MYSQL_BIN:-}" ]]; then
            [[ -x "$MIGREPO_MYSQL_BIN/$name" ]] && { echo "$MIGREPO_MYSQL_BIN/$name"; return 0; }
            continue
        fi
        command -v "$name" 2>/dev/null && return 0
        for dir in /usr/sbin /usr/bin; do
            [[ -x "$dir/$name" ]] && { echo "$dir/$name"; return 0; }
        done
    done
    return 1
}

find_tools() {
    SERVER=$(find_tool mariadbd mysqld) || return 1
    INSTALL_DB=$(find_tool mariadb-install-db mysql_install_db) || return 1
    CLIENT=$(find_tool mariadb mysql) || return 1
}

install_mariadb() {
    if [[ -n "${MIGREPO_MYSQL_BIN:-}" ]]; then
        log "no MariaDB server, install-db script or client in MIGREPO_MYSQL_BIN=$MIGREPO_MYSQL_BIN"
        return 1
    fi
    if ! is_root; then
        log "MariaDB server binaries not found and not root: cannot install them"
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "MariaDB server binaries not found and apt-get is not available"
        return 1
    fi
    log "installing Debian's MariaDB server (apt-get)..."
    export DEBIAN_FRONTEND=noninteractive
    local install=(apt-get install -y -qq --no-install-recommends)
    if ! apt-get update -qq >"$SETUP_LOG" 2>&1; then
        log "apt-get update failed; tail of $SETUP_LOG:"
        tail -n 30 "$SETUP_LOG" >&2 || true
        return 1
    fi
    if ! "${install[@]}" mariadb-server-core mariadb-client-core >>"$SETUP_LOG" 2>&1 \
        && ! "${install[@]}" mariadb-server >>"$SETUP_LOG" 2>&1; then
        log "apt-get install mariadb-server failed; tail of $SETUP_LOG:"
        tail -n 30 "$SETUP_LOG" >&2 || true
        return 1
    fi
}

# The server runs as root only when we are root (it needs --user=root to agree to).
user_opt() {
    if is_root; then
        echo "--user=root"
    fi
}

# SQL as the server's root user, over the socket (root has no password: see install-db).
as_root_sql() {
    "$CLIENT" --no-defaults --protocol=socket --socket="$SOCKET" -uroot --batch \
        --skip-column-names "$@"
}

server_alive() { [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; }

# Returns 0 once the server answers, 1 if it died or did not answer in time.
wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until as_root_sql -e "SELECT 1" >/dev/null 2>&1; do
        if ! server_alive; then
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "server not ready after ${START_TIMEOUT}s"
            return 1
        fi
        sleep 0.2
    done
}

# Returns non-zero (never exits) if the server could not be brought up.
start_server() {
    if ! find_tools; then
        install_mariadb || return 1
        find_tools || { log "no mariadbd, mariadb-install-db or mariadb after install"; return 1; }
    fi

    # --no-defaults first everywhere: /etc/mysql/*.cnf belong to the system's server.
    # normal: root@localhost with no password, reachable only on our socket.
    # shellcheck disable=SC2046
    if ! "$INSTALL_DB" --no-defaults --datadir="$DATA_DIR" $(user_opt) \
        --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
        >>"$SETUP_LOG" 2>&1; then
        log "$(basename "$INSTALL_DB") failed"
        return 1
    fi

    local attempt
    for attempt in 1 2 3; do
        PORT=$(free_port)
        # shellcheck disable=SC2046
        "$SERVER" --no-defaults $(user_opt) --datadir="$DATA_DIR" --tmpdir="$TMP_DIR" \
            --socket="$SOCKET" --pid-file="$TMP_DIR/mariadbd.pid" --log-error="$SERVER_LOG" \
            --bind-address=127.0.0.1 --port="$PORT" --skip-name-resolve \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
            --skip-log-bin --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
            --innodb-buffer-pool-size=64M --max-connections=200 \
            </dev/null >>"$SETUP_LOG" 2>&1 &
        SERVER_PID=$!
        if wait_ready; then
            break
        fi
        stop_server
        log "server start attempt $attempt on port $PORT failed"
    done
    server_alive || return 1

    if ! as_root_sql -e "CREATE DATABASE $DB_NAME;
        CREATE USER '$DB_USER'@'%' IDENTIFIED BY '$DB_PASSWORD';
        GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%';" >>"$SETUP_LOG" 2>&1; then
        log "could not create user/database '$DB_NAME'"
        return 1
    fi
}

stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    local pid=$SERVER_PID
    SERVER_PID=""
    kill -TERM "$pid" 2>/dev/null || true  # mariadbd shuts down cleanly on SIGTERM
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "killing mariadbd $pid"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM  # don't leave a server behind if interrupted again while cleaning up
    stop_server || true
    if [[ -n "$TMP_DIR" && -d "$TMP_DIR" ]]; then
        if [[ "${MIGREPO_MYSQL_KEEP_TMP:-}" == 1 ]]; then
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

TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/migrepo-mariadb.XXXXXX")
DATA_DIR="$TMP_DIR/data"
SOCKET="$TMP_DIR/mariadbd.sock"
SERVER_LOG="$TMP_DIR/server.log"
SETUP_LOG="$TMP_DIR/setup.log"

if start_server; then
    export MIGREPO_TEST_MYSQL_URL="mysql+pymysql://$DB_USER:$DB_PASSWORD@127.0.0.1:$PORT/$DB_NAME"
    log "MariaDB $(as_root_sql -e "SELECT VERSION()" | cut -d- -f1) on 127.0.0.1:$PORT"
else
    show_logs
    stop_server || true
    if [[ "${CI:-}" == "true" ]]; then
        log "ERROR: could not start the throwaway MariaDB server (CI=true: failing)"
        exit 1
    fi
    log "WARNING: could not start a MariaDB server; running without it" \
        "(MariaDB tests will be skipped)"
    unset MIGREPO_TEST_MYSQL_URL
fi

rc=0
"$@" || rc=$?
exit "$rc"
