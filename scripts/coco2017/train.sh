#!/usr/bin/env bash
# Train: bash scripts/coco2017/train.sh CONFIG [KEY VALUE ...]
# Several GPUs (one process each, torchrun + DDP):  GPUS=0,1,2,3 bash scripts/coco2017/train.sh CONFIG
# Several nodes: also set NNODES, NODE_RANK, MASTER_ADDR and MASTER_PORT (same command on every node).
set -euo pipefail
source "$(dirname "$0")/../_common.sh"
USAGE="bash $0 CONFIG [KEY VALUE ...]   (env: GPUS=0,1,... NNODES NODE_RANK MASTER_ADDR MASTER_PORT)"
require_file "CONFIG" "${1:-}" "$USAGE"
CONFIG="$1"; shift
EXTRA=()
if [ -n "${GPUS:-}" ]; then EXTRA=(GPUS "$GPUS"); fi
NPROC=$(awk -F, '{print NF}' <<< "${GPUS:-0}")
NNODES="${NNODES:-1}"
if [ "$NPROC" -gt 1 ] || [ "$NNODES" -gt 1 ]; then
  exec "$PYTHON" -m torch.distributed.run --nnodes "$NNODES" --nproc_per_node "$NPROC" \
    --node_rank "${NODE_RANK:-0}" --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-29500}" \
    "$REPO_ROOT"/pose_estimation/train.py --cfg "$CONFIG" "${EXTRA[@]}" "$@"
fi
exec "$PYTHON" "$REPO_ROOT"/pose_estimation/train.py --cfg "$CONFIG" "${EXTRA[@]}" "$@"
