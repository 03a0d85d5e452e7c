#!/usr/bin/env bash
# Issue 14's IDQL parity cell: ours and the official IDQL code (philippe-eecs/IDQL, jaxrl5 on jax
# 0.5.3: the harness runs in its venv) on the same arrays and budget, 3 seeds a side, 100k updates
# (issue 14's minimum for IDQL), 10 episodes every 10k (queue_reference.sh: resumable, PART and SEEDS
# split the sides over the two cores):
#   IDQL_VENV=/tmp/refs/idql-venv WANDB_MODE=disabled nohup nice -n 10 \
#       benchmarks/parity/queue_idql.sh IDQL_DIR [DATASET] >> ~/.jaxrl_offline/parity/queue_idql.log 2>&1 &
# e.g. on two cores: PART=ours ... & and PART=reference SEEDS=0 ..., then SEEDS=1, SEEDS=2, then
# PART=reference with all seeds (reusing them) to write the 3-seed record. Ours takes longer than a
# session and a new machine starts without its checkpoints, so run it a seed at a time:
# PART=ours OURS_SEEDS=0 (then 1, then 2) keeps each finished seed in the committed
# benchmarks/results/parity/ours_seeds/ and writes the 3-seed record once all three are there.
# Cost, from the same-sitting speed on 2026-12-07 (benchmarks/results/parity/speed/idql_idql__*;
# load 5.7-6.3): the official code 15.8 updates/s, about 1.8 h a seed in one go (it keeps no
# checkpoint); ours 21 updates/s with 2 seeds vmapped, about 4 h for 3 seeds, checkpointed every
# 1,000 updates. Ours runs with the OURS_CONFIG flags of benchmarks/parity/references.py (batch 512
# for both models, 1:1 updates, AdamW 1e-4, the EMA from the first update).
set -u
IDQL_DIR=${1:?usage: $0 /path/to/IDQL [DATASET]}
export HARNESS_PYTHON=${IDQL_VENV:?set IDQL_VENV to the reference virtual environment}/bin/python
# IDQL_DIR without .git is an export of the pinned commit (the setup in the parity README).
export PINNED_EXPORT=1
exec "$(dirname "$0")/queue_reference.sh" idql/idql "$IDQL_DIR" "${2:-jaxrl_offline/hopper/medium-v0}" \
    100000 10000 1000
