"""The installed packages carry every file they read: what ships is decided by ``setup.cfg``.

The end-to-end check (build the wheel, install it into a fresh virtual environment, run the
README's example and a tiny sweep from another folder) is ``.ci/check_wheel.sh``; these tests
catch the usual ways of breaking it in seconds, without building anything.
"""

import ast
import configparser
import fnmatch
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("jaxrl_offline", "experiments")
DOCUMENTATION = ("*.md",)  # Read by people in the repository, never by the code.


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def package_data() -> dict[str, list[str]]:
    section = setup_cfg()["options.package_data"]
    return {package: value.split() for package, value in section.items()}


def source_files(package: str):
    for path in sorted((ROOT / package).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


@pytest.mark.parametrize("package", PACKAGES)
def test_every_data_file_is_package_data(package):
    patterns = package_data().get(package, [])
    missing = []
    for path in source_files(package):
        relative = path.relative_to(ROOT / package).as_posix()
        if path.suffix == ".py" or any(fnmatch.fnmatch(path.name, p) for p in DOCUMENTATION):
            continue
        if not any(_glob_match(relative, pattern) for pattern in patterns):
            missing.append(relative)
    assert not missing, (f"files under {package}/ that the wheel would not ship; add them to "
                         f"[options.package_data] in setup.cfg: {missing}")


def _glob_match(relative: str, pattern: str) -> bool:
    """``*`` matches within one folder level, as in setuptools' package_data globs."""
    parts, pattern_parts = relative.split("/"), pattern.split("/")
    return len(parts) == len(pattern_parts) and all(
        fnmatch.fnmatchcase(part, glob) for part, glob in zip(parts, pattern_parts))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_python_folder_is_a_package(package):
    """``packages = find:`` only finds folders with an ``__init__.py`` (sweep files included)."""
    folders = {path.parent for path in source_files(package) if path.suffix == ".py"}
    orphans = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file())
    assert not orphans, f"modules outside any package, missing from the wheel: {orphans}"


def test_installed_packages_are_the_ones_setup_cfg_finds():
    include = setup_cfg()["options.packages.find"]["include"].split()
    assert set(include) == {name for package in PACKAGES for name in (package, f"{package}.*")}


@pytest.mark.parametrize("package", PACKAGES)
def test_installed_code_does_not_import_repository_tools(package):
    """``benchmarks`` (and ``tests``) stay in the repository; installed code cannot import them."""
    offenders = []
    for path in source_files(package):
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] in ("benchmarks", "tests") for name in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


def test_published_tables_and_sweeps_live_in_the_package():
    from experiments import published, sweep

    assert published.PUBLISHED_DIR.parent == ROOT / "experiments"
    assert sorted(published.PUBLISHED_DIR.glob("*.json"))
    assert sweep.SWEEPS_DIR.parent == ROOT / "experiments"
