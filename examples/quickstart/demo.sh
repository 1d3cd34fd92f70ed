#!/usr/bin/env bash
# The quickstart, end to end on SQLite, in a scratch directory: `make demo` runs it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/migrepo-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/app.py" "$work/"
cd "$work"
export FLASK_APP=app.py

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

echo "Working in $work (removed afterwards)"
step flask db init
step flask db migrate -m "create user table"
step flask db upgrade

echo
echo "# Add an email column to the User model"
printf '    email = db.Column(db.String(120))\n' >> app.py
step flask db migrate -m "add email to user"
step flask db upgrade
step flask db current
step flask db history --graph
step flask db downgrade
step flask db current
echo
echo "Demo finished: init -> migrate -> upgrade -> history --graph -> downgrade."
