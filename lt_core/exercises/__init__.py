"""The notebooks' exercises: run a reader's answer on fresh inputs and say whether it is right.

Every notebook ends with 3-6 exercises. Exercise ``"NN.k"`` (notebook ``NN``, exercise ``k``) has a statement in
the notebook, a code cell where the reader writes the answer (a function, mostly), and a check cell::

    check("02.1", my_soft_argmax)

:func:`check` builds its own inputs (fixed seeds), runs the answer on them and compares the result with what
``lt_core`` computes (or with autograd, for derivatives):

* right: prints ``Exercise 02.1 ... correct`` and what was checked, returns a true :class:`CheckResult`;
* not attempted (the answer raises ``NotImplementedError``, as the stubs do, or returns ``None``): prints how to
  start and where the reference solution is, returns a false one; the notebook keeps running;
* wrong: raises :class:`ExerciseFailed` (an ``AssertionError``) saying what differs, on which input, by how much.

Reference solutions are kept out of the notebooks, in ``notebooks/solutions/NN_name.py`` (a dict
``SOLUTIONS = {"NN.k": answer}``); :func:`solution` loads one and :func:`show_solution` prints its source. The
tests check every exercise both ways: the reference solution passes, a perturbed one fails.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

__all__ = [
    "Exercise",
    "ExerciseFailed",
    "NotAttempted",
    "CheckResult",
    "EXERCISES",
    "register",
    "check",
    "solution",
    "show_solution",
    "solutions_file",
    "exercise_ids",
    "close",
    "call",
]


class ExerciseFailed(AssertionError):
    """The reader's answer is wrong; the message says on which input and by how much."""


class NotAttempted(Exception):
    """The answer is still the stub (raises ``NotImplementedError`` or returns ``None``)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise.

    Attributes:
        id: ``"NN.k"``.
        title: a few words.
        checker: ``checker(answer, **context) -> str``: returns what was verified, raises :class:`ExerciseFailed`
            (wrong) or :class:`NotAttempted`.
        paper: where the paper describes it (e.g. ``"Sec. 3, Eq. (2)"``), or ``""``.
    """

    id: str
    title: str
    checker: Callable[..., str]
    paper: str = ""


class CheckResult:
    """What :func:`check` returns: true when the answer is right. A notebook shows nothing for it (the check has
    printed its verdict already)."""

    def __init__(self, exercise_id: str, passed: bool) -> None:
        self.exercise_id = exercise_id
        self.passed = passed

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult({self.exercise_id!r}, passed={self.passed})"

    def _ipython_display_(self) -> None:  # the verdict is printed by check(); nothing more to show
        pass


EXERCISES: dict[str, Exercise] = {}
"""Every registered exercise by id."""


def register(exercise_id: str, title: str, paper: str = "") -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Decorator registering ``checker`` as exercise ``exercise_id``."""
    if len(exercise_id) < 4 or exercise_id[2] != "." or not exercise_id[:2].isdigit():
        raise ValueError(f"exercise ids look like 'NN.k', got {exercise_id!r}")

    def deco(checker: Callable[..., str]) -> Callable[..., str]:
        if exercise_id in EXERCISES:
            raise ValueError(f"exercise {exercise_id} registered twice")
        EXERCISES[exercise_id] = Exercise(exercise_id, title, checker, paper)
        return checker

    return deco


def exercise_ids(notebook: str | None = None) -> list[str]:
    """Registered ids, all or those of notebook ``"NN"``, in order."""
    ids = sorted(EXERCISES, key=lambda e: (e[:2], int(e[3:])))
    return [e for e in ids if notebook is None or e[:2] == notebook]


def solutions_file(exercise_id: str) -> Path:
    """``notebooks/solutions/NN_*.py`` of an exercise (the one solutions file of notebook ``NN``)."""
    from lt_core.notebook_utils import notebooks_dir

    folder = notebooks_dir() / "solutions"
    found = sorted(folder.glob(f"{exercise_id[:2]}_*.py"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"expected one solutions file {folder.name}/{exercise_id[:2]}_*.py for exercise "
            f"{exercise_id}, found {[p.name for p in found]}"
        )
    return found[0]


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"lt_solutions_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def solution(exercise_id: str) -> Any:
    """The reference answer of an exercise, loaded from its solutions file."""
    path = solutions_file(exercise_id)
    sols = getattr(_load(path), "SOLUTIONS", None)
    if not isinstance(sols, dict) or exercise_id not in sols:
        raise KeyError(f"{path.name} has no SOLUTIONS[{exercise_id!r}]")
    return sols[exercise_id]


def show_solution(exercise_id: str) -> str:
    """Print (and return) the source of the reference answer of an exercise."""
    answer = solution(exercise_id)
    try:
        text = inspect.getsource(answer)
    except (TypeError, OSError):
        text = repr(answer)
    print(
        f"# reference solution of exercise {exercise_id}, from notebooks/solutions/"
        f"{solutions_file(exercise_id).name}\n{text}"
    )
    return text


def check(exercise_id: str, answer: Any, **context: Any) -> CheckResult:
    """Check a reader's answer (see the module docstring).

    Args:
        exercise_id: ``"NN.k"``.
        answer: what the exercise asks for (usually a function).
        **context: data from the notebook some checks also use.

    Returns:
        A :class:`CheckResult`, true when right, false when not attempted yet.

    Raises:
        ExerciseFailed: the answer is wrong.
        KeyError: unknown exercise id.
    """
    if exercise_id not in EXERCISES:
        raise KeyError(f"unknown exercise {exercise_id!r}; known: {exercise_ids()}")
    ex = EXERCISES[exercise_id]
    head = f"Exercise {ex.id} ({ex.title})"
    try:
        if answer is None:
            raise NotAttempted
        what = ex.checker(answer, **context)
    except NotAttempted:
        try:
            where = f"notebooks/solutions/{solutions_file(exercise_id).name}"
        except FileNotFoundError:
            where = "notebooks/solutions/"
        print(
            f"{head}: not answered yet. Replace `raise NotImplementedError` in the cell above with your code, "
            f"run it, then run this check again. Stuck? The reference solution is in {where}; "
            f'`show_solution("{ex.id}")` prints it.'
        )
        return CheckResult(ex.id, False)
    except ExerciseFailed as err:
        raise ExerciseFailed(f"{head}: not right yet. {err}") from None
    print(f"{head}: correct. {what}")
    return CheckResult(ex.id, True)


# ---------------------------------------------------------------------------------------------- check helpers
def call(answer: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run the reader's function; the stub's ``NotImplementedError`` or a ``None`` result -> :class:`NotAttempted`,
    any other exception -> :class:`ExerciseFailed` naming it."""
    if not callable(answer):
        raise ExerciseFailed(f"expected a function, got {type(answer).__name__}")
    try:
        out = answer(*args, **kwargs)
    except NotImplementedError:
        raise NotAttempted from None
    except Exception as exc:  # noqa: BLE001 - the reader's code may raise anything; say what
        raise ExerciseFailed(f"your function raised {type(exc).__name__}: {exc}") from None
    if out is None:
        raise NotAttempted
    return out


def _array(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"{name}: expected numbers, got {type(x).__name__}") from None


def close(got: Any, want: Any, what: str, atol: float = 1e-6, rtol: float = 1e-6, unit: str = "") -> None:
    """Raise :class:`ExerciseFailed` unless ``got`` matches ``want`` (shape and values within tolerance).

    Args:
        got: the reader's result (tensor, array or number).
        want: the expected result.
        what: describes the input (``"on 5 random heatmaps, beta = 30"``).
        atol, rtol: tolerances (``|got - want| <= atol + rtol |want|``).
        unit: unit of the values for the message.
    """
    g, w = _array(got, what), _array(want, what)
    if g.shape != w.shape:
        raise ExerciseFailed(f"{what}: expected shape {tuple(w.shape)}, got {tuple(g.shape)}")
    bad = ~(np.abs(g - w) <= atol + rtol * np.abs(w))
    bad |= np.isnan(g) != np.isnan(w)
    if bad.any():
        i = (
            np.unravel_index(int(np.argmax(np.where(bad, np.abs(np.nan_to_num(g - w, nan=np.inf)), -1.0))), g.shape)
            if g.ndim
            else ()
        )
        sfx = f" {unit}" if unit else ""
        at = f" at index {tuple(int(k) for k in i)}" if g.ndim else ""
        raise ExerciseFailed(
            f"{what}: {int(bad.sum())} of {bad.size} values differ; expected {w[i]:.6g}{sfx}, got {g[i]:.6g}{sfx}{at}"
        )


# the chapters register their exercises with the functions above, so they are imported last
from lt_core.exercises import (  # noqa: E402
    camera,
    evaluation,
    heatmaps,
    own_cameras,
    training,
    triangulation,
    volumetric,
)
