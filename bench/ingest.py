"""Ingest benchmark: kgreason's fast path against its rdflib path and against plain rdflib, on the same inputs.

Run it from the repository root (a benchmark, not a test):

    .venv/bin/python bench/ingest.py               # default run: about 5 minutes on 2 cores
    .venv/bin/python bench/ingest.py --quick       # subsampled inputs: a smoke run in well under a minute
    .venv/bin/python bench/ingest.py --with-slow   # also plain rdflib on the synthetic file (minutes, GBs)
    .venv/bin/python bench/ingest.py --profile     # also cProfile the fast path on FB15k-237 N-Triples

Inputs, read or written once and used by every path:
- FB15k-237 train as shipped: gzipped TSV `head, relation, tail` (272,115 triples)
- ConceptNet-100K train as shipped: gzipped `relation, head, tail, weight` (format `conceptnet`)
- FB15k-237 train written by this script as N-Triples and as Turtle, with the IRIs
  `http://example.org/fb/<percent-encoded id>` (Turtle with `@prefix` and `;` / `,` grouping)
- a synthetic N-Triples file: 1,000,000 uniformly random triples over 200,000 entities and 500 relations
  (seeded, so the same file every run)

Paths, where they apply:
- fast: `ingest(..., engine="oxigraph")` for RDF, `ingest(..., engine="table")` for the tables
- kgreason rdflib: `ingest(..., engine="rdflib")` (RDF only)
- plain rdflib: `rdflib.Graph().parse(path, format=...)` (RDF only), the baseline. By default it is
  skipped on the synthetic file (it takes minutes); `--with-slow` runs it, `--skip-slow` also skips the
  kgreason rdflib path there.

Every measurement runs in a fresh spawned process, so peak RSS is that run's own: the libraries are imported
first, then wall and CPU clocks run around the one call (for ingest: end to end, until the store is committed
and fsynced), and at the end the process reports its peak RSS (VmHWM from /proc/self/status; ru_maxrss is
recorded too but carries the parent's high-water mark over fork + exec) and the store's size on disk.
Throughput is statements read / wall seconds. Stores live in a temp dir that is deleted afterwards, as are
the written inputs. Each run is repeated `--repeat` times (median times, max RSS). CPU times are shown next
to wall times because the machine may be shared: they are less disturbed by other work.

Prints a table, ratios and PASS/FAIL for the targets (by wall time; the CPU-time reading beside), and writes
everything (with date, machine, load, versions and the exact command) to bench/results/ingest.json
(`--quick`: ingest-quick.json). Targets:
- fast path >= 15x the throughput of plain rdflib parse on N-Triples (FB15k-237)
- fast path >= 300,000 triples/s end to end into the store, on FB15k-237 as N-Triples and as TSV
- fast path peak RSS <= 1 GB ingesting the 1,000,000-triple synthetic file
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

from common import DEFAULT_DATASETS, RESULTS, environment, write_json
FB_TRAIN = Path("kg_link_prediction/FB15k-237/train.txt.gz")
CONCEPTNET_TRAIN = Path("conceptnet100k/train100k.txt.gz")
FB_NAMESPACE = "http://example.org/fb/"
SYNTHETIC_NAMESPACE = "http://example.org/synthetic/"
PACKAGES = ("kgreason", "rdflib", "pyoxigraph", "numpy", "rich")

# Paths (how a file is read) and the inputs they apply to.
FAST, FAST_PARALLEL, KG_RDFLIB, PLAIN_RDFLIB = "fast", "fast parallel", "kgreason rdflib", "plain rdflib"
RDFLIB_FORMATS = {"ntriples": "nt", "turtle": "turtle"}  # our format name -> rdflib's
TABLE_FORMATS = ("tsv", "conceptnet")

# Targets.
MIN_SPEEDUP_NT = 15.0
MIN_TRIPLES_PER_S = 300_000
MAX_RSS_BYTES = 1_000_000_000  # 1 GB


@dataclass(frozen=True)
class Sizes:
    """How many triples of each input (None: the whole dataset)."""

    fb: int | None
    conceptnet: int | None
    synthetic: int
    synthetic_entities: int = 200_000
    synthetic_relations: int = 500


FULL = Sizes(fb=None, conceptnet=None, synthetic=1_000_000)
QUICK = Sizes(fb=20_000, conceptnet=20_000, synthetic=100_000, synthetic_entities=20_000, synthetic_relations=200)


@dataclass(frozen=True)
class Input:
    key: str  # short id used in the JSON and by the targets
    label: str
    path: str
    format: str  # kgreason format name
    triples: int  # lines / statements in the file
    bytes: int


@dataclass
class Run:
    input: Input
    path: str  # FAST, FAST_PARALLEL, KG_RDFLIB or PLAIN_RDFLIB
    skipped: str | None = None
    workers: int = 1  # processes that parse the file (FAST_PARALLEL)
    samples: list[dict] = field(default_factory=list)  # one per repeat, from `_measure_in_child`

    @property
    def engine(self) -> str | None:
        if self.path in (FAST, FAST_PARALLEL):
            return "table" if self.input.format in TABLE_FORMATS else "oxigraph"
        return "rdflib" if self.path == KG_RDFLIB else None

    def _median(self, name: str) -> float | None:
        return statistics.median(s[name] for s in self.samples) if self.samples else None

    @property
    def wall_s(self) -> float | None:
        return self._median("wall_s")

    @property
    def cpu_s(self) -> float | None:
        return self._median("cpu_s")

    @property
    def statements(self) -> int | None:
        return self.samples[0]["statements"] if self.samples else None

    @property
    def triples_per_s(self) -> float | None:
        return throughput(self)

    @property
    def peak_rss_bytes(self) -> int | None:
        return max(s["peak_rss_bytes"] for s in self.samples) if self.samples else None

    @property
    def store_bytes(self) -> int | None:
        return self.samples[0]["store_bytes"] if self.samples else None

    def to_dict(self) -> dict:
        return {
            "input": self.input.key,
            "path": self.path,
            "engine": self.engine,
            "workers": self.workers,
            "skipped": self.skipped,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "statements": self.statements,
            "triples_per_s": self.triples_per_s,
            "peak_rss_bytes": self.peak_rss_bytes,
            "store_bytes": self.store_bytes,
            "samples": self.samples,
        }


# --- inputs ----------------------------------------------------------------------------------------------


def read_rows(path: Path, limit: int | None) -> list[list[str]]:
    """The first `limit` (all when None) non-empty tab-separated rows of a (gzipped) text file."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if limit is not None and len(rows) >= limit:
                break
            if line.strip():
                rows.append(line.rstrip("\n").split("\t"))
    return rows


def write_lines(path: Path, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)


def iri(namespace: str, name: str) -> str:
    return f"<{namespace}{quote(name, safe='')}>"


def ntriples_lines(triples: Iterable[Sequence[str]], namespace: str) -> Iterator[str]:
    for h, r, t in triples:
        yield f"{iri(namespace, h)} {iri(namespace, r)} {iri(namespace, t)} .\n"


def _turtle_term(name: str) -> str:
    """`fb:local` when the percent-encoded name is a safe Turtle local name, else a full IRI."""
    local = quote(name, safe="")
    ok = local and local[0] not in ".-" and local[-1] != "." and all(c.isalnum() or c in "_%.-" for c in local)
    return f"fb:{local}" if ok else iri(FB_NAMESPACE, name)


def turtle_lines(triples: Iterable[Sequence[str]]) -> Iterator[str]:
    """Turtle as people write it: one block per subject, `;` between predicates, `,` between objects."""
    yield f"@prefix fb: <{FB_NAMESPACE}> .\n\n"
    subject = predicate = None
    for h, r, t in sorted(triples):
        if h != subject:
            if subject is not None:
                yield " .\n"
            yield f"{_turtle_term(h)} {_turtle_term(r)} {_turtle_term(t)}"
            subject, predicate = h, r
        elif r != predicate:
            yield f" ;\n    {_turtle_term(r)} {_turtle_term(t)}"
            predicate = r
        else:
            yield f" ,\n        {_turtle_term(t)}"
    if subject is not None:
        yield " .\n"


def synthetic_triples(sizes: Sizes, seed: int = 0) -> Iterator[tuple[str, str, str]]:
    """Uniformly random triples, generated in chunks so the whole graph is never held in memory."""
    import numpy as np

    rng = np.random.default_rng(seed)
    remaining = sizes.synthetic
    while remaining:
        n = min(remaining, 100_000)
        heads = rng.integers(sizes.synthetic_entities, size=n).tolist()
        rels = rng.integers(sizes.synthetic_relations, size=n).tolist()
        tails = rng.integers(sizes.synthetic_entities, size=n).tolist()
        for h, r, t in zip(heads, rels, tails):
            yield f"e{h}", f"r{r}", f"e{t}"
        remaining -= n


def _input(key: str, label: str, path: Path, format: str, triples: int) -> Input:
    return Input(key, label, str(path), format, triples, path.stat().st_size)


def _table_input(key: str, label: str, source: Path, format: str, rows: list[list[str]], full: bool, workdir: Path) -> Input:
    """The dataset file itself for a full run, else its first rows written out as plain text."""
    if full:
        return _input(key, label, source, format, len(rows))
    sample = workdir / f"{key}.txt"
    write_lines(sample, ("\t".join(row) + "\n" for row in rows))
    return _input(key, f"{label} (head {len(rows):,})", sample, format, len(rows))


def prepare_inputs(datasets: Path, sizes: Sizes, workdir: Path) -> list[Input]:
    """Read the datasets, write the RDF versions and the synthetic file into `workdir`."""
    fb_rows = read_rows(datasets / FB_TRAIN, sizes.fb)
    conceptnet_rows = read_rows(datasets / CONCEPTNET_TRAIN, sizes.conceptnet)
    inputs = [
        _table_input("fb_tsv", "FB15k-237 TSV.gz", datasets / FB_TRAIN, "tsv", fb_rows, sizes.fb is None, workdir),
        _table_input(
            "conceptnet", "ConceptNet-100K .gz", datasets / CONCEPTNET_TRAIN, "conceptnet", conceptnet_rows,
            sizes.conceptnet is None, workdir,
        ),
    ]
    write_lines(workdir / "fb.nt", ntriples_lines(fb_rows, FB_NAMESPACE))
    inputs.append(_input("fb_nt", "FB15k-237 N-Triples", workdir / "fb.nt", "ntriples", len(fb_rows)))
    write_lines(workdir / "fb.ttl", turtle_lines(fb_rows))
    inputs.append(_input("fb_ttl", "FB15k-237 Turtle", workdir / "fb.ttl", "turtle", len(fb_rows)))
    write_lines(workdir / "synthetic.nt", ntriples_lines(synthetic_triples(sizes), SYNTHETIC_NAMESPACE))
    inputs.append(_input("synthetic_nt", f"synthetic {sizes.synthetic:,} NT", workdir / "synthetic.nt", "ntriples", sizes.synthetic))
    return inputs


# --- runs ------------------------------------------------------------------------------------------------


def plan_runs(inputs: list[Input], *, with_slow: bool, skip_slow: bool, workers: int) -> list[Run]:
    """Every applicable (input, path) pair; the slow ones on the synthetic file marked skipped as asked.

    With `workers` > 1, the fast path also runs with that many processes on the N-Triples inputs big enough
    to be parsed in parallel (`kgreason.kg.readers.parallel.MIN_BYTES`).
    """
    from kgreason.kg.readers.parallel import MIN_BYTES

    runs = []
    for inp in inputs:
        runs.append(Run(inp, FAST))
        if workers > 1 and inp.format == "ntriples" and inp.bytes >= MIN_BYTES:
            runs.append(Run(inp, FAST_PARALLEL, workers=workers))
        if inp.format not in RDFLIB_FORMATS:
            continue
        slow_input = inp.key == "synthetic_nt"
        runs.append(Run(inp, KG_RDFLIB, skipped="--skip-slow" if slow_input and skip_slow else None))
        plain_skip = None
        if slow_input and (skip_slow or not with_slow):
            plain_skip = "--skip-slow" if skip_slow else "skipped by default (minutes); --with-slow runs it"
        runs.append(Run(inp, PLAIN_RDFLIB, skipped=plain_skip))
    return runs


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _peak_rss_bytes() -> int:
    """Peak RSS of this process since it started: VmHWM, else ru_maxrss.

    ru_maxrss alone is not enough here: Linux carries the parent's high-water mark over fork + exec, so a
    spawned child would report at least the benchmark's own RSS. VmHWM belongs to the address space made by
    exec, so it is the child's alone (on Linux; elsewhere ru_maxrss is the fallback).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return _ru_maxrss_bytes()


def _ru_maxrss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux; includes the parent's, see above


class _Clock:
    """Wall and CPU seconds (this process) of a `with` block: `.wall_s`, `.cpu_s`."""

    def __enter__(self) -> _Clock:
        self.wall_s, self.cpu_s = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s, self.cpu_s = time.perf_counter() - self.wall_s, time.process_time() - self.cpu_s


def _plain_rdflib_parse(path: str, format: str, clock: _Clock) -> tuple[int, None]:
    import rdflib

    with clock:
        graph = rdflib.Graph()
        graph.parse(path, format=RDFLIB_FORMATS[format])
    return len(graph), None


def _ingest_into_temp_store(path: str, format: str, engine: str, workers: int, scratch: str, clock: _Clock) -> tuple[int, int]:
    import pyoxigraph  # noqa: F401 - the readers import these lazily: keep the imports off the clock
    import rdflib  # noqa: F401

    from kgreason.kg.ingest import ingest

    store = Path(tempfile.mkdtemp(prefix="store-", dir=scratch))
    try:
        with clock:
            statements = ingest([path], store, format=format, engine=engine, workers=workers).read
        return statements, _dir_bytes(store)
    finally:
        shutil.rmtree(store, ignore_errors=True)


def _measure_in_child(path: str, run_path: str, format: str, engine: str | None, workers: int, scratch: str) -> dict:
    """Runs in a fresh process: one ingest or one plain rdflib parse, timed after the imports."""
    rss_at_start = _peak_rss_bytes()
    clock = _Clock()
    if run_path == PLAIN_RDFLIB:
        statements, store_bytes = _plain_rdflib_parse(path, format, clock)
    else:
        statements, store_bytes = _ingest_into_temp_store(path, format, engine, workers, scratch, clock)
    return {
        "wall_s": clock.wall_s,
        "cpu_s": clock.cpu_s,
        "statements": statements,
        "peak_rss_bytes": _peak_rss_bytes(),
        "rss_at_start_bytes": rss_at_start,
        "ru_maxrss_bytes": _ru_maxrss_bytes(),
        "store_bytes": store_bytes,
    }


def measure(run: Run, scratch: Path, repeat: int) -> None:
    """Fill `run.samples`, each from its own freshly spawned process."""
    context = multiprocessing.get_context("spawn")
    for _ in range(repeat):
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            future = pool.submit(
                _measure_in_child, run.input.path, run.path, run.input.format, run.engine, run.workers, str(scratch)
            )
            run.samples.append(future.result())


# --- results ---------------------------------------------------------------------------------------------


def find_run(runs: list[Run], input_key: str, path: str) -> Run | None:
    return next((r for r in runs if r.input.key == input_key and r.path == path and r.samples), None)


def throughput(run: Run | None, clock: str = "wall_s") -> float | None:
    """Statements per second of `run` by its wall (`wall_s`) or CPU (`cpu_s`) time."""
    seconds = getattr(run, clock) if run else None
    return run.statements / seconds if seconds else None


def speedup(runs: list[Run], run: Run | None, clock: str = "wall_s") -> float | None:
    """Throughput of `run` over plain rdflib's on the same input."""
    mine = throughput(run, clock)
    theirs = throughput(find_run(runs, run.input.key, PLAIN_RDFLIB), clock) if run else None
    return mine / theirs if mine and theirs else None


def ratios(runs: list[Run]) -> dict[str, dict[str, float | None]]:
    """Fast path over plain rdflib per RDF input, by wall time and by CPU time."""
    fast = [run for run in runs if run.path == FAST and run.input.format in RDFLIB_FORMATS]
    return {clock: {run.input.key: speedup(runs, run, clock) for run in fast} for clock in ("wall_s", "cpu_s")}


def _target(name: str, value: float | None, limit: float, unit: str, *, at_most: bool = False, **also: float | None) -> dict:
    """A target's record; `also` holds other readings shown beside it (e.g. the ratio by CPU time)."""
    passed = None if value is None else (value <= limit if at_most else value >= limit)
    return {"target": name, "value": value, "limit": limit, "unit": unit, "comparison": "<=" if at_most else ">=",
            "pass": passed, **also}


def check_targets(runs: list[Run], inputs: list[Input]) -> list[dict]:
    label = {inp.key: inp.label for inp in inputs}
    fb_nt, fb_tsv, synthetic = (find_run(runs, key, FAST) for key in ("fb_nt", "fb_tsv", "synthetic_nt"))
    return [
        _target(f"fast path >= {MIN_SPEEDUP_NT:g}x plain rdflib parse ({label['fb_nt']})", speedup(runs, fb_nt),
                MIN_SPEEDUP_NT, "x", by_cpu_time=speedup(runs, fb_nt, "cpu_s")),
        _target(f"fast path >= {MIN_TRIPLES_PER_S:,} triples/s into the store ({label['fb_nt']})", throughput(fb_nt),
                MIN_TRIPLES_PER_S, "triples/s", by_cpu_time=throughput(fb_nt, "cpu_s")),
        _target(f"fast path >= {MIN_TRIPLES_PER_S:,} triples/s into the store ({label['fb_tsv']})", throughput(fb_tsv),
                MIN_TRIPLES_PER_S, "triples/s", by_cpu_time=throughput(fb_tsv, "cpu_s")),
        _target(f"fast path peak RSS <= 1 GB ({label['synthetic_nt']})", synthetic.peak_rss_bytes if synthetic else None,
                MAX_RSS_BYTES, "bytes", at_most=True),
    ]


def _fmt(value: float | None, spec: str, scale: float = 1.0, suffix: str = "") -> str:
    return "-" if value is None else f"{value / scale:{spec}}{suffix}"


def _show(value: float | None, unit: str) -> str:
    if unit == "bytes":
        return _fmt(value, ",.0f", 2**20, " MiB")
    return _fmt(value, ".1f", suffix="x") if unit == "x" else _fmt(value, ",.0f", suffix=f" {unit}")


def render(runs: list[Run], targets: list[dict], notes: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)  # not a terminal (a log): wide enough for one line a row
    table = Table(title="kgreason ingest benchmark")
    for name, justify in [("input", "left"), ("path", "left"), ("triples", "right"), ("wall s", "right"),
                          ("cpu s", "right"), ("triples/s", "right"), ("x rdflib (wall)", "right"),
                          ("x rdflib (cpu)", "right"), ("peak RSS MiB", "right"), ("store MiB", "right")]:
        table.add_column(name, justify=justify, no_wrap=True)
    for run in runs:
        path = {FAST: f"{run.path} ({run.engine})", FAST_PARALLEL: f"{run.path} ({run.workers} proc)"}.get(run.path, run.path)
        if run.skipped:
            table.add_row(run.input.label, path, f"{run.input.triples:,}", "[dim]skipped[/]")
            continue
        versus = [_fmt(speedup(runs, run, clock), ".1f", suffix="x") if run.path != PLAIN_RDFLIB else "" for clock in ("wall_s", "cpu_s")]
        table.add_row(
            run.input.label, path, f"{run.statements:,}", _fmt(run.wall_s, ".2f"), _fmt(run.cpu_s, ".2f"),
            _fmt(run.triples_per_s, ",.0f"), *versus, _fmt(run.peak_rss_bytes, ",.0f", 2**20), _fmt(run.store_bytes, ",.1f", 2**20),
        )
    console.print(table)
    for target in targets:
        status = {True: "[bold green]PASS[/]", False: "[bold red]FAIL[/]", None: "[yellow]n/a[/]"}[target["pass"]]
        line = f"{status}  {target['target']}: measured {_show(target['value'], target['unit'])}"
        if "by_cpu_time" in target:
            line += f" (by CPU time: {_show(target['by_cpu_time'], target['unit'])})"
        console.print(line)
    for note in notes:
        console.print(f"[dim]note:[/] {note}")


# --- profile ---------------------------------------------------------------------------------------------


def profile_fast_path(inp: Input, scratch: Path, top: int = 25) -> str:
    """cProfile of the fast-path ingest of `inp` (in this process); the top functions by own time."""
    import cProfile
    import io
    import pstats

    from kgreason.kg.ingest import ingest

    store = Path(tempfile.mkdtemp(prefix="profile-", dir=scratch))
    profiler = cProfile.Profile()
    try:
        profiler.runcall(ingest, [inp.path], store, format=inp.format, engine=Run(inp, FAST).engine)
    finally:
        shutil.rmtree(store, ignore_errors=True)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue().rstrip() + "\n"


# --- main ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="folder holding kg_link_prediction/ and conceptnet100k/ (default: %(default)s)")
    parser.add_argument("--output", type=Path, help=f"JSON results file (default: {RESULTS}/ingest.json, --quick: ingest-quick.json)")
    parser.add_argument("--quick", action="store_true", help="subsampled inputs (20k rows, 100k synthetic triples), one repeat")
    parser.add_argument("--repeat", type=int, default=None, help="runs per measurement, median reported (default: 3, --quick: 1)")
    slow = parser.add_mutually_exclusive_group()
    slow.add_argument("--with-slow", action="store_true", help="also run plain rdflib on the synthetic file")
    slow.add_argument("--skip-slow", action="store_true", help="run only the fast path on the synthetic file")
    parser.add_argument("--workers", type=int, default=None, help="processes for the 'fast parallel' rows (default: the usable CPUs, as `kgreason ingest` uses; 1: no such rows)")
    parser.add_argument("--profile", action="store_true", help="also cProfile the fast path on FB15k-237 N-Triples")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    repeat = args.repeat or (1 if args.quick else 3)
    datasets = args.datasets.resolve()
    started, env = time.perf_counter(), environment(PACKAGES)
    with tempfile.TemporaryDirectory(prefix="kgreason-bench-") as tmp:
        workdir = Path(tmp)
        print(f"preparing inputs in {workdir} ...", flush=True)
        inputs = prepare_inputs(datasets, sizes, workdir)
        from kgreason.kg.readers.parallel import MIN_BYTES, default_workers

        workers = args.workers or default_workers()
        runs = plan_runs(inputs, with_slow=args.with_slow, skip_slow=args.skip_slow, workers=workers)
        for run in runs:
            if run.skipped:
                continue
            print(f"  {run.input.label:<34} {run.path:<16} x{repeat} ...", end="", flush=True)
            measure(run, workdir, repeat)
            print(f" {run.wall_s:.2f} s", flush=True)
        profile = profile_fast_path(next(i for i in inputs if i.key == "fb_nt"), workdir) if args.profile else None
    targets = check_targets(runs, inputs)
    notes = [f"{r.input.label} / {r.path}: {r.skipped}" for r in runs if r.skipped]
    notes.append(f"wall s = median of {repeat} run(s), each in a fresh process; peak RSS = max VmHWM of those processes")
    if env["load_average"][0] > 0.5:
        notes.append(f"the machine was busy (1-min load {env['load_average'][0]:.1f} on {os.cpu_count()} CPUs at the start): "
                     "wall times are pessimistic, CPU times less affected")
    if workers > 1:
        notes.append(f"fast parallel: {workers} processes for files of {MIN_BYTES >> 20} MiB and up (smaller ones are read by one); "
                     "its cpu s and peak RSS are the main process's only (workers run under a forkserver)")
    if args.quick:
        notes.append("--quick: inputs are subsampled, so the targets are only indicative")
    render(runs, targets, notes)
    if profile:
        print("\ncProfile, fast path on FB15k-237 N-Triples (top functions by own time):\n" + profile)
    document = {
        **env,
        "load_average_at_end": os.getloadavg(),
        "options": {"quick": args.quick, "repeat": repeat, "workers": workers, "with_slow": args.with_slow, "skip_slow": args.skip_slow,
                    "datasets": str(datasets), "sizes": asdict(sizes)},
        "inputs": [asdict(inp) for inp in inputs],
        "runs": [run.to_dict() for run in runs],
        "ratios_fast_over_plain_rdflib": ratios(runs),  # by wall_s and by cpu_s
        "targets": targets,
        "notes": notes,
        "profile": profile,
        "total_seconds": time.perf_counter() - started,
    }
    output = args.output or RESULTS / ("ingest-quick.json" if args.quick else "ingest.json")
    write_json(output, document)
    print(f"\nresults: {output}  (total {document['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
