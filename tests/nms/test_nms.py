"""Tests of lib/nms: box NMS conventions, OKS-NMS (compiled kernel vs NumPy reference), fallbacks."""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from dataset.keypoints import COCO_KEYPOINTS
from nms import nms as nms_mod
from nms.nms import cpu_nms, cpu_nms_numpy, gpu_nms_wrapper, nms, oks_iou, oks_nms, oks_nms_numpy

COCO_SIGMAS = COCO_KEYPOINTS.oks_sigmas()  # the default sigmas of oks_iou / oks_nms
LIB = Path(__file__).resolve().parents[2] / "lib"

needs_ext = pytest.mark.skipif(
    not nms_mod.HAVE_CYTHON_NMS,
    reason="compiled lib/nms/cpu_nms extension not built (run `make -C lib`); compiled-vs-NumPy checks skipped",
)


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------

def random_boxes(rng, n, integer=False, tied_scores=False):
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(5, 80, (n, 2))
    if integer:
        xy, wh = np.round(xy), np.round(wh)
    scores = np.round(rng.random(n) * 4) / 4 if tied_scores else rng.random(n)
    return np.column_stack([xy, xy + wh, scores]).astype(np.float32)


def random_db(rng, n, num_joints=17, kpt_dtype=np.float64, area_dtype=np.float64, people=3,
              noise=(0.5, 20.0), tied_scores=False):
    """n candidate poses jittered around a few people, like one image's detections."""
    bases = rng.uniform(0, 600, (people, num_joints, 2))
    owner = rng.integers(0, people, n)
    sd = rng.uniform(*noise, n)[:, None, None]
    kp = np.empty((n, num_joints, 3))
    kp[:, :, :2] = bases[owner] + rng.normal(0, 1, (n, num_joints, 2)) * sd
    kp[:, :, 2] = rng.random((n, num_joints))
    scores = np.round(rng.random(n) * 3) / 3 if tied_scores else rng.random(n)
    areas = rng.uniform(1e3, 1e5, n)
    if np.issubdtype(np.dtype(area_dtype), np.integer):
        areas = np.round(areas)
    areas = areas.astype(area_dtype)
    kp = kp.astype(kpt_dtype)
    return [{"score": float(scores[i]), "keypoints": kp[i], "area": areas[i]} for i in range(n)]


def two_poses(dx=5.0, area=10000.0, conf_g=1.0, conf_d=1.0, scores=(0.9, 0.8)):
    rng = np.random.default_rng(7)
    base = rng.uniform(50, 250, (17, 2))
    g = np.column_stack([base, np.full(17, conf_g)])
    d = np.column_stack([base + [dx, 0.0], np.full(17, conf_d)])
    return [{"score": scores[0], "keypoints": g, "area": area},
            {"score": scores[1], "keypoints": d, "area": area}]


def both_paths(db, thresh, **kw):
    """oks_nms (compiled when built) and the NumPy reference; asserts they agree, returns the result."""
    ref = oks_nms_numpy(db, thresh, **kw)
    got = oks_nms(db, thresh, **kw)
    assert got == ref
    return ref


# ------------------------------------------------------------------------------------------------
# box NMS
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("thresh", [0.1, 0.3, 0.7, 0.9])
def test_nms_and_cpu_nms_agree_on_random_boxes(thresh):
    rng = np.random.default_rng(int(thresh * 100))
    for _ in range(40):
        dets = random_boxes(rng, int(rng.integers(1, 120)))
        expected = nms(dets, thresh)
        assert cpu_nms(dets, thresh) == expected
        assert cpu_nms_numpy(dets, thresh) == expected
        assert all(type(i) is int for i in expected)


def test_box_nms_suppresses_overlaps():
    dets = np.array([[0, 0, 9, 9, 0.9], [1, 1, 10, 10, 0.8], [50, 50, 60, 60, 0.7]], np.float32)
    # IoU(0, 1) = 81 / 119 = 0.68
    assert nms(dets, 0.5) == cpu_nms(dets, 0.5) == [0, 2]
    assert nms(dets, 0.7) == cpu_nms(dets, 0.7) == [0, 1, 2]


def test_iou_equal_to_thresh_kept_by_nms_suppressed_by_cpu_nms():
    # +1 pixel areas: 10*10 = 100 and 10*5 = 50, intersection 50 -> IoU exactly 0.5
    dets = np.array([[0, 0, 9, 9, 0.9], [0, 0, 9, 4, 0.8]], np.float32)
    assert nms(dets, 0.5) == [0, 1]             # keeps IoU <= thresh
    assert cpu_nms(dets, 0.5) == [0]            # suppresses IoU >= thresh
    assert cpu_nms_numpy(dets, 0.5) == [0]
    assert nms_mod._torchvision_nms(dets, 0.5, "cpu") == [0, 1]  # gpu semantics: suppresses IoU > thresh
    assert nms(dets, 0.49) == cpu_nms(dets, 0.49) == [0]


@needs_ext
def test_cpu_nms_compiled_matches_numpy_twin_with_ties():
    from nms.cpu_nms import cpu_nms as compiled
    rng = np.random.default_rng(3)
    for _ in range(100):
        dets = random_boxes(rng, int(rng.integers(1, 80)), integer=True, tied_scores=True)
        for thresh in (0.25, 0.5, 0.3):
            assert compiled(dets, thresh) == cpu_nms_numpy(dets, thresh)


def test_torchvision_path_has_gpu_semantics():
    pytest.importorskip("torchvision")
    rng = np.random.default_rng(4)
    for _ in range(50):
        dets = random_boxes(rng, int(rng.integers(1, 100)), integer=True, tied_scores=True)
        for thresh in (0.25, 0.5, 0.75):  # exactly representable: "keep <=" is "suppress >" here
            assert nms_mod._torchvision_nms(dets, thresh, "cpu") == nms(dets, thresh)


def test_box_nms_empty_and_bad_shape():
    empty = np.zeros((0, 5), np.float32)
    assert nms(empty, 0.5) == [] and cpu_nms(empty, 0.5) == [] and cpu_nms_numpy(empty, 0.5) == []
    for fn in (nms, cpu_nms, cpu_nms_numpy):
        with pytest.raises(ValueError, match="shape"):
            fn(np.zeros((3, 4), np.float32), 0.5)


def test_wrappers():
    dets = np.array([[0, 0, 9, 9, 0.9], [0, 0, 9, 4, 0.8]], np.float32)
    assert nms_mod.py_nms_wrapper(0.5)(dets) == [0, 1]
    assert nms_mod.cpu_nms_wrapper(0.5)(dets) == [0]


def test_gpu_nms_wrapper_without_cuda_raises():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        dets = np.array([[0, 0, 9, 9, 0.9], [0, 0, 9, 4, 0.8], [0, 0, 9, 3, 0.7]], np.float32)
        assert gpu_nms_wrapper(0.5, 0)(dets) == [0, 2]
        return
    with pytest.raises(RuntimeError, match="CUDA"):
        gpu_nms_wrapper(0.5, 0)


# ------------------------------------------------------------------------------------------------
# OKS
# ------------------------------------------------------------------------------------------------

def test_oks_worked_example():
    db = two_poses(dx=5.0, area=10000.0)
    g, d = db[0]["keypoints"].ravel(), db[1]["keypoints"].ravel()
    oks = oks_iou(g, d[None], 10000.0, np.array([10000.0]))
    assert round(float(oks[0]), 6) == 0.871155
    # closed form: mean_k exp(-25 / (2 sigma_k)^2 / (10000 + eps) / 2)
    expected = np.mean(np.exp(-25.0 / (2 * COCO_SIGMAS) ** 2 / (10000 + np.spacing(1)) / 2))
    assert oks[0] == pytest.approx(expected, rel=1e-15)
    assert both_paths(db, 0.9) == [0, 1]
    assert both_paths(db, 0.8) == [0]
    swapped = two_poses(dx=5.0, scores=(0.3, 0.8))
    assert both_paths(swapped, 0.8) == [1]


def test_oks_nms_empty():
    assert oks_nms([], 0.9) == []
    assert oks_nms_numpy([], 0.9) == []


def test_oks_threshold_equality_is_kept():
    db = two_poses(dx=3.0)
    v = float(oks_iou(db[0]["keypoints"].ravel(), db[1]["keypoints"].ravel()[None], 10000.0,
                      np.array([10000.0]))[0])
    assert both_paths(db, v) == [0, 1]                 # OKS <= thresh stays
    assert both_paths(db, np.nextafter(v, 0.0)) == [0]  # one ulp below: suppressed


def test_in_vis_thre_quirk_uses_candidate_confidences_only():
    # Identical poses; kept instance invisible, candidate visible: the buggy mask keeps all joints.
    db = two_poses(dx=0.0, conf_g=0.0, conf_d=1.0)
    g, d = db[0]["keypoints"].ravel(), db[1]["keypoints"].ravel()
    assert oks_iou(g, d[None], 10000.0, np.array([10000.0]), in_vis_thre=0.5)[0] == 1.0
    assert both_paths(db, 0.9, in_vis_thre=0.5) == [0]
    # Candidate invisible: no joint left -> OKS 0 even though the poses coincide.
    db = two_poses(dx=0.0, conf_g=1.0, conf_d=0.0)
    g, d = db[0]["keypoints"].ravel(), db[1]["keypoints"].ravel()
    assert oks_iou(g, d[None], 10000.0, np.array([10000.0]), in_vis_thre=0.5)[0] == 0.0
    assert both_paths(db, 0.9, in_vis_thre=0.5) == [0, 1]
    assert both_paths(db, 0.9) == [0]  # without in_vis_thre every joint counts


def test_in_vis_thre_selects_candidate_joints():
    db = two_poses(dx=5.0)
    d = db[1]["keypoints"]
    d[:, 2] = 0.0
    d[[0, 5, 11], 2] = 0.9
    e = 25.0 / (2 * COCO_SIGMAS) ** 2 / (10000 + np.spacing(1)) / 2
    oks = oks_iou(db[0]["keypoints"].ravel(), d.ravel()[None], 10000.0, np.array([10000.0]), in_vis_thre=0.5)
    assert oks[0] == pytest.approx(np.mean(np.exp(-e[[0, 5, 11]])), rel=1e-15)


def test_non_coco_joint_count_needs_sigmas():
    rng = np.random.default_rng(5)
    db = random_db(rng, 6, num_joints=16, people=1, noise=(0.5, 3.0))
    with pytest.raises(ValueError, match="16 joints"):
        oks_nms(db, 0.9)
    with pytest.raises(ValueError, match="16 joints"):
        oks_nms_numpy(db, 0.9)
    sigmas = np.full(16, 0.08)
    assert both_paths(db, 0.9, sigmas=sigmas) == both_paths(db, 0.9, sigmas=list(sigmas))
    with pytest.raises(ValueError, match="sigmas"):
        oks_nms(db, 0.9, sigmas=np.full(17, 0.08))


def test_ragged_keypoints_rejected():
    db = two_poses()
    db[1]["keypoints"] = db[1]["keypoints"][:16]
    with pytest.raises(ValueError, match="same J"):
        oks_nms(db, 0.9)


# ------------------------------------------------------------------------------------------------
# compiled kernel vs NumPy reference
# ------------------------------------------------------------------------------------------------

@needs_ext
@pytest.mark.parametrize("kpt_dtype,area_dtype", [(np.float64, np.float64), (np.float32, np.float32),
                                                  (np.float32, np.float64), (np.float64, np.int64)])
@pytest.mark.parametrize("in_vis_thre", [None, 0.2])
def test_compiled_oks_nms_matches_numpy_random(kpt_dtype, area_dtype, in_vis_thre):
    seed = [np.dtype(kpt_dtype).itemsize, np.dtype(area_dtype).itemsize, np.dtype(area_dtype).kind == "i",
            in_vis_thre is None]
    rng = np.random.default_rng([int(x) for x in seed])
    suppressed_some = 0
    for case in range(150):
        n = int(rng.integers(1, 30))
        db = random_db(rng, n, kpt_dtype=kpt_dtype, area_dtype=area_dtype,
                       people=int(rng.integers(1, 4)), tied_scores=case % 3 == 0)
        _, kpts, areas = nms_mod._collect(db)
        assert nms_mod._compiled_arrays(kpts, areas, COCO_SIGMAS, in_vis_thre) is not None
        for thresh in (0.9, 0.5, float(rng.uniform(0.3, 1.0))):
            ref = oks_nms_numpy(db, thresh, in_vis_thre=in_vis_thre)
            assert oks_nms(db, thresh, in_vis_thre=in_vis_thre) == ref
            suppressed_some += len(ref) < n
    assert suppressed_some > 50  # the cases really exercise suppression


@needs_ext
def test_compiled_oks_nms_matches_numpy_at_exact_thresholds():
    """Thresholds equal to actual OKS values: decided by the exact-recheck band, never by luck."""
    rng = np.random.default_rng(11)
    for case in range(200):
        n = int(rng.integers(2, 20))
        db = random_db(rng, n, kpt_dtype=np.float32 if case % 2 else np.float64, people=1, noise=(0.5, 6.0))
        scores, kpts, areas = nms_mod._collect(db)
        i = int(scores.argmax())
        ovr = oks_iou(kpts[i], kpts, areas[i], areas)
        ovr = ovr[np.arange(n) != i]
        thresh = float(rng.choice(ovr))
        for t in (thresh, np.nextafter(thresh, 0.0), np.nextafter(thresh, 1.0)):
            assert oks_nms(db, t) == oks_nms_numpy(db, t)


@needs_ext
def test_compiled_oks_values_match_oks_iou():
    from nms.cpu_nms import oks_iou_core
    rng = np.random.default_rng(12)
    for kpt_dtype in (np.float32, np.float64):
        for in_vis_thre in (None, 0.5):
            db = random_db(rng, 60, kpt_dtype=kpt_dtype, people=2)
            _, kpts, areas = nms_mod._collect(db)
            arrays = nms_mod._compiled_arrays(kpts, areas, COCO_SIGMAS, in_vis_thre)
            for g in range(0, 60, 7):
                ref = oks_iou(kpts[g], kpts, areas[g], areas, None, in_vis_thre)
                got = oks_iou_core(g, np.arange(60, dtype=np.intp), *arrays)
                # Same operation order; only C exp vs NumPy's SIMD exp may differ in the last bit.
                np.testing.assert_allclose(got, ref, rtol=0, atol=4e-15)


@needs_ext
def test_unusual_dtypes_take_numpy_path_with_same_result():
    rng = np.random.default_rng(13)
    db = random_db(rng, 12, people=1, noise=(0.5, 4.0))
    for k in db:
        k["keypoints"] = np.round(k["keypoints"]).astype(np.int64)
    _, kpts, areas = nms_mod._collect(db)
    assert nms_mod._compiled_arrays(kpts, areas, COCO_SIGMAS, None) is None
    assert oks_nms(db, 0.9) == oks_nms_numpy(db, 0.9)


# ------------------------------------------------------------------------------------------------
# fallback when the extension is missing
# ------------------------------------------------------------------------------------------------

def test_fallback_warns_once(monkeypatch):
    monkeypatch.setattr(nms_mod, "HAVE_CYTHON_NMS", False)
    monkeypatch.setattr(nms_mod, "_WARNED", False)
    db = two_poses()
    dets = np.array([[0, 0, 9, 9, 0.9], [0, 0, 9, 4, 0.8]], np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert oks_nms(db, 0.8) == [0]
        assert oks_nms(db, 0.9) == [0, 1]
        assert cpu_nms(dets, 0.5) == [0]
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "make -C lib" in messages[0]


@pytest.mark.slow
def test_missing_extension_falls_back_in_fresh_process():
    code = (
        "import sys, warnings\n"
        "sys.modules['nms.cpu_nms'] = None  # makes `from .cpu_nms import ...` raise ImportError\n"
        "warnings.simplefilter('always')\n"
        "import numpy as np\n"
        "from nms import nms as m\n"
        "assert not m.HAVE_CYTHON_NMS\n"
        "kp = np.zeros((17, 3))\n"
        "db = [{'score': 0.9, 'keypoints': kp, 'area': 1e4}, {'score': 0.8, 'keypoints': kp + 1, 'area': 1e4}]\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    r1, r2 = m.oks_nms(db, 0.9), m.oks_nms(db, 0.99)\n"
        "print(r1, r2, sum(issubclass(x.category, RuntimeWarning) for x in w))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(LIB)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[0] [0, 1] 1"


@pytest.mark.slow
def test_make_rebuilds_the_extension_only_when_it_is_missing_or_older_than_its_sources(tmp_path):
    """lib/Makefile's rule, in a copy of lib/ (make -q: exit 0 when up to date, 1 when it would build)."""
    import os
    import shutil
    import sysconfig

    (tmp_path / "nms").mkdir()
    shutil.copy(LIB / "Makefile", tmp_path / "Makefile")
    for name in ("cpu_nms.pyx", "setup.py"):
        shutil.copy(LIB / "nms" / name, tmp_path / "nms" / name)
    question = ["make", "-q", "-C", str(tmp_path), f"PYTHON={sys.executable}"]
    built = tmp_path / "nms" / f"cpu_nms{sysconfig.get_config_var('EXT_SUFFIX')}"
    assert subprocess.run(question, capture_output=True).returncode == 1  # missing: would build
    built.write_bytes(b"")  # stands for the extension; make looks at times only
    os.utime(built, (2e9, 2e9))
    assert subprocess.run(question, capture_output=True).returncode == 0  # newer than its sources: nothing to do
    os.utime(tmp_path / "nms" / "cpu_nms.pyx", (2e9 + 10, 2e9 + 10))
    assert subprocess.run(question, capture_output=True).returncode == 1  # a source changed: would build
