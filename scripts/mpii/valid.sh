#!/usr/bin/env bash
# Validate on MPII with flip test: bash scripts/mpii/valid.sh CONFIG CHECKPOINT [KEY VALUE ...]
set -euo pipefail
source "$(dirname "$0")/../_common.sh"
run_valid mpii valid.py "$@"
