"""Length units of motion capture files: named units, and detection from the size of the body.

BVH files carry no unit. CMU's own conversions use the CMU unit (1/0.45 inch = 56.444 mm), Daz/Poser exports
centimetres, other tools metres, millimetres or inches. A wrong unit is not a small error: the skeleton comes out
2.5, 10 or 1000 times too large or small. So the unit is either **stated** (a name such as ``"cm"`` or a number of
millimetres per unit) or **detected** from the body, never assumed:

* the leg length of the skeleton's rest pose -- hip to knee plus knee to ankle, the mean of both legs, measured on
  the joints that Human3.6M's hips, knees and ankles are mapped from -- is computed in file units;
* every candidate unit of :data:`DETECTABLE_UNITS` turns it into millimetres; the unit is the one candidate that
  gives an adult leg (:data:`ADULT_LEG_MM`, 600 to 1100 mm; the CMU clips of ``data/mocap_cmu``: 800-860 mm, the
  Daz/Poser figure of ``data/mocap_cmu_daz``: 822 mm). The candidates differ by factors of 2.2 or more and the range
  spans 1.8, so at most one can fit;
* no candidate fitting is an error that gives the measured length and what each unit would make of it.

A stated unit is checked too, with a looser range (:data:`ANY_LEG_MM`, 300 to 1400 mm: a small child to a very tall
adult), so that a unit that contradicts the body (a file in centimetres read as CMU units) is an error, not a
silently huge skeleton.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lt_core.data.motion import CMU_MM_PER_UNIT, Motion, MotionFormatError

__all__ = [
    "UNITS_MM",
    "DETECTABLE_UNITS",
    "ADULT_LEG_MM",
    "ANY_LEG_MM",
    "UnitError",
    "UnitDetection",
    "parse_unit",
    "unit_name",
    "leg_length",
    "detect_unit",
    "check_unit",
    "leg_joints_from_mapping",
]

UNITS_MM: dict[str, float] = {
    "mm": 1.0,
    "cm": 10.0,
    "in": 25.4,
    "cmu": CMU_MM_PER_UNIT,
    "dm": 100.0,
    "ft": 304.8,
    "m": 1000.0,
}
"""Millimetres per unit of the named units (``"cmu"``: 1/0.45 inch, the CMU database's BVH and ASF unit)."""

DETECTABLE_UNITS: tuple[str, ...] = ("mm", "cm", "in", "cmu", "m")
"""The units :func:`detect_unit` chooses from: neighbours differ by a factor of 2.2 or more, more than the span of
:data:`ADULT_LEG_MM` (1.83), so at most one fits. Decimetres and feet can be stated but are not detected (a
decimetre is 1.77 CMU units: a leg could fit both)."""

_ALIASES = {
    "millimetre": "mm",
    "millimeter": "mm",
    "centimetre": "cm",
    "centimeter": "cm",
    "inch": "in",
    "inches": "in",
    "metre": "m",
    "meter": "m",
    "decimetre": "dm",
    "decimeter": "dm",
    "foot": "ft",
    "feet": "ft",
    "cmu_unit": "cmu",
}

ADULT_LEG_MM: tuple[float, float] = (600.0, 1100.0)
"""Range of hip-knee-ankle leg lengths (mm) accepted when *detecting* a unit."""

ANY_LEG_MM: tuple[float, float] = (300.0, 1400.0)
"""Range of leg lengths (mm) accepted for a *stated* unit."""


class UnitError(MotionFormatError):
    """The length unit of a motion file could not be detected, or a stated unit contradicts the body size."""


@dataclass(frozen=True)
class UnitDetection:
    """How the unit of a file was found.

    Attributes:
        unit: name from :data:`UNITS_MM` (``"custom"`` for a stated number that is none of them).
        unit_mm: millimetres per file unit.
        leg_length: rest-pose leg length (hip-knee-ankle, mean of both legs) in file units.
        leg_length_mm: the same in mm (``leg_length * unit_mm``).
        stated: whether the unit was given rather than detected.
    """

    unit: str
    unit_mm: float
    leg_length: float
    leg_length_mm: float
    stated: bool


def parse_unit(unit: str | float) -> float:
    """Millimetres per unit of a unit name (``"cm"``, ``"m"``, ``"in"``, ``"cmu"``, ...) or a positive number.

    Raises:
        ValueError: unknown name or a non-positive number.
    """
    if isinstance(unit, str):
        key = unit.strip().lower()
        if key not in UNITS_MM and key not in _ALIASES and key.endswith("s"):
            key = key[:-1]  # plurals: "centimetres", "metres"
        key = _ALIASES.get(key, key)
        if key not in UNITS_MM:
            raise ValueError(f"unknown length unit {unit!r}; known: {sorted(UNITS_MM)} or millimetres per unit")
        return UNITS_MM[key]
    value = float(unit)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"millimetres per unit must be a positive number, got {unit!r}")
    return value


def unit_name(unit_mm: float) -> str:
    """The name of a unit from its size in mm (``"custom"`` when it is none of :data:`UNITS_MM`)."""
    return next((k for k, v in UNITS_MM.items() if abs(v - unit_mm) <= 1e-9 * v), "custom")


def leg_length(motion: Motion, leg_joints: Mapping[str, Sequence[int]]) -> float:
    """Rest-pose leg length of a skeleton in file units.

    Args:
        motion: the parsed motion (its ``offsets`` and ``parents`` are used, not its frames).
        leg_joints: ``{"R": (hip, knee, ankle), "L": (hip, knee, ankle)}`` joint indices, e.g. the source joints
            that the Human3.6M hips, knees and ankles are mapped from.

    Returns:
        Mean over the legs of ``|knee - hip| + |ankle - knee|`` in the rest pose (file units).
    """
    rest = motion.rest_positions()
    lengths = []
    for hip, knee, ankle in leg_joints.values():
        lengths.append(float(np.linalg.norm(rest[knee] - rest[hip]) + np.linalg.norm(rest[ankle] - rest[knee])))
    if not lengths:
        raise ValueError("leg_joints is empty")
    return float(np.mean(lengths))


def _candidates_text(length: float) -> str:
    return ", ".join(f"{k}: {length * UNITS_MM[k]:.0f} mm" for k in DETECTABLE_UNITS)


def detect_unit(motion: Motion, leg_joints: Mapping[str, Sequence[int]]) -> UnitDetection:
    """Detect the length unit of a motion file from its leg length (see the module docstring).

    Args:
        motion: the parsed motion.
        leg_joints: hip, knee and ankle joint indices of each leg (see :func:`leg_length`).

    Returns:
        The :class:`UnitDetection`.

    Raises:
        UnitError: no candidate unit (or more than one) gives an adult leg length; the message names the file, the
            measured length and each candidate's reading, and asks for the unit to be stated.
    """
    length = leg_length(motion, leg_joints)
    lo, hi = ADULT_LEG_MM
    fits = [k for k in DETECTABLE_UNITS if lo <= length * UNITS_MM[k] <= hi]
    if len(fits) != 1:
        found = "no candidate unit gives" if not fits else f"several units ({fits}) give"
        raise UnitError(
            f"cannot detect the length unit: the rest-pose leg (hip-knee-ankle) is {length:.4g} file units and "
            f"{found} an adult leg of {lo:.0f}-{hi:.0f} mm ({_candidates_text(length)}); state the unit "
            f"(e.g. unit_mm='cm' or a number of mm per unit)",
            motion.source,
        )
    return UnitDetection(fits[0], UNITS_MM[fits[0]], length, length * UNITS_MM[fits[0]], stated=False)


def check_unit(motion: Motion, leg_joints: Mapping[str, Sequence[int]], unit: str | float) -> UnitDetection:
    """Accept a stated unit after checking that it makes a human-sized leg (:data:`ANY_LEG_MM`).

    Args:
        motion: the parsed motion.
        leg_joints: hip, knee and ankle joint indices of each leg (see :func:`leg_length`).
        unit: unit name or millimetres per unit.

    Returns:
        The :class:`UnitDetection` (``stated=True``).

    Raises:
        UnitError: the stated unit makes the leg shorter or longer than any person's; the message gives the
            length it would have and the unit the body size points to, if any.
        ValueError: an unknown unit name.
    """
    unit_mm = parse_unit(unit)
    length = leg_length(motion, leg_joints)
    lo, hi = ANY_LEG_MM
    if not lo <= length * unit_mm <= hi:
        adult = [k for k in DETECTABLE_UNITS if ADULT_LEG_MM[0] <= length * UNITS_MM[k] <= ADULT_LEG_MM[1]]
        hint = f"; the body size points to {adult[0]!r}" if len(adult) == 1 else ""
        raise UnitError(
            f"the stated unit {unit!r} ({unit_mm:g} mm) makes the rest-pose leg {length * unit_mm:.0f} mm long "
            f"(outside {lo:.0f}-{hi:.0f} mm){hint}",
            motion.source,
        )
    return UnitDetection(unit_name(unit_mm), unit_mm, length, length * unit_mm, stated=True)


def leg_joints_from_mapping(resolved: Mapping[str, Mapping[int, float]]) -> dict[str, tuple[int, int, int]]:
    """Hip, knee and ankle joint indices of each leg from a resolved Human3.6M mapping.

    Args:
        resolved: ``{h36m_joint: {source_index: weight}}`` (:func:`lt_core.data.retarget.resolve_mapping`); where a
            joint is a combination, its largest-weight source joint is used.

    Returns:
        ``{"R": (hip, knee, ankle), "L": (hip, knee, ankle)}``.
    """

    def main(joint: str) -> int:
        weights = resolved[joint]
        return max(weights, key=lambda i: weights[i])

    return {s: (main(f"{s}Hip"), main(f"{s}Knee"), main(f"{s}Ankle")) for s in ("R", "L")}
