"""The API reference (``docs/``) documents every module of the library and every algorithm.

Building it is CI's job (``.ci/run``: Sphinx with warnings as errors); this test catches a new
module or algorithm that no page names, in milliseconds and without Sphinx.
"""

import pathlib
import pkgutil
import re

import jaxrl_offline
from jaxrl_offline.algorithms import ALGORITHMS

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def documented_modules() -> set[str]:
    return {match.group(1) for page in DOCS.glob("*.rst")
            for match in re.finditer(r"^\.\. automodule:: (\S+)", page.read_text(), re.M)}


def test_every_algorithm_has_a_section():
    missing = sorted(module.__name__ for module in ALGORITHMS.values()
                     if module.__name__ not in documented_modules())
    assert not missing, f"add these to docs/algorithms.rst: {missing}"


def test_every_library_module_is_documented():
    packages = pkgutil.walk_packages(jaxrl_offline.__path__, "jaxrl_offline.")
    modules = {info.name for info in packages}
    missing = sorted(modules - documented_modules())
    assert not missing, f"modules no page of docs/ documents: {missing}"


def test_every_documented_module_exists():
    import importlib

    for name in sorted(documented_modules()):
        importlib.import_module(name)
