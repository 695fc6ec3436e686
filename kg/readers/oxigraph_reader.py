"""The fast path: Oxigraph's streaming Rust parsers (N-Triples, N-Quads, Turtle, TriG; RDF 1.2 included).

Statements arrive one at a time and are turned into canonical keys (`kgreason.kg.terms`), so the result is
the same graph as the rdflib path gives. Named graphs of quads are merged into the default graph.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import ParseError
from ..terms import BlankNodeScope, literal_key
from .source import Source

Chunk = tuple[list[str], list[str], list[str], None]


def _formats() -> dict:
    import pyoxigraph as ox

    return {
        "ntriples": ox.RdfFormat.N_TRIPLES,
        "nquads": ox.RdfFormat.N_QUADS,
        "turtle": ox.RdfFormat.TURTLE,
        "trig": ox.RdfFormat.TRIG,
    }


def read_oxigraph(
    source: Source, *, format: str, bnodes: BlankNodeScope, base_iri: str | None = None, chunk_size: int = 100_000
) -> Iterator[Chunk]:
    """Yield chunks of `(heads, relations, tails, None)` keys parsed by Oxigraph."""
    import pyoxigraph as ox

    literal_type, blank_type, triple_type = ox.Literal, ox.BlankNode, ox.Triple

    def key(term) -> str:
        kind = type(term)
        if kind is literal_type:
            lang = term.language
            return literal_key(term.value, language=lang, direction=term.direction if lang else None, datatype=term.datatype.value)
        if kind is blank_type:
            return bnodes.key(term.value)
        if kind is triple_type:
            return f"<<( {key(term.subject)} {key(term.predicate)} {key(term.object)} )>>"
        return str(term)  # NamedNode: "<iri>"

    heads: list[str] = []
    rels: list[str] = []
    tails: list[str] = []
    stream = source.open_binary()
    try:
        parser = ox.parse(input=stream, format=_formats()[format], base_iri=base_iri or source.base_iri)
        for quad in parser:
            s, o = quad.subject, quad.object
            heads.append(str(s) if type(s) is ox.NamedNode else key(s))
            rels.append(str(quad.predicate))
            tails.append(str(o) if type(o) is ox.NamedNode else key(o))
            if len(heads) >= chunk_size:
                yield heads, rels, tails, None
                heads, rels, tails = [], [], []
    except SyntaxError as err:
        raise ParseError(_clean_message(err.msg), path=source.location, line=err.lineno, column=err.offset) from None
    finally:
        stream.close()
    if heads:
        yield heads, rels, tails, None


def _clean_message(msg: str) -> str:
    """Oxigraph prefixes messages with 'Parser error at line X between columns Y and Z:'; we print our own."""
    return msg.split(": ", 1)[1] if msg.startswith("Parser error at") and ": " in msg else msg
