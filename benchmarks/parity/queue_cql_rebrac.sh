#!/usr/bin/env bash
# Issue 14's parity runs of CQL and ReBRAC: ours and CORL on jaxrl_offline/hopper/medium-v0 (1M),
# 3 seeds a side, the same number of updates on both sides, 10 evaluation episodes every 1/5 (CQL)
# or 1/10 (ReBRAC) of the budget, one run after another (background), through queue.sh (resumable;
# ours with the OURS_CONFIG flags of benchmarks/parity/references.py: for CQL alpha_lr=3e-5,
# log_std_offset=-1, return_range_rewards=true; none for ReBRAC):
#   [REFERENCE_COMMIT=<sha>] [METHODS="cql rebrac"] WANDB_MODE=disabled nohup nice -n 10 \
#       benchmarks/parity/queue_cql_rebrac.sh CORL_DIR [DATASET] >> ~/.jaxrl_offline/parity/queue_cql_rebrac.log 2>&1 &
# DATASET defaults to jaxrl_offline/hopper/medium-v0 (the mixed cell: jaxrl_offline/hopper/
# medium-expert-v0, same budgets); METHODS=cql or METHODS=rebrac runs one of them, so the two can
# use the two cores at once.
#
# Budget (issue 14: "as many updates as fit in about 40 minutes per seed on one core, the same for
# both sides"), sized by the slower side of each method, measured on 2026-12-06 with
#   taskset -c 1 python -m benchmarks.parity.speed --reference=corl/<algo> \
#       --reference_dir=CORL_DIR --dataset=jaxrl_offline/hopper/medium-50k-v0 \
#       --chunk=200|300 --repeats=2 --seed_counts=1
# (one seed, both sides in one sitting on core 1, while two background jobs and other sessions
# kept the 1-minute load average of the 2-core machine at 5-10; idle, both sides are faster):
#   CQL:    ours 2.4 updates/s, CORL 3.6 updates/s (load 7.3 / 9.9): ours is slower,
#           40 min x 2.4/s = 5.8k updates -> 5,000 updates, an evaluation every 1,000 (ours
#           through experiments.run, 1 seed, 400 updates, OURS_CONFIG flags, load 6: 3.7/s).
#   ReBRAC: ours 19.5 updates/s, CORL 13.5 updates/s (load 5.0 / 5.5): CORL is slower,
#           40 min x 13.5/s = 32k updates -> 30,000 updates, an evaluation every 3,000.
# The update cost does not depend on the dataset's size (same networks and batch), so the 50k set
# sized the budget of the 1M set. Evaluation intervals are multiples of the runner's 1,000-update
# chunk (queue.sh keeps the default --chunk).
set -u
cd "$(dirname "$0")/../.."
CORL_DIR=${1:?usage: $0 /path/to/CORL [DATASET] (CORL checked out at the commit in benchmarks/parity/README.md)}
DATASET=${2:-jaxrl_offline/hopper/medium-v0}
CQL_STEPS=5000
REBRAC_STEPS=30000
for method in ${METHODS:-cql rebrac}; do
  case $method in
    cql) benchmarks/parity/queue.sh "$CORL_DIR" "$DATASET" 3 $CQL_STEPS $((CQL_STEPS / 5)) cql || exit 1 ;;
    rebrac) benchmarks/parity/queue.sh "$CORL_DIR" "$DATASET" 3 $REBRAC_STEPS $((REBRAC_STEPS / 10)) rebrac || exit 1 ;;
    *) echo "METHODS: cql and/or rebrac, got '$method'"; exit 2 ;;
  esac
done
