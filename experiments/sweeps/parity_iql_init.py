"""Issue 14: IQL with ``torch.nn.Linear``'s initialization, against CORL's ``iql.py``.

Ours with CORL's hopper-medium settings (``benchmarks/parity/references.py`` ``OURS_CONFIG``:
deterministic actor, target rate 0.001, every loss reading the step's starting V) and our
orthogonal initialization reached 57.7 at 20k updates on ``jaxrl_offline/hopper/medium-v0``, then
all three seeds settled at 18.2-18.7 from 50k to 100k. The TD3+BC gap of the same comparison
came from the initialization (``parity_td3_bc_init``); this sweep runs the same protocol as the
parity queue (3 seeds, 100k updates, 10 evaluation episodes every 10k, the cosine schedule over
the 100k) with ``init_scheme="pytorch"`` as the variant ``pytorch_init``.

    nohup nice -n 10 python -m experiments.run --sweep=parity_iql_init \
        --workdir=$HOME/.jaxrl_offline/parity/ours-3 --progress=false &
    cp ~/.jaxrl_offline/parity/ours-3/runs/iql-pytorch_init__*.json benchmarks/results/parity/runs/
    python -m benchmarks.parity.tables
"""

from experiments.sweeps import parity_bc_init

# The same protocol, seeds and variant as parity_bc_init, with CORL's hopper-medium settings, as
# benchmarks/parity/queue.sh passes them (OURS_CONFIG).
SWEEP = {**parity_bc_init.SWEEP, "algos": ("iql",),
         "config": dict(use_updated_value=False, actor_kind="deterministic", tau=0.001)}
