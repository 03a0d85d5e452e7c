"""Dataset specs: the one parser of the strings that name a run's data.

A spec is text (flags, sweep files, records' ``dataset_id``); :func:`parse` turns it into a frozen
:class:`DatasetSpec` once, and loading (``data.load_dataset``), generation (``suite.ensure_local``),
the per-dataset hyperparameter table (``experiments.overrides``) and task names
(``experiments.tasks``) read its fields instead of re-splitting the text. The spellings:

* a Minari id ``[namespace/]name-vN``: Farama's ``mujoco/hopper/medium-v0`` and
  ``D4RL/antmaze/umaze-v1``, the project's generated ``jaxrl_offline/invpend/mixed-v0``;
* the local suite ``jaxrl_offline/<env>/<kind>[-<size>]-v0`` (a Minari id the project generates;
  ``size`` is ``10k``, ``2m`` or a plain count, see :func:`size_label`);
* ``d4rl:PATH`` (``d4rl:PATH?env=ENV_ID`` names the Gymnasium eval env), a legacy D4RL hdf5 file
  read in place;
* a mixture ``A+B(+C...)`` of the above; ``+`` always separates parts, so a path cannot contain it.
  Whitespace around a part is ignored.

``str(parse(text))`` is ``text`` for every spelling without such whitespace, so record names, run
hashes and tables keyed by the text are unchanged. Malformed text raises ``DatasetError`` saying
what is wrong and what to write instead.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

from jaxrl_offline.datasets.raw_data import DatasetError

D4RL_PREFIX = "d4rl:"
ENV_OPTION = "env="
MIXTURE_SEPARATOR = "+"
SUITE_NAMESPACE = "jaxrl_offline"
SUITE_KINDS = ("random", "medium", "medium-replay", "medium-expert", "expert")
# The suite's envs; ``locomotion.ENVS`` defines each and checks it matches this list (the spec
# sits below the suite in the layers, so it names the envs rather than importing them).
SUITE_ENVS = ("halfcheetah", "hopper", "walker2d")
SUITE_VERSION_SUFFIX = "-v0"
# Namespaces of Farama's Minari ports of D4RL tasks: <namespace>/<env>/<level>-vN is D4RL's
# <env>-<level> task.
D4RL_TASK_NAMESPACES = ("mujoco", "D4RL")

_MINARI_ID = re.compile(r"(?P<name>[^/\s?]+(?:/[^/\s?]+)*)-v(?P<version>\d+)")
_SUITE_ID = re.compile(
    rf"{SUITE_NAMESPACE}/(?P<env>[a-z0-9]+)/(?P<kind>{'|'.join(SUITE_KINDS)})"
    rf"(?:-(?P<size>\d+(?:\.\d+)?[km]?))?{SUITE_VERSION_SUFFIX}")
# <namespace>/<env>/<level>[-<size>]-vN: the D4RL-like ids (Farama's, the suite, InvertedPendulum).
_LEVEL_ID = re.compile(
    r"(?P<namespace>[^/]+)/(?P<env>[a-z0-9]+)/(?P<level>[a-z-]+?)(?:-\d+(?:\.\d+)?[km]?)?-v\d+")
_VERSION = re.compile(r"-v\d+$")
_SIZE_UNITS = {"k": 1_000, "m": 1_000_000}


def size_label(size: int) -> str:
    """``10_000 -> "10k"``, ``2_000_000 -> "2m"``, ``1234 -> "1234"``."""
    if size % 1_000_000 == 0:
        return f"{size // 1_000_000}m"
    if size % 1_000 == 0:
        return f"{size // 1_000}k"
    return str(size)


def suite_id(env: str, kind: str, size: int | None = None) -> str:
    """``jaxrl_offline/<env>/<kind>[-<size>]-v0``; ``None`` (the default size) adds no label."""
    if env not in SUITE_ENVS:
        raise ValueError(f"unknown locomotion env {env!r}; the suite has {', '.join(SUITE_ENVS)}")
    if kind not in SUITE_KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(SUITE_KINDS)}")
    label = "" if size is None else f"-{size_label(size)}"
    return f"{SUITE_NAMESPACE}/{env}/{kind}{label}{SUITE_VERSION_SUFFIX}"


def strip_version(name: str) -> str:
    """A D4RL task name from a file or dataset name: lower case, ``_`` -> ``-``, no ``-vN``."""
    return _VERSION.sub("", name.lower().replace("_", "-"))


@dataclasses.dataclass(frozen=True)
class SuiteDataset:
    """A dataset of the local locomotion suite: what ``suite.make_dataset`` generates."""

    env: str
    kind: str
    size: int | None  # Transitions (per part for medium-expert); None: D4RL's default.


@dataclasses.dataclass(frozen=True)
class DatasetPart:
    """One dataset of a spec: a Minari id, or a D4RL file with an optional eval env.

    Attributes:
      dataset_id: the Minari id (``None`` for a D4RL file).
      path: the D4RL hdf5 path as written (``~`` is expanded when read; ``None`` for Minari).
      env_override: the ``?env=ENV_ID`` of a D4RL file: the Gymnasium eval env to use.
    """

    dataset_id: str | None = None
    path: str | None = None
    env_override: str | None = None

    def __post_init__(self):
        if (self.dataset_id is None) == (self.path is None):
            raise ValueError("DatasetPart needs exactly one of dataset_id and path")
        if self.env_override is not None and self.path is None:
            raise ValueError("DatasetPart: env_override is an option of D4RL files only")

    def __str__(self) -> str:
        if self.path is None:
            return self.dataset_id
        option = "" if self.env_override is None else f"?{ENV_OPTION}{self.env_override}"
        return f"{D4RL_PREFIX}{self.path}{option}"

    @property
    def is_d4rl(self) -> bool:
        return self.path is not None

    @property
    def suite(self) -> SuiteDataset | None:
        """The local-suite dataset this id names (its size label as :func:`size_label` writes
        it), or ``None``."""
        match = None if self.is_d4rl else _SUITE_ID.fullmatch(self.dataset_id)
        if match is None or match["env"] not in SUITE_ENVS:
            return None
        label = match["size"]
        size = None if label is None else _parse_size(label)
        if size is not None and (size != int(size) or size_label(int(size)) != label):
            return None  # "1.5m", "10000": not a name the generator writes.
        return SuiteDataset(match["env"], match["kind"], None if size is None else int(size))

    @property
    def size(self) -> int | None:
        """Transitions of a sized local-suite id (``medium-10k-v0`` -> 10_000), else ``None``."""
        suite = self.suite
        return None if suite is None else suite.size

    @property
    def task(self) -> str | None:
        """The D4RL task this part stands for (``hopper-medium``), or ``None`` if unknown.

        D4RL files by name (``hopper_medium-v2.hdf5``), the local suite's ids of any size, and
        Farama's ``mujoco/<env>/<level>-vN`` and ``D4RL/<env>/<level>-vN``."""
        if self.is_d4rl:
            return strip_version(pathlib.PurePath(self.path).name.removesuffix(".hdf5"))
        match = _LEVEL_ID.fullmatch(self.dataset_id)
        if match is None:
            return None
        local = match["namespace"] == SUITE_NAMESPACE and match["env"] in SUITE_ENVS
        if local or match["namespace"] in D4RL_TASK_NAMESPACES:
            return f"{match['env']}-{match['level']}"
        return None

    @property
    def level(self) -> str | None:
        """The dataset's level (``random``, ``medium-replay``, ``umaze``): its task's, or the
        ``<level>`` of any ``<namespace>/<env>/<level>[-<size>]-vN`` id."""
        task = self.task
        if task is not None:
            return task.split("-", 1)[-1]
        match = _LEVEL_ID.fullmatch(self.dataset_id)
        return None if match is None else match["level"]

    @property
    def source(self) -> str:
        """``local``, ``minari`` (Farama's), ``d4rl``, ``synthetic`` (generated InvertedPendulum)
        or ``other``."""
        if self.is_d4rl:
            return "d4rl"
        if self.suite is not None:
            return "local"
        if self.dataset_id.startswith(f"{SUITE_NAMESPACE}/invpend/"):
            return "synthetic"
        if self.dataset_id.split("/", 1)[0] in D4RL_TASK_NAMESPACES:
            return "minari"
        return "other"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec: one part, or the parts of a mixture in order.

    ``str(spec)`` is the canonical text (``A+B``), the form records and run names use.
    """

    parts: tuple[DatasetPart, ...]

    def __post_init__(self):
        if not self.parts:
            raise ValueError("DatasetSpec needs at least one part")

    def __str__(self) -> str:
        return MIXTURE_SEPARATOR.join(str(part) for part in self.parts)

    @property
    def canonical(self) -> str:
        return str(self)

    @property
    def is_mixture(self) -> bool:
        return len(self.parts) > 1

    @property
    def source(self) -> str:
        """The first part's :attr:`DatasetPart.source`."""
        return self.parts[0].source

    @property
    def task(self) -> str | None:
        """The D4RL task the spec stands for (``hopper-medium``), or ``None`` if unknown.

        A mixture of one env's parts is ``<env>-<kind>+<kind>``, except medium+expert, which is
        D4RL's medium-expert (exactly the two concatenated)."""
        tasks = [part.task for part in self.parts]
        if not self.is_mixture or None in tasks:
            return tasks[0] if not self.is_mixture else None
        envs = {task.split("-", 1)[0] for task in tasks}
        if len(envs) != 1:
            return None
        kinds = [task.split("-", 1)[1] for task in tasks]
        kind = "medium-expert" if kinds == ["medium", "expert"] else "+".join(kinds)
        return f"{envs.pop()}-{kind}"

    @property
    def tasks(self) -> tuple[str, ...]:
        """The spec's task and its parts' tasks (known ones only, no repeats)."""
        found = [self.task, *(part.task for part in self.parts)] if self.is_mixture else [self.task]
        return tuple(dict.fromkeys(task for task in found if task is not None))

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels of the spec's task and of its parts (known ones only, no repeats)."""
        found = [None if self.task is None else self.task.split("-", 1)[-1]]
        found += [part.level for part in self.parts]
        return tuple(dict.fromkeys(level for level in found if level is not None))


def parse(text: str | DatasetSpec) -> DatasetSpec:
    """Parses a dataset spec (a ``DatasetSpec`` is returned as it is).

    Raises:
      jaxrl_offline.datasets.raw_data.DatasetError: for an empty part, an unknown ``d4rl:`` option,
        a bare ``.hdf5`` path or text that is no Minari id; the message shows the accepted
        spellings.
    """
    if isinstance(text, DatasetSpec):
        return text
    if not isinstance(text, str):
        raise DatasetError(f"A dataset spec is text, got {type(text).__name__} {text!r}.")
    parts = [part.strip() for part in text.split(MIXTURE_SEPARATOR)]
    if not all(parts):
        raise DatasetError(
            f"Dataset spec {text!r} has an empty part. A mixture is 'A+B' with a dataset on each "
            "side of every '+', e.g. 'jaxrl_offline/hopper/random-v0+jaxrl_offline/hopper/"
            "expert-v0'.")
    return DatasetSpec(tuple(_parse_part(part, text) for part in parts))


def _parse_part(part: str, text: str) -> DatasetPart:
    where = repr(part) if part == text else f"{part!r} (in {text!r})"
    if part.startswith(D4RL_PREFIX):
        path, has_query, query = part[len(D4RL_PREFIX):].partition("?")
        if not path:
            raise DatasetError(f"{where} names no file; write 'd4rl:PATH.hdf5'.")
        env = query[len(ENV_OPTION):] if query.startswith(ENV_OPTION) else None
        if has_query and not env:
            raise DatasetError(
                f"Unknown option {query!r} in {where}; the only option is '?env=ENV_ID' (a "
                "Gymnasium id, e.g. 'd4rl:PATH.hdf5?env=Hopper-v5').")
        return DatasetPart(path=path, env_override=env)
    if part.lower().endswith(".hdf5"):
        raise DatasetError(
            f"{where} looks like a file; legacy D4RL hdf5 files are loaded with the 'd4rl:' "
            f"prefix, e.g. load_dataset('d4rl:{part}'). Minari datasets are loaded by id "
            "(namespace/name-vN).")
    if not _MINARI_ID.fullmatch(part):
        raise DatasetError(
            f"{where} is not a valid dataset spec. Use a Minari id 'namespace/name-vN' (e.g. "
            "'mujoco/hopper/medium-v0' or 'jaxrl_offline/hopper/medium-10k-v0'; the -vN version "
            "is required), 'd4rl:PATH.hdf5[?env=ENV_ID]' for a legacy D4RL file, or 'A+B' for a "
            "mixture.")
    return DatasetPart(dataset_id=part)


def _parse_size(label: str) -> float:
    """``"10k" -> 10_000``, ``"1.5m" -> 1_500_000``, ``"1234" -> 1234``."""
    scale = _SIZE_UNITS.get(label[-1], 1)
    return float(label.rstrip("km")) * scale
