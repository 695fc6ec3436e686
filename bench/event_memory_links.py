"""Event-memory benchmark: how often the memory's link alone, without any training, picks the right choice.

Run it from the repository root (a benchmark, not a test):

    .venv/bin/python bench/event_memory_links.py                  # e-CARE dev, 3,000 e-CARE train, COPA
    .venv/bin/python bench/event_memory_links.py --train-limit 500 --memory ../runs/ecare-train-memory.npz
    .venv/bin/python bench/event_memory_links.py --files "e-CARE dev" --model-runs ../runs/ecare-lm_only-memory-s0

The memory (`kgreason.data.event_memory`) is e-CARE train's right pairs with their explanations; `--memory` names
a built one, or one is built there from `--datasets` when the file is missing (about 3 min on 2 CPU cores).
Every question's choices are linked exactly as preprocessing links them (`EventMemory.link`; an e-CARE training
question never to its own pair), and the link "picks" the choice whose link scores higher (a tie counts half).

Reported per file, for the memory's score (match + because) and for `match` alone (the same memory with its
explanation vectors zeroed): the share picked right, the median best score, and, by the strength word of the
question's best link (what the model reads), how many questions have it and how often that link picks right.
With `--model-runs`, each run's e-CARE dev predictions (`<run>/predictions/dev.jsonl`, a model trained with this
memory) are split the same ways: the model's accuracy where the link picks right / wrong / neither, and by
strength word. Prints tables and writes bench/results/event_memory_links.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_DATASETS, RESULTS, environment, write_json

from kgreason.data.causal import read_causal
from kgreason.data.event_memory import (STRENGTHS, WEAKEST, EventMemory, SentenceEncoder, build_event_memory,
                                        embed_questions)

ECARE = Path("ecare/Causal_Reasoning")
EXPLANATIONS = Path("ecare/Explanation_Generation/train.jsonl")
FILES = {"e-CARE dev": ECARE / "dev.jsonl", "e-CARE train (own pair left out)": ECARE / "train.jsonl",
         "COPA test": Path("copa/copa-test.xml"), "Balanced COPA": Path("copa/balanced_copa/balacopa-dev-all.xml")}
WORDS = [word for _, word in STRENGTHS] + [WEAKEST]


def embedded(path: Path, encode: SentenceEncoder, limit: int | None) -> dict:
    """The labelled records of `path` (first `limit`) and what `EventMemory.link` reads of them."""
    records = [record for record in read_causal(path, on_error="skip") if record.label >= 0][:limit]
    return {"records": records, "vectors": embed_questions(encode, [record.premise for record in records],
                                                           [record.choices for record in records])}


def score_links(memory: EventMemory, questions: dict) -> dict:
    """The link's pick accuracy, median best score and accuracy by the best link's strength word; `questions`: id ->
    (what the link picks: "right" / "wrong" / "tie", the best link's strength word)."""
    records = questions["records"]
    links = memory.link(*questions["vectors"], ask_for=[record.ask_for for record in records],
                        exclude=[(Path(record.source).name, record.id) for record in records])
    right, best, by_word, picks = [], [], {word: [] for word in WORDS}, {}
    for record, (first, second) in zip(records, links):
        scores = (first.score, second.score)
        credit = 0.5 if scores[0] == scores[1] else float(int(np.argmax(scores)) == record.label)
        strongest = first if first.score >= second.score else second
        right.append(credit)
        best.append(strongest.score)
        by_word[strongest.strength].append(credit)
        picks[record.id] = ({0.5: "tie", 1.0: "right", 0.0: "wrong"}[credit], strongest.strength)
    return {"n": len(records), "accuracy": float(np.mean(right)), "median_best_score": statistics.median(best),
            "by_strength": _shares(by_word), "questions": picks}


def model_by_link(run: Path, picks: dict) -> dict:
    """A run's e-CARE dev accuracy where the link picks right / wrong / tie, and by the best link's strength."""
    by_pick: dict = {"right": [], "wrong": [], "tie": []}
    by_word: dict = {word: [] for word in WORDS}
    with open(run / "predictions" / "dev.jsonl", encoding="utf-8") as lines:
        for line in lines:
            prediction = json.loads(line)
            pick, word = picks[prediction["id"]]
            by_pick[pick].append(float(prediction["correct"]))
            by_word[word].append(float(prediction["correct"]))
    return {"run": str(run), "by_link": _shares(by_pick), "by_strength": _shares(by_word)}


def _shares(groups: dict[str, list[float]]) -> dict:
    """{group: {"n", "accuracy"}} of lists of 0 / 0.5 / 1 credits (accuracy None for an empty group)."""
    return {name: {"n": len(credits), "accuracy": float(np.mean(credits)) if credits else None}
            for name, credits in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument("--memory", type=Path, default=RESULTS / "ecare-train-memory.npz",
                        help="an event memory of e-CARE train (built there when missing)")
    parser.add_argument("--train-limit", type=int, default=3000, help="e-CARE train questions to link (first N)")
    parser.add_argument("--files", nargs="+", choices=sorted(FILES), default=list(FILES), metavar="NAME",
                        help=f"which files to link (default all: {', '.join(FILES)})")
    parser.add_argument("--model-runs", type=Path, nargs="*", default=[],
                        help="runs of models trained with this memory: split their e-CARE dev accuracy by the link")
    args = parser.parse_args()
    if args.model_runs and "e-CARE dev" not in args.files:
        parser.error("--model-runs splits e-CARE dev predictions: keep 'e-CARE dev' in --files")
    if not args.memory.is_file():
        build_event_memory(args.datasets / ECARE / "train.jsonl", args.memory,
                           explanations=args.datasets / EXPLANATIONS)
    memory = EventMemory.load(args.memory)
    match_only = dataclasses.replace(memory, explanation_vectors=np.zeros_like(memory.explanation_vectors))
    encode = SentenceEncoder(memory.encoder)
    results = {}
    for name, path in ((name, FILES[name]) for name in args.files):
        start = time.perf_counter()
        questions = embedded(args.datasets / path, encode, args.train_limit if "train" in name else None)
        results[name] = {"file": str(path), "score": score_links(memory, questions),
                         "match_only": score_links(match_only, questions), "seconds": time.perf_counter() - start}
    print(f"{'':34} {'n':>5} {'score':>6} {'match':>6} {'median':>7}  " +
          "  ".join(f"{word + ' (n, acc)':>18}" for word in WORDS))
    for name, result in results.items():
        scored = result["score"]
        words = "  ".join(f"{cell['n']:>8}, {cell['accuracy'] if cell['n'] else float('nan'):>8.3f}"
                          for cell in scored["by_strength"].values())
        print(f"{name:34} {scored['n']:>5} {scored['accuracy']:>6.3f} {result['match_only']['accuracy']:>6.3f} "
              f"{scored['median_best_score']:>7.3f}  {words}")
    models = [model_by_link(run, results["e-CARE dev"]["score"]["questions"]) for run in args.model_runs]
    for model in models:
        cells = {**{f"link {pick}": cell for pick, cell in model["by_link"].items()}, **model["by_strength"]}
        print(f"\n{model['run']}: e-CARE dev accuracy by what the link picks and by its strength")
        for group, cell in cells.items():
            print(f"  {group:12} {cell['n']:>5} {cell['accuracy'] if cell['n'] else float('nan'):>6.3f}")
    for result in results.values():
        for scored in (result["score"], result["match_only"]):
            del scored["questions"]
    write_json(RESULTS / "event_memory_links.json",
               {"environment": environment(), "memory": str(args.memory), "memory_pairs": len(memory),
                "train_limit": args.train_limit, "results": results, "models": models})


if __name__ == "__main__":
    main()
