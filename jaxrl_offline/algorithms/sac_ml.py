"""SAC+ML without alignment: ACA's offline stage, then naive online SAC from the offline critic.

The baseline that shows what alignment does (Yu & Zhang 2023; spec ``algorithms.md`` §7): the
offline phase is exactly ``aca``'s SAC+ML (same losses, same Z, which is simply unused), and the
online phase is the same SAC fine-tuning protocol (temperature reset, clipped actor gradients,
same buffer) but on the offline critic, with no log pi_0 term. It is ``aca`` with ``align=False``,
registered under its own name so sweeps and tables list it as a column.
"""

from __future__ import annotations

import dataclasses

import ml_collections

from jaxrl_offline.algorithms import aca
from jaxrl_offline.algorithms.aca import (AgentState, act, explore, init, online_config,
                                          online_update, start_online, update)

NAME = "sac_ml"

__all__ = ["NAME", "Config", "AgentState", "init", "update", "act", "explore", "online_config",
           "online_update", "start_online", "get_config"]


@dataclasses.dataclass(frozen=True)
class Config(aca.Config):
    __doc__ = aca.Config.__doc__

    align: bool = False


def get_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(Config()))
