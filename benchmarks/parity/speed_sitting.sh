#!/usr/bin/env bash
# Issue 14 item 5 in one sitting on an otherwise idle machine: ours (1 and 2 vmapped seeds) against
# each CORL reference on the 1M hopper medium set, one after another (benchmarks.parity.speed; the
# reference on one torch thread). Writes benchmarks/results/parity/speed/corl_<algo>__<dataset>.{json,md}
# and regenerates the parity table. Check `uptime` first: the tables record the load average.
#   WANDB_MODE=disabled benchmarks/parity/speed_sitting.sh CORL_DIR [ALGO:CHUNK ...]
# (the reference commit is read with git in CORL_DIR; REFERENCE_COMMIT=<sha> for an export without .git)
set -u
cd "$(dirname "$0")/../.."
CORL_DIR=${1:?usage: $0 CORL_DIR [ALGO:CHUNK ...] (default td3_bc:1000 bc:1000 iql:1000)}; shift
[ $# -gt 0 ] || set -- td3_bc:1000 bc:1000 iql:1000
for item in "$@"; do
  python -m benchmarks.parity.speed --reference=corl/${item%%:*} --reference_dir="$CORL_DIR" \
      ${REFERENCE_COMMIT:+--reference_commit=$REFERENCE_COMMIT} --dataset=jaxrl_offline/hopper/medium-v0 --chunk=${item##*:} --repeats=3 --seed_counts=1,2 || exit 1
done
python -m benchmarks.parity.tables
