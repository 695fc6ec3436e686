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
Nothing here touches the network unless `allow_remote=True`: URLs are refused, and so is any socket or URL
access made by a parser (remote JSON-LD contexts, external XML entities).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..builder import GraphBuilder
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


def iter_chunks(
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
) -> Iterator[tuple[list[str], list[str], list[str], list[float] | None]]:
    """Stream a file as chunks of key columns `(heads, relations, tails, weights or None)`."""
    fmt = resolve_format(location, format)
    chosen = resolve_engine(fmt, engine)
    bnodes = BlankNodeScope(bnode_prefix)
    if is_remote(location):
        if not allow_remote:
            raise RemoteAccessError(
                f"{location} is a URL and remote access is off",
                hint="download the file and pass its path, or pass --allow-remote (allow_remote=True)",
            )
        from .rdflib_reader import read_rdflib

        yield from read_rdflib(str(location), format=fmt.name, base_iri=base_iri, bnodes=bnodes, chunk_size=chunk_size)
        return
    source = source or Source(location)
    if chosen == "table":
        from .tabular import read_table

        chunks = read_table(source, layout=fmt.name, bnodes=bnodes, chunk_size=chunk_size, encoding=encoding)
    elif chosen == "oxigraph":
        from .oxigraph_reader import read_oxigraph

        chunks = read_oxigraph(source, format=fmt.name, base_iri=base_iri, bnodes=bnodes, chunk_size=chunk_size)
    else:
        from .rdflib_reader import read_rdflib

        chunks = read_rdflib(source, format=fmt.name, base_iri=base_iri, bnodes=bnodes, chunk_size=chunk_size)
    if allow_remote:
        yield from chunks
        return
    while True:
        with no_network(f"reading {source.location}"):
            chunk = next(chunks, None)
        if chunk is None:
            return
        yield chunk


def read_into(
    builder: GraphBuilder,
    location: str | os.PathLike,
    *,
    format: str | None = None,
    engine: str = "auto",
    allow_remote: bool = False,
    bnode_prefix: str | None = "",
    base_iri: str | None = None,
    encoding: str = "utf-8",
    on_progress: Callable[[int], None] | None = None,
) -> ReadStats:
    """Read one file into `builder`; `on_progress(bytes_read_so_far)` is called after every chunk."""
    fmt = resolve_format(location, format)
    chosen = resolve_engine(fmt, engine)
    stats = ReadStats(str(location), fmt.name, chosen)
    source = None if is_remote(location) else Source(location)
    for heads, rels, tails, weights in iter_chunks(
        location, format=fmt.name, engine=chosen, allow_remote=allow_remote, bnode_prefix=bnode_prefix,
        base_iri=base_iri, encoding=encoding, source=source,
    ):
        builder.add(heads, rels, tails, weights)
        stats.statements += len(heads)
        if source is not None:
            stats.bytes = source.position
            if on_progress:
                on_progress(stats.bytes)
    return stats
