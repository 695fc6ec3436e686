from hypothesis import given
from hypothesis import strategies as st

import pytest

from kgreason.kg.errors import TermError
from kgreason.kg.terms import (
    BlankNodeScope,
    Kind,
    cell_key,
    escape_string,
    iri_problem,
    iri_to_name,
    key_from_rdflib,
    key_to_rdflib,
    kind_of,
    literal_key,
    local_name,
    name_to_iri,
    parse_literal,
    unescape_string,
)


@pytest.mark.parametrize(
    ("key", "kind"),
    [("<http://x/a>", Kind.IRI), ("_:b0", Kind.BLANK), ('"a"@en', Kind.LITERAL), ("<<( <a> <b> <c> )>>", Kind.TRIPLE), ("hockey", Kind.NAME), ("/m/08966", Kind.NAME)],
)
def test_kind_of(key, kind):
    assert kind_of(key) is kind


def test_literal_key_is_canonical():
    assert literal_key("a\n\"b\"\\", datatype="http://www.w3.org/2001/XMLSchema#string") == '"a\\n\\"b\\"\\\\"'
    assert literal_key("chat", language="EN-gb", direction="ltr") == '"chat"@en-gb--ltr'
    assert literal_key("01", datatype="http://www.w3.org/2001/XMLSchema#integer") == '"01"^^<http://www.w3.org/2001/XMLSchema#integer>'
    assert escape_string("\x00\x07\x08\x0b\x7f\ufffe") == "\\u0000\\u0007\\b\\u000B\\u007F\\uFFFE"


@given(st.text())
def test_escape_round_trip(text):
    assert unescape_string(escape_string(text)) == text
    assert parse_literal(literal_key(text, language="en"))[:2] == (text, "en")


def test_parse_literal_rejects_garbage():
    with pytest.raises(TermError, match="not an N-Triples literal"):
        parse_literal('"open')


@pytest.mark.parametrize("iri", ["http://example.org/a b", "no-scheme", "http://x/<y>", "http://x/%zz", "http://x/\\u00ZZ"])
def test_iri_problem_flags_invalid(iri):
    assert iri_problem(iri)


def test_iri_problem_accepts_valid():
    assert iri_problem("http://example.org/caf%C3%A9?q=1#frag") is None
    assert iri_problem("urn:isbn:0451450523") is None


@given(st.text(min_size=1))
def test_names_round_trip_through_iris(name):
    assert iri_to_name(name_to_iri(name)) == name
    assert iri_problem(name_to_iri(name)) is None


def test_cell_key():
    assert cell_key("hockey") == "hockey"
    assert cell_key("<http://x/a>") == "<http://x/a>"
    assert cell_key('"chat"@FR') == '"chat"@fr'
    with pytest.raises(TermError, match="looks like an IRI"):
        cell_key("<not an iri>")


def test_blank_node_scope_is_deterministic_and_scoped():
    a, b = BlankNodeScope("f0_"), BlankNodeScope("f1_")
    assert [a.key("x"), a.key("y"), a.key("x")] == ["_:f0_b0", "_:f0_b1", "_:f0_b0"]
    assert b.key("x") == "_:f1_b0"
    assert BlankNodeScope(None).key("x") == "_:x"


@pytest.mark.parametrize("key", ["<http://x/a>", "hockey", "_:b1", '"a"@en', '"1"^^<http://www.w3.org/2001/XMLSchema#integer>', '"line\\nbreak"'])
def test_rdflib_round_trip(key):
    assert key_from_rdflib(key_to_rdflib(key), BlankNodeScope(None)) == key


def test_triple_terms_have_no_rdflib_form():
    with pytest.raises(TermError, match="triple term"):
        key_to_rdflib("<<( <http://a> <http://b> <http://c> )>>")


def test_local_name():
    assert local_name("<http://example.org/family#ann>") == "ann"
    assert local_name("<http://example.org/family/bob>") == "bob"
    assert local_name('"text"@en') == "text"
    assert local_name(f"<{name_to_iri('play on ice')}>") == "play on ice"
