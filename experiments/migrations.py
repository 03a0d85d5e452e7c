"""Renamed config fields (issue 18: names that mean one thing) and the migration of run records.

``RENAMED_FIELDS[algorithm][old] = (new, ...)``: an old field becomes one or more new fields with
the same value (``hidden_dims`` split into the sizes of each network). The names follow one rule:
network sizes are ``actor_hidden_dims`` / ``critic_hidden_dims`` / ``value_hidden_dims`` (IDQL's
diffusion denoiser ``denoiser_hidden_dims``, SfBC's score U-Net ``score_unet_hidden_dims``), and a
field name means one quantity in every algorithm (IQL's AWR inverse temperature is
``awr_temperature``, MISA's log-sum-exp temperature ``logsumexp_temperature``; IQL's AWR weight
clip ``awr_max_weight``, TD3-RKL's coverage-weight clip ``coverage_max_weight``).

``ADDED_FIELDS[algorithm][field] = value``: a field added to a ``Config`` later, with the value
that does what the code did before it existed (its default then; TD3+BC's and TD3-RKL's
``init_scheme`` was added as "orthogonal" and its default became "pytorch" the same day, so
older records keep "orthogonal").

Records written before the renames carry the old names in ``config`` and ``overrides`` and a
``spec_hash`` of them; :func:`migrate_record` renames the fields (values unchanged), adds the
added fields a record's ``config`` lacks, and recomputes the hash, so re-planned sweeps find their
finished runs. ``python -m experiments.migrations
RECORD.json ...`` rewrites records in place.
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections.abc import Mapping
from typing import Any

from jaxrl_offline.reporting import results
from jaxrl_offline.runner import experiment

_ACTOR_CRITIC = {"hidden_dims": ("actor_hidden_dims", "critic_hidden_dims")}
RENAMED_FIELDS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "bc": {"hidden_dims": ("actor_hidden_dims",)},
    "td3_bc": _ACTOR_CRITIC,
    "td3_rkl": {**_ACTOR_CRITIC, "max_weight": ("coverage_max_weight",)},
    "iql": {"hidden_dims": ("actor_hidden_dims", "critic_hidden_dims", "value_hidden_dims"),
            "temperature": ("awr_temperature",), "max_weight": ("awr_max_weight",)},
    "sac": _ACTOR_CRITIC,
    "aca": _ACTOR_CRITIC,
    "sac_ml": _ACTOR_CRITIC,
    "idql": {"actor_hidden_dims": ("denoiser_hidden_dims",),
             "hidden_dims": ("critic_hidden_dims", "value_hidden_dims")},
    "sfbc": {"behavior_hidden_dims": ("score_unet_hidden_dims",)},
    "misa": {"temperature": ("logsumexp_temperature",)},
}


# IQL's CORL switches (``actor_kind``, ``use_updated_value``): the Gaussian actor and the official
# update order were the only behavior before them.
# CQL's CORL switches (``log_std_offset``, ``return_range_rewards``): no offset and the dataset's
# own rewards were the only behavior before them.
ADDED_FIELDS: Mapping[str, Mapping[str, Any]] = {
    "iql": {"actor_kind": "gaussian", "use_updated_value": True, "init_scheme": "orthogonal"},
    "cql": {"log_std_offset": 0.0, "return_range_rewards": False},
    "bc": {"init_scheme": "orthogonal"},
    "td3_bc": {"init_scheme": "orthogonal"},
    "td3_rkl": {"init_scheme": "orthogonal"},
    "sac": {"init_scheme": "orthogonal"},
    "aca": {"init_scheme": "orthogonal"},
    "sac_ml": {"init_scheme": "orthogonal"},
}


def renamed(algorithm: str, name: str) -> tuple[str, ...]:
    """The new names of ``algorithm``'s old field ``name`` (``()`` if it was not renamed)."""
    return tuple(RENAMED_FIELDS.get(algorithm, {}).get(name, ()))


def migrate_config(algorithm: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with ``algorithm``'s old field names replaced by the new ones (values unchanged,
    order kept). Idempotent: new names pass through."""
    migrated = {}
    for name, value in values.items():
        for new_name in renamed(algorithm, name) or (name,):
            migrated[new_name] = value
    return migrated


def record_spec_hash(record: Mapping[str, Any]) -> str:
    """``RunSpec.spec_hash`` recomputed from a record's own fields."""
    online = record.get("online")
    return experiment.spec_hash_of(
        algorithm=record["algorithm"], variant=record["variant"], dataset=record["dataset_id"],
        config=record["config"], seeds=record["seeds"], steps=record["steps"],
        chunk=record["chunk"], eval_every=record["eval_every"],
        eval_episodes=record["eval_episodes"], max_episode_steps=record["max_episode_steps"],
        online=[online["steps"], online["eval_every"], online["update_every"]] if online else None)


def migrate_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with renamed ``config`` and ``overrides`` fields, the ``ADDED_FIELDS`` its
    ``config`` lacks, and a recomputed ``spec_hash``; ``ValueError`` if its stored hash does not
    match its own fields (the record was edited, or written by code this migration does not know). A
    reference run's record (parity harness, ``"reference"`` key) holds the reference's own config
    and is returned unchanged."""
    if "reference" in record:
        return dict(record)
    if record_spec_hash(record) != record["spec_hash"]:
        raise ValueError(f"record {record.get('name')!r}: spec_hash does not match its fields")
    algorithm = record["algorithm"]
    migrated = dict(record)
    migrated["config"] = migrate_config(algorithm, record["config"])
    for name, value in ADDED_FIELDS.get(algorithm, {}).items():
        migrated["config"].setdefault(name, value)
    migrated["overrides"] = {layer: migrate_config(algorithm, values)
                             for layer, values in record.get("overrides", {}).items()}
    migrated["spec_hash"] = record_spec_hash(migrated)
    return migrated


def main(paths: list[str]) -> None:
    for path in map(pathlib.Path, paths):
        record = json.loads(path.read_text())
        migrated = migrate_record(record)
        if migrated != record:
            results.dump_json(path, migrated)
            print(f"migrated {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
