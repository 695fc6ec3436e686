"""Parallel reading of big line-based files, with exactly the result of a sequential read.

N-Triples, N-Quads, TSV and ConceptNet files hold one statement per line, so an uncompressed file can be cut
into pieces at line starts and the pieces parsed by several processes. A piece comes back as `EncodedChunk`s
(only its distinct keys and int32 rows cross the process boundary), blank nodes still under their labels in
the file; the caller takes the chunks in file order and names blank nodes then, so keys, ids and duplicates
are those of a sequential read. This process parses pieces itself whenever the next one is not ready.

A piece that fails anywhere (a syntax error, a crashed or unstartable worker, a table row of another width)
is read again here, sequentially from its start to the end of the file, with line numbers counted from the
start of the file: errors are exactly those of a sequential read.

Workers are started with 'forkserver' where the platform has it, else 'spawn', not with 'fork' (unless
`START_METHOD` says so): forking a process that runs threads (torch, CUDA) can deadlock the child. They
hand pieces back through files in a temporary folder, not through the pool's pipe: this process would read
a pipe in small blocks from a second thread, which waits for the GIL after each block while the main thread
parses (0.6 s for 8 MB).
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..builder import EncodedChunk
from ..errors import KGError
from . import Reader, offline
from .source import Source, line_breaks

if TYPE_CHECKING:  # pragma: no cover - imported when needed: sequential reads do without them
    from concurrent.futures import Future, ProcessPoolExecutor

LINE_FORMATS = frozenset({"ntriples", "nquads", "tsv", "conceptnet"})
MIN_BYTES = 64 << 20  # smaller files are read sequentially: starting workers costs ~0.15 s
PIECE_BYTES = 16 << 20  # most bytes per piece (bounds the memory a piece takes)
MAX_WORKERS = 8
# How workers start. None: 'forkserver' where the platform has it, else 'spawn' (a worker is ready after
# ~0.15 s). 'fork' is ready at once (FB15k-237 as N-Triples then reads 1.6x faster on 2 cores) but is only
# safe while no other thread of this process can hold a lock the workers need: set it only in a process
# that does not run torch, CUDA or other threads.
START_METHOD: str | None = None


def default_workers() -> int:
    """The CPUs this process may run on, at most `MAX_WORKERS`."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cpus))


def splittable(source: Source, reader: Reader) -> bool:
    """Whether the file can be cut at line starts: a line-based format, not gzipped, UTF-8 (no multi-byte '\\n')."""
    return (
        reader.format in LINE_FORMATS
        and reader.engine in ("oxigraph", "table")
        and not source.gzipped
        and codecs.lookup(reader.encoding).name == "utf-8"
    )


@dataclass(frozen=True)
class Piece:
    """Bytes `start:end` of a file, `start` at a line start."""

    location: str
    start: int
    end: int


class _RangeSource(Source):
    """A `Source` for bytes `start:end` of a file (`end=None`: to its end); `position` counts file bytes read."""

    def __init__(self, location: str, start: int, end: int | None = None) -> None:
        super().__init__(location)
        self.start, self.end = start, end
        self._file: io.FileIO | None = None

    def open_binary(self) -> io.BufferedIOBase:
        self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed by the returned stream
        self._file.seek(self.start)
        if self.end is None:
            return io.BufferedReader(self._file, buffer_size=1 << 20)
        with self._file:
            return io.BytesIO(self._file.read(self.end - self.start))

    @property
    def position(self) -> int:
        return self._file.tell() - self.start if self._file is not None and not self._file.closed else 0


def cut(source: Source, count: int) -> list[Piece]:
    """At most `count` pieces of about equal size covering the file, each starting at a line start."""
    starts = [0]
    with open(source.path, "rb") as f:
        for i in range(1, count):
            at = _next_line_start(f, max(source.size * i // count, starts[-1] + 1))
            if at is None or at >= source.size:
                break
            starts.append(at)
    ends = [*starts[1:], source.size]
    return [Piece(source.location, start, end) for start, end in zip(starts, ends)]


def _next_line_start(f: io.BufferedReader, at: int) -> int | None:
    """The first offset >= `at` (> 0) that follows a '\\n', or None."""
    f.seek(at - 1)
    offset = at - 1
    while block := f.read(1 << 16):
        newline = block.find(b"\n")
        if newline >= 0:
            return offset + newline + 1
        offset += len(block)
    return None


def lines_before(path: str | os.PathLike, offset: int) -> int:
    """Line breaks in the first `offset` bytes of a file, counted as the parsers count them: '\\n', '\\r\\n', '\\r'."""
    count, last = 0, b""
    with open(path, "rb") as f:
        while offset > 0 and (block := f.read(min(offset, 1 << 24))):
            offset -= len(block)
            count += line_breaks(block)
            count -= last == b"\r" and block[:1] == b"\n"  # a '\r\n' cut in two by the blocks
            last = block[-1:]
    return count


def parse_piece(reader: Reader, piece: Piece) -> list[EncodedChunk] | None:
    """The chunks of one piece (in a worker, or here), or None when it does not parse."""
    chunks = reader.chunks(_RangeSource(piece.location, piece.start, piece.end))
    try:
        return list(offline(chunks, f"reading {piece.location}"))
    except KGError:
        return None


def start_method() -> str:
    """How worker processes start: `START_METHOD`, else 'forkserver' where the platform has it, else 'spawn'."""
    import multiprocessing

    if START_METHOD:
        return START_METHOD
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def read_parallel(source: Source, reader: Reader, workers: int) -> Iterator[tuple[EncodedChunk, int]]:
    """`(chunk, bytes of the file done)` in file order; pieces are parsed by `workers` processes, this one included.

    Chunks carry blank nodes under their marked labels, as `Reader.chunks` gives them. This process parses
    the first piece nobody has taken whenever the one it must hand on next is not ready (while the workers
    start, about 0.15 s, too).
    """
    pieces = cut(source, max(2 * workers, -(-source.size // PIECE_BYTES)))
    if workers < 2 or len(pieces) < 2:
        yield from _read_rest(source, reader, 0)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    todo = deque(range(len(pieces)))  # pieces nobody has taken yet
    queued: dict[int, Future] = {}  # pieces handed to the workers
    parsed: dict[int, list[EncodedChunk] | None] = {}  # pieces parsed here, ahead of their turn
    folder = tempfile.mkdtemp(prefix="kgreason-pieces-")
    pool = ProcessPoolExecutor(workers - 1, mp_context=multiprocessing.get_context(start_method()))
    pool_works = True  # until a worker dies or cannot start: then this process parses the rest
    weighted = None  # whether table rows have a weight, from the first chunk
    try:
        for i, piece in enumerate(pieces):
            while True:
                busy = sum(not f.done() for f in queued.values())
                for _ in range(min(2 * (workers - 1) - busy, len(todo)) if pool_works else 0):  # one waiting each
                    j = todo.popleft()
                    queued[j] = _submit(pool, _parse_to_file, reader, pieces[j], os.path.join(folder, str(j)))
                if i in parsed or (i in queued and queued[i].done()):
                    break
                if todo and (not pool_works or len(parsed) + len(queued) < 4 * workers):  # bounds memory ahead
                    j = todo.popleft()
                    parsed[j] = parse_piece(reader, pieces[j])
                else:
                    wait([f for f in queued.values() if not f.done()], return_when=FIRST_COMPLETED)
            if i in parsed:
                chunks = parsed.pop(i)
            else:
                try:
                    chunks = _load(queued.pop(i))
                except _WorkerFailed:
                    pool_works = False
                    chunks = parse_piece(reader, piece)
            if chunks and weighted is None:
                weighted = chunks[0].weights is not None
            if chunks is None or any((chunk.weights is not None) != weighted for chunk in chunks):
                pool.shutdown(wait=False, cancel_futures=True)
                # Read on as a sequential read would, which raises its error; table rows keep the first width.
                width = None if weighted is None or reader.engine != "table" else 3 + weighted
                yield from _read_rest(source, replace(reader, table_width=width), piece.start)
                return
            for chunk in chunks:
                yield chunk, piece.end
    finally:
        running = any(not f.done() for f in queued.values())
        pool.shutdown(wait=running, cancel_futures=True)  # then no worker writes into the folder any more
        shutil.rmtree(folder, ignore_errors=True)


class _WorkerFailed(Exception):
    """A worker died or could not start (e.g. a script that starts workers outside `if __name__ == "__main__"`)."""


def _submit(pool: ProcessPoolExecutor, fn, *args) -> Future:
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    try:
        return pool.submit(fn, *args)
    except BrokenProcessPool as err:  # workers that died: the piece fails, this process reads it
        future: Future = Future()
        future.set_exception(err)
        return future


def _parse_to_file(reader: Reader, piece: Piece, path: str) -> str | None:
    """In a worker: parse a piece and pickle its chunks into the file `path`; None when it does not parse."""
    chunks = parse_piece(reader, piece)
    if chunks is None:
        return None
    with open(path, "wb") as f:
        pickle.dump(chunks, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _load(future: Future) -> list[EncodedChunk] | None:
    """The chunks a worker parsed, or None when they do not parse; `_WorkerFailed` when the worker failed."""
    try:
        path = future.result()
    except Exception as err:  # noqa: BLE001 - whatever went wrong in the worker, this process parses the piece
        raise _WorkerFailed(str(err)) from err
    if path is None:
        return None
    with open(path, "rb") as f:
        chunks = pickle.load(f)
    os.remove(path)
    return chunks


def _read_rest(source: Source, reader: Reader, start: int) -> Iterator[tuple[EncodedChunk, int]]:
    """The file from byte `start` (a line start) to its end, read sequentially here."""
    rest = _RangeSource(source.location, start)
    chunks = reader.chunks(rest, first_line=lines_before(source.path, start) + 1)
    for chunk in offline(chunks, f"reading {source.location}"):
        yield chunk, start + rest.position
