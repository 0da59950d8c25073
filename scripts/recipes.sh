#!/bin/sh
# Run Tremor 0.11's documentation recipes unchanged against build/tremor and
# print a table (loads / runs / does what its page shows). Arguments go to
# scripts/recipes.py (--mirror GITDIR, --only 00,31,..., -v). Needs root.
exec /usr/bin/python3 "$(dirname "$0")/recipes.py" "$@"
