"""The fast path: Oxigraph's streaming Rust parsers (N-Triples, N-Quads, Turtle, TriG; RDF 1.2 included).

Statements are interned as Oxigraph terms into a chunk-local table (hashing a term is cheaper than making its
string), and only the distinct terms of a chunk are turned into canonical keys (`kgreason.kg.terms`), so the
result is the same graph as the rdflib path gives. Named graphs of quads are merged into the default graph.
N-Triples blocks of plain IRI lines skip the parser (`kgreason.kg.readers.plain_ntriples`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from functools import partial
from itertools import chain, islice
from operator import attrgetter

import numpy as np

from ..builder import EncodedChunk, Interner
from ..errors import ParseError
from ..terms import RDF_DIR_LANG_STRING, RDF_LANG_STRING, BlankNodeScope, literal_key
from .plain_ntriples import encode_plain_block
from .source import Source, line_breaks


def _formats() -> dict:
    import pyoxigraph as ox

    return {
        "ntriples": ox.RdfFormat.N_TRIPLES,
        "nquads": ox.RdfFormat.N_QUADS,
        "turtle": ox.RdfFormat.TURTLE,
        "trig": ox.RdfFormat.TRIG,
    }


def read_oxigraph(
    source: Source,
    *,
    format: str,
    bnodes: BlankNodeScope,
    base_iri: str | None = None,
    chunk_size: int = 100_000,
    first_line: int = 1,
) -> Iterator[EncodedChunk]:
    """Yield the statements parsed by Oxigraph as chunks of at most `chunk_size` rows.

    `first_line` is the line number of the source's first line (not 1 when it starts inside a file).

    N-Triples are read in blocks of whole lines. A block of plain lines (`<s> <p> <o> .`, IRIs only) is
    split into tokens without a parser (`kgreason.kg.readers.plain_ntriples`); any other block is parsed
    leniently (without checking IRIs and language tags, more than twice as fast) and each distinct term is
    checked instead; on any problem the block is parsed again strictly, so that errors are exactly
    Oxigraph's. (N-Quads are parsed strictly: their graph names would go unchecked.)
    """
    base = base_iri or source.base_iri
    if format != "ntriples":
        yield from _parsed(source.open_binary, source.location, format, bnodes, base, chunk_size, first_line)
        return
    checked: set[str] = set()  # keys of terms found valid in earlier chunks (equal keys: equally valid)
    line = first_line  # of the block's first line
    with source.open_binary() as stream:
        for block in _line_blocks(stream):
            if len(checked) > 1_000_000:  # bounds its memory
                checked.clear()
            chunks = encode_plain_block(block, chunk_size, checked)
            if chunks is not None:
                breaks = sum(map(len, chunks))  # a plain line is one triple
            else:
                chunks = _parsed(partial(io.BytesIO, block), source.location, format, bnodes, base, chunk_size, line, checked)
                breaks = line_breaks(block)
            yield from chunks
            line += breaks


BLOCK_BYTES = 16 << 20  # N-Triples are read in blocks of whole lines of about this size


def _line_blocks(stream: io.BufferedIOBase) -> Iterator[bytes]:
    """The stream in blocks of whole lines (the last may end without '\\n')."""
    while block := stream.read(BLOCK_BYTES):
        if not block.endswith(b"\n"):
            block += stream.readline()  # the rest of the block's last line
        yield block


def _parsed(
    open_stream: Callable[[], io.BufferedIOBase],
    location: str,
    format: str,
    bnodes: BlankNodeScope,
    base_iri: str,
    chunk_size: int,
    first_line: int,
    checked: set[str] | None = None,
) -> Iterator[EncodedChunk]:
    """The chunks Oxigraph parses from `open_stream()`; leniently (checking each new term) when `checked` is a set.

    Errors are raised as `ParseError` with the line in the file (the stream's first line is `first_line`).
    """
    try:
        yield from _chunks(open_stream, format, bnodes, base_iri, chunk_size, checked)
    except (SyntaxError, _Rejected) as err:
        if checked is not None:  # the strict parser's error comes first in the stream (or is the same)
            err = _strict_error(open_stream, format, base_iri) or err
        if isinstance(err, _Rejected):
            raise ParseError(str(err), path=location) from None
        line = None if err.lineno is None else err.lineno + first_line - 1
        raise ParseError(_clean_message(err.msg), path=location, line=line, column=err.offset) from None


def _chunks(
    open_stream: Callable[[], io.BufferedIOBase],
    format: str,
    bnodes: BlankNodeScope,
    base_iri: str,
    chunk_size: int,
    checked: set[str] | None,
) -> Iterator[EncodedChunk]:
    """The chunks; with a `checked` set, the parse is lenient and a term that the strict parser would reject
    raises `_Rejected` (the keys of the terms found valid go into `checked`)."""
    import pyoxigraph as ox

    named_type, literal_type, blank_type, triple_type = ox.NamedNode, ox.Literal, ox.BlankNode, ox.Triple
    lenient = checked is not None

    def key(term) -> str:
        kind = type(term)
        if kind is named_type:
            return str(term)  # "<iri>"
        if kind is literal_type:
            lang = term.language
            return literal_key(term.value, language=lang, direction=term.direction if lang else None, datatype=term.datatype.value)
        if kind is blank_type:
            return bnodes.key(term.value)
        if kind is triple_type:
            return f"<<( {key(term.subject)} {key(term.predicate)} {key(term.object)} )>>"
        raise TypeError(f"unexpected Oxigraph term {term!r}")

    def check(term) -> None:
        """What a lenient parse leaves out: ValueError where the strict parser would fail."""
        kind = type(term)
        if kind is named_type:
            named_type(term.value)  # the IRI check of the strict parser
        elif kind is literal_type:
            if term.language:
                literal_type("", language=term.language)  # the language tag check
            elif term.datatype.value in (RDF_LANG_STRING, RDF_DIR_LANG_STRING):
                raise ValueError("a literal without a language tag cannot have this datatype")
            else:
                named_type(term.datatype.value)
        elif kind is triple_type:
            for part in (term.subject, term.predicate, term.object):
                check(part)

    with open_stream() as stream:
        quads = ox.parse(input=stream, format=_formats()[format], base_iri=base_iri, lenient=lenient)
        while True:
            index = Interner()  # term -> local id, in order of first appearance
            terms = chain.from_iterable(map(_SPO, islice(quads, chunk_size)))  # s0, p0, o0, s1, ...: no Python loop
            ids = np.fromiter(map(index.__getitem__, terms), dtype=np.int32)
            if not len(ids):
                return
            keys = [key(term) for term in index]
            if lenient:
                for k, term in zip(keys, index):
                    if k not in checked:
                        try:
                            check(term)
                        except ValueError as err:
                            raise _Rejected(err) from None
                        checked.add(k)
            yield EncodedChunk(keys, ids.reshape(-1, 3))


_SPO = attrgetter("subject", "predicate", "object")


class _Rejected(Exception):
    """A term that a strict parse would reject."""


def _strict_error(open_stream: Callable[[], io.BufferedIOBase], format: str, base_iri: str) -> SyntaxError | None:
    """The error of a strict parse of the whole stream, or None."""
    import pyoxigraph as ox

    with open_stream() as stream:
        try:
            for _quad in ox.parse(input=stream, format=_formats()[format], base_iri=base_iri):
                pass
        except SyntaxError as err:
            return err
    return None


def _clean_message(msg: str) -> str:
    """Oxigraph prefixes messages with 'Parser error at line X column Y:' or 'Parser error between line X column
    Y and line Z column W:'; we print our own position (the start), so the prefix goes."""
    return msg.split(": ", 1)[1] if msg.startswith("Parser error ") and ": " in msg else msg
