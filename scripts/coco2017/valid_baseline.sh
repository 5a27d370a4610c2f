#!/usr/bin/env bash
# Validate on COCO with flip test:
#   bash scripts/coco2017/valid_baseline.sh CONFIG CHECKPOINT [COCO_BBOX_FILE] [KEY VALUE ...]
# With COCO_BBOX_FILE the person boxes come from that detection file, else from the YAML's TEST.USE_GT_BBOX.
set -euo pipefail
source "$(dirname "$0")/../_common.sh"
USAGE="bash $0 CONFIG CHECKPOINT [COCO_BBOX_FILE] [KEY VALUE ...]"
require_file "CONFIG" "${1:-}" "$USAGE"
require_file "CHECKPOINT" "${2:-}" "$USAGE"
CONFIG="$1"; CHECKPOINT="$2"; shift 2
# A third argument that is not a config key (such as TEST.FLIP_TEST) is the detection file.
if [ $# -gt 0 ] && ! [[ "$1" =~ ^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*$ ]]; then
  require_file "COCO_BBOX_FILE" "$1" "$USAGE"
  BBOX="$1"; shift
  exec "$PYTHON" "$REPO_ROOT"/pose_estimation/valid_baseline.py --cfg "$CONFIG" --flip-test --model-file "$CHECKPOINT" \
    --use-detect-bbox --coco-bbox-file "$BBOX" "$@"
fi
exec "$PYTHON" "$REPO_ROOT"/pose_estimation/valid_baseline.py --cfg "$CONFIG" --flip-test --model-file "$CHECKPOINT" "$@"
