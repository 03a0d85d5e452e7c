#!/usr/bin/env bash
# Issue 14's parity runs, one after another on one core (background), for any algorithms, dataset
# and seed count: per algorithm, ours (the runner, with the reference-matching --config.* flags of
# benchmarks/parity/references.py OURS_CONFIG), then the CORL reference on the same arrays.
#   [REFERENCE_COMMIT=<sha>] WANDB_MODE=disabled nohup nice -n 10 benchmarks/parity/queue.sh CORL_DIR \
#       DATASET NUM_SEEDS STEPS EVAL_EVERY ALGO [ALGO ...] >> ~/.jaxrl_offline/parity/queue.log 2>&1 &
# e.g. benchmarks/parity/queue.sh /tmp/refs/CORL jaxrl_offline/hopper/medium-v0 5 100000 10000 td3_bc
# Resumable: ours from its orbax checkpoints (one after every chunk: a CQL chunk of 1,000
# updates is ~20 minutes on a loaded core) under $JAXRL_OFFLINE_STATE/parity/ours-<NUM_SEEDS>
# (outside the work tree; a seed count has its own workdir, so a 5-seed run never resumes a
# 3-seed one), the reference per finished seed (benchmarks/results/parity/reference_seeds/, shared
# across seed counts: seeds 0-2 of a 5-seed reference run are reused). A finished run is skipped.
# Ours' finished record is copied into benchmarks/results/parity/runs/ (replacing one with fewer
# seeds) and the parity table regenerated.
set -u
cd "$(dirname "$0")/../.."
USAGE="usage: $0 CORL_DIR DATASET NUM_SEEDS STEPS EVAL_EVERY ALGO [ALGO ...]"
CORL_DIR=${1:?$USAGE}; DATASET=${2:?$USAGE}; NUM_SEEDS=${3:?$USAGE}; STEPS=${4:?$USAGE}
EVAL_EVERY=${5:?$USAGE}; shift 5; [ $# -gt 0 ] || { echo "$USAGE"; exit 2; }
# Before hours of ours: the reference side needs a commit (git, or REFERENCE_COMMIT for an export).
if [ ! -e "$CORL_DIR/.git" ] && [ -z "${REFERENCE_COMMIT:-}" ]; then
  echo "$CORL_DIR is not a git checkout: set REFERENCE_COMMIT=<sha> (the pinned commit of an export)"
  exit 2
fi
STATE=${JAXRL_OFFLINE_STATE:-$HOME/.jaxrl_offline}/parity/ours-$NUM_SEEDS
SEEDS=$(python -c "print(','.join(map(str, range($NUM_SEEDS))))")
COMMIT_ARGS=${REFERENCE_COMMIT:+--reference_commit=$REFERENCE_COMMIT}
for algo in "$@"; do
  OURS_ARGS=$(python -m benchmarks.parity.references corl/$algo "$DATASET") || exit 1
  python -m experiments.run --algos=$algo --datasets="$DATASET" --num_seeds=$NUM_SEEDS --steps=$STEPS \
      --eval_every=$EVAL_EVERY --eval_episodes=10 --workdir="$STATE" --progress=false --checkpoint_every=1 $OURS_ARGS || exit 1
  cp "$STATE/runs/${algo}__$(echo "$DATASET" | tr '/' '_').json" benchmarks/results/parity/runs/
  python -m benchmarks.parity.run_reference --reference=corl/$algo --reference_dir="$CORL_DIR" $COMMIT_ARGS \
      --dataset="$DATASET" --seeds=$SEEDS --steps=$STEPS --eval_every=$EVAL_EVERY --eval_episodes=10 \
      --workdir=benchmarks/results/parity || exit 1
  python -m benchmarks.parity.tables
done
echo "PARITY QUEUE DONE: $DATASET, $NUM_SEEDS seeds, $*"
