"""The fast path: Oxigraph's streaming Rust parsers (N-Triples, N-Quads, Turtle, TriG; RDF 1.2 included).

Statements are interned as Oxigraph terms into a chunk-local table (hashing a term is cheaper than making its
string), and only the distinct terms of a chunk are turned into canonical keys (`kgreason.kg.terms`), so the
result is the same graph as the rdflib path gives. Named graphs of quads are merged into the default graph.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from itertools import chain, islice
from operator import attrgetter

import numpy as np

from ..builder import EncodedChunk
from ..errors import ParseError
from ..terms import RDF_DIR_LANG_STRING, RDF_LANG_STRING, BlankNodeScope, literal_key
from .source import Source


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

    N-Triples are parsed leniently (without checking IRIs and language tags, more than twice as fast) and
    each distinct term of a chunk is checked instead; on any problem the source is parsed again strictly,
    so that errors are exactly Oxigraph's. (N-Quads are not: their graph names would go unchecked.)
    """
    lenient = format == "ntriples"
    try:
        yield from _chunks(source, format, bnodes, base_iri, chunk_size, lenient)
    except (SyntaxError, _Rejected) as err:
        if lenient:  # the strict parser's error comes first in the file (or is the same)
            err = _strict_error(source, format, base_iri) or err
        if isinstance(err, _Rejected):
            raise ParseError(str(err), path=source.location) from None
        line = None if err.lineno is None else err.lineno + first_line - 1
        raise ParseError(_clean_message(err.msg), path=source.location, line=line, column=err.offset) from None


def _chunks(
    source: Source, format: str, bnodes: BlankNodeScope, base_iri: str | None, chunk_size: int, lenient: bool
) -> Iterator[EncodedChunk]:
    """The chunks; with `lenient`, a term that the strict parser would reject raises `_Rejected`."""
    import pyoxigraph as ox

    named_type, literal_type, blank_type, triple_type = ox.NamedNode, ox.Literal, ox.BlankNode, ox.Triple

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

    checked: set[str] = set()  # keys of terms checked in earlier chunks (equal keys: equally valid)
    with source.open_binary() as stream:
        quads = ox.parse(input=stream, format=_formats()[format], base_iri=base_iri or source.base_iri, lenient=lenient)
        while True:
            index = _Interner()  # term -> local id, in order of first appearance
            terms = chain.from_iterable(map(_SPO, islice(quads, chunk_size)))  # s0, p0, o0, s1, ...: no Python loop
            ids = np.fromiter(map(index.__getitem__, terms), dtype=np.int32)
            if not len(ids):
                return
            keys = [key(term) for term in index]
            if lenient:
                if len(checked) > 1_000_000:  # bounds its memory
                    checked.clear()
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


class _Interner(dict):
    """`interner[x]`: the id of `x`, a new one (the count so far) for an unseen `x`."""

    def __missing__(self, key) -> int:
        value = self[key] = len(self)
        return value


def _strict_error(source: Source, format: str, base_iri: str | None) -> SyntaxError | None:
    """The error of a strict parse of the whole source, or None."""
    import pyoxigraph as ox

    with copy.copy(source).open_binary() as stream:  # a copy: the source's own stream (and position) stay
        try:
            for _quad in ox.parse(input=stream, format=_formats()[format], base_iri=base_iri or source.base_iri):
                pass
        except SyntaxError as err:
            return err
    return None


def _clean_message(msg: str) -> str:
    """Oxigraph prefixes messages with 'Parser error at line X column Y:' or 'Parser error between line X column
    Y and line Z column W:'; we print our own position (the start), so the prefix goes."""
    return msg.split(": ", 1)[1] if msg.startswith("Parser error ") and ": " in msg else msg
