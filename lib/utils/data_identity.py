"""What identifies a run's data, so that a checkpoint is only resumed on the data it was trained on.

``DATASET.ROOT`` may change between a run and its resumption (a data set moved to another disk),
so the path cannot tell whether the data is the same. A checkpoint records instead, for the
training and the validation split: the annotation file's size and SHA-256 digest, the number of
images and of people (samples), and the joint names. Equal records mean the same data wherever
it lies; a resumed ``TRAIN.CHECKPOINT_ITERS`` position (which samples are left in the epoch) is
then meaningful too.

Cost: the digest reads the annotation file once per start. A file of the size of COCO's 238 MB
``person_keypoints_train2017.json`` hashes in 0.35 s on the quiet 2-core development machine, 1.05 s
while other jobs ran (``hashlib.sha256`` in 4 MiB chunks, file in the page cache;
``bench/bench_resume_costs.py``), a small part of what pycocotools then spends
parsing the same file. A cache keyed on (size, mtime) would save little, would have to be written
somewhere before the resume decision, and could be fooled by a copy that keeps the time stamp, so
there is none.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

__all__ = ["annotation_file", "data_differences", "data_identity", "split_identity"]

_CHUNK = 4 << 20


def annotation_file(dataset: Any) -> str | None:
    """The annotation file a dataset object reads, or None when it cannot tell.

    COCO names it with ``_get_ann_file_keypoint()`` (or an ``ann_file`` attribute), MPII reads
    ``<root>/annot/<image set>.json``.
    """
    path = getattr(dataset, "ann_file", None)
    if not path and callable(getattr(dataset, "_get_ann_file_keypoint", None)):
        path = dataset._get_ann_file_keypoint()
    if not path and type(dataset).__name__ == "MPIIDataset":
        path = os.path.join(dataset.root, "annot", f"{dataset.image_set}.json")
    return os.fspath(path) if path else None


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _num_images(dataset: Any) -> int:
    if isinstance(getattr(dataset, "num_images", None), int):
        return int(dataset.num_images)
    return len({rec.get("image") for rec in getattr(dataset, "db", [])})


def split_identity(dataset: Any) -> dict[str, Any]:
    """``{file, size, sha256, images, people, joints}`` of one split (plain values, ``weights_only``-safe).

    ``file`` (the annotation file's name, without its folder) is kept for messages and not compared.
    """
    entry: dict[str, Any] = {"file": None, "size": None, "sha256": None}
    path = annotation_file(dataset)
    if path and os.path.isfile(path):
        entry = {"file": os.path.basename(path), "size": os.path.getsize(path), "sha256": _sha256(path)}
    keypoints = getattr(dataset, "keypoints", None)
    entry["images"] = _num_images(dataset)
    entry["people"] = len(getattr(dataset, "db", []))
    entry["joints"] = [str(name) for name in getattr(keypoints, "names", ())]
    return entry


def data_identity(train_dataset: Any, valid_dataset: Any) -> dict[str, Any]:
    """What a training checkpoint stores under ``data``: one :func:`split_identity` per split."""
    return {"train": split_identity(train_dataset), "valid": split_identity(valid_dataset)}


_COMPARED = (("sha256", "annotation file content (SHA-256)"), ("size", "annotation file size"),
             ("images", "images"), ("people", "people"), ("joints", "joint names"))


def _show(key: str, value: Any) -> str:
    if key == "sha256" and isinstance(value, str):
        return value[:12]
    if key == "joints" and isinstance(value, list) and len(value) > 6:
        return f"{len(value)} joints {value[:3]}..."
    return repr(value)


def data_differences(stored: Any, current: dict[str, Any]) -> list[str]:
    """``<split> <what>: checkpoint X, now Y`` for each compared item that differs.

    Nothing is compared where the checkpoint has no record (files written before this check, or
    by the original code), nor for an item either side could not determine (``None``).
    """
    if not isinstance(stored, dict):
        return []
    out = []
    for split in ("train", "valid"):
        old, new = stored.get(split), current.get(split)
        if not isinstance(old, dict) or not isinstance(new, dict):
            continue
        name = new.get("file") or old.get("file") or "annotations"
        content_differs = False
        for key, what in _COMPARED:
            a, b = old.get(key), new.get(key)
            if a is None or b is None or a == b or (key == "size" and content_differs):
                continue  # (a size that differs says nothing more than the digest)
            content_differs = content_differs or key == "sha256"
            out.append(f"{split} split ({name}) {what}: checkpoint {_show(key, a)}, now {_show(key, b)}")
    return out
