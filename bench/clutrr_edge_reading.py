"""How a trained closure model reads single CLUTRR story edges, scored against the gold edges (evaluation only;
the model never reads them).

Run it from the repository root (a minute per test file on 2 CPU cores):

    .venv/bin/python bench/clutrr_edge_reading.py --run ../runs/clutrr-089907f8-graph_only-closure-s0 \
        --data ../shared/datasets/clutrr/data_089907f8/1.2_test.csv ../shared/datasets/clutrr/data_089907f8/1.3_test.csv

For every gold story edge (B is A's rel) the story graph's edge between A and B is found and the closure's
relation class for A → B is taken: the edge's forward reading when the text edge runs A → B, its backward reading
(the inverse type) when it runs B → A. Rows: forward edges by how the story reader typed them (the gold relation,
ungendered "parent" / "child" / ..., another relation, untyped "mentions") and backward edges; plus the gold edges
the story graph does not have; last, the pair's relation as the closure starts it (the product of every reading
between A and B: both directions, and the inverse edges of `--kinship-inverses` story graphs). The model must be a
`graph_readout=relation` closure (its classes are the labels).
Prints a table and writes bench/results/clutrr_edge_reading.json.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import torch
from common import RESULTS, environment, write_json

from kgreason.data.batch import collate
from kgreason.data.clutrr import KINSHIP, read_clutrr
from kgreason.data.text_graph import UNTYPED
from kgreason.pipelines.bundle import load_bundle
from kgreason.pipelines.run import load_examples


PAIR = "pair: all its readings multiplied"


def edge_kind(direction: str, read_as: str, gold: str) -> str:
    if direction == "backward":
        return "backward (text edge B → A)"
    if read_as == UNTYPED:
        return "forward, untyped"
    if read_as == gold:
        return "forward, typed as the gold relation"
    return "forward, typed ungendered" if read_as in KINSHIP else "forward, typed otherwise"  # KINSHIP: base names


def score(run: Path, files: list[Path], cache: Path, batch_size: int = 16) -> Counter:
    bundle = load_bundle(run / "model")
    model, labels = bundle.model.eval(), bundle.labels.names
    encoder = model.graph.encoder
    if getattr(encoder, "name", "") != "closure" or model.config.graph_readout != "relation":
        raise SystemExit(f"{run}: needs a closure model with graph_readout=relation")
    settings = {key: value for key, value in asdict(bundle.settings).items() if key != "task"}
    counts: Counter = Counter()
    for path in files:
        gold = {record.id: record.gold for record in read_clutrr(path)}
        examples, _ = load_examples(path, task="clutrr", cache_dir=cache, settings=settings, workers=1, limit=None,
                                    progress=False)
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            batch = collate(chunk, tokenizer=bundle.tokenizer, relations=bundle.relations, labels=bundle.labels,
                            max_length=bundle.max_length)
            with torch.no_grad():
                edge_attr = model.graph.edge_inputs(batch, model.sentence_states(batch))
                x = model.graph.node_inputs(batch, edge_attr)  # read by `read_target` closures only
                source, target = batch.edge_index
                forward = encoder.edge_relations(batch.edge_type, edge_attr, x[target])  # [E, C] log-probabilities
                backward = encoder.edge_relations(batch.edge_type + encoder.num_relations, edge_attr, x[source])
            first_edge = 0
            for example in chunk:
                names, relations = example.meta["nodes"], example.meta["relations"]
                story = gold[example.meta["id"]]
                ends = [(names[s], names[t]) for s, t in example.edge_index.T]
                for (i, j), relation in zip(story.story_edges, story.edge_types):
                    a, b = story.people[i], story.people[j]
                    if (a, b) in ends:
                        edge, direction, read = ends.index((a, b)), "forward", forward
                    elif (b, a) in ends:
                        edge, direction, read = ends.index((b, a)), "backward", backward
                    else:
                        counts["gold edge not in the story graph", None] += 1
                        continue
                    kind = edge_kind(direction, relations[example.edge_type[edge]], relation)
                    counts[kind, labels[int(read[first_edge + edge].argmax())] == relation] += 1
                    # what the closure's R[A, B] starts from: every reading between the two, multiplied
                    combined = sum(forward[first_edge + e] for e, pair in enumerate(ends) if pair == (a, b)) + \
                        sum(backward[first_edge + e] for e, pair in enumerate(ends) if pair == (b, a))
                    counts[PAIR, labels[int(combined.argmax())] == relation] += 1
                first_edge += example.num_edges
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--run", type=Path, required=True, help="a run directory (kgreason train --out)")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="CLUTRR test CSVs")
    parser.add_argument("--cache", type=Path, default=Path("../runs/cache"), help="the preprocessing cache")
    parser.add_argument("--output", type=Path, default=RESULTS / "clutrr_edge_reading.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    counts = score(args.run, args.data, args.cache)
    rows = {}
    for kind in sorted({kind for kind, _ in counts}):
        right, wrong, missing = counts[kind, True], counts[kind, False], counts[kind, None]
        rows[kind] = {"n": missing or right + wrong, "right": None if missing else right / (right + wrong)}
    print(f"{'gold edge, read as':<42}{'n':>6}{'right':>8}")
    for kind, row in rows.items():
        print(f"{kind:<42}{row['n']:>6}{'' if row['right'] is None else format(row['right'], '.3f'):>8}")
    write_json(args.output, {**environment(), "run": str(args.run), "data": [str(p) for p in args.data], "rows": rows})
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
