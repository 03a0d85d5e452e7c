#!/usr/bin/env bash
# Issue 14's MISA parity cell: ours and the official MISA code (sail-sg/MISA, JAX 0.4.13 in its own
# venv, each seed a child process of it: benchmarks/parity/venv_reference.py) on the same arrays
# and budget, 3 seeds a side (queue_reference.sh: resumable, PART=ours|reference and SEEDS split the
# sides over the two cores):
#   MISA_VENV=/tmp/refs/misa-venv WANDB_MODE=disabled nohup nice -n 10 \
#       benchmarks/parity/queue_misa.sh MISA_DIR [DATASET] >> ~/.jaxrl_offline/parity/queue_misa.log 2>&1 &
# MISA_VENV is the reference's virtual environment (benchmarks/parity/requirements-misa.txt; the
# parity README's MISA section builds it); MISA_DIR an export of the pinned commit. DATASET
# defaults to jaxrl_offline/hopper/medium-v0.
# Budget (issue 14: "as many updates as fit in about 40 minutes per seed on one core, the same for
# both sides"), sized by the slower side: in one sitting on 2026-12-07 (benchmarks/results/parity/
# speed/official_misa__*; load 3.9-5.1) the official code ran 1.3 updates/s and ours 2.9, so
# 40 min x 1.3/s = 3.1k -> 3,000 updates, 10 episodes every 600, ours in chunks of 200 with a
# checkpoint after each and the OURS_CONFIG flag mcmc_adaptation_rate=0 (the code's fixed HMC
# step size).
set -u
MISA_DIR=${1:?usage: $0 /path/to/MISA [DATASET]}
export REFERENCE_PYTHON=${MISA_VENV:?set MISA_VENV to the reference virtual environment}/bin/python
# MISA_DIR without .git is an export of the pinned commit (the setup in the parity README).
export PINNED_EXPORT=1
exec "$(dirname "$0")/queue_reference.sh" official/misa "$MISA_DIR" "${2:-jaxrl_offline/hopper/medium-v0}" \
    3000 600 200
