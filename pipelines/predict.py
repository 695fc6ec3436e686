"""`predict`: a trained model over a file of questions, one JSON line per input; resumable, local or on Ray.

    summary = predict("questions.jsonl", "answers.jsonl", model="runs/clutrr-interaction")
    summary.answered, summary.errors, summary.examples_per_second

Input (by extension, optionally gzipped): JSON lines (`.jsonl`, `.json`), one object per line, or CSV (`.csv`)
with a header. Fields: `question` (or `text`), optional `choices` (a list; in CSV a JSON list or `a|b|c`),
`context` and `id`. An input without an `id` gets its line number. Records that cannot be read (bad JSON, no
question, a duplicate id, ...) and records the model cannot answer go to the errors file, one
{"line", "id", "reason"} each; the run goes on.

Files of a run with `output="answers.jsonl"`:

    answers.jsonl          one {"id", **Answer.to_dict()} per answered input, in input order
    answers.errors.jsonl   one {"line", "id", "reason"} per input that failed
    answers.state.json     the commit point: input size and SHA-256, model, records done, committed byte sizes

Resuming: records are processed in order and committed in chunks: a chunk's lines are appended to both files,
flushed and fsynced, then the state file is replaced atomically (`write_atomically`). A run killed at any point
(SIGKILL included) and started again with the same arguments cuts both files back to the committed sizes and
skips the committed records, so every input ends up in exactly one of the two files, exactly once. A state file
for another input file or model is refused (`overwrite=True` starts afresh).

Engines: "local" runs `predictor.pipe` in this process; "ray" runs the same predictor with Ray Data
(`map_batches` over a pool of actors that each load the model once; one GPU per actor where the cluster has
GPUs). Both yield the answers in input order, so the commit protocol, and the guarantee, are the same.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import io
import json
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from kgreason.data.shards import write_json
from kgreason.kg.errors import TaskInputError
from kgreason.kg.progress import progress_bar

ENGINES = ("local", "ray")
INPUT_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}
STATE_FORMAT = 1
DEFAULT_CHUNK_SIZE = 512
# rows a Ray actor gets per call, in model batches: GraphQA.pipe sorts a window of this many batches by length
# (its sort_window), so that rows pad to similar lengths as in the local engine
BATCHES_PER_ACTOR_CALL = 8


class Predictor(Protocol):
    """What `predict` runs: `GraphQA` or any object whose `pipe` yields, in order, one answer (with
    `to_dict()`) or one error (with `message`, like `QAError`) per input dict."""

    def pipe(self, inputs: Iterable[dict[str, Any]], *, batch_size: int, errors: str) -> Iterator[Any]: ...


@dataclass(frozen=True)
class Question:
    """A readable input. index: its position among the input's records (the unit of resuming)."""

    index: int
    line: int
    id: str | int
    record: dict[str, Any]  # {"id", "question", "choices"?, "context"?}: what the predictor gets


@dataclass(frozen=True)
class Malformed:
    """An input record that cannot be read, and why."""

    index: int
    line: int
    id: str | int
    reason: str


@dataclass
class PredictSummary:
    """What a run did. Counts cover the whole output (earlier, interrupted runs included); `resumed` records
    were committed by an earlier run; `seconds` and `examples_per_second` are this run's."""

    input: str
    output: str
    errors_file: str
    engine: str
    inputs: int = 0
    answered: int = 0
    malformed: int = 0
    failed: int = 0
    resumed: int = 0
    seconds: float = 0.0  # the whole run
    load_seconds: float = 0.0  # before the first record: hashing the input and model, loading the model
    predictor_seconds: float = 0.0  # waiting for answers: the predictor (or Ray's actors) and reading the input

    @property
    def errors(self) -> int:
        return self.malformed + self.failed

    @property
    def examples_per_second(self) -> float:
        """Records answered (or failed) by this run per second, loading excluded."""
        answering = self.seconds - self.load_seconds
        return (self.inputs - self.resumed) / answering if answering > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "errors": self.errors, "examples_per_second": self.examples_per_second}


def run_files(output: str | os.PathLike) -> tuple[Path, Path]:
    """The errors file and the state file that go with `output` (answers.jsonl → answers.errors.jsonl,
    answers.state.json)."""
    output = Path(output)
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(f"{stem}.errors.jsonl"), output.with_name(f"{stem}.state.json")


# -- input --------------------------------------------------------------------------------------------------


def input_format(path: Path) -> str:
    suffixes = path.suffixes[-2:] if path.suffix == ".gz" else path.suffixes[-1:]
    fmt = INPUT_FORMATS.get(suffixes[0].lower()) if suffixes else None
    if fmt is None:
        raise TaskInputError(f"{path}: cannot tell the input format from the extension",
                             hint="name the file .jsonl (JSON lines) or .csv (optionally .gz)")
    return fmt


def _rows(path: Path) -> Iterator[tuple[int, str | dict[str, str | None] | None, str | None]]:
    """(line, raw record, None) per record: a JSON line's text or a CSV row; (line, None, reason) where the
    row itself is broken."""
    fmt = input_format(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as raw:
        if fmt == "jsonl":
            for number, data in enumerate(raw, 1):
                try:
                    text = data.decode("utf-8-sig").strip()
                except UnicodeDecodeError as err:
                    yield number, None, f"not UTF-8 text ({err.reason} at byte {err.start})"
                    continue
                if text:
                    yield number, text, None
            return
        stream = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(stream)
        fields = reader.fieldnames or []
        if not {"question", "text"} & set(fields):
            raise TaskInputError(f"{path}:1: the CSV header has no 'question' (or 'text') column (it has {fields})",
                                 hint="add a header line: id,question,choices,context")
        line = 2
        try:
            for row in reader:
                if None in row:
                    yield line, None, f"{len(fields) + len(row[None])} fields, the header has {len(fields)}"
                else:
                    yield line, row, None
                line = reader.line_num + 1
        except (UnicodeDecodeError, csv.Error) as err:
            raise TaskInputError(f"{path}:{line}: {err}", hint="save the file as UTF-8 CSV") from None


def count_records(path: str | os.PathLike) -> int:
    """The number of records `read_questions` will yield (a fast pass without parsing JSON)."""
    return sum(1 for _ in _rows(Path(path)))


def read_questions(path: str | os.PathLike) -> Iterator[Question | Malformed]:
    """Every record of a JSONL or CSV file in order: a `Question`, or a `Malformed` with its reason."""
    path = Path(path)
    seen: dict[str, int] = {}
    for index, (line, raw, broken) in enumerate(_rows(path)):
        if broken is not None:
            yield Malformed(index, line, line, broken)
            continue
        if isinstance(raw, dict):  # a CSV row: empty cells are absent fields
            record: Any = {key: value for key, value in raw.items() if value}
            if "choices" in record:
                record["choices"] = _csv_choices(record["choices"])
        else:
            if index == 0 and raw == "[":
                raise TaskInputError(f"{path}:{line}: a JSON array, not JSON lines",
                                     hint="write one JSON object per line (e.g. `jq -c '.[]' in.json > in.jsonl`)")
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as err:
                yield Malformed(index, line, line, f"not valid JSON ({err.msg} at column {err.colno})")
                continue
        item = _question(record, index=index, line=line)
        if isinstance(item, Question):
            first = seen.setdefault(str(item.id), line)
            if first != line:
                item = Malformed(index, line, item.id, f"duplicate id {item.id!r} (first on line {first})")
        yield item


def _csv_choices(cell: str) -> Any:
    """A CSV choices cell: a JSON list, or choices separated by '|'."""
    if cell.lstrip().startswith("["):
        try:
            return json.loads(cell)
        except json.JSONDecodeError:
            return cell  # not a list: reported by `_question`
    return [choice.strip() for choice in cell.split("|")]


def _question(record: Any, *, index: int, line: int) -> Question | Malformed:
    if not isinstance(record, dict):
        return Malformed(index, line, line, f"a JSON {type(record).__name__}, not an object")
    ident = record.get("id")
    if ident is None:
        ident = line
    elif isinstance(ident, bool) or not isinstance(ident, str | int):
        return Malformed(index, line, line, f"'id' must be a string or an integer, not {json.dumps(ident)}")
    question = record.get("question", record.get("text"))
    if not isinstance(question, str) or not question.strip():
        return Malformed(index, line, ident, "no question: give a non-empty 'question' (or 'text') string")
    fields = {"id": ident, "question": question}
    choices, context = record.get("choices"), record.get("context")
    if choices is not None:
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c.strip() for c in choices):
            return Malformed(index, line, ident, "'choices' must be a list of non-empty strings")
        fields["choices"] = choices
    if context is not None:
        if not isinstance(context, str):
            return Malformed(index, line, ident, "'context' must be a string")
        fields["context"] = context
    return Question(index, line, ident, fields)


# -- engines: records in, one outcome per record out, in order ------------------------------------------------

Outcome = dict[str, Any] | str  # an answer's `to_dict()`, or an error message


def load_predictor(model: str | os.PathLike, *, device: str = "auto", precision: str = "fp32") -> Predictor:
    """`GraphQA` for a model directory (or a `kgreason train` run directory)."""
    from .qa import GraphQA

    return GraphQA.from_pretrained(model, device=device, precision=precision)


def _outcome(result: Any) -> Outcome:
    """A predictor's error (a `QAError`: anything with a `message`) as its message, or its answer's `to_dict()`."""
    return str(result.message) if hasattr(result, "message") else result.to_dict()


def _local_outcomes(records: Iterator[dict[str, Any]], *, predictor: Predictor, batch_size: int) -> Iterator[Outcome]:
    for result in predictor.pipe(records, batch_size=batch_size, errors="return"):
        yield _outcome(result)


class RayPredictor:
    """One actor of the Ray engine: loads the predictor once, then answers batches of JSON-encoded records
    (`BATCHES_PER_ACTOR_CALL` model batches a call, which `GraphQA.pipe` sorts by length, as the local engine).

    batch: {"index": int64[B], "record": str[B]} → {"index": int64[B], "outcome": str[B]} (JSON `Outcome`s).
    """

    def __init__(self, *, model: str | None, predictor: Predictor | None, device: str, precision: str,
                 batch_size: int) -> None:
        self.predictor = predictor if predictor is not None else load_predictor(model, device=device, precision=precision)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        records = [json.loads(record) for record in batch["record"]]
        outcomes = _local_outcomes(iter(records), predictor=self.predictor, batch_size=self.batch_size)
        return {"index": batch["index"], "outcome": [json.dumps(outcome, ensure_ascii=False) for outcome in outcomes]}


def _ray_outcomes(records: Iterator[dict[str, Any]], *, model: str | None, predictor: Predictor | None, device: str,
                  precision: str, batch_size: int, workers: int | None) -> Iterator[Outcome]:
    """Ray Data over the records: `workers` actors (default: one per GPU of the cluster, else one per CPU),
    each with one GPU where the cluster has GPUs; outcomes put back in input order as they arrive."""
    import logging

    import ray
    import ray.data  # configures its loggers on import: before ours below

    rows = [{"index": i, "record": json.dumps(record, ensure_ascii=False)} for i, record in enumerate(records)]
    if not rows:
        return
    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)  # ours are the one progress bar and summary
    started = not ray.is_initialized()
    try:
        if started:  # a local instance, or the cluster at $RAY_ADDRESS
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        actors = workers or gpus or max(1, int(resources.get("CPU", 1)))
        per_call = batch_size * BATCHES_PER_ACTOR_CALL
        dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), max(actors * 4, math.ceil(len(rows) / per_call))))
        dataset = dataset.map_batches(
            RayPredictor, fn_constructor_kwargs={"model": model, "predictor": predictor, "device": device,
                                                 "precision": precision, "batch_size": batch_size},
            batch_size=per_call, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1,
            num_gpus=1 if gpus else 0,
        )
        arrived: dict[int, str] = {}
        done = 0
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            arrived.update(zip(batch["index"].tolist(), batch["outcome"]))
            while done in arrived:
                yield json.loads(arrived.pop(done))
                done += 1
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if started and ray.is_initialized():
            ray.shutdown()


def _answered_in_order(items: Iterator[Question | Malformed],
                       outcomes_of: Callable[[Iterator[dict[str, Any]]], Iterator[Outcome]]) -> Iterator[tuple[Question | Malformed, Outcome | None]]:
    """(item, outcome) for every item, in order: the questions' records go through `outcomes_of`; malformed
    items pass with outcome None."""
    pending: deque[Question | Malformed] = deque()

    def records() -> Iterator[dict[str, Any]]:
        for item in items:
            pending.append(item)
            if isinstance(item, Question):
                yield item.record

    for outcome in outcomes_of(records()):
        while pending and isinstance(pending[0], Malformed):
            yield pending.popleft(), None
        if not pending:
            raise RuntimeError("the predictor returned more results than it was given inputs")
        yield pending.popleft(), outcome
    pending.extend(items)  # what the predictor did not read ahead
    for item in pending:
        if isinstance(item, Question):
            raise RuntimeError(f"the predictor returned no result for line {item.line} (id {item.id!r})")
        yield item, None


# -- the commit protocol ------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _model_identity(model: str | os.PathLike | None, predictor: Predictor | None, precision: str) -> dict[str, Any]:
    if model is None:
        kind = type(predictor)
        return {"predictor": f"{kind.__module__}.{kind.__qualname__}"}
    directory = Path(model)
    if not (directory / "bundle.json").is_file() and (directory / "model" / "bundle.json").is_file():
        directory = directory / "model"  # a run directory (see `kgreason.pipelines.bundle`)
    weights = directory / "model.safetensors"
    return {"path": str(directory.resolve()), "sha256": _sha256(weights) if weights.is_file() else None,
            "precision": precision}


class _Journal:
    """The output, errors and state files of a run. `add` buffers a record's line; `commit` appends the buffered
    lines to both files, fsyncs them and then replaces the state file: the one commit point."""

    def __init__(self, output: Path, errors: Path, state_path: Path, state: dict[str, Any]) -> None:
        self.state, self.state_path = state, state_path
        self.files = {}
        for key, path in (("output_bytes", output), ("errors_bytes", errors)):
            f = open(path, "r+b" if path.exists() else "w+b")
            size = f.seek(0, os.SEEK_END)
            if size < state[key]:
                f.close()
                raise TaskInputError(f"{path}: {size} bytes, but {state[key]} were committed to it: it was changed "
                                     "by something other than kgreason predict", hint="pass --overwrite to start afresh")
            f.truncate(state[key])  # lines written after the last commit are written again
            f.seek(state[key])
            self.files[key] = f
        self.lines: dict[str, list[str]] = {"output_bytes": [], "errors_bytes": []}
        self.pending = 0

    def add(self, item: Question | Malformed, outcome: Outcome | None) -> None:
        if isinstance(outcome, dict):
            key, counter, line = "output_bytes", "answered", {"id": item.id, **{k: v for k, v in outcome.items() if k != "id"}}
        elif isinstance(item, Malformed):
            key, counter, line = "errors_bytes", "malformed", {"line": item.line, "id": item.id, "reason": item.reason}
        else:
            key, counter, line = "errors_bytes", "failed", {"line": item.line, "id": item.id, "reason": outcome}
        self.lines[key].append(json.dumps(line, ensure_ascii=False) + "\n")
        self.state[counter] += 1
        self.pending += 1

    def commit(self) -> None:
        for key, f in self.files.items():
            if self.lines[key]:
                self.state[key] += f.write("".join(self.lines[key]).encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
                self.lines[key].clear()
        self.state["records"] += self.pending
        self.pending = 0
        write_json(self.state_path, self.state)

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def _start(output: Path, errors: Path, state_path: Path, *, source: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The committed state to go on from: the state file's (checked against this input and model), or a new one."""
    if state_path.is_file():
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TaskInputError(f"{state_path}: not valid JSON ({err})", hint="pass --overwrite to start afresh") from None
        if state.get("format") != STATE_FORMAT:
            raise TaskInputError(f"{state_path}: state format {state.get('format')}, this kgreason reads {STATE_FORMAT}",
                                 hint="finish the run with the kgreason that started it, or pass --overwrite")
        hint = "run with the same --input and --model to resume, pass --overwrite to start afresh, or choose another --output"
        if (state["input"]["size"], state["input"]["sha256"]) != (source["size"], source["sha256"]):
            raise TaskInputError(f"{state_path}: {output} was started from another input ({state['input']['path']}, "
                                 f"{state['input']['size']} bytes, SHA-256 {state['input']['sha256'][:12]}…); "
                                 f"{source['path']} has {source['size']} bytes, SHA-256 {source['sha256'][:12]}…", hint=hint)
        if state["model"] != model:
            raise TaskInputError(f"{state_path}: {output} was started with model {state['model']}; this run's is {model}",
                                 hint=hint)
        return state
    if output.exists() or errors.exists():
        raise TaskInputError(f"{output}: exists, without the state file {state_path.name} that kgreason predict "
                             "writes next to it", hint="pass --overwrite to replace it, or choose another --output")
    state = {"format": STATE_FORMAT, "input": source, "model": model, "records": 0, "output_bytes": 0,
             "errors_bytes": 0, "answered": 0, "malformed": 0, "failed": 0}
    write_json(state_path, state)
    return state


def predict(input: str | os.PathLike, output: str | os.PathLike, *, model: str | os.PathLike | None = None,
            predictor: Predictor | None = None, engine: str = "local", batch_size: int = 32, workers: int | None = None,
            device: str = "auto", precision: str = "fp32", chunk_size: int = DEFAULT_CHUNK_SIZE,
            overwrite: bool = False, progress: bool = False) -> PredictSummary:
    """Answer every record of `input` (JSONL or CSV) into `output` (JSONL), resuming a killed run.

    model: a model directory (or `kgreason train` run directory), loaded with `GraphQA.from_pretrained`.
    predictor: an object with `pipe` to use instead (`model`, if also given, names it in the state file);
    engine "ray" sends it to its actors, so it must pickle. workers: Ray actors (engine "ray" only).
    precision: "fp32", "bf16" or "int8", the model's (`GraphQA`; part of the model's identity in the state file).
    chunk_size: records per commit (a killed run redoes at most this many).
    """
    input, output = Path(input), Path(output)
    if engine not in ENGINES:
        raise TaskInputError(f"unknown engine {engine!r}", hint=f"use one of {', '.join(ENGINES)}")
    if workers is not None and engine != "ray":
        raise TaskInputError("workers only apply to the ray engine", hint="add --engine ray to run several model copies")
    if engine == "ray" and importlib.util.find_spec("ray") is None:
        raise TaskInputError("the ray engine needs Ray Data, which is not installed",
                             hint="pip install 'kgreason[ray]', or use the local engine")
    if model is None and predictor is None:
        raise TaskInputError("no model given", hint="pass --model with a directory written by `kgreason train`")
    if predictor is not None and precision != "fp32":
        raise TaskInputError(f"precision {precision!r} applies to the model predict loads, not to a given predictor",
                             hint="build the predictor with GraphQA.from_pretrained(..., precision=...)")
    if not input.is_file():
        raise TaskInputError(f"{input}: no such file", hint="pass a JSONL or CSV file of questions")
    if output.suffix == ".gz":
        raise TaskInputError(f"{output}: the output cannot be gzipped (it is appended to and cut back on resume)",
                             hint="name it .jsonl and compress it when the run is done")
    input_format(input)
    errors, state_path = run_files(output)
    if overwrite:
        for path in (state_path, output, errors):
            path.unlink(missing_ok=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    state = _start(output, errors, state_path, source={"path": str(input.resolve()), "size": input.stat().st_size,
                                                        "sha256": _sha256(input)},
                   model=_model_identity(model, predictor, precision))
    summary = PredictSummary(str(input), str(output), str(errors), engine, resumed=state["records"])
    items = read_questions(input)
    for _ in range(state["records"]):  # committed by an earlier run
        next(items)
    if engine == "local":
        predictor = predictor if predictor is not None else load_predictor(model, device=device, precision=precision)
        outcomes_of = partial(_local_outcomes, predictor=predictor, batch_size=batch_size)
    else:
        outcomes_of = partial(_ray_outcomes, model=None if model is None else str(model), predictor=predictor,
                              device=device, precision=precision, batch_size=batch_size, workers=workers)
    journal = _Journal(output, errors, state_path, state)
    summary.load_seconds = time.perf_counter() - started
    try:
        total = count_records(input) - summary.resumed if progress else None
        with progress_bar(progress, description=f"predict {input.name}", total=total, unit="examples") as update:
            done = 0
            answered = _answered_in_order(items, outcomes_of)
            while True:
                waited = time.perf_counter()
                pair = next(answered, None)
                summary.predictor_seconds += time.perf_counter() - waited
                if pair is None:
                    break
                journal.add(*pair)
                done += 1
                if journal.pending >= chunk_size:
                    journal.commit()
                update(done)
            journal.commit()
    finally:
        journal.close()
    summary.inputs, summary.answered = state["records"], state["answered"]
    summary.malformed, summary.failed = state["malformed"], state["failed"]
    summary.seconds = time.perf_counter() - started
    return summary
