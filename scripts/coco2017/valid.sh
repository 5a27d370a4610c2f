#!/usr/bin/env bash
# Validate on COCO with flip test: bash scripts/coco2017/valid.sh CONFIG CHECKPOINT [COCO_BBOX_FILE] [KEY VALUE ...]
# With COCO_BBOX_FILE the person boxes come from that detection file, else from the YAML (TEST.USE_GT_BBOX).
set -euo pipefail
source "$(dirname "$0")/../_common.sh"
run_valid coco valid.py "$@"
