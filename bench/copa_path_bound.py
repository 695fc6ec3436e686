"""How much ConceptNet's causal paths could add on COPA test: bounds from trained runs' evidence groups.

Every COPA report breaks the accuracy down by `evidence` (which choices have a causal path in the asked direction:
"right" the right answer only, "wrong" a wrong one only, "both", "none"). From the `lm_only` runs' counts this
script gives, per run and on the mean:

- follow the path: where exactly one choice has a path, answer it; elsewhere the run's own answer;
- path oracle: answer the path's choice only where that is right (an upper bound for any use of the paths'
  existence), and the same plus every "both" question right (the paths' content told apart perfectly).

Side by side, the fused runs' right answers per group show where their margin over `lm_only` comes from. No model is
run: it reads each run's `results.json` (seconds). Run it from the repository root:

    .venv/bin/python bench/copa_path_bound.py --runs ../runs/causal --variants lm_only interaction-label

Prints the table and writes bench/results/copa_path_bound.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean

from common import RESULTS, environment, write_json

GROUPS = ("right", "wrong", "both", "none")


def group_counts(run: Path, file: str) -> dict[str, tuple[int, int]]:
    """{group: (right answers, n)} of the evidence groups of `file`'s report in the run's results.json, plus "all"."""
    report = json.loads((run / "results.json").read_text())["tests"][file]
    counts = {group: (round(cell["accuracy"] * cell["n"]), cell["n"])
              for group, cell in report["groups"]["evidence"].items()}
    return {**{group: counts.get(group, (0, 0)) for group in GROUPS},
            "all": (round(report["accuracy"] * report["n"]), report["n"])}


def bounds(counts: dict[str, tuple[int, int]]) -> dict[str, float]:
    """The run's accuracy, and what the three uses of the paths in the module docstring would make of it."""
    right, n = counts["all"]
    fixable = counts["right"][1] - counts["right"][0]  # wrong where only the right answer has a path
    return {"accuracy": right / n,
            "follow the path": (right + fixable - counts["wrong"][0]) / n,
            "path oracle": (right + fixable) / n,
            "path oracle, both told apart": (right + fixable + counts["both"][1] - counts["both"][0]) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="the folder of the copa-<variant>-s<seed>… runs")
    parser.add_argument("--variants", nargs="+", default=["lm_only", "interaction-label"],
                        help="the baseline first, then the fused variants to set beside it")
    parser.add_argument("--file", default="copa-test", help="the test report to read")
    parser.add_argument("--out", type=Path, default=RESULTS / "copa_path_bound.json")
    args = parser.parse_args()

    runs = {variant: sorted(path for path in args.runs.glob(f"copa-{variant}-s*") if (path / "results.json").is_file())
            for variant in args.variants}
    missing = [variant for variant, paths in runs.items() if not paths]
    if missing:
        raise SystemExit(f"no copa-<variant>-s* run with a results.json in {args.runs} for {missing}")
    counts = {variant: {path.name: group_counts(path, args.file) for path in paths} for variant, paths in runs.items()}

    print(f"{args.file}: right answers per evidence group, mean over each variant's runs")
    print(f"{'variant':20} {'runs':>4} {'accuracy':>8} " + " ".join(f"{g + ' (n)':>14}" for g in GROUPS))
    for variant, by_run in counts.items():
        cells = [f"{mean(c[g][0] for c in by_run.values()):6.1f} ({next(iter(by_run.values()))[g][1]:3d})"
                 for g in GROUPS]
        accuracy = mean(c["all"][0] / c["all"][1] for c in by_run.values())
        print(f"{variant:20} {len(by_run):4d} {accuracy:8.3f} " + " ".join(f"{cell:>14}" for cell in cells))

    baseline = args.variants[0]
    per_run = {run: bounds(c) for run, c in counts[baseline].items()}
    names = list(next(iter(per_run.values())))
    means = {name: mean(b[name] for b in per_run.values()) for name in names}
    print(f"\n{baseline}: accuracy and what the paths could add (mean of {len(per_run)} runs)")
    for name in names:
        print(f"  {name:30} {means[name]:.3f}  ({means[name] - means['accuracy']:+.3f})")
    write_json(args.out, {"environment": environment(), "file": args.file, "baseline": baseline,
                          "counts": counts, "bounds": per_run, "mean_bounds": means})
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
