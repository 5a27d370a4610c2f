#!/usr/bin/env bash
# The embedded default, end to end on the CPU with no download (run by `make quickstart`):
# generate a synthetic COCO-layout dataset, train a small network, validate it with pycocotools,
# draw predicted skeletons over validation images and plot loss and AP per epoch. No flip test:
# the synthetic people are colour-coded left/right, which a mirrored image would contradict.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
cd "$REPO_ROOT"
CFG=experiments/synthetic/res18_128x96_quickstart.yaml
DATA=data/synthetic
START=$(date +%s)

if [ ! -f "$DATA/coco/annotations/person_keypoints_val2017.json" ]; then
  "$PYTHON" tools/gen_synthetic_data.py --out "$DATA" --format coco
fi
OUT=$("$PYTHON" - "$CFG" <<'PY'
import sys; sys.path.insert(0, "lib")
from core.config import load_config
from utils.utils import output_dirs
print(output_dirs(load_config(sys.argv[1]), sys.argv[1])[0])
PY
)
# A fresh run each time (delete the folder to start over is what AUTO_RESUME would otherwise need).
rm -rf "$OUT"
"$PYTHON" pose_estimation/train.py --cfg "$CFG" --gpus cpu "$@"
"$PYTHON" pose_estimation/valid.py --cfg "$CFG" --gpus cpu --model-file "$OUT/model_best.pth.tar" "$@" 2>&1 \
  | tee "$OUT/quickstart_valid.txt"
"$PYTHON" tools/draw_results.py --results "$OUT/results/keypoints_val2017_results.json" \
  --images "$DATA/coco/images/val2017" --out "$OUT/pictures" --num 8 > /dev/null
"$PYTHON" tools/plot_history.py "$OUT/history.json" --out "$OUT/curves.png" > /dev/null
AP=$(grep -A2 '^| Arch' "$OUT/quickstart_valid.txt" | tail -1 | awk -F'|' '{print $3}' | tr -d ' ')
echo
echo "quickstart finished in $(( $(date +%s) - START )) s"
echo "pictures : $OUT/pictures/"
echo "curves   : $OUT/curves.png"
echo "synthetic val AP (GT boxes) = $AP"
