"""How CLUTRR's long chains can be composed from the relation pairs of its short training chains (analysis of the
gold graphs, which models never read), and how far a trained closure model's composition table agrees.

Run it from the repository root (a few seconds per folder):

    .venv/bin/python bench/clutrr_bracketing.py
    .venv/bin/python bench/clutrr_bracketing.py --model ../runs/clutrr-089907f8-graph_only-closure-s0/model

A composition table is read off the training stories' gold chains (`f_comb`): every k = 2 chain r1, r2 with
answer t gives r1 ∘ r2 = t, and a k = 3 chain adds the pair its answer completes when one half is known. Each
test chain is then composed from that table left to right ((r1 ∘ r2) ∘ r3 …) and under every bracketing (CKY):
"left" is the share answered left to right, "some bracketing" the share whose answer some bracketing gives,
"unique" the share where every bracketing that composes gives that answer. With --model, the closure model's
learned table (`graph_readout=relation`: its classes are the labels, or with factored_labels their gender-free base
relations, and then a chain is right when it composes to the answer's base relation) is scored on the kinship
compositions with one answer (`kgreason.data.kinship.compose_relations`), against the first folder's training pairs, and composes every
test file's gold chains with it (`ClosureEncoder.compose_chains`, column "model table"): each chain edge at its
label's class (where `run_pipeline` starts it, `ClosureEncoder.favour`) and no other edge in the story. That is
what the model would answer with a perfect story reader where it still reads an edge as its label's class; the
k = 2 row checks it, since a 2-chain is one table entry. Column "text faithful": the same with each chain as the
story's text states it (`kgreason.data.story_reader.text_chain`: an edge the text states the other way round from its
gold, turned as the text says): what composing the text's own statements gives, not a ceiling (a trained model
can learn CLUTRR's reversed phrasings from similar training sentences), beside the share of questions where the
two differ ("text against gold"). Gold graphs: an analysis, not a model's result. Prints a table and
writes bench/results/clutrr_bracketing.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple

from clutrr_people import text_chains
from common import DEFAULT_DATASETS, RESULTS, clutrr_files, environment, score_clutrr_folders, write_json

from kgreason.data.clutrr import read_clutrr
from kgreason.data.kinship import RELATIONS, compose_relations


def training_table(records) -> dict[tuple[str, str], str]:
    """(r1, r2) -> the most frequent answer of the k = 2 chains r1, r2, plus the pairs k = 3 chains complete."""
    records = list(records)
    answers: defaultdict[tuple[str, str], Counter] = defaultdict(Counter)
    for record in records:
        if len(record.gold.f_comb) == 2:
            answers[tuple(record.gold.f_comb)][record.target] += 1
    table = {pair: counts.most_common(1)[0][0] for pair, counts in answers.items()}
    for record in records:
        chain = record.gold.f_comb
        if len(chain) == 3:
            first, second = table.get((chain[0], chain[1])), table.get((chain[1], chain[2]))
            if first:
                table.setdefault((first, chain[2]), record.target)
            if second:
                table.setdefault((chain[0], second), record.target)
    return table


def left_to_right(chain: list[str], table: dict) -> str | None:
    composed = chain[0]
    for relation in chain[1:]:
        composed = table.get((composed, relation))
        if composed is None:
            return None
    return composed


def every_bracketing(chain: list[str], table: dict) -> set[str]:
    """The answers some bracketing of `chain` composes to (CKY over the spans)."""
    spans = {(i, i + 1): {relation} for i, relation in enumerate(chain)}
    for length in range(2, len(chain) + 1):
        for start in range(len(chain) - length + 1):
            end = start + length
            spans[start, end] = {table[a, b] for middle in range(start + 1, end) for a in spans[start, middle]
                                 for b in spans[middle, end] if (a, b) in table}
    return spans[0, len(chain)]


def score_folder(folder: Path, model: ClosureTable | None = None) -> dict:
    train, tests = clutrr_files(folder)
    table = training_table(read_clutrr(train))
    rows = {}
    for path in tests:
        records = list(read_clutrr(path))
        answers = [(record.target, record.gold.f_comb) for record in records]
        rows[path.stem] = {
            "n": len(records),
            "left": sum(left_to_right(chain, table) == target for target, chain in answers) / len(records),
            "some_bracketing": sum(target in every_bracketing(chain, table) for target, chain in answers) / len(records),
            "unique": sum(every_bracketing(chain, table) == {target} for target, chain in answers) / len(records),
        }
        if model:
            gold, text = [record.gold.f_comb for record in records], text_chains(records)
            rows[path.stem].update(model_table=chains_by_model(model, gold, records),
                                   text_faithful=chains_by_model(model, text, records),
                                   text_against_gold=sum(g != t for g, t in zip(gold, text)) / len(records))
    return {"train": train.name, "table_pairs": len(table), "tests": rows, "table": table}


class ClosureTable(NamedTuple):
    """A trained closure model's composition: its encoder, its labels, each label's relation class (the label itself,
    or with factored_labels its gender-free base relation) and each class's name."""

    directory: Path
    encoder: object  # kgreason.encoders.graph.ClosureEncoder
    labels: list[str]
    label_class: list[int]
    class_names: list[str]


def load_closure_table(model_dir: Path) -> ClosureTable:
    from kgreason.fusion import FusionModel

    model = FusionModel.from_pretrained(model_dir)
    encoder = model.graph.encoder
    if encoder.name != "closure" or model.config.graph_readout != "relation":
        raise SystemExit(f"{model_dir}: --model needs a closure model whose relation classes are its labels or their "
                         "base relations (graph_readout=relation)")
    labels = json.loads((model_dir / "labels.json").read_text())["names"]
    factors = model.config.graph_options["label_factors"] if model.config.factored_labels else None
    return closure_table(model_dir, encoder, labels, factors)


def closure_table(directory: Path, encoder, labels: list[str], label_factors: list[list[int]] | None) -> ClosureTable:
    """The table of `encoder`, whose classes are the `labels` or, with `label_factors` (`kinship_algebra`), the
    labels' base relations."""
    if label_factors is None:
        return ClosureTable(directory, encoder, labels, list(range(len(labels))), labels)
    label_class = [relation_class for relation_class, _ in label_factors]
    class_names = [RELATIONS[labels[label_class.index(c)]][0] for c in range(encoder.classes)]
    return ClosureTable(directory, encoder, labels, label_class, class_names)


def chains_by_model(model: ClosureTable, chains: list[tuple[str, ...]], records) -> float | None:
    """Share of `records` whose chain (one per record) the model's table composes to the answer's class (argmax over
    the named classes; with factored labels the answer's gender is taken as known); None when a chain relation is not
    one of the model's labels."""
    if not all(relation in model.labels for chain in chains for relation in chain):
        return None
    class_of = dict(zip(model.labels, model.label_class))
    composed = model.encoder.compose_chains([[class_of[r] for r in chain] for chain in chains])
    answers = composed[:, :len(model.class_names)].argmax(dim=-1).tolist()
    return sum(a == class_of.get(record.target) for a, record in zip(answers, records)) / len(records)


def score_model_table(model: ClosureTable, training_pairs: dict) -> dict:
    """The closure model's table (argmax per pair of classes) against the kinship compositions of its labels' pairs
    (with factored labels, each pair of base relations once); each wrong entry says whether its pair is in
    `training_pairs` (the gold table of the training chains)."""
    import torch

    encoder, class_of = model.encoder, dict(zip(model.labels, model.label_class))
    with torch.no_grad():
        table = encoder.composition_table()
    trained = {(class_of.get(first), class_of.get(second)) for first, second in training_pairs}

    def name(c: int) -> str:
        return model.class_names[c] if c < len(model.class_names) else f"unnamed class {c}"

    checked, wrong = set(), []
    for first in model.labels:
        for second in model.labels:
            expected = compose_relations(first, second)
            a, b = class_of[first], class_of[second]
            if expected not in class_of or (a, b) in checked:
                continue
            checked.add((a, b))
            got = int(table[a, b].argmax())
            if got != class_of[expected]:
                wrong.append({"pair": [name(a), name(b)], "expected": name(class_of[expected]), "got": name(got),
                              "probability": round(float(table[a, b].max()), 3), "in_training_chains": (a, b) in trained})
    return {"model": str(model.directory), "compositions": len(checked), "right": len(checked) - len(wrong),
            "wrong": wrong}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument("--folders", nargs="*", default=["data_089907f8", "data_db9b8f04"], help="CLUTRR folders")
    parser.add_argument("--model", type=Path, help="a closure model directory (graph_readout=relation) to score")
    parser.add_argument("--output", type=Path, default=RESULTS / "clutrr_bracketing.json")
    args = parser.parse_args(argv)
    closure = load_closure_table(args.model) if args.model else None
    folders = score_clutrr_folders(args.datasets, args.folders, lambda folder: score_folder(folder, closure))
    if folders is None:
        return 1
    for name, result in folders.items():
        print(f"\n{name} ({result['train']}: {result['table_pairs']} relation pairs)")
        model_columns = ("model_table", "text_faithful", "text_against_gold") if closure else ()
        print(f"{'test':<12}{'n':>6}{'left':>8}{'some bracketing':>17}{'unique':>9}"
              + "".join(f"{column.replace('_', ' '):>19}" for column in model_columns))
        for test, row in result["tests"].items():
            cells = "".join(f"{'-':>19}" if row[c] is None else f"{row[c]:>19.3f}" for c in model_columns)
            print(f"{test:<12}{row['n']:>6}{row['left']:>8.3f}{row['some_bracketing']:>17.3f}{row['unique']:>9.3f}"
                  f"{cells}")
    model = score_model_table(closure, folders[args.folders[0]]["table"]) if closure else None
    if model:
        print(f"\n{args.model} (against {args.folders[0]}'s training pairs): table right on {model['right']} of "
              f"{model['compositions']} kinship compositions")
        for row in model["wrong"]:
            seen = "in the training chains" if row["in_training_chains"] else "not in the training chains"
            print(f"  {row['pair'][0]} ∘ {row['pair'][1]} = {row['expected']}, learned {row['got']} "
                  f"({row['probability']}; {seen})")
    for result in folders.values():
        result["table"] = [[*pair, answer] for pair, answer in sorted(result["table"].items())]
    write_json(args.output, {**environment(), "folders": folders, "model_table": model})
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
