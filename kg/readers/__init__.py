"""Readers, chosen by format name or file extension (`.gz` is looked through), and the engines behind them.

| format       | extensions                 | engines (first = default)           |
|--------------|----------------------------|-------------------------------------|
| `ntriples`   | .nt                        | oxigraph (streaming), rdflib        |
| `nquads`     | .nq                        | oxigraph (streaming), rdflib        |
| `turtle`     | .ttl                       | oxigraph (streaming), rdflib        |
| `trig`       | .trig                      | oxigraph (streaming), rdflib        |
| `rdfxml`     | .rdf .owl .xml             | rdflib                              |
| `jsonld`     | .jsonld .json              | rdflib                              |
| `tsv`        | .tsv .txt                  | table (streaming)                   |
| `csv`        | .csv                       | table (streaming)                   |
| `conceptnet` | (name only)                | table (streaming)                   |

Named graphs of N-Quads / TriG are merged into one graph (`ReadStats.named_graph_statements` counts them).
Big uncompressed N-Triples, N-Quads, TSV and ConceptNet files are parsed by several processes, with the same
result as one (`kgreason.kg.readers.parallel`).
Nothing here touches the network unless `allow_remote=True`: URLs are refused, and so is any socket or URL
access made by a parser (remote JSON-LD contexts, external XML entities).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

from ..builder import EncodedChunk, GraphBuilder
from ..errors import RemoteAccessError, UnknownFormatError
from ..terms import BlankNodeScope
from .network import no_network
from .source import Source, is_remote


@dataclass(frozen=True)
class Format:
    name: str
    extensions: tuple[str, ...]
    engines: tuple[str, ...]
    aliases: tuple[str, ...] = ()


FORMATS = {
    f.name: f
    for f in [
        Format("ntriples", (".nt",), ("oxigraph", "rdflib"), ("nt", "n-triples")),
        Format("nquads", (".nq",), ("oxigraph", "rdflib"), ("nq", "n-quads")),
        Format("turtle", (".ttl",), ("oxigraph", "rdflib"), ("ttl",)),
        Format("trig", (".trig",), ("oxigraph", "rdflib")),
        Format("rdfxml", (".rdf", ".owl", ".xml"), ("rdflib",), ("xml", "rdf/xml", "rdf-xml")),
        Format("jsonld", (".jsonld", ".json"), ("rdflib",), ("json-ld",)),
        Format("tsv", (".tsv", ".txt"), ("table",)),
        Format("csv", (".csv",), ("table",)),
        Format("conceptnet", (), ("table",)),
    ]
}
ENGINES = ("auto", "oxigraph", "rdflib", "table")


def resolve_format(location: str | os.PathLike, format: str | None = None) -> Format:
    """The `Format` named by `format`, or the one of the file's extension (after stripping `.gz`)."""
    if format:
        wanted = format.lower()
        for f in FORMATS.values():
            if wanted == f.name or wanted in f.aliases:
                return f
        raise UnknownFormatError(f"unknown format {format!r}", hint=f"use one of: {', '.join(FORMATS)}")
    name = str(location).lower()
    name = name[:-3] if name.endswith(".gz") else name
    for f in FORMATS.values():
        if any(name.endswith(ext) for ext in f.extensions):
            return f
    raise UnknownFormatError(
        f"cannot tell the format of {location} from its extension",
        hint=f"pass the format (--format / format=), one of: {', '.join(FORMATS)}",
    )


def resolve_engine(fmt: Format, engine: str = "auto") -> str:
    if engine == "auto":
        return fmt.engines[0]
    if engine not in fmt.engines:
        raise UnknownFormatError(
            f"engine {engine!r} cannot read {fmt.name}", hint=f"engines for {fmt.name}: {', '.join(fmt.engines)} (or 'auto')"
        )
    return engine


@dataclass
class ReadStats:
    """What one file gave: statements read and bytes consumed (of the file on disk)."""

    location: str
    format: str
    engine: str
    statements: int = 0
    bytes: int = 0


class _LabelsAsRead(BlankNodeScope):
    """Blank nodes under their labels in the input, marked `_:\\0label\\0` so `_name_blank_nodes` can find them.

    Readers key blank nodes with this scope; the consumer names them with the file's `BlankNodeScope`, chunk
    by chunk in input order. Chunks may thus be parsed anywhere (another process) and still get the names
    that a sequential read gives. Only keys starting with `_:` or `<<(` are looked at, and NUL is in no other
    such key: IRIs and labels cannot hold it, literals escape it.
    """

    def __init__(self) -> None:
        super().__init__(None)

    def key(self, label: str) -> str:
        return f"_:\0{label}\0"


_MARKED_LABEL = re.compile("_:\0([^\0]*)\0")


def _name_blank_nodes(chunk: EncodedChunk, scope: BlankNodeScope) -> EncodedChunk:
    """Replace the marked labels in `chunk.keys` (in place) by `scope`'s names, in order of first appearance."""
    keys = chunk.keys
    for i, key in enumerate(keys):
        if "\0" in key:
            if key.startswith("_:"):
                keys[i] = scope.key(key[3:-1])
            elif key.startswith("<<("):  # a triple term with blank nodes inside
                keys[i] = _MARKED_LABEL.sub(lambda m: scope.key(m[1]), key)
    return chunk


@dataclass(frozen=True)
class Reader:
    """How to read a local file: its resolved format and engine plus the reading options (picklable)."""

    format: str
    engine: str
    base_iri: str | None = None
    encoding: str = "utf-8"
    chunk_size: int = 100_000
    table_width: int | None = None  # columns every table row must have (None: as many as the first row)

    def chunks(self, source: Source, first_line: int = 1) -> Iterator[EncodedChunk]:
        """The statements of `source` in chunks, blank nodes still under their marked labels (`_LabelsAsRead`).

        `first_line`: the line number of the source's first line, for errors (not 1 for a piece of a file).
        """
        labels, size = _LabelsAsRead(), self.chunk_size
        if self.engine == "table":
            from .tabular import read_table

            return read_table(
                source, layout=self.format, bnodes=labels, chunk_size=size, encoding=self.encoding,
                first_line=first_line, width=self.table_width,
            )
        if self.engine == "oxigraph":
            from .oxigraph_reader import read_oxigraph

            return read_oxigraph(
                source, format=self.format, base_iri=self.base_iri, bnodes=labels, chunk_size=size,
                first_line=first_line,
            )
        from .rdflib_reader import read_rdflib

        columns = read_rdflib(source, format=self.format, base_iri=self.base_iri, bnodes=labels, chunk_size=size)
        return (EncodedChunk.from_columns(*chunk) for chunk in columns)


def iter_encoded(
    location: str | os.PathLike,
    *,
    format: str | None = None,
    engine: str = "auto",
    allow_remote: bool = False,
    bnode_prefix: str | None = "",
    base_iri: str | None = None,
    encoding: str = "utf-8",
    chunk_size: int = 100_000,
    source: Source | None = None,
    workers: int = 1,
    parallel_min_bytes: int | None = None,
) -> Iterator[tuple[EncodedChunk, int]]:
    """Stream a file as `(chunk, bytes of the file read so far)`, chunks in file order, keys final.

    Uncompressed N-Triples, N-Quads, TSV and ConceptNet files of at least `parallel_min_bytes` are parsed by
    `workers` processes (default 1: read sequentially) with the same result as a sequential read, see
    `kgreason.kg.readers.parallel` (workers are started with `multiprocessing`: a script that asks for them
    must do so under `if __name__ == "__main__":`).
    """
    from . import parallel

    fmt = resolve_format(location, format)
    reader = Reader(fmt.name, resolve_engine(fmt, engine), base_iri, encoding, chunk_size)
    bnodes = BlankNodeScope(bnode_prefix)
    if is_remote(location):
        if not allow_remote:
            raise RemoteAccessError(
                f"{location} is a URL and remote access is off",
                hint="download the file and pass its path, or pass --allow-remote (allow_remote=True)",
            )
        for chunk in replace(reader, engine="rdflib").chunks(str(location)):  # the one engine that reads URLs
            yield _name_blank_nodes(chunk, bnodes), 0
        return
    source = source or Source(location)
    min_bytes = parallel.MIN_BYTES if parallel_min_bytes is None else parallel_min_bytes
    if workers > 1 and source.size >= min_bytes and parallel.splittable(source, reader):
        chunks = parallel.read_parallel(source, reader, workers)  # guards its parsing itself (not starting workers)
    else:
        chunks = ((chunk, source.position) for chunk in reader.chunks(source))
        if not allow_remote:
            chunks = offline(chunks, f"reading {source.location}")
    for chunk, position in chunks:
        yield _name_blank_nodes(chunk, bnodes), position


T = TypeVar("T")
_END = object()


def offline(items: Iterator[T], what: str) -> Iterator[T]:
    """`items`, each one made under `no_network(what)`."""
    while True:
        with no_network(what):
            item = next(items, _END)
        if item is _END:
            return
        yield item


def iter_chunks(
    location: str | os.PathLike, **options
) -> Iterator[tuple[list[str], list[str], list[str], list[float] | None]]:
    """Stream a file as chunks of key columns `(heads, relations, tails, weights or None)`.

    Takes the options of `iter_encoded` (format, engine, allow_remote, bnode_prefix, base_iri, encoding,
    chunk_size, source, workers, parallel_min_bytes).
    """
    for chunk, _position in iter_encoded(location, **options):
        yield chunk.columns()


def read_into(
    builder: GraphBuilder,
    location: str | os.PathLike,
    *,
    on_progress: Callable[[int], None] | None = None,
    **options,
) -> ReadStats:
    """Read one file into `builder`; `on_progress(bytes_read_so_far)` is called after every chunk.

    Takes the options of `iter_encoded` (format, engine, allow_remote, bnode_prefix, base_iri, encoding,
    chunk_size, workers, parallel_min_bytes).
    """
    fmt = resolve_format(location, options.pop("format", None))
    chosen = resolve_engine(fmt, options.pop("engine", "auto"))
    stats = ReadStats(str(location), fmt.name, chosen)
    source = None if is_remote(location) else Source(location)
    for chunk, position in iter_encoded(location, format=fmt.name, engine=chosen, source=source, **options):
        builder.add_encoded(chunk)
        stats.statements += len(chunk)
        if source is not None:
            stats.bytes = position
            if on_progress:
                on_progress(stats.bytes)
    return stats
