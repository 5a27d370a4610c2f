#!/usr/bin/env bash
# Draw poses on an image, a folder of images or a video (outputs in output/demo unless --output-dir):
#   bash scripts/demo.sh CONFIG CHECKPOINT INPUT [--det-file DETS.json | --detector NAME --detector-weights W.pth]
#                        [--output-dir DIR] [--det-thr T] [--kpt-thr T] [--gpus 0|cpu] [--no-flip] [KEY VALUE ...]
# Without --det-file or --detector the whole image (frame) is one person box.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
USAGE="bash $0 CONFIG CHECKPOINT INPUT [--det-file FILE | --detector NAME --detector-weights FILE] [more flags] [KEY VALUE ...]"
require_file "CONFIG" "${1:-}" "$USAGE"
require_file "CHECKPOINT" "${2:-}" "$USAGE"
[ -n "${3:-}" ] || die_usage "$USAGE" "missing INPUT (an image, a folder of images or a video)"
[ -e "$3" ] || die_usage "$USAGE" "INPUT not found: $3"
CONFIG="$1"; CHECKPOINT="$2"; INPUT="$3"; shift 3
exec "$PYTHON" "$REPO_ROOT"/pose_estimation/demo.py --cfg "$CONFIG" --model-file "$CHECKPOINT" --input "$INPUT" "$@"
