"""KnowledgeGraph construction, deduplication, labels and the rdflib / networkx / PyG views."""

import numpy as np
import pytest

from kgreason.kg import GraphBuilder, KnowledgeGraph, Vocabulary


def test_vocabulary_ids_are_stable_and_appended():
    vocab = Vocabulary(["a", "b"])
    assert vocab.ids(["b", "c", "a", "d", "c"]) == [1, 2, 0, 3, 2]
    assert list(vocab) == ["a", "b", "c", "d"] and vocab.id("d") == 3 and "c" in vocab
    with pytest.raises(KeyError, match="unknown key 'zz'"):
        vocab.id("zz")
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "a"])


def test_from_triples_dedups_and_keeps_first_weight():
    kg = KnowledgeGraph.from_triples([("a", "r", "b", 0.5), ("a", "r", "b", 0.9), ("b", "r", "c", 1.0)])
    assert kg.num_triples == 2 and kg.weights.tolist() == [0.5, 1.0]
    assert kg.triples.dtype == np.int64 and kg.triples.shape == (2, 3)


def test_builder_appends_without_changing_ids():
    base = KnowledgeGraph.from_triples([("a", "r", "b")])
    builder = GraphBuilder(base)
    builder.add(["b", "a", "c"], ["r", "r", "s"], ["c", "b", "a"])
    delta = builder.delta()
    assert delta.read == 3 and delta.duplicates == 1 and delta.entity_keys == ["c"] and delta.relation_keys == ["s"]
    kg = base.extend(delta)
    assert kg.entities.id("a") == 0 and kg.entities.id("b") == 1 and kg.entities.id("c") == 2
    assert sorted(kg.triple_keys()) == [("a", "r", "b"), ("b", "r", "c"), ("c", "s", "a")]
    assert base.num_triples == 1  # graphs are values


def test_dedup_with_ids_too_wide_to_pack():
    from kgreason.kg.builder import _new_rows

    big = 3_000_000  # (big + 1) ** 3 does not fit the packed int64 row key
    rows = np.array([[1, 0, 2], [1, 0, 2], [big - 1, 0, 0], [5, 0, 5]])
    base = np.array([[5, 0, 5]])
    assert _new_rows(rows, base, (big, 1, big)).tolist() == [0, 2]
    assert _new_rows(rows, base, (10, 1, 10)).tolist() == [0, 2]


def test_literals_become_attributes_and_labels(family_kg):
    kg = family_kg
    ann = kg.entities.id("<http://example.org/ann>")
    bob = kg.entities.id("<http://example.org/bob>")
    assert kg.label(ann) == "Ann" and sorted(kg.aliases(ann)) == ["Anna", "Annie"]
    assert kg.label(bob) == "bob"  # no rdfs:label: the IRI's local name
    assert '"01"^^<http://www.w3.org/2001/XMLSchema#integer>' in kg.literals  # lexical form kept
    assert kg.find_entities("annie") == [ann]
    assert kg.num_triples == 3 and len(kg.attributes) == 6
    assert all(not key.startswith('"') for key in kg.entities)


def test_rdflib_round_trip(family_kg):
    graph = family_kg.to_rdflib()
    assert len(graph) == family_kg.num_triples + len(family_kg.attributes)
    assert KnowledgeGraph.from_rdflib(graph).same_statements(family_kg)


def test_networkx_round_trip(family_kg):
    g = family_kg.to_networkx()
    edge = next(iter(g.edges("<http://example.org/ann>", keys=True, data=True)))
    assert edge[2] == "<http://example.org/mother_of>" and edge[3]["relation"] == edge[2]
    assert g.nodes["<http://example.org/ann>"]["label"] == "Ann"
    back = KnowledgeGraph.from_networkx(g)
    assert back.same_statements(family_kg) and back.num_entities == family_kg.num_entities


def test_from_networkx_plain_graph():
    import networkx as nx

    g = nx.Graph()
    g.add_edge("x", "y", relation="near", weight=2.0)
    g.add_node("lonely")
    kg = KnowledgeGraph.from_networkx(g)
    assert list(kg.triple_keys()) == [("x", "near", "y")] and kg.weights.tolist() == [2.0]
    assert "lonely" in kg.entities


def test_pyg_view_matches_triples(family_kg):
    data = family_kg.to_pyg()
    assert data.num_nodes == family_kg.num_entities
    assert data.edge_index.tolist() == family_kg.triples[:, [0, 2]].T.tolist()
    assert data.edge_type.tolist() == family_kg.triples[:, 1].tolist()
    assert data.edge_index.dtype.is_floating_point is False


def test_triple_terms_need_an_explicit_choice_for_rdflib(tmp_path):
    path = tmp_path / "star.nt"
    path.write_text("<http://a> <http://b> <<( <http://a> <http://b> <http://c> )>> .\n<http://a> <http://b> <http://c> .\n")
    kg = KnowledgeGraph.read(path)
    with pytest.raises(Exception, match="triple term"):
        kg.to_rdflib()
    assert len(kg.to_rdflib(triple_terms="skip")) == 1
