"""Vectorised torch renderer of capsule bodies for the embedded synthetic multi-view dataset.

* :mod:`.body` -- capsules on Human3.6M-17 joints, :class:`BodyStyle` (clothing, left/right colours, build);
* :mod:`.scene` -- :class:`SceneStyle` (light, floor, background environment);
* :mod:`.raycast` -- analytic ray-capsule intersection with tile culling;
* :mod:`.renderer` -- :func:`render` (images, depth, part labels, joint visibility);
* :mod:`.crop` -- person boxes and crop cameras (render straight into the crop).
"""

from lt_core.render.body import BODY_POINT_NAMES, CAPSULE_NAMES, CAPSULES, BodyStyle, body_points, seed_from
from lt_core.render.crop import crop_region, crop_to_person, person_boxes
from lt_core.render.renderer import BACKGROUND, FLOOR, OUTSIDE, RenderOutput, render
from lt_core.render.scene import SceneStyle

__all__ = [
    "render",
    "RenderOutput",
    "BodyStyle",
    "SceneStyle",
    "CAPSULES",
    "CAPSULE_NAMES",
    "BODY_POINT_NAMES",
    "body_points",
    "seed_from",
    "person_boxes",
    "crop_to_person",
    "crop_region",
    "FLOOR",
    "BACKGROUND",
    "OUTSIDE",
]
