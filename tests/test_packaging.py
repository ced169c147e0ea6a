"""environment.yml and pyproject.toml must install the same packages at the same pins."""

import re
import tomllib

import yaml

from conftest import REPO

CONDA_ONLY = {"python", "pip", "quarto"}


def _name(spec: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def test_environment_and_pyproject_name_the_same_packages_and_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    from_pyproject = dict(_name(s) for s in pip_specs)

    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.update(_name(s) for s in dep["pip"])
        else:
            name = re.split(r"[=<>!]", dep, maxsplit=1)[0]
            conda[name.lower()] = dep
    assert set(conda) == CONDA_ONLY, "conda-forge provides only python, pip and quarto"
    assert pip == from_pyproject


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" in spec, f"unpinned dependency: {spec}"


def test_ci_runs_the_readme_test_command():
    ci = [l for l in (REPO / ".ci/run").read_text().splitlines() if l.strip() and not l.lstrip().startswith(("#", "set ", "export ", "cd "))]
    readme = (REPO / "README.md").read_text()
    assert ci[-1] == "bash scripts/test.sh"
    assert ci[-1] in readme.split("\n## ")[0], "the test command must be on the README's first screen"
    assert "bash scripts/demo.sh" in readme.split("\n## ")[0]
