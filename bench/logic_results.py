"""The logic-task comparison of issue 6: `lm_only` against the fused model on CLUTRR and ProofWriter.

Run it from the repository root (hours on 2 CPU cores for everything; each run is kept, so a rerun only does
what is missing, and --only picks the experiments it trains and rewrites; the others' tables stay):

    .venv/bin/python bench/logic_results.py --only clutrr-089907f8 --seeds 0
    .venv/bin/python bench/logic_results.py --report-only        # rewrite the tables from the runs there are

Each experiment trains `lm_only` and the fused models (`--variants`, see VARIANTS: a fusion model, its graph
encoder and `FusionConfig` options) with the same encoder (all-MiniLM-L6-v2), data, epochs, batch size and
text learning rate (the graph learning rate too, except where a variant sets its own), one run directory
`<experiment>-<variant>-s<seed>` each under --runs (`kgreason train` layout). Writes the section between the
`logic-results` markers of docs/results.md, a plot of accuracy against k for the experiments with one
(docs/clutrr_accuracy_by_k.png: `lm_only` against the best fused variant, and the published result where there
is one), and bench/records/logic.json (kept in git): every run published so far, so that a table rewritten after
some run directories were deleted, or on another machine, still shows them (a rerun of the same experiment,
variant and seed replaces one). A table is not rewritten where it would lose a run it shows that neither --runs
nor the record holds (`--drop-missing` to allow it). `--print-only --plots` prints the tables of the runs under
--runs and redraws the plots from them alone, writing nothing else:

    .venv/bin/python bench/logic_results.py --only clutrr-089907f8 --runs ../runs --report-only --print-only --plots
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

from common import DEFAULT_DATASETS, RECORDS, REPO, environment, publish_section, write_json

from kgreason.pipelines.plots import accuracy_by_group, plot_accuracy_by_group


class Variant(NamedTuple):
    """A model of the comparison: its fusion, graph encoder, `FusionConfig` options, training overrides and
    preprocessing `Settings` overrides."""

    fusion: str
    options: dict[str, Any]
    graph_encoder: str = "composition"
    training: dict[str, Any] = {}
    preprocess: dict[str, Any] = {}


SENTENCE_EDGES = {"edge_text": "sentence", "graph_readout": "target"}  # each edge's sentence read alone; head on target
ENDPOINTS = {**SENTENCE_EDGES, "edge_endpoints": True}  # + the edge's two names in its sentence
# the closure encoder's relation classes read as the labels; its table needs the larger graph learning rate
CLOSURE = Variant("graph_only", {**ENDPOINTS, "graph_readout": "relation"}, "closure", {"lr_graph": 3e-3})
# ProofWriter theories plus the literals forward chaining proves from the parsed text (`theory_closure`); one
# composition step from the statement's subject, read out at its object (a proved literal is one edge away)
THEORY_CLOSURE = Variant("interaction", {"graph_layers": 1, "graph_readout": "target"},
                         preprocess={"theory_closure": True})
# the same with multiplicative (DistMult) messages, so that the query relation meets each edge's relation as a
# product, and the graph learning rate of the closure variants
DISTMULT_CLOSURE = THEORY_CLOSURE._replace(options={**THEORY_CLOSURE.options, "graph_options": {"message": "distmult"}},
                                           training={"lr_graph": 3e-3})
VARIANTS = {  # the tables show every variant that has a run directory
    "lm_only": Variant("lm_only", {}),
    "interaction": Variant("interaction", {}),
    # the ProofWriter theories with as many composition steps as CLUTRR's (the default is 2)
    "interaction-steps10": Variant("interaction", {"graph_layers": 10}),
    "interaction-theory-closure": THEORY_CLOSURE,
    "interaction-theory-closure-distmult": DISTMULT_CLOSURE,
    # DistMult, each edge's input also embedding the pair (asked relation, its relation), as NBFNet's relation
    # vectors are a function of the query relation
    "interaction-theory-closure-conditioned": DISTMULT_CLOSURE._replace(
        options={**DISTMULT_CLOSURE.options, "query_conditioned_edges": True}),
    # DistMult, each negated relation read as its base relation plus one negation vector shared by all
    "interaction-theory-closure-negation": DISTMULT_CLOSURE._replace(
        options={**DISTMULT_CLOSURE.options, "shared_negation": True}),
    # people renamed per story in every file (`rename_people`, clutrr only), so that names carry nothing
    "lm_only-renamed": Variant("lm_only", {}, preprocess={"rename_people": True}),
    "graph_only": Variant("graph_only", {}),
    "graph_only-sentence": Variant("graph_only", SENTENCE_EDGES),
    "late-sentence": Variant("late", SENTENCE_EDGES),
    "graph_only-endpoints": Variant("graph_only", ENDPOINTS),
    "graph_only-closure": CLOSURE,
    # the same, and every typed story edge also backwards under its inverse name (clutrr only)
    "graph_only-closure-inverses": CLOSURE._replace(preprocess={"kinship_inverses": True}),
    "graph_only-closure-renamed": CLOSURE._replace(preprocess={"rename_people": True}),
    # the same closure, each edge's relation also reading its target's node input (`read_target`)
    "graph_only-closure-target": CLOSURE._replace(options={**CLOSURE.options, "graph_options": {"read_target": True}}),
    # people renamed, and the labels factored into a gender-free relation and the answer person's gender
    # (`factored_labels`): backward edges inverted by the relation's inverse, gender read from the target alone
    "graph_only-closure-factored-renamed": CLOSURE._replace(options={**CLOSURE.options, "factored_labels": True},
                                                            preprocess={"rename_people": True}),
    # people renamed, and an untyped "mentions" edge counted as 6 steps, so that typed chains come first
    "graph_only-closure-weak6-renamed": CLOSURE._replace(options={**CLOSURE.options, "untyped_edge_length": 6},
                                                         preprocess={"rename_people": True}),
    # weak edges, and 8 relation classes that no label names (cousin, sibling-in-law, ...) for the table to compose
    # chains through (`unnamed_classes`)
    "graph_only-closure-weak6-unnamed8-renamed": CLOSURE._replace(
        options={**CLOSURE.options, "untyped_edge_length": 6, "graph_options": {"unnamed_classes": 8}},
        preprocess={"rename_people": True}),
    # both: factored labels and weak untyped edges
    "graph_only-closure-factored-weak6-renamed": CLOSURE._replace(
        options={**CLOSURE.options, "factored_labels": True, "untyped_edge_length": 6},
        preprocess={"rename_people": True}),
    # both, and the table tied to its mirror: (a ∘ b)⁻¹ = b⁻¹ ∘ a⁻¹ (`mirrored_table`)
    "graph_only-closure-factored-weak6-mirrored-renamed": CLOSURE._replace(
        options={**CLOSURE.options, "factored_labels": True, "untyped_edge_length": 6,
                 "graph_options": {"mirrored_table": True}},
        preprocess={"rename_people": True}),
    # both, and 30% of the edges read from their type alone while training (`text_dropout`)
    "graph_only-closure-factored-weak6-textdrop3-renamed": CLOSURE._replace(
        options={**CLOSURE.options, "factored_labels": True, "untyped_edge_length": 6,
                 "graph_options": {"text_dropout": 0.3}},
        preprocess={"rename_people": True}),
    # UPPER BOUND, not a result on the text: the factored weak-edge closure on CLUTRR's gold graphs, each story
    # replaced by one sentence per gold story edge (`gold_story`), the input CTP and GAT read
    "graph_only-closure-factored-weak6-renamed-goldstory": CLOSURE._replace(
        options={**CLOSURE.options, "factored_labels": True, "untyped_edge_length": 6},
        preprocess={"rename_people": True, "gold_story": True}),
    # its baseline: the transformer alone, reading the same gold stories (an upper bound as well)
    "lm_only-renamed-goldstory": Variant("lm_only", {}, preprocess={"rename_people": True, "gold_story": True}),
}
DEFAULT_VARIANTS = ("lm_only", "late-sentence", "graph_only-sentence")
CTP = {"5": 0.9784, "6": 0.9619, "7": 0.9806, "8": 0.9778, "9": 0.9435, "10": 0.8934}  # published, data_db9b8f04, by k
EXPERIMENTS = {
    # "plot": a PNG under docs/ of accuracy against k, `lm_only` against the best fused variant (and "published")
    "clutrr-089907f8": {"task": "clutrr", "data": "clutrr/data_089907f8", "note": "train k = 2, 3; target: fused mean over k = 4…10 ≥ 0.90 and ≥ lm_only + 0.20",
                        "plot": "clutrr_accuracy_by_k.png"},
    "clutrr-db9b8f04": {"task": "clutrr", "data": "clutrr/data_db9b8f04", "note": "train k = 2, 3, 4; target: fused ≥ CTP at every k ≥ 5",
                        "plot": "clutrr_db9b8f04_accuracy_by_k.png", "published": ("CTP (published)", CTP)},
    "clutrr-clean": {"task": "clutrr", "data": "clutrr/data_7c5b0e70", "note": "robust reasoning, clean training stories; target ≥ 0.95 on every test file"},
    "clutrr-supporting": {"task": "clutrr", "data": "clutrr/data_06b8f2a1", "note": "robust reasoning, supporting noise"},
    "clutrr-irrelevant": {"task": "clutrr", "data": "clutrr/data_523348e6", "note": "robust reasoning, irrelevant noise"},
    "clutrr-disconnected": {"task": "clutrr", "data": "clutrr/data_d83ecc3e", "note": "robust reasoning, disconnected noise"},
    "proofwriter": {"task": "proofwriter", "data": "logic_lm_subsets/ProofWriter", "max_length": 320, "transfer": ["logic_lm_subsets/ProntoQA", "logic_lm_subsets/FOLIO"],
                    "note": "Logic-LM depth-5 subset; target ≥ 0.95 dev and test; ProntoQA / FOLIO zero-shot"},
    # 192 tokens: a quarter of the depth-5 texts are longer than 128, and cutting them there cut off the statement
    "theories-d3": {"task": "proofwriter", "data": "generated", "max_length": 192, "note": "generated theories, train depth ≤ 3, test depths 4, 5; target ≥ 0.90",
                    "generate": {"train_lengths": (1, 2, 3), "test_lengths": (4, 5), "train_size": 600, "test_size": 40}},
}
START, END = "<!-- logic-results:start -->", "<!-- logic-results:end -->"


def run_one(name: str, spec: dict, variant: str, seed: int, args: argparse.Namespace) -> Path:
    """Train (unless the run is there; a killed one continues from its checkpoint) and evaluate the transfer sets;
    returns the run directory."""
    from kgreason.pipelines.run import evaluate_model, run_pipeline
    from kgreason.pipelines.training import CHECKPOINT_DIR, STATE_FILE

    out = args.runs / f"{name}-{variant}-s{seed}"
    if not (out / "results.json").is_file():
        data = spec["data"] if spec["data"] == "generated" else args.datasets / spec["data"]
        model = VARIANTS[variant]
        run_pipeline(spec["task"], data, out=out, fusion=model.fusion, graph_encoder=model.graph_encoder,
                     model_kwargs=model.options, cache_dir=args.runs / "cache", generate_kwargs=spec.get("generate"),
                     preprocess_kwargs=model.preprocess or None,
                     progress=sys.stderr.isatty(), max_length=spec.get("max_length", args.max_length), limit=args.limit,
                     resume=(out / "training" / CHECKPOINT_DIR / STATE_FILE).is_file(),
                     training_kwargs={"epochs": args.epochs, "batch_size": args.batch_size, "lr_text": args.lr_text,
                                      "lr_graph": args.lr_graph, "seed": seed, **model.training})
    for transfer in spec.get("transfer", ()):
        target = out / "evaluations" / Path(transfer).name
        if not (target / "results.json").is_file():
            evaluate_model(out, args.datasets / transfer, out=target, limit=args.limit)
    return out


def collect(args: argparse.Namespace) -> dict:
    """Every finished run under --runs: {experiment: {fusion: [results.json of each seed, + transfer]}}."""
    found: dict = {}
    for name in EXPERIMENTS:
        for fusion in VARIANTS:
            for path in sorted(args.runs.glob(f"{name}-{fusion}-s[0-9]*/results.json")):
                results = json.loads(path.read_text())
                for transfer in EXPERIMENTS[name].get("transfer", ()):
                    evaluation = path.parent / "evaluations" / Path(transfer).name / "results.json"
                    if evaluation.is_file():
                        results["tests"].update({f"{Path(transfer).name} (zero-shot) {k}": v
                                                 for k, v in json.loads(evaluation.read_text())["tests"].items()})
                results["run"] = str(path.parent)
                found.setdefault(name, {}).setdefault(fusion, []).append(results)
    return found


def with_recorded(found: dict, record: Path) -> dict:
    """`found` plus the runs of an earlier `record` (bench/records/logic.json) whose run directory is gone and
    whose experiment, variant and seed no run in `found` has: deleting run directories loses no published
    number, and a rerun replaces its record."""
    if not record.is_file():
        return found
    merged = {name: {fusion: list(runs) for fusion, runs in by_fusion.items()} for name, by_fusion in found.items()}
    for name, by_fusion in json.loads(record.read_text())["runs"].items():
        for fusion, runs in by_fusion.items():
            if name not in EXPERIMENTS or fusion not in VARIANTS:
                continue
            have = merged.setdefault(name, {}).setdefault(fusion, [])
            seeds = {run["training"]["config"]["seed"] for run in have}
            have += [run for run in runs if run["training"]["config"]["seed"] not in seeds and not Path(run["run"]).is_dir()]
            have.sort(key=lambda run: run["training"]["config"]["seed"])
    return {name: {f: merged[name][f] for f in VARIANTS if merged[name].get(f)} for name in EXPERIMENTS if name in merged}


def trained_lengths(run: dict) -> list[str]:
    """The chain lengths k of a CLUTRR run's dev set, which are those of its training, shortest first."""
    return sorted(run["tests"]["dev"]["groups"]["k"], key=int)


def accuracy_by_k(run: dict) -> dict[str, float]:
    """A CLUTRR run's {k: accuracy} over its test files (dev left out)."""
    return accuracy_by_group({t: r for t, r in run["tests"].items() if t != "dev"}, "k")


def longer_mean(run: dict, by_k: dict[str, float]) -> float | None:
    """The unweighted mean of `by_k` over the k longer than any in `run`'s training (None if none)."""
    longer = [accuracy for k, accuracy in by_k.items() if int(k) > int(trained_lengths(run)[-1])]
    return mean(longer) if longer else None


def long_chain_mean(run: dict) -> float | None:
    """A CLUTRR run's unweighted mean accuracy over the test k longer than any in its training (None if none)."""
    return longer_mean(run, accuracy_by_k(run))


def upper_bound(variant: str) -> bool:
    """Whether the variant reads CLUTRR's gold graphs (`gold_story`): an upper bound, never the best model."""
    return bool(VARIANTS[variant].preprocess.get("gold_story"))


def plot_series(by_fusion: dict, published: tuple[str, dict] | None) -> dict[str, dict[str, float]]:
    """{label: {k: accuracy, mean over seeds}} of the `lm_only` variants, the fused variant with the best mean over
    the longer k, and the published result: the comparison the plot shows (upper bounds left out)."""
    measured = {f: runs for f, runs in by_fusion.items() if not upper_bound(f)}
    fused = {f: runs for f, runs in measured.items() if VARIANTS[f].fusion != "lm_only"}
    scores = {f: [m for m in map(long_chain_mean, runs) if m is not None] for f, runs in fused.items()}
    best = max((f for f in scores if scores[f]), key=lambda f: mean(scores[f]), default=None)
    series = {}
    for fusion in [f for f in measured if f not in fused] + ([best] if best else []):
        runs = by_fusion[fusion]
        by_k = [accuracy_by_k(run) for run in runs]
        label = fusion if len(runs) == 1 else f"{fusion} ({len(runs)} seeds)"
        series[label] = {k: mean([accuracies[k] for accuracies in by_k]) for k in by_k[0]}
    if published:
        series[published[0]] = published[1]
    return series


def dev_source(dev: str) -> str:
    """How the dev set was made, a file path shown relative to the working directory."""
    return os.path.relpath(dev) if os.path.isabs(dev) else dev


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def markdown(found: dict, args: argparse.Namespace) -> str:
    """The results section: one table per experiment (test file rows, lm_only vs fused, mean over seeds)."""
    lines = [START, "", f"Produced by `.venv/bin/python bench/logic_results.py` (see its docstring); runs under "
             f"`{os.path.relpath(args.runs)}`. Each cell is the mean over the seeds listed; every column shares the "
             "MiniLM encoder, data and budget. Columns: `lm_only` (the baseline); `interaction`, `graph_only` (edge "
             "inputs from the whole-story pass, head on [attention pool ⊕ query-target state]); `-sentence`: each "
             "edge's sentence read on its own (`edge_text=sentence`) and the graph read out at the query target "
             "(`graph_readout=target`); `-endpoints`: the edge input also reads the states of the edge's two names in its "
             "sentence (`edge_endpoints=true`); composition GNN with 10 steps for CLUTRR, 2 (the default) for the "
             "ProofWriter theories (`interaction-steps10`: 10 there too); `-closure`: the endpoints' "
             "inputs into the closure encoder (every node pair's relation composed under every bracketing, pairs up to "
             "10 edges apart), whose relation classes are the labels (`graph_readout=relation`); `-inverses`: the story "
             "graphs also carry every typed edge backwards under its inverse name (`kinship_inverses`); `-renamed`: "
             "every file's stories (train, dev and tests) with their people renamed, a per-story draw of names "
             "(`rename_people`), so that names carry nothing; `-target`: "
             "each edge's relation also reads its target's node input (`graph_options={read_target: true}`); "
             "`interaction-theory-closure`: the theory graph also holds every literal that forward chaining proves "
             "from the parsed text (`theory_closure`: symbolic, over what the reader parsed, no gold proof), and one "
             "composition step from the statement's subject, whose input also embeds the statement's relation "
             "(`query_relation`), is read out at its object (`graph_readout=target`); `-distmult`: the same with "
             "multiplicative messages (`graph_options={message: distmult}`); `-conditioned`: the same, each edge's input "
             "also embedding the pair (asked relation, the edge's relation) (`query_conditioned_edges`); `-negation`: "
             "DistMult messages, each negated relation (edge or asked) read as its base relation plus one "
             "negation vector shared by all relations (`shared_negation`); `-factored`: the labels factored into a "
             "gender-free relation and the answer person's gender (`factored_labels`); `-weak6`: an untyped \"mentions\" "
             "edge counts as 6 steps in the closure, so that typed chains are composed first (`untyped_edge_length=6`); "
             "`-unnamed8`: 8 relation classes that no label names (`graph_options={unnamed_classes: 8}`); "
             "`-mirrored`: the composition table tied to its mirror, (a ∘ b)⁻¹ = b⁻¹ ∘ a⁻¹ "
             "(`graph_options={mirrored_table: true}`); `-textdrop3`: 30% of the edges read from their type alone "
             "while training (`graph_options={text_dropout: 0.3}`); `-goldstory`: **an upper bound, not a result on the "
             "text**: every story replaced by its gold graph, one sentence per gold story edge (`gold_story`), the "
             "input CTP reads. A published result, where an experiment has one, is its own "
             "column.", ""]
    for name, by_fusion in found.items():
        spec = EXPERIMENTS[name]
        any_run = next(iter(by_fusion.values()))[0]
        training = any_run["training"]["config"]
        env = any_run["environment"]
        seeds = {f: sorted(r["training"]["config"]["seed"] for r in runs) for f, runs in by_fusion.items()}
        graph_rates = {f: runs[0]["training"]["config"]["lr_graph"] for f, runs in by_fusion.items()}
        graph_rate = (training["lr_graph"] if len(set(graph_rates.values())) == 1 else
                      ", ".join(f"{rate} ({f})" for f, rate in graph_rates.items()))
        lines += [f"### {name}: {spec['note']}", "",
                  f"Data: `{spec['data']}`; train {any_run['training']['train_examples']} examples, dev "
                  f"{any_run['training']['dev_examples']} ({dev_source(any_run['data']['dev'])}). Budget: {training['epochs']} "
                  f"epochs, batch {training['batch_size']}, lr text {training['lr_text']} / graph "
                  f"{graph_rate}. Seeds: {seeds}. Date {env['date'][:10]}, {env['cpu']} × {env['cpus']} "
                  f"CPUs, GPU: {env['gpu'] or 'none'}.", ""]
        tests = sorted(dict.fromkeys(t for runs in by_fusion.values() for r in runs for t in r["tests"]),
                       key=lambda t: (t != "dev", [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", t)]))
        header = ["test", "n", *(f for f in VARIANTS if f in by_fusion)]
        published = spec.get("published")  # (column title, {k: accuracy}) of a published result
        lines += ["| " + " | ".join(header + ([published[0]] if published else [])) + " |",
                  "|" + "---|" * (len(header) + bool(published))]
        for test in tests:
            cells = []
            for fusion in header[2:]:
                accs = [r["tests"][test]["accuracy"] for r in by_fusion[fusion] if test in r["tests"]]
                cells.append(f"{mean(accs):.3f}" if accs else "–")
            if published:  # a test file of one k: its published accuracy
                ks = list(next(r["tests"][test]["groups"].get("k", {}) for runs in by_fusion.values() for r in runs
                               if test in r["tests"]))
                value = published[1].get(ks[0]) if len(ks) == 1 else None
                cells.append(f"{value:.3f}" if value is not None else "–")
            n = next(r["tests"][test]["n"] for runs in by_fusion.values() for r in runs if test in r["tests"])
            lines.append(f"| {test} | {n} | " + " | ".join(cells) + " |")
        if spec["task"] == "clutrr":
            cells = []
            for fusion in header[2:]:
                means = [m for m in map(long_chain_mean, by_fusion[fusion]) if m is not None]
                cells.append(f"**{mean(means):.3f}**" if means else "–")
            if published:
                published_mean = longer_mean(any_run, published[1])
                cells.append(f"**{published_mean:.3f}**" if published_mean is not None else "–")
            if any(cell != "–" for cell in cells):  # the robust-reasoning folders test no longer chains
                lines.append("| mean over the k longer than any in training (unweighted) | | " + " | ".join(cells) + " |")
        if spec["task"] == "proofwriter":
            lines += ["", "By proof depth (all test files, fused / lm_only):", ""]
            for fusion in header[2:]:
                by_depth = accuracy_by_group({t: r for r in by_fusion[fusion][:1] for t, r in r["tests"].items()
                                              if t != "dev" and "zero-shot" not in t}, "depth")
                lines.append(f"- {fusion}: " + ", ".join(f"d={d}: {a:.3f}" for d, a in by_depth.items()))
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "logic", help="run directories (kept)")
    parser.add_argument("--only", nargs="*", choices=sorted(EXPERIMENTS), help="experiments to run and report (default: all)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), default=list(DEFAULT_VARIANTS),
                        help="models to train (see VARIANTS)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr-text", type=float, default=5e-5)
    parser.add_argument("--lr-graph", type=float, default=1e-3)
    parser.add_argument("--max-length", type=int, default=128, help="tokens per row (ProofWriter's long theories: 320)")
    parser.add_argument("--limit", type=int, default=None, help="first N records of each file (smoke runs)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the tables from existing runs")
    parser.add_argument("--print-only", action="store_true",
                        help="print the tables of the runs under --runs, write nothing (e.g. more seeds of one "
                             "variant, kept apart from the runs the published tables come from)")
    parser.add_argument("--plots", action="store_true",
                        help="with --print-only: also redraw the experiments' plots in docs/ from the runs under --runs")
    parser.add_argument("--drop-missing", action="store_true",
                        help="rewrite a table even where it loses published runs that --runs and the record lack")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.report_only:
        for name in args.only or EXPERIMENTS:
            for seed in args.seeds:
                for variant in args.variants:
                    run_one(name, EXPERIMENTS[name], variant, seed, args)
    # published tables also keep the recorded runs whose directories are gone; --print-only shows --runs alone
    everything = collect(args) if args.print_only else with_recorded(collect(args), RECORDS / "logic.json")
    found = everything
    if args.only:  # the other experiments' tables stay as they are
        found = {name: runs for name, runs in found.items() if name in args.only}
    if args.print_only:
        print(markdown(found, args) if found else f"no finished runs under {args.runs}")
        if found and args.plots:
            draw_plots(found)
        return 0 if found else 1
    if not publish_section(found, markdown, args, START, END, drop_missing=args.drop_missing):
        return 1
    draw_plots(found)
    write_json(RECORDS / "logic.json", {"environment": environment(), "runs": everything})
    return 0


def draw_plots(found: dict) -> None:
    """Accuracy against k in docs/, for each experiment that has a plot: `lm_only` against the best fused variant."""
    for name, by_fusion in found.items():
        if "plot" in EXPERIMENTS[name]:
            trained = trained_lengths(next(iter(by_fusion.values()))[0])
            path = REPO / "docs" / EXPERIMENTS[name]["plot"]
            plot_accuracy_by_group(plot_series(by_fusion, EXPERIMENTS[name].get("published")), path,
                                   xlabel="chain length k",
                                   title=f"CLUTRR {Path(EXPERIMENTS[name]['data']).name} (trained on k = {', '.join(trained)})",
                                   trained_on=set(trained))
            print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
