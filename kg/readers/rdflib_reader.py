"""The rdflib path: rdflib's parser plugins for every RDF syntax it knows, with strict term checks added.

N-Triples streams through rdflib's line parser; the other syntaxes are parsed into an in-memory rdflib graph
first (rdflib has no streaming API for them). rdflib accepts some invalid input that the RDF specifications
forbid (IRIs with spaces or stray escapes, lone surrogates, bad language tags, literals as subjects, blank
nodes as predicates); every term is checked here so that such input is refused instead of being stored. For
N-Triples the raw text of blank-node labels and string escapes is checked too (`_strict_ntriples_parser`).
rdflib's literal normalisation is switched off while parsing, so `"01"^^xsd:integer` keeps its lexical form
in N-Triples (rdflib's Turtle parser turns numbers such as `01` or `+1` into Python numbers before that).
Known gaps, which only a parser of its own could close, are listed in tests/test_w3c.py.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import KGError, ParseError
from ..terms import RDF_DIR_LANG_STRING, RDF_LANG_STRING, BlankNodeScope, iri_problem, key_from_rdflib
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
# BCP 47 well-formedness, simplified: subtags of 1 to 8 letters or digits, the first one letters only.
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
_SURROGATE = re.compile("[\ud800-\udfff]")
# N-Triples BLANK_NODE_LABEL (after `_:`) and string escapes (ECHAR, UCHAR); a lone backslash is an error.
_PN_CHARS_BASE = (
    "A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D\u2070-\u218F"
    "\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD\U00010000-\U000EFFFF"
)
_PN_CHARS = _PN_CHARS_BASE + "_\\-0-9\u00B7\u0300-\u036F\u203F-\u2040"
_BNODE_LABEL = re.compile(f"[{_PN_CHARS_BASE}_0-9]([{_PN_CHARS}.]*[{_PN_CHARS}])?")
_ESCAPE = re.compile(r"""\\(?:[tbnrf"'\\]|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})?""")


class _TermProblem(ValueError):
    """A term that rdflib accepted but the RDF specifications forbid; becomes a ParseError with position."""


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
    from rdflib import BNode, Literal, URIRef

    if not isinstance(term, (URIRef, BNode, Literal)):
        return f"{type(term).__name__} is not an RDF term (N3 syntax?)"
    if _SURROGATE.search(str(term)):
        return "the term contains an unpaired surrogate code point"
    if isinstance(term, URIRef):
        return iri_problem(str(term))
    if isinstance(term, Literal):
        if term.language and not _LANGUAGE.match(term.language):
            return f"language tag {term.language!r} is not a well-formed BCP 47 tag"
        if term.datatype is not None:
            if str(term.datatype) in (RDF_LANG_STRING, RDF_DIR_LANG_STRING):
                return f"a literal of datatype <{term.datatype}> needs a language tag"
            return iri_problem(str(term.datatype))
    return None


def _check_triple(triple) -> str | None:
    """What is wrong with an rdflib triple (its terms, or their positions), or None."""
    from rdflib import Literal, URIRef

    s, p, _o = triple
    if isinstance(s, Literal):
        return "a literal cannot be the subject of a triple"
    if not isinstance(p, URIRef):
        return "the predicate of a triple must be an IRI"
    for term in triple:
        problem = _check_term(term)
        if problem:
            return f"{problem}: {str(term)[:80]!r}"
    return None


def _keys(triple, bnodes: BlankNodeScope) -> tuple[str, str, str]:
    problem = _check_triple(triple)
    if problem:
        raise _TermProblem(problem)
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
    with _literal_normalisation_off(), warnings.catch_warnings():
        # rdflib 7.6's own Dataset.parse and JSON-LD parser use its deprecated APIs; nothing a user can act on
        warnings.filterwarnings("ignore", "Dataset.default_context is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
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
        try:
            h, r, t = _keys((s, p, o), bnodes)
        except _TermProblem as err:  # the line is not known once rdflib has built its graph
            raise ParseError(str(err), path=location) from None
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

    def __init__(self, bnodes: BlankNodeScope) -> None:
        self.bnodes = bnodes
        self.heads: list[str] = []
        self.rels: list[str] = []
        self.tails: list[str] = []

    def triple(self, s, p, o) -> None:
        h, r, t = _keys((s, p, o), self.bnodes)
        self.heads.append(h)
        self.rels.append(r)
        self.tails.append(t)


def _strict_ntriples_parser(sink: _ChunkSink):
    """rdflib's N-Triples line parser, with the raw text of blank-node labels and string escapes checked.

    rdflib accepts `_:a:b` and leaves unknown escapes such as `\\z` or `\\uWXYZ` in the string, where they can
    no longer be told from an escaped backslash; it also wants blanks between terms, which N-Triples does not.
    Its `readline` re-scans the whole buffer after every 2 KB read (minutes for a 10 MB line); ours does not.
    """
    from rdflib.plugins.parsers import ntriples as nt

    class StrictParser(nt.W3CNTriplesParser):
        _pos = 0  # start of the unread part of `buffer`

        def readline(self):
            while True:
                m = nt.r_line.match(self.buffer, self._pos)
                if m:
                    self._pos = m.end()
                    return m.group(1)
                rest = self.buffer[self._pos :]
                more = self.file.read(max(nt.bufsiz, len(rest)))  # doubling: linear time for long lines
                if not more:
                    if not rest or rest.isspace():
                        return None
                    more = "\n"  # the last line needs no line end
                self.buffer, self._pos = rest + more, 0

        def eat(self, pattern):
            return super().eat(nt.r_wspace if pattern is nt.r_wspaces else pattern)

        def nodeid(self, bnode_context=None):
            m = nt.r_nodeid.match(self.line) if self.peek("_") else None
            if m and not _BNODE_LABEL.fullmatch(m.group(1)):
                raise _TermProblem(f"{m.group()!r} is not a valid blank node label")
            return super().nodeid(bnode_context)

        def literal(self):
            m = nt.r_literal.match(self.line) if self.peek('"') else None
            if m and any(len(e.group()) == 1 for e in _ESCAPE.finditer(m.group(1))):
                raise _TermProblem(f"invalid escape sequence in string \"{m.group(1)[:80]}\"")
            return super().literal()

    return StrictParser(sink=sink)


def _stream_ntriples(source: Source, *, base_iri: str | None, bnodes: BlankNodeScope, chunk_size: int) -> Iterator[Chunk]:
    import codecs

    sink = _ChunkSink(bnodes)
    parser = _strict_ntriples_parser(sink)
    stream = source.open_binary()
    parser.file = codecs.getreader("utf-8")(stream)
    parser.buffer = ""
    line_no = 0
    with _literal_normalisation_off():
        try:
            while True:
                parser.line = raw = parser.readline()
                line_no += 1
                if raw is None:
                    break
                try:
                    parser.parseline()
                except KGError:
                    raise
                except Exception as err:  # rdflib's ParserError, our term checks, anything else: where it stopped
                    rest = parser.line or ""  # empty when the whole line was read (a check of the whole triple)
                    column = len(raw) - len(rest) + 1 if rest else None
                    raise ParseError(str(err), path=source.location, line=line_no, column=column) from None
                if len(sink.heads) >= chunk_size:
                    yield sink.heads, sink.rels, sink.tails, None
                    sink.heads, sink.rels, sink.tails = [], [], []
        except UnicodeDecodeError as err:
            line, column = source.undecodable_position() or (None, None)
            raise ParseError(f"bytes are not valid UTF-8 ({err.reason})", path=source.location, line=line, column=column) from None
        finally:
            stream.close()
    if sink.heads:
        yield sink.heads, sink.rels, sink.tails, None


def _as_parse_error(err: Exception, location: str) -> ParseError:
    """Pull line and column out of the exception types of rdflib's parsers and of the XML/JSON libraries."""
    line = getattr(err, "lineno", None)
    column = getattr(err, "colno", None)
    if hasattr(err, "getLineNumber"):  # xml.sax.SAXParseException
        line, column = err.getLineNumber(), err.getColumnNumber()
    if isinstance(getattr(err, "_str", None), bytes) and isinstance(getattr(err, "_i", None), int):
        # rdflib's Turtle/TriG BadSyntax: the whole document and the character index of the error
        before = err._str.decode("utf-8", "replace")[: err._i]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
    message = getattr(err, "_why", None) or getattr(err, "msg", None) or str(err)
    if isinstance(err, UnicodeDecodeError):
        message = f"bytes are not valid UTF-8 ({err.reason})"
    return ParseError(str(message).strip().splitlines()[0] if str(message).strip() else type(err).__name__, path=location, line=line, column=column)
