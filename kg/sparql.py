"""SPARQL 1.1 over a `KnowledgeGraph`, with Oxigraph (default, fast, RDF 1.2) or rdflib as the engine.

Oxigraph stores numeric literals as numbers, so it returns `"01"^^xsd:integer` as `"1"^^xsd:integer`; rdflib
keeps lexical forms. Names (TSV/ConceptNet entities and relations) are IRIs under `urn:kgreason:`; the prefix `kg:` is declared
for every query, with `rdf:`, `rdfs:`, `owl:`, `skos:` and `xsd:`, so `?s kg:IsA kg:sport` works on
ConceptNet. Results come back as keys (`kgreason.kg.terms`): names as plain strings, IRIs as `<...>`.

    >>> kg = KnowledgeGraph.from_triples([("hockey", "IsA", "sport")])
    >>> kg.query("SELECT ?x WHERE { ?x kg:IsA kg:sport }").rows
    [('hockey',)]
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import KGError
from .terms import NAME_NAMESPACE, BlankNodeScope, Kind, iri_to_name, key_from_rdflib, kind_of, literal_key, name_to_iri, parse_literal

if TYPE_CHECKING:  # pragma: no cover
    from .graph import KnowledgeGraph

PREFIXES = {
    "kg": NAME_NAMESPACE,
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
ENGINES = ("oxigraph", "rdflib")


class QueryError(KGError):
    """The SPARQL text could not be parsed or run."""

    code = "KG401"


@dataclass
class QueryResult:
    """SELECT: `variables` and `rows` (tuples of keys, None where unbound). ASK: `boolean`.
    CONSTRUCT / DESCRIBE: `rows` of `(subject, predicate, object)` keys, `variables` = s, p, o."""

    variables: list[str]
    rows: list[tuple[str | None, ...]]
    boolean: bool | None = None

    def to_json(self) -> str:
        """SPARQL 1.1 Query Results JSON (names written as their `urn:kgreason:` IRIs)."""
        if self.boolean is not None:
            return json.dumps({"head": {}, "boolean": self.boolean})
        bindings = [
            {var: _json_term(value) for var, value in zip(self.variables, row) if value is not None} for row in self.rows
        ]
        return json.dumps({"head": {"vars": self.variables}, "results": {"bindings": bindings}}, ensure_ascii=False)

    def to_csv(self, delimiter: str = ",") -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        if self.boolean is not None:
            writer.writerow(["boolean"])
            writer.writerow([str(self.boolean).lower()])
        else:
            writer.writerow(self.variables)
            writer.writerows(["" if v is None else v for v in row] for row in self.rows)
        return out.getvalue()


def _json_term(key: str) -> dict:
    kind = kind_of(key)
    if kind is Kind.NAME:
        return {"type": "uri", "value": name_to_iri(key)}
    if kind is Kind.IRI:
        return {"type": "uri", "value": key[1:-1]}
    if kind is Kind.BLANK:
        return {"type": "bnode", "value": key[2:]}
    if kind is Kind.LITERAL:
        lexical, language, _direction, datatype = parse_literal(key)
        term = {"type": "literal", "value": lexical}
        if language:
            term["xml:lang"] = language
        elif datatype:
            term["datatype"] = datatype
        return term
    return {"type": "triple", "value": key}


def _nt(key: str) -> str:
    """N-Triples text of a key (names as `<urn:kgreason:...>`)."""
    return f"<{name_to_iri(key)}>" if kind_of(key) is Kind.NAME else key


def to_ntriples(kg: KnowledgeGraph) -> bytes:
    """All statements of `kg` as N-Triples (RDF 1.2 when it holds triple terms)."""
    ents = [_nt(k) for k in kg.entities.keys]
    rels = [_nt(k) for k in kg.relations.keys]
    lits = kg.literals.keys
    lines = [f"{ents[h]} {rels[r]} {ents[t]} .\n" for h, r, t in kg.triples.tolist()]
    lines += [f"{ents[h]} {rels[r]} {lits[v]} .\n" for h, r, v in kg.attributes.tolist()]
    return "".join(lines).encode("utf-8")


def _oxigraph_store(kg: KnowledgeGraph):
    """An in-memory Oxigraph store of `kg`, built once per graph object and cached on it."""
    import pyoxigraph as ox

    store = kg._sparql_engines.get("oxigraph")
    if store is None:
        store = kg._sparql_engines["oxigraph"] = ox.Store()
        store.bulk_load(input=to_ntriples(kg), format=ox.RdfFormat.N_TRIPLES)
    return store


def _key_from_oxigraph(term) -> str | None:
    import pyoxigraph as ox

    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        name = iri_to_name(term.value)
        return name if name is not None and kind_of(name) is Kind.NAME else str(term)
    if isinstance(term, ox.Literal):
        return literal_key(term.value, language=term.language, datatype=term.datatype.value, direction=term.direction)
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.Triple):
        return f"<<( {_key_from_oxigraph(term.subject)} {_key_from_oxigraph(term.predicate)} {_key_from_oxigraph(term.object)} )>>"
    return str(term)


def query(kg: KnowledgeGraph, sparql: str, *, engine: str = "oxigraph") -> QueryResult:
    """Run `sparql` on `kg` with `engine` ('oxigraph' or 'rdflib'); see the module docstring."""
    if engine == "oxigraph":
        return _query_oxigraph(kg, sparql)
    if engine == "rdflib":
        return _query_rdflib(kg, sparql)
    raise QueryError(f"unknown SPARQL engine {engine!r}", hint=f"use one of: {', '.join(ENGINES)}")


def _query_oxigraph(kg: KnowledgeGraph, sparql: str) -> QueryResult:
    import pyoxigraph as ox

    try:
        result = _oxigraph_store(kg).query(sparql, prefixes=PREFIXES)
    except SyntaxError as err:
        raise QueryError(f"SPARQL syntax error: {err.msg}", hint="check the query text; prefixes kg:, rdf:, rdfs:, owl:, skos:, xsd: are predefined") from None
    except (OSError, ValueError, RuntimeError) as err:
        raise QueryError(f"SPARQL query failed: {err}") from None
    if isinstance(result, ox.QueryBoolean):
        return QueryResult([], [], boolean=bool(result))
    if isinstance(result, ox.QuerySolutions):
        variables = [v.value for v in result.variables]
        rows = [tuple(_key_from_oxigraph(solution[v]) for v in variables) for solution in result]
        return QueryResult(variables, rows)
    rows = [(_key_from_oxigraph(t.subject), _key_from_oxigraph(t.predicate), _key_from_oxigraph(t.object)) for t in result]
    return QueryResult(["subject", "predicate", "object"], rows)


def _query_rdflib(kg: KnowledgeGraph, sparql: str) -> QueryResult:
    graph = kg._sparql_engines.get("rdflib")
    if graph is None:
        graph = kg._sparql_engines["rdflib"] = kg.to_rdflib()
    try:
        result = graph.query(sparql, initNs=PREFIXES)
    except Exception as err:  # rdflib's SPARQL parser raises pyparsing exceptions of many kinds
        raise QueryError(f"SPARQL query failed: {err}", hint="check the query text; prefixes kg:, rdf:, rdfs:, owl:, skos:, xsd: are predefined") from None
    bnodes = BlankNodeScope(None)
    if result.type == "ASK":
        return QueryResult([], [], boolean=bool(result.askAnswer))
    if result.type == "SELECT":
        variables = [str(v) for v in result.vars]
        rows = [tuple(None if v is None else key_from_rdflib(v, bnodes) for v in row) for row in result]
        return QueryResult(variables, rows)
    rows = [tuple(key_from_rdflib(t, bnodes) for t in triple) for triple in result]
    return QueryResult(["subject", "predicate", "object"], rows)
