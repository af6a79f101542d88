"""`make bench`: every benchmark part in turn (search, NLU, …); each prints a JSON line and a table."""

from __future__ import annotations

import importlib
import sys

# Each part with the arguments `make bench` gives it: the NLU part trains its model so the training
# time is measured too.
PARTS: dict[str, list[str]] = {
    "benchmarks.search": [],
    "benchmarks.nlu": ["--train", "--name", "bench-nlu"],
    "benchmarks.gateway": [],
}


def main() -> int:
    status = 0
    for name, args in PARTS.items():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:
                print(f"# {name}: not present yet, skipped")
                continue
            raise
        print(f"\n## {name}")
        sys.stdout.flush()
        status |= int(module.main(args) or 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
