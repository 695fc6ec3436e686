"""The rdflib path: rdflib's parser plugins for every RDF syntax it knows, with strict term checks added.

N-Triples streams through rdflib's line parser; the other syntaxes are parsed into an in-memory rdflib graph
first (rdflib has no streaming API for them). rdflib accepts some invalid input that the RDF specifications
forbid (IRIs with spaces or stray escapes, lone surrogates, bad language tags); every term is checked here
so that such input is refused instead of being stored. rdflib's literal normalisation is switched off
while parsing, so `"01"^^xsd:integer` keeps its lexical form, as in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import KGError, ParseError
from ..terms import BlankNodeScope, iri_problem, key_from_rdflib
from .source import Source

Chunk = tuple[list[str], list[str], list[str], None]

RDFLIB_FORMATS = {
    "ntriples": "nt",
    "nquads": "nquads",
    "turtle": "turtle",
    "trig": "trig",
    "rdfxml": "xml",
    "jsonld": "json-ld",
}
_LANGUAGE = re.compile(r"^[A-Za-z]+(-[A-Za-z0-9]+)*$")
_SURROGATE = re.compile("[\ud800-\udfff]")


@contextmanager
def _literal_normalisation_off():
    import rdflib

    previous = rdflib.NORMALIZE_LITERALS
    rdflib.NORMALIZE_LITERALS = False
    try:
        yield
    finally:
        rdflib.NORMALIZE_LITERALS = previous


def _check_term(term) -> str | None:
    """What is wrong with an rdflib term by the RDF specifications, or None."""
    from rdflib import Literal, URIRef

    if isinstance(term, URIRef):
        return iri_problem(str(term))
    if isinstance(term, Literal):
        if term.language and not _LANGUAGE.match(term.language):
            return f"language tag {term.language!r} is not a valid BCP 47 tag"
        if _SURROGATE.search(str(term)):
            return "the literal contains an unpaired surrogate code point"
        if term.datatype is not None:
            return iri_problem(str(term.datatype))
    return None


def _keys(triple, bnodes: BlankNodeScope, location: str) -> tuple[str, str, str]:
    for term in triple:
        problem = _check_term(term)
        if problem:
            raise ParseError(f"{problem}: {str(term)[:80]!r}", path=location)
    s, p, o = triple
    return key_from_rdflib(s, bnodes), key_from_rdflib(p, bnodes), key_from_rdflib(o, bnodes)


def read_rdflib(
    source: Source | str, *, format: str, base_iri: str | None = None, bnodes: BlankNodeScope, chunk_size: int = 100_000
) -> Iterator[Chunk]:
    """Yield chunks of `(heads, relations, tails, None)` keys parsed by rdflib.

    `source` is a local `Source`, or a URL string when remote access was allowed by the caller.
    """
    if format == "ntriples" and isinstance(source, Source):
        yield from _stream_ntriples(source, base_iri=base_iri, bnodes=bnodes, chunk_size=chunk_size)
        return
    yield from _via_graph(source, format=format, base_iri=base_iri, bnodes=bnodes, chunk_size=chunk_size)


def _via_graph(source: Source | str, *, format: str, base_iri: str | None, bnodes: BlankNodeScope, chunk_size: int) -> Iterator[Chunk]:
    import rdflib

    location = source.location if isinstance(source, Source) else source
    dataset = rdflib.Dataset(default_union=True)
    with _literal_normalisation_off():
        try:
            if isinstance(source, Source):
                with source.open_binary() as stream:
                    dataset.parse(source=stream, format=RDFLIB_FORMATS[format], publicID=base_iri or source.base_iri)
            else:
                dataset.parse(location=source, format=RDFLIB_FORMATS[format], publicID=base_iri)
        except KGError:
            raise
        except Exception as err:  # rdflib raises many exception types; each becomes a ParseError with position
            raise _as_parse_error(err, location) from None
    heads: list[str] = []
    rels: list[str] = []
    tails: list[str] = []
    for s, p, o, _g in dataset.quads((None, None, None, None)):
        h, r, t = _keys((s, p, o), bnodes, location)
        heads.append(h)
        rels.append(r)
        tails.append(t)
        if len(heads) >= chunk_size:
            yield heads, rels, tails, None
            heads, rels, tails = [], [], []
    if heads:
        yield heads, rels, tails, None


class _ChunkSink:
    """rdflib N-Triples sink that buffers key columns."""

    def __init__(self, bnodes: BlankNodeScope, location: str) -> None:
        self.bnodes, self.location = bnodes, location
        self.heads: list[str] = []
        self.rels: list[str] = []
        self.tails: list[str] = []

    def triple(self, s, p, o) -> None:
        h, r, t = _keys((s, p, o), self.bnodes, self.location)
        self.heads.append(h)
        self.rels.append(r)
        self.tails.append(t)


def _stream_ntriples(source: Source, *, base_iri: str | None, bnodes: BlankNodeScope, chunk_size: int) -> Iterator[Chunk]:
    import codecs

    from rdflib.plugins.parsers.ntriples import W3CNTriplesParser

    sink = _ChunkSink(bnodes, source.location)
    parser = W3CNTriplesParser(sink=sink)
    stream = source.open_binary()
    parser.file = codecs.getreader("utf-8")(stream)
    parser.buffer = ""
    line_no = 0
    with _literal_normalisation_off():
        try:
            while True:
                parser.line = parser.readline()
                line_no += 1
                if parser.line is None:
                    break
                try:
                    parser.parseline()
                except KGError:
                    raise
                except Exception as err:
                    raise ParseError(str(err), path=source.location, line=line_no) from None
                if len(sink.heads) >= chunk_size:
                    yield sink.heads, sink.rels, sink.tails, None
                    sink.heads, sink.rels, sink.tails = [], [], []
        except UnicodeDecodeError as err:
            raise ParseError(f"bytes are not valid UTF-8 ({err.reason})", path=source.location, line=line_no) from None
        finally:
            stream.close()
    if sink.heads:
        yield sink.heads, sink.rels, sink.tails, None


def _as_parse_error(err: Exception, location: str) -> ParseError:
    """Pull line and column out of the exception types of rdflib's parsers and of the XML/JSON libraries."""
    line = getattr(err, "lines", None) or getattr(err, "lineno", None)
    column = getattr(err, "colno", None)
    if hasattr(err, "getLineNumber"):  # xml.sax.SAXParseException
        line, column = err.getLineNumber(), err.getColumnNumber()
    message = getattr(err, "_why", None) or getattr(err, "msg", None) or str(err)
    if isinstance(err, UnicodeDecodeError):
        message = f"bytes are not valid UTF-8 ({err.reason})"
    return ParseError(str(message).strip().splitlines()[0] if str(message).strip() else type(err).__name__, path=location, line=line, column=column)
