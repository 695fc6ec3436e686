import json

import pytest

from kgreason.kg import KnowledgeGraph
from kgreason.kg.sparql import QueryError


@pytest.fixture
def conceptnet_like():
    return KnowledgeGraph.from_triples([("hockey", "IsA", "sport"), ("play on ice", "UsedFor", "hockey"), ("chess", "IsA", "game")])


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_select_on_names(conceptnet_like, engine):
    result = conceptnet_like.query("SELECT ?x WHERE { ?x kg:IsA kg:sport }", engine=engine)
    assert result.variables == ["x"] and result.rows == [("hockey",)]
    result = conceptnet_like.query("SELECT ?x WHERE { ?x kg:UsedFor ?y } ", engine=engine)
    assert result.rows == [("play on ice",)]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_literals_labels_and_ask(family_kg, engine):
    rows = family_kg.query("SELECT ?s ?l WHERE { ?s rdfs:label ?l } ORDER BY ?l", engine=engine).rows
    assert rows[0] == ("<http://example.org/ann>", '"Ann"')
    assert family_kg.query("ASK { ?s skos:altLabel \"Anna\"@it }", engine=engine).boolean is True
    assert family_kg.query("ASK { ?s skos:altLabel \"Nobody\" }", engine=engine).boolean is False


def test_engines_agree_on_every_row(family_kg):
    q = "SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER(!isBlank(?s) && !isBlank(?o) && ?p != <http://example.org/age>) }"
    assert sorted(family_kg.query(q).rows) == sorted(family_kg.query(q, engine="rdflib").rows)


def test_oxigraph_returns_numbers_in_canonical_form(family_kg):
    """Oxigraph stores xsd:integer as a number: "01" comes back as "1"; rdflib keeps the lexical form."""
    q = "SELECT ?age WHERE { ?s <http://example.org/age> ?age }"
    xsd_integer = "<http://www.w3.org/2001/XMLSchema#integer>"
    assert family_kg.query(q).rows == [(f'"1"^^{xsd_integer}',)]
    assert family_kg.query(q, engine="rdflib").rows == [(f'"01"^^{xsd_integer}',)]


def test_construct_and_json(conceptnet_like):
    result = conceptnet_like.query("CONSTRUCT { ?y kg:typeOf ?x } WHERE { ?x kg:IsA ?y }")
    assert sorted(result.rows) == [("game", "typeOf", "chess"), ("sport", "typeOf", "hockey")]
    payload = json.loads(conceptnet_like.query("SELECT ?x WHERE { ?x kg:IsA kg:sport }").to_json())
    assert payload["results"]["bindings"] == [{"x": {"type": "uri", "value": "urn:kgreason:hockey"}}]


def test_errors_are_query_errors(conceptnet_like):
    with pytest.raises(QueryError, match="SPARQL syntax error"):
        conceptnet_like.query("SELEC ?x")
    with pytest.raises(QueryError, match="unknown SPARQL engine"):
        conceptnet_like.query("SELECT * {}", engine="virtuoso")
