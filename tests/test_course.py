"""The notebooks as a course: paper links, exercises with check cells, the closing lists, early parameter checks.

Every ``notebooks/NN_*.ipynb`` (notebooks added later join automatically) must

* link the paper (arXiv 1905.05754) in its introduction, and name the section, equation or table of the paper in at
  least three Markdown cells that carry the link;
* have 3-6 exercises: a Markdown statement ``**Exercise NN.k**``, a stub cell that still raises
  ``NotImplementedError`` (the committed notebook gives no answer away) and a check cell tagged ``exercise-check``
  calling ``check("NN.k", ...)``; every id is registered in :mod:`lt_core.exercises` and has a reference solution in
  ``notebooks/solutions/NN_*.py``;
* end with "What we saw" and a "What you should now be able to explain" list;
* check its parameters in a cell tagged ``check-parameters`` right after the ``parameters`` cell, before any work,
  and write to ``results/interactive/`` (ignored by git) when run by hand.

:func:`course_problems` returns what a notebook lacks; the tests check that it finds nothing in the committed
notebooks and that it does find what a deficient notebook lacks.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from lt_core.exercises import EXERCISES, solution
from lt_core.reproduce import discover_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = discover_notebooks(ROOT / "notebooks")
IDS = [p.stem for p in NOTEBOOKS]
PAPER = "arxiv.org/abs/1905.05754"
REFERENCE = re.compile(r"\b(Sec\.|Section|Eq\.|Table)\s*\(?\d")
CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d\d\.\d+)["']""")


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def course_problems(nb: nbformat.NotebookNode, number: str) -> list[str]:
    """What notebook ``number`` (``"01"``) lacks to be a chapter of the course; empty when nothing."""
    problems = []
    md = [c for c in nb.cells if c.cell_type == "markdown"]
    if not md or PAPER not in md[0].source:
        problems.append("the introduction does not link the paper (arxiv.org/abs/1905.05754)")
    cited = [c for c in md if PAPER in c.source and REFERENCE.search(c.source)]
    if len(cited) < 3:
        problems.append(
            f"only {len(cited)} Markdown cells link the paper with a section, equation or table "
            "(at least 3: one at each step it implements)"
        )
    checks = [(k, c) for k, c in enumerate(nb.cells) if "exercise-check" in _tags(c)]
    ids = [m for _, c in checks for m in CHECK_CALL.findall(c.source)]
    if not 3 <= len(ids) <= 6:
        problems.append(f"{len(ids)} exercise check cells (3-6 wanted, tagged 'exercise-check', calling check(...))")
    if len(set(ids)) != len(ids):
        problems.append(f"an exercise is checked twice: {ids}")
    for (k, _cell), eid in zip(checks, ids):
        if eid[:2] != number:
            problems.append(f"exercise {eid} is checked in notebook {number}")
        if eid not in EXERCISES:
            problems.append(f"exercise {eid} is not registered in lt_core.exercises")
            continue
        try:
            solution(eid)
        except (FileNotFoundError, KeyError) as err:
            problems.append(f"exercise {eid} has no reference solution: {err}")
        stub = nb.cells[k - 1] if k > 0 else None
        if stub is None or stub.cell_type != "code" or "raise NotImplementedError" not in stub.source:
            problems.append(f"the cell before the check of {eid} must be the reader's stub (raise NotImplementedError)")
        if not any(f"**Exercise {eid}**" in c.source for c in nb.cells[max(0, k - 3) : k] if c.cell_type == "markdown"):
            problems.append(f"no Markdown statement '**Exercise {eid}**' above its stub")
    last = md[-1].source if md else ""
    if "What we saw" not in last:
        problems.append("the last Markdown cell is not the 'What we saw' summary")
    explain = last.split("What you should now be able to explain", 1)
    if len(explain) < 2 or len(re.findall(r"^\* ", explain[1], re.M)) < 3:
        problems.append("no 'What you should now be able to explain' list (3 items or more) in the last Markdown cell")
    params = [k for k, c in enumerate(nb.cells) if "parameters" in _tags(c)]
    if len(params) != 1:
        problems.append("exactly one cell must be tagged 'parameters'")
    else:
        p = params[0]
        nxt = nb.cells[p + 1] if p + 1 < len(nb.cells) else None
        if nxt is None or "check-parameters" not in _tags(nxt) or "check_common(SIZE, SEED, OUT_DIR)" not in nxt.source:
            problems.append(
                "the cell after 'parameters' must be tagged 'check-parameters' and call "
                "check_common(SIZE, SEED, OUT_DIR)"
            )
        if 'os.environ.get("LT_RESULTS_DIR", "../results/interactive")' not in nb.cells[p].source:
            problems.append(
                "OUT_DIR must default to ../results/interactive (ignored by git) unless LT_RESULTS_DIR is set"
            )
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_a_course_chapter(path: Path):
    nb = nbformat.read(path, as_version=4)
    problems = course_problems(nb, path.name[:2])
    assert not problems, f"{path.name}:\n" + "\n".join(f"- {p}" for p in problems)


def test_executed_check_cells_wait_for_the_reader():
    """The committed notebooks ran their check cells on the stubs: each says 'not answered yet', none failed."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if "exercise-check" in _tags(cell):
                text = "".join(str(o.get("text", "")) for o in cell.outputs)
                assert "not answered yet" in text, f"{path.name}: check cell output {text[:200]!r}"


def _chapter(with_link: bool = True, exercises: int = 3) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    intro = "# 09 - test\n" + (f"[paper](https://{PAPER})" if with_link else "no link")
    cells = [nbformat.v4.new_markdown_cell(intro)]
    params = nbformat.v4.new_code_cell(
        'SIZE = "full"\nSEED = 0\nOUT_DIR = os.environ.get("LT_RESULTS_DIR", "../results/interactive")'
    )
    params.metadata["tags"] = ["parameters"]
    checks = nbformat.v4.new_code_cell("SIZE, SEED, OUT_DIR = check_common(SIZE, SEED, OUT_DIR)")
    checks.metadata["tags"] = ["check-parameters"]
    cells += [params, checks]
    for k in range(3):
        cells.append(
            nbformat.v4.new_markdown_cell(
                f"Step {k}, [Sec. 3, Eq. ({k + 1})](https://{PAPER})" if with_link else f"Step {k}"
            )
        )
    for k in range(1, exercises + 1):
        eid = f"01.{k}"
        cells.append(nbformat.v4.new_markdown_cell(f"**Exercise {eid}** -- do it"))
        cells.append(nbformat.v4.new_code_cell("def f():\n    raise NotImplementedError"))
        chk = nbformat.v4.new_code_cell(f'check("{eid}", f)')
        chk.metadata["tags"] = ["exercise-check"]
        cells.append(chk)
    cells.append(
        nbformat.v4.new_markdown_cell(
            "## What we saw\n\n* a\n\n## What you should now be able to explain\n\n* x\n* y\n* z"
        )
    )
    nb.cells = cells
    return nb


def test_course_problems_finds_what_is_missing():
    assert course_problems(_chapter(), "01") == []
    no_link = course_problems(_chapter(with_link=False), "01")
    assert any("does not link the paper" in p for p in no_link)
    assert any("section, equation or table" in p for p in no_link)
    assert any("0 exercise check cells" in p for p in course_problems(_chapter(exercises=0), "01"))
    assert any("is checked in notebook 02" in p for p in course_problems(_chapter(), "02"))
    nb = _chapter()
    nb.cells[-5].source = 'check("01.3", f)'  # exercise 01.3 checked twice (01.2's check cell) ...
    nb.cells[-3].source = "def f():\n    return 1"  # ... and 01.3's stub already answered
    problems = course_problems(nb, "01")
    assert any("checked twice" in p for p in problems) and any("stub" in p for p in problems)
    nb = _chapter()
    nb.cells[-1].source = "## What we saw\n\n* a"
    assert any("able to explain" in p for p in course_problems(nb, "01"))
