#!/usr/bin/env bash
# Issue 14's parity queue: ours and CORL on jaxrl_offline/hopper/medium-v0 (1M), 3 seeds x 100k updates,
# 10 evaluation episodes every 10k updates, one run after another (background, one core), for
# TD3+BC, BC and IQL. Ours runs with the --config.* flags that match the reference's own settings
# on this dataset (benchmarks/parity/references.py OURS_CONFIG; none for TD3+BC and BC):
#   [REFERENCE_COMMIT=<sha>] WANDB_MODE=disabled nohup nice -n 10 benchmarks/parity/queue_hopper_medium.sh CORL_DIR \
#       >> ~/.jaxrl_offline/parity/queue.log 2>&1 &
# Resumable: ours from its orbax checkpoints under $JAXRL_OFFLINE_STATE/parity/ours (outside the
# work tree; copy the finished record into benchmarks/results/parity/runs/), the reference per
# finished seed (benchmarks/results/parity/reference_seeds/). A finished run is skipped.
set -u
cd "$(dirname "$0")/../.."
CORL_DIR=${1:?usage: $0 /path/to/CORL (checked out at the commit in benchmarks/parity/README.md)}
STATE=${JAXRL_OFFLINE_STATE:-$HOME/.jaxrl_offline}/parity/ours
DATASET=jaxrl_offline/hopper/medium-v0
# A checkout that is not a git work tree (e.g. a git archive) needs its commit named.
COMMIT_ARGS=${REFERENCE_COMMIT:+--reference_commit=$REFERENCE_COMMIT}
for algo in td3_bc bc iql; do
  OURS_ARGS=$(python -m benchmarks.parity.references corl/$algo $DATASET) || exit 1
  python -m experiments.run --algos=$algo --datasets=$DATASET --num_seeds=3 --steps=100000 \
      --eval_every=10000 --eval_episodes=10 --workdir="$STATE" --progress=false $OURS_ARGS
  python -m benchmarks.parity.run_reference --reference=corl/$algo --reference_dir="$CORL_DIR" $COMMIT_ARGS \
      --dataset=$DATASET --seeds=0,1,2 --steps=100000 --eval_every=10000 --eval_episodes=10 \
      --workdir=benchmarks/results/parity
done
