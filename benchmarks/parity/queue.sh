#!/usr/bin/env bash
# Issue 14's parity runs, one after another on one core (background), for any CORL algorithms,
# dataset and seed count: per algorithm, ours (the runner, with the reference-matching --config.*
# flags of benchmarks/parity/references.py OURS_CONFIG), then the CORL reference on the same
# arrays, through queue_reference.sh (chunks of 1,000 updates):
#   [REFERENCE_COMMIT=<sha>] WANDB_MODE=disabled nohup nice -n 10 benchmarks/parity/queue.sh CORL_DIR \
#       DATASET NUM_SEEDS STEPS EVAL_EVERY ALGO [ALGO ...] >> ~/.jaxrl_offline/parity/queue.log 2>&1 &
# e.g. benchmarks/parity/queue.sh /tmp/refs/CORL jaxrl_offline/hopper/medium-v0 5 100000 10000 td3_bc
# Resumable: ours from its orbax checkpoints (one after every chunk: a CQL chunk of 1,000
# updates is ~20 minutes on a loaded core) under $JAXRL_OFFLINE_STATE/parity/ours-<NUM_SEEDS>
# (outside the work tree; a seed count has its own workdir, so a 5-seed run never resumes a
# 3-seed one), the reference per finished seed (benchmarks/results/parity/reference_seeds/, shared
# across seed counts: seeds 0-2 of a 5-seed reference run are reused). A finished run is skipped.
# Ours' finished record is copied into benchmarks/results/parity/runs/ (replacing one with fewer
# seeds) and the parity table regenerated. A CORL_DIR without .git needs REFERENCE_COMMIT
# (checked before anything runs).
set -u
USAGE="usage: $0 CORL_DIR DATASET NUM_SEEDS STEPS EVAL_EVERY ALGO [ALGO ...]"
CORL_DIR=${1:?$USAGE}; DATASET=${2:?$USAGE}; NUM_SEEDS=${3:?$USAGE}; STEPS=${4:?$USAGE}
EVAL_EVERY=${5:?$USAGE}; shift 5; [ $# -gt 0 ] || { echo "$USAGE"; exit 2; }
for algo in "$@"; do
  NUM_SEEDS=$NUM_SEEDS PART=all SEEDS= "$(dirname "$0")/queue_reference.sh" corl/$algo "$CORL_DIR" \
      "$DATASET" "$STEPS" "$EVAL_EVERY" 1000 || exit $?
done
echo "PARITY QUEUE DONE: $DATASET, $NUM_SEEDS seeds, $*"
