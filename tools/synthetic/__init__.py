"""The synthetic keypoint data of ``tools/gen_synthetic_data.py`` (the command line), by concern:

* ``paint``: colours and sub-pixel OpenCV drawing;
* ``mannequin``: the human figure (internal joints, body parts, pose sampling, drawing);
* ``scene``: an image of 1-3 figures with clutter, occluders and noise, and its annotations;
* ``files``: rounding, JPEG and JSON writing shared by the layouts;
* ``coco_mpii``: the human figures in the COCO and MPII layouts;
* ``keypoint_sets``: the face and hand sets, in the COCO layout or as a tool's export.

The COCO-17 and MPII-16 joint sets themselves are ``dataset.keypoints``' (lib/); ``tools/_init_paths``
puts lib/ on the path.
"""
import _init_paths  # noqa: F401  (puts lib/ on sys.path)
