# Shared by the scripts in scripts/*/: sourced, not run.
# The Python to use: $PYTHON if set, else the project's .venv, else python3.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO_ROOT/.venv/bin/python" ]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

die_usage() {  # die_usage "<usage line>" "<message>"
  echo "usage: $1" >&2
  [ -n "${2:-}" ] && echo "error: $2" >&2
  exit 2
}

require_file() {  # require_file <what> <path> <usage>
  [ -n "$2" ] || die_usage "$3" "missing $1"
  [ -f "$2" ] || die_usage "$3" "$1 not found: $2"
}
