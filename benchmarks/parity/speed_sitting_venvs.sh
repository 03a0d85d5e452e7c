#!/usr/bin/env bash
# Issue 14 item 5 (and issue 15's ratio to the official code) for the references that run in venvs
# of their own: ours (1 and 2 vmapped seeds) against IDQL, MISA and ACA's offline phase on the 1M
# hopper medium set, one after another (benchmarks.parity.speed; the reference side through
# run_reference in its venv). Writes benchmarks/results/parity/speed/<ref>__<dataset>.{json,md}.
#   REFS=/tmp/refs WANDB_MODE=disabled benchmarks/parity/speed_sitting_venvs.sh [idql misa aca]
# Expects the layout of benchmarks/parity/README.md's setup sections: checkouts $REFS/IDQL,
# $REFS/MISA, $REFS/ACA (exports of the pinned commits: the registry's commit is passed as
# --reference_commit) and venvs $REFS/idql-venv, $REFS/misa-venv, $REFS/aca-venv. Block sizes fit
# each method's rate on this CPU (IDQL ~16, MISA ~2, ACA's SAC+ML ~20-40 updates/s per seed).
set -u
cd "$(dirname "$0")/../.."
REFS=${REFS:-/tmp/refs}
DATASET=jaxrl_offline/hopper/medium-v0
[ $# -gt 0 ] || set -- idql misa aca
commit() { python -c "from benchmarks.parity import references; print(references.get_reference('$1').commit)"; }
for name in "$@"; do
  case $name in
    idql) args=(--reference=idql/idql --reference_dir="$REFS/IDQL" --harness_python="$REFS/idql-venv/bin/python"
                --reference_commit="$(commit idql/idql)" --chunk=300 --repeats=2) ;;
    misa) args=(--reference=official/misa --reference_dir="$REFS/MISA" --reference_python="$REFS/misa-venv/bin/python"
                --reference_commit="$(commit official/misa)" --chunk=40 --repeats=2) ;;
    aca)  args=(--reference=aca/aca --reference_dir="$REFS/ACA" --harness_python="$REFS/aca-venv/bin/python"
                --reference_commit="$(commit aca/aca)" --chunk=500 --repeats=2
                "--reference_args=--online_steps=100 --online_eval_every=100") ;;
    *) echo "unknown reference $name (idql, misa, aca)"; exit 2 ;;
  esac
  python -m benchmarks.parity.speed "${args[@]}" --dataset=$DATASET --seed_counts=1,2 || exit 1
done
python -m benchmarks.parity.tables
