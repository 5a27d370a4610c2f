"""tools/gen_synthetic_data.py: file layout, COCO/MPII invariants, visibility labels, left/right colours,
determinism, and a COCOeval round trip (GT keypoints as results -> AP 1.0).

Everything runs on a tiny set (6 train + 4 val images per format, default 256x256 images) plus 60
scenes rendered in memory, and takes a few seconds on a CPU.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import gen_synthetic_data as gsd

REPO = Path(__file__).resolve().parents[2]

# pycocotools' mask decoding trips a NumPy 2 copy-keyword deprecation warning; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

NUM_TRAIN, NUM_VAL, SIZE = 6, 4, 256
DET_FILE = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"


def _quiet_coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _md5s(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    assert gsd.main(["--out", str(out), "--num-train", str(NUM_TRAIN), "--num-val", str(NUM_VAL),
                     "--format", "both", "--workers", "1"]) == 0
    return out


# ------------------------------------------------------------------------------------------------
# layout


def test_layout(synth: Path) -> None:
    coco, mpii = synth / "coco", synth / "mpii"
    for rel in ("annotations/person_keypoints_train2017.json", "annotations/person_keypoints_val2017.json",
                DET_FILE, "README.md"):
        assert (coco / rel).is_file(), rel
    for rel in ("annot/train.json", "annot/valid.json", "annot/gt_valid.mat", "README.md"):
        assert (mpii / rel).is_file(), rel
    assert (synth / "README.md").is_file()
    for set_name, n in (("train2017", NUM_TRAIN), ("val2017", NUM_VAL)):
        data = json.loads((coco / "annotations" / f"person_keypoints_{set_name}.json").read_text())
        assert len(data["images"]) == n
        for im in data["images"]:
            assert im["file_name"] == "%012d.jpg" % im["id"]
            img = cv2.imread(str(coco / "images" / set_name / im["file_name"]))
            assert img is not None and img.shape == (im["height"], im["width"], 3) == (SIZE, SIZE, 3)
    assert len(list((mpii / "images").glob("*.jpg"))) == NUM_TRAIN + NUM_VAL
    readme = (coco / "README.md").read_text()
    assert "seed 0" in readme and f"{NUM_TRAIN} images" in readme


# ------------------------------------------------------------------------------------------------
# COCO invariants


@pytest.mark.parametrize("set_name", ["train2017", "val2017"])
def test_coco_annotations_are_valid(synth: Path, set_name: str) -> None:
    root = synth / "coco"
    coco = _quiet_coco(root / "annotations" / f"person_keypoints_{set_name}.json")
    cats = coco.loadCats(coco.getCatIds())
    assert len(cats) == 1 and cats[0]["id"] == 1 and cats[0]["name"] == "person"
    assert cats[0]["keypoints"] == gsd.COCO_KEYPOINT_NAMES and len(cats[0]["skeleton"]) == 19
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) >= len(coco.getImgIds())  # at least one person per image
    assert len({a["id"] for a in anns}) == len(anns)
    for a in anns:
        im = coco.loadImgs(a["image_id"])[0]
        assert a["category_id"] == 1 and a["iscrowd"] == 0
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= im["width"] + 1e-6 and y + h <= im["height"] + 1e-6
        assert a["area"] > 0
        # area and segmentation describe the same silhouette, which lies inside the box
        assert coco.annToMask(a).sum() == a["area"] <= w * h
        k = np.asarray(a["keypoints"], dtype=np.float64).reshape(17, 3)
        assert set(np.unique(k[:, 2])) <= {0, 1, 2}
        assert a["num_keypoints"] == int(np.count_nonzero(k[:, 2]))
        assert np.all(k[k[:, 2] == 0, :2] == 0)  # unlabelled joints are written as (0, 0)
        lab = k[k[:, 2] > 0]
        assert np.all((lab[:, 0] >= x) & (lab[:, 0] <= x + w) & (lab[:, 1] >= y) & (lab[:, 1] <= y + h))
        assert np.all((lab[:, 0] <= im["width"] - 1) & (lab[:, 1] <= im["height"] - 1))
        # the COCO GT box cleaning keeps every synthetic person
        x1, y1 = max(0, x), max(0, y)
        x2, y2 = min(im["width"] - 1, x1 + max(0, w - 1)), min(im["height"] - 1, y1 + max(0, h - 1))
        assert x2 >= x1 and y2 >= y1


def test_coco_detections(synth: Path) -> None:
    root = synth / "coco"
    coco = _quiet_coco(root / "annotations" / "person_keypoints_val2017.json")
    dets = json.loads((root / DET_FILE).read_text())
    assert isinstance(dets, list) and dets
    ids = set(coco.getImgIds())
    for d in dets:
        assert set(d) == {"image_id", "category_id", "bbox", "score"}
        assert d["image_id"] in ids and d["category_id"] == 1 and 0 < d["score"] <= 1
        assert len(d["bbox"]) == 4 and d["bbox"][2] > 0 and d["bbox"][3] > 0
    # every person has a confident detection overlapping its box
    n_confident = sum(d["score"] >= 0.5 for d in dets)
    assert n_confident == len(coco.getAnnIds())


def test_gt_keypoints_as_results_give_ap_one(synth: Path) -> None:
    """Real pycocotools COCOeval: GT keypoints fed back as detections score AP = AR = 1."""
    root = synth / "coco"
    gt = _quiet_coco(root / "annotations" / "person_keypoints_val2017.json")
    results = []
    for a in gt.loadAnns(gt.getAnnIds()):
        k = np.asarray(a["keypoints"], dtype=np.float64).reshape(17, 3)
        k[:, 2] = 1.0
        results.append({"image_id": a["image_id"], "category_id": 1, "keypoints": k.ravel().tolist(), "score": 1.0})
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    assert ev.stats[5] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------
# labels and appearance on a larger in-memory sample (no files)


@pytest.fixture(scope="module")
def scenes() -> list[tuple[np.ndarray, list[gsd.FigureAnnotation]]]:
    return [gsd.render_scene(123, 99, i) for i in range(60)]


def test_visibility_labels_occur(scenes) -> None:
    vis = np.concatenate([a.vis for _, annos in scenes for a in annos])
    assert np.count_nonzero(vis == 2) > 0.6 * vis.size
    assert np.count_nonzero(vis == 1) > 0.03 * vis.size  # occluded but labelled
    assert np.count_nonzero(vis == 0) > 0  # outside the image / face turned away
    n_people = [len(annos) for _, annos in scenes]
    assert min(n_people) >= 1 and max(n_people) >= 3


def _median_hue(img_hsv: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Median (hue, saturation) of pixels along the middle half of segment a-b (OpenCV HSV, hue 0-179)."""
    ts = np.linspace(0.3, 0.7, 9)
    pts = np.round(a[None] + ts[:, None] * (b - a)[None]).astype(int)
    px = img_hsv[pts[:, 1], pts[:, 0]].astype(np.float64)
    hue = px[:, 0]
    # hue is circular around red: move 150..179 to -30..-1 before taking the median
    hue = np.where(hue > 150, hue - 180, hue)
    return float(np.median(hue)), float(np.median(px[:, 1]))


def test_left_and_right_limbs_have_different_colour_families(scenes) -> None:
    """Forearms/shins: left ones warm (red-yellow), right ones cool (cyan-blue), for every figure."""
    checks = ok = 0
    for img, annos in scenes:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        for a in annos:
            for side, lo, hi in (("left", -15, 32), ("right", 85, 125)):
                for j0, j1 in ((f"{side}_elbow", f"{side}_wrist"), (f"{side}_knee", f"{side}_ankle")):
                    i0, i1 = gsd.J[j0], gsd.J[j1]
                    p0, p1 = a.joints[i0], a.joints[i1]
                    if a.vis[i0] != 2 or a.vis[i1] != 2 or np.hypot(*(p1 - p0)) < 8:
                        continue
                    hue, sat = _median_hue(hsv, p0, p1)
                    checks += 1
                    ok += int(lo <= hue <= hi and sat > 40)
    assert checks > 100
    # a few segments are crossed by another limb or figure between two visible ends
    assert ok >= 0.85 * checks, (ok, checks)


def test_render_scene_is_deterministic_and_seed_dependent() -> None:
    a, annos_a = gsd.render_scene(5, 11, 3)
    b, annos_b = gsd.render_scene(5, 11, 3)
    c, _ = gsd.render_scene(6, 11, 3)
    assert np.array_equal(a, b)
    assert all(np.array_equal(x.joints, y.joints) and np.array_equal(x.vis, y.vis) for x, y in zip(annos_a, annos_b))
    assert not np.array_equal(a, c)


# ------------------------------------------------------------------------------------------------
# determinism of the written files


def test_same_arguments_give_identical_files(synth: Path, tmp_path: Path) -> None:
    # same arguments, but two worker processes instead of one: the bytes must not change
    other = tmp_path / "again"
    gsd.main(["--out", str(other), "--num-train", str(NUM_TRAIN), "--num-val", str(NUM_VAL),
              "--format", "both", "--workers", "2"])
    first, second = _md5s(synth), _md5s(other)
    assert first.keys() == second.keys()
    different = [k for k in first if first[k] != second[k] and not k.endswith("README.md")]
    assert different == []


def test_different_seed_gives_different_images(synth: Path, tmp_path: Path) -> None:
    other = tmp_path / "seed1"
    gsd.generate_coco(other / "coco", NUM_TRAIN, NUM_VAL, seed=1, workers=1, log=None)
    for rel in ("images/val2017/%012d.jpg" % 1_000_001, "images/train2017/%012d.jpg" % 1):
        assert (synth / "coco" / rel).read_bytes() != (other / "coco" / rel).read_bytes()


# ------------------------------------------------------------------------------------------------
# MPII


def test_mpii_records_and_gt_mat(synth: Path) -> None:
    root = synth / "mpii"
    for set_name in ("train", "valid"):
        recs = json.loads((root / "annot" / f"{set_name}.json").read_text())
        assert recs
        for r in recs:
            assert set(r) == {"image", "center", "scale", "joints", "joints_vis"}
            assert (root / "images" / r["image"]).is_file()
            assert len(r["center"]) == 2 and r["scale"] > 0
            assert np.asarray(r["joints"]).shape == (16, 2) and len(r["joints_vis"]) == 16
            assert set(r["joints_vis"]) <= {0, 1}
            j = np.asarray(r["joints"])
            vis = np.asarray(r["joints_vis"]) > 0
            assert np.all(j[~vis] == -1)
            assert np.all((j[vis] >= 1) & (j[vis] <= SIZE))  # 1-based pixel coordinates
            # the loader's centre (c_y + 15 s, minus 1) is the person box centre, inside the image
            cy = r["center"][1] + 15 * r["scale"] - 1
            assert 0 <= r["center"][0] - 1 <= SIZE and 0 <= cy <= SIZE

    mat = scipy.io.loadmat(str(root / "annot" / "gt_valid.mat"))
    recs = json.loads((root / "annot" / "valid.json").read_text())
    n = len(recs)
    names = [str(x[0]) for x in mat["dataset_joints"][0]]
    assert names == gsd.MPII_MAT_NAMES
    assert mat["dataset_joints"].shape == (1, 16)
    assert mat["jnt_missing"].shape == (16, n) and mat["jnt_missing"].dtype == np.uint8
    assert mat["pos_gt_src"].shape == (16, 2, n) and mat["pos_gt_src"].dtype == np.float64
    assert mat["headboxes_src"].shape == (2, 2, n)
    vis = np.array([r["joints_vis"] for r in recs]).T
    assert np.array_equal(mat["jnt_missing"], 1 - vis)
    joints = np.array([r["joints"] for r in recs]).transpose(1, 2, 0)
    assert np.allclose(np.where(vis[:, None, :] > 0, joints, 0), mat["pos_gt_src"])
    hb = mat["headboxes_src"]
    assert np.all(hb[1] > hb[0])  # x2 > x1 and y2 > y1
    head_size = np.linalg.norm(hb[1] - hb[0], axis=0) * 0.6
    assert np.all(head_size > 3)
    # the head box contains the head-top joint (MPII index 9) whenever it is annotated
    ht = joints[9]
    ok = vis[9] > 0
    assert np.all((ht[:, ok] >= hb[0][:, ok] - 1) & (ht[:, ok] <= hb[1][:, ok] + 1))


def test_export_layout_is_shaped_like_a_tool_export(tmp_path) -> None:
    """--layout export: PNG under ordinary names, 13-digit ids unrelated to them, no optional fields,
    two categories sharing the joint list; the figures are those of the COCO layout."""
    root = tmp_path / "face_export"
    stats = gsd.generate_keypoint_set_export(root, "face", num_train=5, num_val=3, seed=4, image_size=64)
    coco_root = tmp_path / "face"
    gsd.generate_keypoint_set(coco_root, "face", num_train=5, num_val=3, seed=4, image_size=64)
    for split, coco_set in (("train", "train2017"), ("val", "val2017")):
        data = json.loads((root / f"{split}.json").read_text())
        assert len(data["images"]) == stats[split]["images"]
        names = [img["file_name"] for img in data["images"]]
        assert any("/" in n for n in names) and all(n.endswith(".png") for n in names)
        assert all(len(str(img["id"])) == 13 and str(img["id"]) not in img["file_name"] for img in data["images"])
        assert len({img["id"] for img in data["images"]}) == len(names)
        for img in data["images"]:
            assert cv2.imread(str(root / "images" / split / img["file_name"])).shape == (64, 64, 3)
        assert [c["keypoints"] for c in data["categories"]] == [gsd.KEYPOINT_SETS["face"]["names"]] * 2
        for ann in data["annotations"]:
            assert not {"num_keypoints", "iscrowd", "area"} & set(ann)
        assert {ann["category_id"] for ann in data["annotations"]} <= {1, 2}
        coco = json.loads((coco_root / "annotations" / f"person_keypoints_{coco_set}.json").read_text())
        assert [a["keypoints"] for a in data["annotations"]] == [a["keypoints"] for a in coco["annotations"]]
    assert json.loads((root / "oks_sigmas.json").read_text()) == gsd.KEYPOINT_SETS["face"]["sigmas"]


@pytest.mark.parametrize("refused", ["person_keypoints_val2017.json", "000000000003.jpg", "gt_valid.mat"])
def test_a_write_that_fails_leaves_the_previous_file_and_no_temporary(synth: Path, tmp_path: Path, monkeypatch,
                                                                      refused: str) -> None:
    """Generating again into a folder whose file cannot be replaced: that file keeps its previous bytes,
    and no temporary or partial file is left beside it (every file goes through utils.atomic_io)."""
    import shutil

    from helpers import refuse_rename

    out = tmp_path / "again"
    shutil.copytree(synth, out)
    before = _md5s(out)
    refuse_rename(monkeypatch, refused)
    with pytest.raises(PermissionError):
        gsd.main(["--out", str(out), "--num-train", str(NUM_TRAIN), "--num-val", str(NUM_VAL), "--seed", "7",
                  "--format", "both", "--workers", "1"])
    after = _md5s(out)
    assert after.keys() == before.keys()  # nothing half-written or temporary beside the files
    assert [k for k in after if Path(k).name == refused and after[k] == before[k]] != []
