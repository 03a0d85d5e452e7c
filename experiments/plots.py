"""Learning-curve PNGs from run records: ``python -m experiments.plots --workdir=DIR``.

Writes ``DIR/plots/<dataset>.png`` (mean and 95% bootstrap CI over seeds per evaluation, one
curve per algorithm); the runner does the same at the end of every sweep.
"""

from absl import app, flags, logging

from jaxrl_offline import plots, results


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:  # JAX logs backend probing at INFO.
        logging.set_verbosity(logging.WARNING)
    try:
        paths = plots.write_learning_curves(flags.FLAGS.workdir)
    except results.RecordError as err:
        raise SystemExit(f"error: {err}") from None
    print("\n".join(str(path) for path in paths))


if __name__ == "__main__":
    flags.DEFINE_string("workdir", None, "Folder holding runs/ (records).", required=True)
    app.run(main)
