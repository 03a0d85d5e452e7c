#!/usr/bin/env bash
# Issue 17's BC check of the local suite: BC (256 x 256, 3 seeds, 100k updates, 10 evaluation
# episodes every 10k) on the five datasets of each environment named, one run after another on one
# core, in the background:
#   nohup nice -n 10 experiments/queue_bc_suite.sh hopper walker2d >> ~/.jaxrl_offline/bc_suite/queue.log 2>&1 &
# Resumable: runs checkpoint under $JAXRL_OFFLINE_STATE/bc_suite (outside the work tree) and a
# finished run is skipped. Finished records are copied into benchmarks/results/bc_suite/runs/ and
# the tables regenerated there (commit them).
set -u
cd "$(dirname "$0")/.."
STATE=${JAXRL_OFFLINE_STATE:-$HOME/.jaxrl_offline}/bc_suite
RESULTS=benchmarks/results/bc_suite
[ $# -gt 0 ] || { echo "usage: $0 ENV [ENV ...]  (halfcheetah, hopper, walker2d)"; exit 2; }
for env in "$@"; do
  DATASETS=$(python -c "from experiments.sweeps.bc_suite import SUITE_KINDS as k; print(','.join(f'jaxrl_offline/$env/{x}-v0' for x in k))")
  python -m experiments.run --sweep=bc_suite --datasets="$DATASETS" --workdir="$STATE" --progress=false || exit 1
  mkdir -p "$RESULTS/runs"
  cp "$STATE"/runs/bc__jaxrl_offline_${env}_*.json "$RESULTS/runs/"
  python -m experiments.tables --workdir="$RESULTS"
done
echo "BC SUITE QUEUE DONE: $*"
