"""``python -m benchmarks.claims --claim=<name>``: runs one claim benchmark (see the package)."""

import sys

from benchmarks.claims import aca, bimodal, misa_cql, mixed

CLAIMS = {"aca": aca.main, "bimodal": bimodal.main, "misa_cql": misa_cql.main, "mixed": mixed.main}


def main(argv: list[str]) -> int:
    claims = [arg.split("=", 1)[1] for arg in argv if arg.startswith("--claim=")]
    rest = [arg for arg in argv if not arg.startswith("--claim=")]
    if len(claims) != 1 or claims[0] not in CLAIMS:
        print(f"usage: python -m benchmarks.claims --claim=<name> [options]; got {argv}; "
              f"known claims: {', '.join(sorted(CLAIMS))}", file=sys.stderr)
        return 2
    return CLAIMS[claims[0]](rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
