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

SWEEP = dict(
    algos=("bc",),
    datasets=("jaxrl_offline/hopper/medium-v0",),
    num_seeds=3,
    steps=100_000,
    eval_every=10_000,
    eval_episodes=10,
    variants={"pytorch_init": {"init_scheme": "pytorch"}},
)
