#!/usr/bin/env bash
# As valid.sh (the original needed this one for checkpoints without the module. prefix; both load both now).
set -euo pipefail
source "$(dirname "$0")/../_common.sh"
run_valid mpii valid_baseline.py "$@"
