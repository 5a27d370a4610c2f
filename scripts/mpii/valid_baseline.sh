#!/usr/bin/env bash
# Validate on MPII with flip test: bash scripts/mpii/valid_baseline.sh CONFIG CHECKPOINT [KEY VALUE ...]
set -euo pipefail
source "$(dirname "$0")/../_common.sh"
USAGE="bash $0 CONFIG CHECKPOINT [KEY VALUE ...]"
require_file "CONFIG" "${1:-}" "$USAGE"
require_file "CHECKPOINT" "${2:-}" "$USAGE"
CONFIG="$1"; CHECKPOINT="$2"; shift 2
exec "$PYTHON" "$REPO_ROOT"/pose_estimation/valid_baseline.py --cfg "$CONFIG" --flip-test --model-file "$CHECKPOINT" "$@"
