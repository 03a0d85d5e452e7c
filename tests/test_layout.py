"""The package layout: layers import only downwards, and no modules import each other (in
``experiments/`` either).

Layers, lowest first: core, generative, algorithms, datasets, local_suite, reporting, runner
(``WORKSPACE.md``, "Package layout"). The core modules (types, networks, losses, state, hyperparams)
sit at the top of the package; every other layer is a subpackage. Imports are read with ``ast``, so
lazy imports inside functions count too; imports under ``if TYPE_CHECKING:`` never run and do not
count.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "jaxrl_offline"
LAYERS = ('core', 'generative', 'algorithms', 'datasets', 'local_suite', 'reporting', 'runner')
CORE = ('types', 'networks', 'losses', 'state', 'hyperparams')


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))
           if "__pycache__" not in path.parts}
EXPERIMENTS = {f"experiments.{path.stem}": path
               for path in sorted((ROOT.parent / "experiments").glob("*.py"))
               if path.stem != "__init__"}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) == 1 or (len(parts) == 2 and parts[1] in CORE):
        return "core"  # The package root holds only its docstring and ``__version__``.
    return parts[1] if parts[1] in LAYERS else None


def imports_of(module: str, modules: dict = MODULES) -> set[str]:
    """The ``modules`` (default: the package's) that ``module`` imports (``from pkg import name``
    counts as pkg.name when that is a module)."""
    found = set()
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    type_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                 and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                 for statement in node.body for inner in ast.walk(statement)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue  # ``if TYPE_CHECKING:`` imports never run.
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                     for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules and name != module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_is_in_a_layer():
    unplaced = sorted(m for m in MODULES if layer_of(m) is None)
    assert not unplaced, (f"modules in no layer: {unplaced}; move each into the subpackage of its "
                          f"layer ({', '.join(LAYERS[1:])}), or add a core module to CORE here")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_run_downwards(module):
    mine = LAYERS.index(layer_of(module) or "runner")
    upward = sorted(target for target in GRAPH[module]
                    if layer_of(target) and LAYERS.index(layer_of(target)) > mine)
    assert not upward, (f"{module} ({LAYERS[mine]}) imports from higher layers: {upward}; "
                        "move the shared code down or pass it in as an argument")


def assert_no_cycles(graph: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done.

    def visit(module, path):
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                raise AssertionError("modules import each other: " + " -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_no_import_cycles():
    assert_no_cycles(GRAPH)


def test_no_import_cycles_in_experiments():
    # sweep <-> tables and tables <-> grid_tables once did (the latter through a lazy import).
    assert_no_cycles({module: imports_of(module, EXPERIMENTS) for module in EXPERIMENTS})
