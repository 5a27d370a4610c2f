#!/usr/bin/env bash
# The embedded default, end to end on the CPU with no download (run by `make quickstart`):
# generate a synthetic COCO-layout dataset, train a small network (train.py validates the last epoch
# with pycocotools), draw predicted skeletons over validation images and plot the loss per epoch and
# the AP of the validated epochs. No flip test: the synthetic people are colour-coded left/right,
# which a mirrored image would contradict. Extra arguments are KEY VALUE overrides for train.py.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
cd "$REPO_ROOT"
CFG=experiments/synthetic/res18_128x96_quickstart.yaml
DATA=data/synthetic
START=$(date +%s)

if [ ! -f "$DATA/coco/annotations/person_keypoints_val2017.json" ]; then
  "$PYTHON" tools/gen_synthetic_data.py --out "$DATA" --format coco
fi
OUT=$(PYTHONPATH=lib "$PYTHON" - "$CFG" <<'PY'
import sys
from core.config import load_config
from utils.utils import output_dirs
print(output_dirs(load_config(sys.argv[1]), sys.argv[1])[0])
PY
)
# A fresh run each time (delete the folder to start over is what AUTO_RESUME would otherwise need).
rm -rf "$OUT"
"$PYTHON" pose_estimation/train.py --cfg "$CFG" --gpus cpu "$@"
# train.py always validates the last epoch; its results file and table are that epoch's. A separate
# valid.py run would repeat the same evaluation of the same weights (the command is printed below).
LOG=$(ls -t "$OUT"/*_train.log | head -1)
"$PYTHON" tools/plot_history.py "$OUT/history.json" --out "$OUT/curves.png" > /dev/null &
PLOT=$!  # one process per core: the plot is drawn while the skeletons are
"$PYTHON" tools/draw_results.py --results "$OUT/results/keypoints_val2017_results.json" \
  --images "$DATA/coco/images/val2017" --out "$OUT/pictures" --num 8 > /dev/null
wait "$PLOT"
TABLE=$(grep -A2 '| Arch |' "$LOG" | tail -3 | sed 's/^[0-9-]* [0-9:,]* //')
AP=$(tail -1 <<< "$TABLE" | awk -F'|' '{print $3}' | tr -d ' ')
echo
echo "$TABLE"
echo
echo "quickstart finished in $(( $(date +%s) - START )) s"
echo "pictures : $OUT/pictures/"
echo "curves   : $OUT/curves.png"
echo "validate again: $PYTHON pose_estimation/valid.py --cfg $CFG --gpus cpu --model-file $OUT/model_best.pth.tar"
echo "synthetic val AP (GT boxes, last epoch) = $AP"
