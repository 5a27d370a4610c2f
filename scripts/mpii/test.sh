#!/usr/bin/env bash
# Folder inference (the original test.py): bash scripts/mpii/test.sh CONFIG CHECKPOINT IMG_DIR [KEY VALUE ...]
set -euo pipefail
source "$(dirname "$0")/../_common.sh"
USAGE="bash $0 CONFIG CHECKPOINT IMG_DIR [KEY VALUE ...]"
require_file "CONFIG" "${1:-}" "$USAGE"
require_file "CHECKPOINT" "${2:-}" "$USAGE"
[ -n "${3:-}" ] || die_usage "$USAGE" "missing IMG_DIR"
[ -d "$3" ] || die_usage "$USAGE" "IMG_DIR is not a folder: $3"
CONFIG="$1"; CHECKPOINT="$2"; IMG_DIR="$3"; shift 3
exec "$PYTHON" "$REPO_ROOT"/pose_estimation/test.py --cfg "$CONFIG" --model-file "$CHECKPOINT" --dir "$IMG_DIR" "$@"
