"""A trained closure model evaluated with untyped story edges made weak at test time (no retraining).

The closure composes each pair of people from the middle nodes of its shortest paths, so an untyped "mentions" edge
between two people of a chain (two names in one sentence, no relation word between them) is a shortcut that the
long chain never gets composed around. `untyped_edge_length` (FusionConfig; the closure's `weak_relations`,
`weak_length`) counts such an edge as several steps. This script sets that length on a model trained without it
and scores CLUTRR test files at each length given (1: as trained), side by side.

Run it from the repository root (a minute or two per file and length on 2 CPU cores):

    .venv/bin/python bench/closure_weak_edges.py --run ../runs/clutrr-089907f8-graph_only-closure-renamed-s0 \
        --lengths 1 6 --data ../shared/datasets/clutrr/data_089907f8/1.4_test.csv ...

Prints a table (accuracy per file and length, and the mean) and writes bench/results/closure_weak_edges.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from common import RESULTS, environment, write_json

from kgreason.data.text_graph import UNTYPED
from kgreason.pipelines.bundle import load_bundle
from kgreason.pipelines.run import evaluate_examples, load_examples


def score(run: Path, files: list[Path], lengths: list[int], cache: Path) -> dict[int, dict[str, float]]:
    """{length: {test file stem: accuracy}} for the run's model with "mentions" edges counting `length` steps."""
    bundle = load_bundle(run / "model")
    model = bundle.model.eval()
    encoder = model.graph.encoder
    if getattr(encoder, "name", "") != "closure":
        raise SystemExit(f"{run}: needs a closure model")
    if UNTYPED not in bundle.relations.names:
        raise SystemExit(f"{run}: its story graphs have no untyped '{UNTYPED}' edges; nothing to weaken")
    untyped = torch.tensor([bundle.relations.names.index(UNTYPED)])
    settings = bundle.preprocess_settings
    examples = {path.stem: load_examples(path, task="clutrr", cache_dir=cache, settings=settings, workers=1,
                                         limit=None, progress=False)[0] for path in files}
    scores = {}
    for length in lengths:
        encoder.weak, encoder.weak_length = (None, 1) if length == 1 else (untyped, length)
        scores[length] = {name: evaluate_examples(model, rows, task="clutrr", tokenizer=bundle.tokenizer,
                                                  relations=bundle.relations, labels=bundle.labels, batch_size=16,
                                                  max_length=bundle.max_length, device="cpu")["accuracy"]
                          for name, rows in examples.items()}
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--run", type=Path, required=True, help="a run directory of a closure model (kgreason train --out)")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="CLUTRR test CSVs")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1, 6], help="steps an untyped edge counts for")
    parser.add_argument("--cache", type=Path, default=Path("../runs/cache"), help="the preprocessing cache")
    parser.add_argument("--output", type=Path, default=RESULTS / "closure_weak_edges.json")
    args = parser.parse_args(argv)
    if any(length < 1 for length in args.lengths):
        parser.error("--lengths: each length must be ≥ 1")
    torch.set_num_threads(2)
    scores = score(args.run, args.data, args.lengths, args.cache)
    names = [path.stem for path in args.data]
    print(f"{'untyped edge length':<22}" + "".join(f"{name:>11}" for name in names) + f"{'mean':>8}")
    for length, accuracies in scores.items():
        mean = sum(accuracies.values()) / len(accuracies)
        print(f"{length:<22}" + "".join(f"{accuracies[name]:>11.3f}" for name in names) + f"{mean:>8.3f}")
    write_json(args.output, {**environment(), "run": str(args.run), "data": [str(p) for p in args.data],
                             "accuracy": {str(length): accuracies for length, accuracies in scores.items()}})
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
