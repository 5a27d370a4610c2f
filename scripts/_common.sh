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

# The bodies of the per-dataset scripts (the coco2017/ and mpii/ versions only differ in name).
run_train() {  # CONFIG [KEY VALUE ...]; GPUS=0,1,... launches torchrun (NNODES etc. for several nodes)
  local usage="bash $0 CONFIG [KEY VALUE ...]   (env: GPUS=0,1,... NNODES NODE_RANK MASTER_ADDR MASTER_PORT MAX_RESTARTS)"
  require_file "CONFIG" "${1:-}" "$usage"
  local config="$1"; shift
  local extra=() nproc nnodes="${NNODES:-1}"
  if [ -n "${GPUS:-}" ]; then extra=(GPUS "$GPUS"); fi
  nproc=$(awk -F, '{print NF}' <<< "${GPUS:-0}")
  if [ "$nproc" -gt 1 ] || [ "$nnodes" -gt 1 ]; then
    # MAX_RESTARTS: how often torchrun restarts the ranks after one fails (auto-resume continues the run)
    exec "$PYTHON" -m torch.distributed.run --nnodes "$nnodes" --nproc_per_node "$nproc" \
      --max-restarts "${MAX_RESTARTS:-0}" \
      --node_rank "${NODE_RANK:-0}" --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-29500}" \
      "$REPO_ROOT"/pose_estimation/train.py --cfg "$config" "${extra[@]}" "$@"
  fi
  exec "$PYTHON" "$REPO_ROOT"/pose_estimation/train.py --cfg "$config" "${extra[@]}" "$@"
}

run_valid() {  # coco|mpii SCRIPT CONFIG CHECKPOINT [COCO_BBOX_FILE (coco only)] [KEY VALUE ...]
  local dataset="$1" script="$2"; shift 2
  local usage="bash $0 CONFIG CHECKPOINT [KEY VALUE ...]"
  [ "$dataset" = coco ] && usage="bash $0 CONFIG CHECKPOINT [COCO_BBOX_FILE] [KEY VALUE ...]"
  require_file "CONFIG" "${1:-}" "$usage"
  require_file "CHECKPOINT" "${2:-}" "$usage"
  local config="$1" checkpoint="$2"; shift 2
  # COCO: a third argument that is not a config key (such as TEST.FLIP_TEST) is the detection file.
  if [ "$dataset" = coco ] && [ $# -gt 0 ] && ! [[ "$1" =~ ^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*$ ]]; then
    require_file "COCO_BBOX_FILE" "$1" "$usage"
    local bbox="$1"; shift
    exec "$PYTHON" "$REPO_ROOT"/pose_estimation/"$script" --cfg "$config" --flip-test --model-file "$checkpoint" \
      --use-detect-bbox --coco-bbox-file "$bbox" "$@"
  fi
  exec "$PYTHON" "$REPO_ROOT"/pose_estimation/"$script" --cfg "$config" --flip-test --model-file "$checkpoint" "$@"
}

run_test() {  # CONFIG CHECKPOINT IMG_DIR [KEY VALUE ...]
  local usage="bash $0 CONFIG CHECKPOINT IMG_DIR [KEY VALUE ...]"
  require_file "CONFIG" "${1:-}" "$usage"
  require_file "CHECKPOINT" "${2:-}" "$usage"
  [ -n "${3:-}" ] || die_usage "$usage" "missing IMG_DIR"
  [ -d "$3" ] || die_usage "$usage" "IMG_DIR is not a folder: $3"
  local config="$1" checkpoint="$2" img_dir="$3"; shift 3
  exec "$PYTHON" "$REPO_ROOT"/pose_estimation/test.py --cfg "$config" --model-file "$checkpoint" --dir "$img_dir" "$@"
}
