#!/bin/sh
# Start tremor the way Tremor 0.11's packages and images do: every .yaml,
# .yml and .trickle file under the config folder, with the logger config.
#   TREMOR_DIR   base folder (default /etc/tremor)
#   CFG_DIR      the files to load (default $TREMOR_DIR/config)
#   LOGGER_FILE  log4rs YAML (default $TREMOR_DIR/logger.yaml; left out when missing)
#   TREMOR_BIN   the binary (default @BINDIR@/tremor)
#   STATE_DIRECTORY  set by systemd (StateDirectory=): the data directory (-d)
# Arguments, when given, replace all of that and go to tremor as they are.
set -eu
TREMOR_BIN="${TREMOR_BIN:-@BINDIR@/tremor}"
if [ "$#" -gt 0 ]; then
    exec "$TREMOR_BIN" "$@"
fi
TREMOR_DIR="${TREMOR_DIR:-/etc/tremor}"
CFG_DIR="${CFG_DIR:-$TREMOR_DIR/config}"
LOGGER_FILE="${LOGGER_FILE:-$TREMOR_DIR/logger.yaml}"

set -- server run
if [ -f "$LOGGER_FILE" ]; then
    set -- "$@" --logger-config "$LOGGER_FILE"
fi
if [ -n "${STATE_DIRECTORY:-}" ]; then
    set -- "$@" -d "$STATE_DIRECTORY"
fi
# sorted, YAML before queries (the server loads queries first anyway)
files=$(find "$CFG_DIR" \( -name '*.yaml' -o -name '*.yml' \) -type f 2>/dev/null | sort)
queries=$(find "$CFG_DIR" -name '*.trickle' -type f 2>/dev/null | sort)
if [ -z "$files$queries" ]; then
    echo "tremor.sh: no .yaml, .yml or .trickle file in $CFG_DIR" >&2
    exit 1
fi
set -- "$@" -f
# file names come from find, one per line; names with newlines are not supported
old_ifs=$IFS
IFS='
'
for f in $files $queries; do
    set -- "$@" "$f"
done
IFS=$old_ifs
exec "$TREMOR_BIN" "$@"
