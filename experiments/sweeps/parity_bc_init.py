"""Issue 14: BC with ``torch.nn.Linear``'s initialization against CORL's ``any_percent_bc.py``.

The companion of ``parity_td3_bc_init``: on ``jaxrl_offline/hopper/medium-v0`` ours (orthogonal
init) ended 100k updates above CORL's BC (3 seeds a side; Welch's interval excluded 0 at 90k),
while TD3+BC ended below CORL's. If the initialization is what separates the two sides, BC with
CORL's initialization (``init_scheme="pytorch"``, the variant ``pytorch_init``) should move
towards CORL's curve too. Same protocol as the parity queue: 3 seeds, 100k updates, 10
evaluation episodes every 10k.

    nohup nice -n 10 python -m experiments.run --sweep=parity_bc_init \
        --workdir=$HOME/.jaxrl_offline/parity/ours-3 --progress=false &
    cp ~/.jaxrl_offline/parity/ours-3/runs/bc-pytorch_init__*.json benchmarks/results/parity/runs/
    python -m benchmarks.parity.tables
"""

from experiments.sweeps import parity_td3_bc_init

# The same protocol and variant as parity_td3_bc_init, for BC with the parity queue's 3 seeds.
SWEEP = {**parity_td3_bc_init.SWEEP, "algos": ("bc",), "num_seeds": 3}
