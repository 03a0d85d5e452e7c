"""The project's datasets in D4RL's array layout, and the check that a reference sees our data.

D4RL's ``env.get_dataset()`` is a flat stream of steps, episodes one after another:
``observations [N, obs_dim]``, ``actions [N, action_dim]``, ``rewards [N]``, ``terminals [N]`` (true
terminations), ``timeouts [N]`` (the last step of an episode that did not terminate) and, in the v2
locomotion files, ``next_observations [N, obs_dim]``. :func:`get_dataset` builds exactly that from a
Minari dataset's episodes, with no preprocessing: raw observations, rewards and actions, float32
as D4RL stores them.

``d4rl.qlearning_dataset`` (D4RL's own rule, reproduced by :func:`qlearning_dataset`) then pairs
step ``i`` with ``observations[i + 1]`` for ``i < N - 1`` and, unless ``terminate_on_end``, drops
every step with ``timeouts[i]`` (its next observation would be the next episode's first). So a
reference trained through D4RL sees the project's transitions minus the time-limit steps (and the
file's last step), and after a terminal step a ``next_observation`` that is the next episode's
first observation (harmless: the bootstrap mask is 0). :func:`check_against_project` checks
precisely this against what the project's loader returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # Annotations only: a reference venv imports this module without our jax.
    from jaxrl_offline.types import DatasetInfo, Transition


class ParityError(ValueError):
    """The arrays a reference receives differ from the project's."""


GET_DATASET_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts",
                    "next_observations")
QLEARNING_KEYS = ("observations", "actions", "next_observations", "rewards", "terminals")


def get_dataset(dataset_id: str) -> dict[str, np.ndarray]:
    """``env.get_dataset()`` of D4RL for a local Minari dataset (flat, raw, float32).

    Args:
      dataset_id: a local Minari id with Box observations (``jaxrl_offline/hopper/medium-v0``).

    Returns:
      dict of ``GET_DATASET_KEYS``: observations / next_observations [N, obs_dim] float32,
      actions [N, action_dim] float32, rewards [N] float32, terminals / timeouts [N] bool.
    """
    from jaxrl_offline.datasets.minari_format import open_minari

    dataset = open_minari(dataset_id, download=False)
    columns: dict[str, list[np.ndarray]] = {key: [] for key in GET_DATASET_KEYS}
    for episode in dataset.iterate_episodes():
        observations = np.asarray(episode.observations)
        if observations.dtype == object or observations.ndim != 2:
            raise ParityError(f"{dataset_id}: only flat Box observations have a D4RL layout here")
        terminals = np.asarray(episode.terminations, bool)
        if not len(terminals):
            continue
        timeouts = np.zeros_like(terminals)
        timeouts[-1] = not terminals[-1]  # An episode that stops without terminating timed out.
        columns["observations"].append(observations[:-1])
        columns["next_observations"].append(observations[1:])
        columns["actions"].append(np.asarray(episode.actions).reshape(len(terminals), -1))
        columns["rewards"].append(np.asarray(episode.rewards))
        columns["terminals"].append(terminals)
        columns["timeouts"].append(timeouts)
    dtypes = {"terminals": bool, "timeouts": bool}
    return {key: np.concatenate(parts).astype(dtypes.get(key, np.float32))
            for key, parts in columns.items()}


def qlearning_dataset(dataset: dict[str, np.ndarray],
                      terminate_on_end: bool = False) -> dict[str, np.ndarray]:
    """D4RL's ``qlearning_dataset`` rule applied to a ``get_dataset`` dict (see module docstring).

    Returns:
      dict of ``QLEARNING_KEYS``: N' <= N - 1 transitions, next_observations = observations[i + 1].
    """
    keep = np.ones(len(dataset["rewards"]) - 1, bool)
    if not terminate_on_end:
        keep &= ~dataset["timeouts"][:-1]
    observations = dataset["observations"]
    return {"observations": observations[:-1][keep],
            "actions": dataset["actions"][:-1][keep],
            "next_observations": observations[1:][keep],
            "rewards": dataset["rewards"][:-1][keep],
            "terminals": dataset["terminals"][:-1][keep]}


def kept_rows(dataset: dict[str, np.ndarray], terminate_on_end: bool = False) -> np.ndarray:
    """[N] bool: the rows of ``dataset`` that :func:`qlearning_dataset` keeps."""
    keep = np.zeros(len(dataset["rewards"]), bool)
    keep[:-1] = True if terminate_on_end else ~dataset["timeouts"][:-1]
    return keep


def check_against_project(dataset: dict[str, np.ndarray], received: dict[str, np.ndarray],
                          project: Transition, info: DatasetInfo) -> dict[str, Any]:
    """Checks the reference's arrays against the project's and returns the counts it compared.

    Args:
      dataset: what the reference's ``get_dataset()`` returned.
      received: what its ``qlearning_dataset`` returned (before the reference touched it).
      project: the project's untransformed arrays (``data.load_numpy`` with
        ``Transforms(normalize_obs=False)``): obs / next_obs [N, obs_dim], action [N, action_dim]
        in [-1, 1], reward [N], terminal [N].
      info: the project's ``DatasetInfo`` (episode count, action bounds).

    Returns:
      JSON-ready summary (transition, terminal and timeout counts; next-observation alignment).

    Raises:
      ParityError: naming the first mismatch.
    """
    num = len(project.reward)
    if len(dataset["rewards"]) != num:
        raise ParityError(f"get_dataset has {len(dataset['rewards'])} steps, the project {num}")
    same = {
        "observations": np.array_equal(dataset["observations"], project.obs),
        "next_observations": np.array_equal(dataset["next_observations"], project.next_obs),
        "actions": np.allclose(dataset["actions"], info.to_env_action(project.action), atol=1e-6),
        "rewards": np.array_equal(dataset["rewards"], np.float32(project.reward)),
        "terminals": np.array_equal(dataset["terminals"], project.terminal > 0.5),
    }
    if not all(same.values()):
        raise ParityError(f"get_dataset differs from the project's arrays in "
                          f"{[key for key, ok in same.items() if not ok]}")
    num_terminals, num_timeouts = int(dataset["terminals"].sum()), int(dataset["timeouts"].sum())
    if num_terminals + num_timeouts != info.num_episodes:
        raise ParityError(f"{num_terminals} terminals + {num_timeouts} timeouts != "
                          f"{info.num_episodes} project episodes")
    keep = kept_rows(dataset)
    expected = {"observations": project.obs[keep], "actions": dataset["actions"][keep],
                "rewards": np.float32(project.reward[keep]),
                "terminals": project.terminal[keep] > 0.5}
    for key, value in expected.items():
        if received[key].shape != value.shape or not np.array_equal(received[key], value):
            raise ParityError(f"qlearning_dataset[{key!r}] is not the project's {key} without "
                              "the D4RL-dropped steps")
    nonterminal = ~expected["terminals"]
    aligned = np.array_equal(received["next_observations"][nonterminal],
                             project.next_obs[keep][nonterminal])
    if not aligned:
        raise ParityError("qlearning_dataset next_observations of non-terminal steps are not the "
                          "project's next_obs")
    terminal_rows = ~nonterminal
    extra = {}
    if "next_actions" in received:  # CORL ReBRAC's loop: actions[i + 1] of every kept row i.
        next_actions = dataset["actions"][np.flatnonzero(keep) + 1]
        if (received["next_actions"].shape != next_actions.shape
                or not np.array_equal(received["next_actions"], next_actions)):
            raise ParityError("next_actions are not the actions of the steps after the kept rows")
        extra["next_actions_checked"] = len(next_actions)
    return extra | {
        "project_transitions": num,
        "reference_transitions": int(keep.sum()),
        "dropped_timeouts": int(dataset["timeouts"][:-1].sum()),  # Before the file's last step,
        "dropped_last_step": 1,  # which qlearning_dataset always drops (a timeout or terminal).
        "terminals": num_terminals,
        "reference_terminals": int(expected["terminals"].sum()),
        "timeouts": num_timeouts,
        "episodes": int(info.num_episodes),
        "next_obs_aligned_nonterminal": int(nonterminal.sum()),
        "next_obs_after_terminal_differs": int(np.any(
            received["next_observations"][terminal_rows] != project.next_obs[keep][terminal_rows],
            axis=1).sum()),
    }
