"""Issue 14's diagnosis of the TD3+BC parity gap: ours with ``torch.nn.Linear``'s initialization.

Ours (orthogonal kernels, gain sqrt(2), zero biases) ended 100k updates on
``jaxrl_offline/hopper/medium-v0`` about 11 normalized points below CORL's ``td3_bc.py`` (5 seeds;
Welch's interval excluded 0 at 50k and 90k updates), and every other setting of the two sides
matches (``benchmarks/parity/README.md``). CORL builds its networks with PyTorch's default
initialization, U(+-1/sqrt(fan_in)) kernels and biases in every layer, which is also what the
paper's official code uses. This sweep runs the same protocol as the parity queue (5 seeds,
100k updates, 10 evaluation episodes every 10k) with ``init_scheme="pytorch"`` as the variant
``pytorch_init``; its record sits beside the orthogonal one in the parity table.

    nohup nice -n 10 python -m experiments.run --sweep=parity_td3_bc_init \
        --workdir=$HOME/.jaxrl_offline/parity/ours-5 --progress=false &
    cp ~/.jaxrl_offline/parity/ours-5/runs/td3_bc-pytorch_init__*.json \
        benchmarks/results/parity/runs/
    python -m benchmarks.parity.tables
"""

SWEEP = dict(
    algos=("td3_bc",),
    datasets=("jaxrl_offline/hopper/medium-v0",),
    num_seeds=5,
    steps=100_000,
    eval_every=10_000,
    eval_episodes=10,
    variants={"pytorch_init": {"init_scheme": "pytorch"}},
)
