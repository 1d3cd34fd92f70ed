# Shell functions shared by scripts/with-postgres.sh and scripts/with-mariadb.sh.
# Sourced, not run. show_logs reads the caller's SETUP_LOG and SERVER_LOG.

is_root() { [[ $(id -u) -eq 0 ]]; }

free_port() {
    local py
    for py in python3 python3.11 python; do
        if command -v "$py" >/dev/null 2>&1; then
            "$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' && return 0
        fi
    done
    echo $((20000 + RANDOM % 20000))
}

show_logs() {
    local f
    for f in "$SETUP_LOG" "$SERVER_LOG"; do
        if [[ -s "$f" ]]; then
            echo "----- tail of $f -----" >&2
            tail -n 40 "$f" >&2 || true
        fi
    done
}
