#!/usr/bin/env bash
# Folder inference (the original test.py): bash scripts/mpii/test.sh CONFIG CHECKPOINT IMG_DIR [KEY VALUE ...]
set -euo pipefail
source "$(dirname "$0")/../_common.sh"
run_test "$@"
