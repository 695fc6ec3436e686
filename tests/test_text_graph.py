"""`TextGraph`: building, and the views a user looks at (Turtle, PyG, Graphviz)."""

import doctest

import kgreason.data.text_graph as text_graph_module
from kgreason.data.text_graph import TextGraphBuilder


def small_graph():
    text = 'Ann likes Bob. Bob is not "red".'
    b = TextGraphBuilder(text)
    first, second = b.sentence((0, 14)), b.sentence((15, 32))
    ann, bob = b.node("Ann", "person", (0, 3)), b.node("Bob", "person", (10, 13))
    b.node("Bob", "person", (15, 18))
    red = b.node('"red"', "attribute", (26, 31))
    b.edge(ann, bob, "likes", sentence=first, source_span=(0, 3), target_span=(10, 13))
    b.edge(bob, red, "is", sentence=second, source_span=(15, 18), target_span=(26, 31), negated=True)
    return b.build()


def test_builder_records_nodes_edges_and_their_spans():
    g = small_graph()
    assert g.nodes == ["Ann", "Bob", '"red"'] and g.node_mentions[1] == [(10, 13), (15, 18)]
    assert g.edge_triples() == [("Ann", "likes", "Bob"), ("Bob", "not_is", '"red"')]
    assert g.sentence_spans.tolist() == [[0, 14], [15, 32]] and g.sentence_index.tolist() == [0, 1]
    for (a, b, c, d), (s, t) in zip(g.mention_spans.tolist(), g.edges.tolist()):
        assert g.text[a:b] == g.nodes[s] and g.text[c:d] == g.nodes[t]


def test_views_keep_the_edges():
    g = small_graph()
    data = g.to_pyg()
    assert data.edge_index.tolist() == [[0, 1], [1, 2]] and data.num_nodes == 3
    assert [data.relation_names[i] for i in data.edge_type.tolist()] == ["likes", "not_is"]
    turtle = g.to_rdflib().serialize(format="turtle")
    assert "kg:Ann kg:likes kg:Bob" in turtle and "not_is" in turtle
    dot = g.to_dot()
    assert 'n2 [label="\\"red\\"", shape=box];' in dot and 'n1 -> n2 [label="is", style=dashed];' in dot


def test_docstring_examples_run():
    assert doctest.testmod(text_graph_module).failed == 0
