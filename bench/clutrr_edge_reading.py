"""How a trained closure model reads single CLUTRR story edges, scored against the gold edges (evaluation only;
the model never reads them).

Run it from the repository root (a minute per test file on 2 CPU cores):

    .venv/bin/python bench/clutrr_edge_reading.py --run ../runs/clutrr-089907f8-graph_only-closure-s0 \
        --data ../shared/datasets/clutrr/data_089907f8/1.2_test.csv ../shared/datasets/clutrr/data_089907f8/1.3_test.csv

For every gold story edge (B is A's rel) the story graph's edge between A and B is found and the closure's
relation class for A → B is taken: the edge's forward reading when the text edge runs A → B, its backward reading
(the inverse type) when it runs B → A. Rows: forward edges by how the story reader typed them (the gold relation,
ungendered "parent" / "child" / ..., another relation, untyped "mentions") and backward edges (typed as the gold
relation's inverse: the text states it the other way round; typed as the gold relation itself: the text and the
gold disagree on the direction, as in a few CLUTRR templates; or anything else); plus the gold edges
the story graph does not have; last, the pair's relation as the closure starts it (the product of every reading
between A and B: both directions, and the inverse edges of `--kinship-inverses` story graphs). The model must be a
`graph_readout=relation` closure (its classes are the labels; with `factored_labels` they are the gender-free base
relations, and a reading is right when its class is the gold relation's base).
Then, per question (from the run's predictions of the same file): whether every pair of the gold chain starts
right, against whether the answer is right, which tells the errors of reading single edges from the rest
(composition, other paths between the people, the answer's gender), each for the questions whose text states the
gold chain and for those whose text states a chain edge against it (`clutrr_people.text_against_gold`), where
the gold answer is not what the text says.
Prints two tables and writes bench/results/clutrr_edge_reading.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch
from clutrr_people import text_against_gold
from common import RESULTS, environment, write_json

from kgreason.data.batch import collate
from kgreason.data.clutrr import read_clutrr
from kgreason.data.kinship import KINSHIP, RELATIONS
from kgreason.data.renaming import rename_people
from kgreason.data.text_graph import UNTYPED
from kgreason.pipelines.bundle import load_bundle
from kgreason.pipelines.run import load_examples


PAIR = "pair: all its readings multiplied"


def edge_kind(direction: str, read_as: str, gold: str) -> str:
    if direction == "backward":
        if read_as in RELATIONS and RELATIONS[read_as][0] == KINSHIP[RELATIONS[gold][0]][2]:
            return "backward, typed as the gold's inverse"  # "[A] is [B]'s mother" for B is A's son
        if read_as == gold:  # "[Raul] took his son [Elijah]" for the gold "Raul is Elijah's son"
            return "backward, typed as the gold relation"
        return "backward, untyped or typed otherwise"
    if read_as == UNTYPED:
        return "forward, untyped"
    if read_as == gold:
        return "forward, typed as the gold relation"
    return "forward, typed ungendered" if read_as in KINSHIP else "forward, typed otherwise"  # KINSHIP: base names


def score(run: Path, files: list[Path], cache: Path, batch_size: int = 16) -> tuple[Counter, Counter]:
    """(edge counts by (kind, read right?), question counts by (text against the gold?, every chain pair starts right?,
    answer right?))."""
    bundle = load_bundle(run / "model")
    model, labels = bundle.model.eval(), bundle.labels.names
    encoder = model.graph.encoder
    if getattr(encoder, "name", "") != "closure" or model.config.graph_readout != "relation":
        raise SystemExit(f"{run}: needs a closure model with graph_readout=relation")
    factors = model.config.graph_options.get("label_factors") if model.config.factored_labels else None
    class_of = {label: factors[i][0] if factors else i for i, label in enumerate(labels)}  # a label's class
    settings = bundle.preprocess_settings
    counts: Counter = Counter()
    questions: Counter = Counter()
    for path in files:
        records = list(read_clutrr(path))
        against = text_against_gold(records)
        if bundle.settings.rename_people:  # the story graphs hold the renamed people
            records = map(rename_people, records)
        gold = {record.id: record.gold for record in records}
        answered = _answers(run / "predictions" / f"{path.stem}.jsonl")
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
                chain_right = True
                for (i, j), relation in zip(story.story_edges, story.edge_types):
                    a, b = story.people[i], story.people[j]
                    if (a, b) in ends:
                        edge, direction, read = ends.index((a, b)), "forward", forward
                    elif (b, a) in ends:
                        edge, direction, read = ends.index((b, a)), "backward", backward
                    else:
                        counts["gold edge not in the story graph", None] += 1
                        chain_right = False
                        continue
                    kind = edge_kind(direction, relations[example.edge_type[edge]], relation)
                    counts[kind, int(read[first_edge + edge].argmax()) == class_of[relation]] += 1
                    # what the closure's R[A, B] starts from: every reading between the two, multiplied
                    combined = sum(forward[first_edge + e] for e, pair in enumerate(ends) if pair == (a, b)) + \
                        sum(backward[first_edge + e] for e, pair in enumerate(ends) if pair == (b, a))
                    pair_right = int(combined.argmax()) == class_of[relation]
                    counts[PAIR, pair_right] += 1
                    chain_right &= pair_right
                if example.meta["id"] in answered:
                    questions[against[example.meta["id"]], chain_right, answered[example.meta["id"]]] += 1
                first_edge += example.num_edges
    return counts, questions


def _answers(predictions: Path) -> dict[str, bool]:
    """{question id: answered right} from a run's predictions file; {} when the run has none for that file."""
    if not predictions.exists():
        return {}
    with predictions.open() as lines:
        return {row["id"]: row["correct"] for row in map(json.loads, lines)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--run", type=Path, required=True, help="a run directory (kgreason train --out)")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="CLUTRR test CSVs")
    parser.add_argument("--cache", type=Path, default=Path("../runs/cache"), help="the preprocessing cache")
    parser.add_argument("--output", type=Path, default=RESULTS / "clutrr_edge_reading.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    counts, questions = score(args.run, args.data, args.cache)
    rows = {}
    for kind in sorted({kind for kind, _ in counts}):
        right, wrong, missing = counts[kind, True], counts[kind, False], counts[kind, None]
        rows[kind] = {"n": missing or right + wrong, "right": None if missing else right / (right + wrong)}
    print(f"{'gold edge, read as':<42}{'n':>6}{'right':>8}")
    for kind, row in rows.items():
        print(f"{kind:<42}{row['n']:>6}{'' if row['right'] is None else format(row['right'], '.3f'):>8}")
    chains = {f"text {'against' if against else 'states'} the gold, chain pairs {'all' if chain else 'not all'} "
              f"right, answer {'right' if answer else 'wrong'}": n
              for (against, chain, answer), n in sorted(questions.items())}
    print(f"\n{'question (predictions of the run)':<72}{'n':>6}")
    for name, n in chains.items():
        print(f"{name:<72}{n:>6}")
    write_json(args.output, {**environment(), "run": str(args.run), "data": [str(p) for p in args.data], "rows": rows,
                             "questions": chains})
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
