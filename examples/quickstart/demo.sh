#!/usr/bin/env bash
# The quickstart, end to end on SQLite, in a scratch directory: `make demo` runs it.
# The directory is kept, so you can look at what the commands made.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/migrepo-demo.XXXXXX")
cp "$here/app.py" "$work/"
cd "$work"
export FLASK_APP=app.py

# The command as you would type it: arguments with spaces or quotes are quoted.
shown() {
    local words=() arg
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            words+=("$arg")
        else
            arg=${arg//\\/\\\\}
            arg=${arg//\"/\\\"}
            arg=${arg//\$/\\\$}
            arg=${arg//\`/\\\`}
            words+=("\"$arg\"")
        fi
    done
    printf '%s' "${words[*]}"
}

step() { printf '\n\033[1m$ %s\033[0m\n' "$(shown "$@")"; "$@"; }

echo "Working in $work"
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
echo "Everything it made is still in $work (app.py, migrations/, and the database in instance/app.db):"
echo "  cd $work && FLASK_APP=app.py flask db history --graph"
echo "Remove it with: rm -rf $work"
