"""The syntax of entity, relation and literal keys: one string per RDF term, in canonical N-Triples form.

Every vocabulary of a `KnowledgeGraph` maps such strings to ids. The first characters tell the kind:

| kind        | key                                   | from                                        |
|-------------|---------------------------------------|---------------------------------------------|
| IRI         | `<http://example.org/alice>`          | RDF files; `<...>` cells of TSV/CSV files   |
| blank node  | `_:s3_b0`                             | RDF files (label prefixed by a file scope)  |
| triple term | `<<( <s> <p> <o> )>>`                 | RDF 1.2 files                               |
| literal     | `"chat"@fr`, `"1"^^<...#integer>`     | RDF files; `"..."` cells of TSV/CSV files   |
| name        | `hockey`, `/m/08966`, `IsA`           | TSV/CSV/ConceptNet cells, networkx nodes    |

Literals are written in the canonical form of RDF 1.2 N-Triples (C14N): `"` `\\` and line breaks escaped,
control characters as `\\uXXXX`, language tags lower-cased, `xsd:string` left implicit. Two readers that
agree on the graph therefore agree on every key. Names are mapped to the IRIs `urn:kgreason:<percent-encoded
name>` when a graph is viewed as RDF (`name_to_iri`), and back (`iri_to_name`).
"""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from .errors import TermError

if TYPE_CHECKING:  # pragma: no cover
    import rdflib

NAME_NAMESPACE = "urn:kgreason:"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
RDF_DIR_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#dirLangString"


class Kind(enum.IntEnum):
    IRI = 0
    BLANK = 1
    TRIPLE = 2
    LITERAL = 3
    NAME = 4


def kind_of(key: str) -> Kind:
    """The kind of term a key denotes, read from its first characters."""
    if key.startswith("<<("):
        return Kind.TRIPLE
    if key.startswith("<"):
        return Kind.IRI
    if key.startswith("_:"):
        return Kind.BLANK
    if key.startswith('"'):
        return Kind.LITERAL
    return Kind.NAME


# --- literals --------------------------------------------------------------------------------------------

_ECHAR = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
_C14N_ESCAPES = {c: f"\\u{c:04X}" for c in [*range(0x20), 0x7F, 0xFFFE, 0xFFFF]}
_C14N_ESCAPES.update(_ECHAR)
_UNESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|([btnrf\"'\\]))")
_SIMPLE_UNESCAPE = {"b": "\b", "t": "\t", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_LITERAL = re.compile(r'^"((?:[^"\\]|\\.)*)"(?:@([A-Za-z]+(?:-[A-Za-z0-9]+)*?)(?:--(ltr|rtl))?|\^\^<([^>]*)>)?$', re.S)


def escape_string(text: str) -> str:
    """Escape a lexical form as canonical N-Triples does (no surrounding quotes)."""
    return text.translate(_C14N_ESCAPES)


def unescape_string(text: str) -> str:
    """Undo N-Triples string escapes (`\\n`, `\\"`, `\\u00E9`, `\\U0001F600`)."""

    def repl(m: re.Match[str]) -> str:
        hex_code = m.group(1) or m.group(2)
        return chr(int(hex_code, 16)) if hex_code else _SIMPLE_UNESCAPE[m.group(3)]

    return _UNESCAPE.sub(repl, text) if "\\" in text else text


def literal_key(
    lexical: str, *, language: str | None = None, datatype: str | None = None, direction: str | None = None
) -> str:
    """Canonical key of a literal: `"lexical"`, `"lexical"@lang[--dir]` or `"lexical"^^<datatype>`."""
    body = f'"{escape_string(lexical)}"'
    if language:
        return f"{body}@{language.lower()}--{direction}" if direction else f"{body}@{language.lower()}"
    if datatype and datatype != XSD_STRING:
        return f"{body}^^<{datatype}>"
    return body


def parse_literal(key: str) -> tuple[str, str | None, str | None, str | None]:
    """Split an N-Triples literal into `(lexical, language, direction, datatype)`; escapes are undone."""
    m = _LITERAL.match(key)
    if m is None:
        raise TermError(f"not an N-Triples literal: {key[:80]!r}", hint='write literals as "text", "text"@en or "1"^^<datatype-IRI>')
    lexical, language, direction, datatype = m.groups()
    return unescape_string(lexical), language, direction, datatype


# --- IRIs and names --------------------------------------------------------------------------------------

# RFC 3987 forbids these in an IRI; the W3C suites check that parsers reject them.
_IRI_FORBIDDEN = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_IRI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def iri_problem(iri: str) -> str | None:
    """Why `iri` is not a valid absolute IRI, or None when it is."""
    if not _IRI_SCHEME.match(iri):
        return "an IRI must be absolute (start with a scheme such as 'http:')"
    bad = _IRI_FORBIDDEN.search(iri)
    if bad:
        return f"character {bad.group()!r} is not allowed in an IRI"
    for m in re.finditer(r"%(.{0,2})", iri):
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", m.group(1)):
            return "'%' must be followed by two hex digits in an IRI"
    return None


def name_to_iri(name: str) -> str:
    """The IRI that stands for a plain name in RDF views: `urn:kgreason:` + percent-encoded name."""
    return NAME_NAMESPACE + quote(name, safe="")


def iri_to_name(iri: str) -> str | None:
    """Inverse of `name_to_iri`; None for IRIs outside the name namespace."""
    return unquote(iri[len(NAME_NAMESPACE) :]) if iri.startswith(NAME_NAMESPACE) else None


def local_name(key: str) -> str:
    """A short display form: a name itself, an IRI's part after the last '#' or '/', a literal's text."""
    kind = kind_of(key)
    if kind is Kind.NAME:
        return key
    if kind is Kind.IRI:
        iri = key[1:-1]
        return iri_to_name(iri) or re.split(r"[#/:]", iri.rstrip("/#"))[-1] or iri
    if kind is Kind.LITERAL:
        return parse_literal(key)[0]
    return key


def cell_key(cell: str) -> str:
    """Key of one cell of a TSV/CSV triple file: N-Triples terms are read as terms, anything else is a name.

    Raises TermError for a cell that starts like a term but is not one (e.g. `<no scheme>`).
    """
    first = cell[:1]
    if first != "<" and first != '"':  # a name (or `_:label`, named by the caller): the common case, at once
        return cell
    if cell.startswith("<") and cell.endswith(">") and not cell.startswith("<<"):
        problem = iri_problem(cell[1:-1])
        if problem:
            raise TermError(f"{cell[:80]!r} looks like an IRI but {problem}", hint="write a full IRI such as <http://example.org/x>, or a plain name without angle brackets")
        return cell
    if cell.startswith('"'):
        lexical, language, direction, datatype = parse_literal(cell)
        return literal_key(lexical, language=language, datatype=datatype, direction=direction)
    return cell


class BlankNodeScope:
    """Blank-node labels of one input: relabelled `_:{prefix}b{n}` in order of first appearance.

    Blank nodes of different files must stay distinct (RDF semantics), and the same file must give the same
    keys on every run, whatever labels a parser invents. With `prefix=None` labels are kept as they are.
    """

    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix
        self._labels: dict[str, str] = {}

    def key(self, label: str) -> str:
        if self.prefix is None:
            return f"_:{label}"
        key = self._labels.get(label)
        if key is None:
            key = self._labels[label] = f"_:{self.prefix}b{len(self._labels)}"
        return key


# --- rdflib terms ----------------------------------------------------------------------------------------


def key_from_rdflib(term: rdflib.term.Node, bnodes: BlankNodeScope) -> str:
    """Key of an rdflib term; blank nodes are named by `bnodes`."""
    from rdflib import BNode, Literal, URIRef

    if isinstance(term, Literal):
        datatype = str(term.datatype) if term.datatype is not None else None
        direction = getattr(term, "dir", None)
        return literal_key(str(term), language=term.language, datatype=datatype, direction=direction)
    if isinstance(term, URIRef):
        name = iri_to_name(str(term))
        return name if name is not None and kind_of(name) is Kind.NAME else f"<{term}>"
    if isinstance(term, BNode):
        return bnodes.key(str(term))
    raise TermError(f"rdflib term of type {type(term).__name__} is not supported: {term!r}")


def key_to_rdflib(key: str) -> rdflib.term.Node:
    """The rdflib term for a key (names become `urn:kgreason:` IRIs). Triple terms have no rdflib form."""
    from rdflib import BNode, Literal, URIRef

    kind = kind_of(key)
    if kind is Kind.IRI:
        return URIRef(key[1:-1])
    if kind is Kind.NAME:
        return URIRef(name_to_iri(key))
    if kind is Kind.BLANK:
        return BNode(key[2:])
    if kind is Kind.LITERAL:
        lexical, language, _direction, datatype = parse_literal(key)
        if language:
            return Literal(lexical, lang=language)
        return Literal(lexical, datatype=URIRef(datatype) if datatype else None, normalize=False)
    raise TermError(
        f"RDF 1.2 triple term {key[:80]!r} cannot be represented in rdflib",
        hint="use to_rdflib(triple_terms='skip'), or query the store with SPARQL (engine='oxigraph'), which supports RDF 1.2",
    )
