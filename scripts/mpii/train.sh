#!/usr/bin/env bash
# Train: bash scripts/mpii/train.sh CONFIG [KEY VALUE ...]
# Several GPUs (one process each, torchrun + DDP):  GPUS=0,1,2,3 bash scripts/mpii/train.sh CONFIG
# Several nodes: also set NNODES, NODE_RANK, MASTER_ADDR and MASTER_PORT (same command on every node).
set -euo pipefail
source "$(dirname "$0")/../_common.sh"
run_train "$@"
