"""lt_core.exercises: every exercise's check passes the reference solution and fails wrong answers.

The wrong answers are made from the reference ones (every number the solution returns is scaled by 1.5 and shifted
by 1, booleans are flipped), so the test covers exercises added later (a new notebook's) without listing them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lt_core.exercises import EXERCISES, ExerciseFailed, check, exercise_ids, show_solution, solution

IDS = exercise_ids()


def _perturb(x):
    if isinstance(x, torch.Tensor):
        return ~x if x.dtype == torch.bool else x * 1.5 + 1.0
    if isinstance(x, np.ndarray):
        return ~x if x.dtype == bool else x * 1.5 + 1.0
    if isinstance(x, (bool, np.bool_)):
        return not x
    if isinstance(x, (int, float, np.number)):
        return x * 1.5 + 1.0
    if isinstance(x, dict):
        return {k: _perturb(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_perturb(v) for v in x)
    raise TypeError(f"cannot perturb {type(x).__name__}")


def _wrong(answer):
    if callable(answer):
        return lambda *a, **k: _perturb(answer(*a, **k))
    return _perturb(answer)


def test_every_notebook_has_its_exercises():
    by_notebook = {}
    for e in IDS:
        by_notebook.setdefault(e[:2], []).append(e)
    assert set(by_notebook) >= {"01", "02", "03", "04", "05", "06"}
    for nb, ids in by_notebook.items():
        assert 3 <= len(ids) <= 6, f"notebook {nb} has {len(ids)} exercises"


@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_solution_passes(exercise_id: str, capsys):
    assert bool(check(exercise_id, solution(exercise_id))) is True
    out = capsys.readouterr().out
    assert f"Exercise {exercise_id}" in out and ": correct." in out


@pytest.mark.parametrize("exercise_id", IDS)
def test_wrong_answer_fails(exercise_id: str):
    with pytest.raises(ExerciseFailed, match=rf"Exercise {exercise_id} .*not right yet"):
        check(exercise_id, _wrong(solution(exercise_id)))


@pytest.mark.parametrize("exercise_id", IDS)
def test_stub_is_not_attempted(exercise_id: str, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    result = check(exercise_id, stub)
    assert bool(result) is False and result.exercise_id == exercise_id
    out = capsys.readouterr().out
    assert "not answered yet" in out and "notebooks/solutions/" in out and f'show_solution("{exercise_id}")' in out


def test_answer_that_raises_is_reported():
    def broken(heatmaps, beta):
        return heatmaps.sum(-1)[:, :3]  # wrong shape

    with pytest.raises(ExerciseFailed, match="expected shape"):
        check("02.1", broken)

    def crashing(heatmaps, beta):
        raise ZeroDivisionError("oops")

    with pytest.raises(ExerciseFailed, match="ZeroDivisionError: oops"):
        check("02.1", crashing)


def test_swapped_coordinates_are_caught():
    ref = solution("02.1")
    with pytest.raises(ExerciseFailed, match="24 x 40"):
        check("02.1", lambda h, b: ref(h, b).flip(-1))  # (v, u) instead of (u, v)


def test_unknown_exercise_and_show_solution(capsys):
    with pytest.raises(KeyError, match="unknown exercise"):
        check("99.1", lambda: 0)
    text = show_solution("04.2")
    assert "grid_sample" in text and "def unproject_view" in capsys.readouterr().out
    assert all(ex.paper is not None for ex in EXERCISES.values())
