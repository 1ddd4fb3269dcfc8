"""Associative memory side by side: every neurodyn memory model on one task, one table.

    python benchmarks/associative_memory.py --json                 # one JSON object on stdout
    python benchmarks/associative_memory.py --quick --out /tmp/am  # + JSON file and PNG figures

Models: classical Hopfield (Hebbian/Storkey, async/sync), the continuous 1984 network run
by `simulate`, a spiking LIF E/I attractor network built with `neurodyn.network`, dense
associative memories (Krotov & Hopfield polynomial; the Universal Hopfield Networks grid
with the exponential modern Hopfield network), one attention head, and a small transformer
trained on in-context recall. Measurements and criterion: `neurodyn.memory.compare`
(retrieved = overlap ≥ 0.95; capacity from 10 %-flipped cues; robustness, basin, spurious
rate and cost at P = 0.05 N). A progress bar (tqdm) goes to stderr. The JSON records the
machine and its load average (timings on a shared machine are indicative only).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit, machine_info


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (N = 100, 1 trial)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-recall", action="store_true", help="skip the transformer")
    parser.add_argument("--out", default=None, help="folder for associative_memory.json and the PNG figures")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args(argv)

    from neurodyn.memory.compare import (
        format_table,
        plot_comparison,
        run_comparison,
        write_json,
    )

    result = run_comparison("quick" if args.quick else "default", seed=args.seed,
                            recall=not args.no_recall)
    result["machine"] = machine_info()
    if args.out is not None:
        result["figures"] = [str(p) for p in plot_comparison(result, args.out)]
        write_json(result, os.path.join(args.out, "associative_memory.json"))
    if not args.json:
        print(format_table(result), file=sys.stderr)
    if args.json:
        emit(result, True)
    return result


if __name__ == "__main__":
    main()
