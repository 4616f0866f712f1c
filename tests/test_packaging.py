"""The set-up files agree with each other: environment.yml, pyproject.toml, constraints.txt, Makefile, CI."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _installed_extras() -> list[str]:
    """The extras `make setup` installs (the Makefile's `-e ".[...]"`)."""
    m = re.search(r'-e "\.\[([^\]]+)\]"', (ROOT / "Makefile").read_text())
    assert m, 'the Makefile installs the project with -e ".[extras]"'
    return m.group(1).split(",")


def _pyproject_requirements() -> dict[str, str]:
    """Core dependencies and those of the extras `make` installs (optional extras such as `pose` are left out)."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for name in _installed_extras():
        reqs += meta["optional-dependencies"][name]
    return {_name(r): r.replace(" ", "") for r in reqs}


def _environment_requirements() -> dict[str, str]:
    reqs: dict[str, str] = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:") :].splitlines():
        m = re.match(r"^\s*-\s+(\S.*)$", line)
        if not m:
            continue
        item = m.group(1).split("#")[0].strip()
        if item.startswith(("-", "pip:")) or item in ("pip",) or item.startswith("python="):
            continue
        reqs[_name(item)] = item.replace(" ", "")
    return reqs


def test_environment_installs_the_same_extras_as_make():
    extras = ",".join(_installed_extras())
    assert f"-e .[{extras}]" in (ROOT / "environment.yml").read_text()


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    py, env = _pyproject_requirements(), _environment_requirements()
    assert set(env) == set(py), (
        f"only in environment.yml: {set(env) - set(py)}; only in pyproject: {set(py) - set(env)}"
    )
    for name, spec in py.items():
        assert env[name] == spec, f"{name}: pyproject says {spec}, environment.yml says {env[name]}"


def test_torch_is_pinned_for_setup_but_open_in_metadata():
    assert _pyproject_requirements()["torch"] == "torch>=2.2"
    pins = [
        l.strip() for l in (ROOT / "constraints.txt").read_text().splitlines() if l.strip() and not l.startswith("#")
    ]
    assert "torch==2.13.0" in pins
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile
    assert "-c constraints.txt" in (ROOT / "environment.yml").read_text()


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make reproduce" in readme


def test_setup_installs_the_h36m_extra_so_the_h5_readers_are_tested():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("h5py") for r in extras["h36m"])
    assert "h36m" in _installed_extras()
    from lt_core.data.calibration import import_h5py

    import_h5py("this test")  # installed by make: the .h5 reader tests run instead of skipping
