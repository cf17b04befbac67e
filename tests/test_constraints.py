"""constraints.txt, the versions `make` installs, covers and satisfies pyproject.toml's ranges: a
dependency added without `make constraints` would install unpinned."""
from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def pinned() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {canonicalize_name(name): version for name, version in pins}


def required() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [spec for specs in project["optional-dependencies"].values() for spec in specs]
    return [Requirement(spec) for spec in wanted if not spec.startswith("profile-etl")]


def test_every_dependency_of_pyproject_is_pinned_within_its_range():
    pins = pinned()
    for requirement in required():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in constraints.txt: run `make constraints`"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement.specifier}"
