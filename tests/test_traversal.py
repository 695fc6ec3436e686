"""Traversal: the CSR adjacency, neighbours, k-hop subgraphs and shortest paths (checked against networkx)."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kgreason.kg.graph import KnowledgeGraph
from kgreason.kg.traversal import Path, Subgraph, adjacency, k_hop_subgraph, neighbours, shortest_paths


def ids(kg, *names):
    return [kg.entities.id(n) for n in names]


@pytest.fixture
def chain():
    return KnowledgeGraph.from_triples([("a", "r", "b"), ("b", "r", "c"), ("c", "r", "d"), ("d", "r", "e")])


@pytest.fixture
def star():
    # hub -> s1..s3, s4 -> hub, and s1 is tied to hub twice (two relations); ids follow first appearance,
    # so s4 (listed first) gets a lower id than s1
    return KnowledgeGraph.from_triples(
        [("s4", "r", "hub"), ("hub", "r", "s1"), ("hub", "q", "s1"), ("hub", "r", "s2"), ("hub", "r", "s3")]
    )


@pytest.fixture
def family():
    # two routes of length 2 from ann to carl: via bob (one edge backwards) and via dan
    return KnowledgeGraph.from_triples(
        [
            ("ann", "mother_of", "bob"),
            ("carl", "father_of", "bob"),
            ("ann", "likes", "dan"),
            ("dan", "knows", "carl"),
            ("carl", "knows", "eve"),
            ("zed", "knows", "yan"),  # a separate component
        ]
    )


def check_subgraph(kg: KnowledgeGraph, sg: Subgraph) -> None:
    """Local indices, relation ids and triple rows agree, and the subgraph is induced."""
    assert sg.edge_index.dtype == np.int64 and sg.edge_index.shape == (2, len(sg.triple_index))
    assert len(set(sg.node_ids.tolist())) == sg.num_nodes
    rows = kg.triples[sg.triple_index]
    assert sg.node_ids[sg.edge_index[0]].tolist() == rows[:, 0].tolist()
    assert sg.node_ids[sg.edge_index[1]].tolist() == rows[:, 2].tolist()
    assert sg.edge_type.tolist() == rows[:, 1].tolist()
    inside = set(sg.node_ids.tolist())
    induced = [i for i, (h, _, t) in enumerate(kg.triples.tolist()) if h in inside and t in inside]
    assert sg.triple_index.tolist() == induced


# --- adjacency and neighbours ----------------------------------------------------------------------------


def test_adjacency_is_built_once_and_cached(star):
    adj = adjacency(star)
    assert star._adjacency is adj and adjacency(star) is adj
    assert adj.degree.sum() == 2 * star.num_triples
    assert adj.degree[star.entities.id("hub")] == 5
    shortest_paths(star, [0], [1])
    assert star._adjacency is adj


def test_neighbours_in_each_direction(star):
    hub, s1, s2, s3, s4 = ids(star, "hub", "s1", "s2", "s3", "s4")
    r, q = star.relations.id("r"), star.relations.id("q")
    both = neighbours(star, hub)
    assert both.dtype == np.int64 and both.shape == (5, 3)
    out = sorted(map(tuple, neighbours(star, hub, direction="out").tolist()))
    assert out == sorted([(s1, r, 1), (s1, q, 1), (s2, r, 1), (s3, r, 1)])
    assert neighbours(star, hub, direction="in").tolist() == [[s4, r, -1]]
    assert sorted(map(tuple, both.tolist())) == sorted(out + [(s4, r, -1)])
    assert both[:, 0].tolist() == sorted(both[:, 0].tolist())  # sorted by neighbour
    assert neighbours(star, s2).tolist() == [[hub, r, -1]]
    assert neighbours(star, s2, direction="out").shape == (0, 3)
    assert star.neighbours(hub, direction="in").tolist() == [[s4, r, -1]]  # the KnowledgeGraph method


def test_neighbours_self_loop_appears_both_ways():
    kg = KnowledgeGraph.from_triples([("a", "r", "a")])
    assert neighbours(kg, 0).tolist() == [[0, 0, 1], [0, 0, -1]]


def test_neighbours_bad_arguments(star):
    with pytest.raises(ValueError, match=r"allowed ids are 0\.\.4"):
        neighbours(star, 5)
    with pytest.raises(ValueError, match="allowed ids"):
        neighbours(star, -1)
    with pytest.raises(ValueError, match="integer entity id"):
        neighbours(star, "hub")
    with pytest.raises(ValueError, match="'both', 'out', 'in'"):
        neighbours(star, 0, direction="up")


# --- k-hop subgraphs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "nodes", "hops"),
    [(0, ["c"], [0]), (1, ["c", "b", "d"], [0, 1, 1]), (2, ["c", "a", "b", "d", "e"], [0, 2, 1, 1, 2])],
)
def test_k_hop_on_a_chain(chain, k, nodes, hops):
    sg = k_hop_subgraph(chain, ids(chain, "c"), k)
    # seeds first, then by hop, within a hop by id
    expected = sorted(zip(hops, ids(chain, *nodes)), key=lambda p: (p[0], p[1] if p[0] else -1))
    assert list(zip(sg.hop.tolist(), sg.node_ids.tolist())) == expected
    assert sg.num_edges == {0: 0, 1: 2, 2: 4}[k] and sg.num_seeds == 1
    assert sg.seed_index.tolist() == [0] and not sg.truncated
    check_subgraph(chain, sg)


def test_k_hop_seeds_keep_their_order_and_duplicates_map_to_one_node(chain):
    e, a = ids(chain, "e", "a")
    sg = chain.k_hop_subgraph([e, a, e], 1)
    assert sg.node_ids[:2].tolist() == [e, a] and sg.hop[:2].tolist() == [0, 0]
    assert sg.seed_index.tolist() == [0, 1, 0] and sg.num_nodes == 4
    check_subgraph(chain, sg)


def test_k_hop_on_a_star(star):
    hub, s1, s2, s3, s4 = ids(star, "hub", "s1", "s2", "s3", "s4")
    one = k_hop_subgraph(star, [s2], 1)
    assert one.node_ids.tolist() == [s2, hub] and one.num_edges == 1
    two = k_hop_subgraph(star, [s2], 2)
    assert two.node_ids.tolist() == [s2, hub, *sorted([s1, s3, s4])]
    assert two.hop.tolist() == [0, 1, 2, 2, 2] and two.num_edges == 5  # both hub-s1 triples included
    check_subgraph(star, two)
    assert k_hop_subgraph(star, [hub], 5).num_nodes == 5  # stops when nothing new is reached


def test_k_hop_max_nodes_prefers_well_connected_then_low_ids(star):
    hub, s1, s2, s3, s4 = ids(star, "hub", "s1", "s2", "s3", "s4")
    sg = k_hop_subgraph(star, [hub], 1, max_nodes=3)
    # s1 has two edges into {hub}; the rest tie at one edge, lowest id wins
    assert sg.node_ids.tolist() == [hub, *sorted([s1, min(s2, s3, s4)])]
    assert sg.truncated and sg.hop.tolist() == [0, 1, 1]
    assert k_hop_subgraph(star, [hub], 1, max_nodes=2).node_ids.tolist() == [hub, s1]  # even though s4 < s1
    assert s4 < s1
    check_subgraph(star, sg)
    again = k_hop_subgraph(star, [hub], 1, max_nodes=3)
    assert again.node_ids.tolist() == sg.node_ids.tolist() and again.triple_index.tolist() == sg.triple_index.tolist()
    # the cap is spent before hop 2: hop 1 wholly kept, hop 2 cut
    full = k_hop_subgraph(star, [s2], 2, max_nodes=3)
    assert full.node_ids.tolist()[:2] == [s2, hub] and full.num_nodes == 3 and full.truncated
    assert not k_hop_subgraph(star, [hub], 1, max_nodes=5).truncated


def test_k_hop_max_nodes_keeps_the_first_seeds(chain):
    e, a, c = ids(chain, "e", "a", "c")
    sg = k_hop_subgraph(chain, [e, a, c], 2, max_nodes=2)
    assert sg.node_ids.tolist() == [e, a] and sg.hop.tolist() == [0, 0] and sg.truncated
    assert sg.seed_index.tolist() == [0, 1, -1] and sg.num_edges == 0
    exact = k_hop_subgraph(chain, [e, a], 1, max_nodes=2)
    assert exact.node_ids.tolist() == [e, a] and exact.truncated  # neighbours existed but no room
    assert k_hop_subgraph(chain, [e], 1, max_nodes=0).num_nodes == 0


def test_k_hop_empty_seeds_and_bad_ids(chain):
    sg = k_hop_subgraph(chain, [], 2)
    assert sg.num_nodes == 0 and sg.edge_index.shape == (2, 0) and sg.node_ids.dtype == np.int64
    assert k_hop_subgraph(chain, np.array([], dtype=np.int64), 1).num_edges == 0
    with pytest.raises(ValueError, match=r"node_ids contains 99.*0\.\.4"):
        k_hop_subgraph(chain, [0, 99], 1)
    with pytest.raises(ValueError, match="integer entity ids"):
        k_hop_subgraph(chain, [0.5], 1)
    with pytest.raises(ValueError, match="k must be >= 0"):
        k_hop_subgraph(chain, [0], -1)


# --- shortest paths --------------------------------------------------------------------------------------


def test_two_equal_routes_are_both_returned_with_directions(family):
    ann, bob, carl, dan = ids(family, "ann", "bob", "carl", "dan")
    paths = shortest_paths(family, [ann], [carl])
    assert [p.nodes for p in paths] == sorted([[ann, bob, carl], [ann, dan, carl]])
    via_bob = next(p for p in paths if p.nodes[1] == bob)
    assert via_bob.directions == [1, -1] and len(via_bob) == 2
    assert via_bob.relations == [family.relations.id("mother_of"), family.relations.id("father_of")]
    assert family.triples[via_bob.triple_index].tolist() == [[ann, 0, bob], [carl, 1, bob]]
    assert via_bob.describe(family) == "ann —mother_of→ bob ←father_of— carl"
    via_dan = next(p for p in paths if p.nodes[1] == dan)
    assert via_dan.directions == [1, 1] and via_dan.describe(family) == "ann —likes→ dan —knows→ carl"
    back = shortest_paths(family, [carl], [ann])  # edges work both ways
    assert sorted(p.nodes for p in back) == sorted([[carl, bob, ann], [carl, dan, ann]])
    assert next(p for p in back if p.nodes[1] == bob).directions == [1, -1]


def test_shortest_paths_max_length_limit_and_order(family):
    ann, bob, carl, eve, zed = ids(family, "ann", "bob", "carl", "eve", "zed")
    assert shortest_paths(family, [ann], [eve], max_length=2) == []
    assert [len(p) for p in shortest_paths(family, [ann], [eve], max_length=3)] == [3, 3]
    many = shortest_paths(family, [ann], [bob, carl, eve])
    assert [len(p) for p in many] == [1, 2, 2, 3, 3]
    keys = [(len(p), p.nodes) for p in many]
    assert keys == sorted(keys)
    assert shortest_paths(family, [ann], [bob, carl, eve], limit=2) == many[:2]
    assert shortest_paths(family, [ann], [carl], limit=0) == []
    assert shortest_paths(family, [ann], [zed]) == []
    assert shortest_paths(family, [], [carl]) == [] and shortest_paths(family, [ann], []) == []


def test_shortest_paths_source_that_is_a_target_and_multi_source(family):
    ann, bob, carl = ids(family, "ann", "bob", "carl")
    paths = shortest_paths(family, [ann, carl], [carl, bob])
    assert paths[0] == Path([carl]) and len(paths[0]) == 0 and paths[0].describe(family) == "carl"
    # bob is one edge from each source; paths never go through another source
    assert sorted(p.nodes for p in paths[1:]) == [[ann, bob], [carl, bob]]


def test_parallel_triples_are_distinct_paths(star):
    hub, s1 = ids(star, "hub", "s1")
    paths = shortest_paths(star, [s1], [hub])
    assert [p.nodes for p in paths] == [[s1, hub], [s1, hub]]
    assert sorted(p.relations[0] for p in paths) == sorted([star.relations.id("r"), star.relations.id("q")])
    assert all(p.directions == [-1] for p in paths)


def test_shortest_paths_bad_arguments(family):
    with pytest.raises(ValueError, match="targets contains 42"):
        shortest_paths(family, [0], [42])
    with pytest.raises(ValueError, match="max_length must be >= 0"):
        shortest_paths(family, [0], [1], max_length=-1)


# --- property: lengths agree with networkx ---------------------------------------------------------------

edges = st.lists(
    st.tuples(st.integers(0, 9), st.sampled_from(["p", "q"]), st.integers(0, 9)), min_size=1, max_size=25
)


def _graph_and_undirected(edges) -> tuple[KnowledgeGraph, nx.Graph]:
    """The graph of `edges` (ids e0..e9) and its undirected networkx twin over entity ids."""
    kg = KnowledgeGraph.from_triples([(f"e{h}", r, f"e{t}") for h, r, t in edges])
    undirected = nx.Graph()
    undirected.add_nodes_from(range(kg.num_entities))
    undirected.add_edges_from((h, t) for h, _, t in kg.triples.tolist())
    return kg, undirected


@settings(max_examples=60, deadline=None)
@given(edges=edges, data=st.data())
def test_shortest_path_lengths_match_networkx(edges, data):
    kg, undirected = _graph_and_undirected(edges)
    n = kg.num_entities
    sources = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3, unique=True))
    target = data.draw(st.integers(0, n - 1))
    max_length = data.draw(st.integers(0, 5))

    paths = shortest_paths(kg, sources, [target], max_length=max_length, limit=None)
    lengths = [nx.shortest_path_length(undirected, s, target) for s in sources if nx.has_path(undirected, s, target)]
    best = min(lengths, default=None)
    if best is None or best > max_length:
        assert paths == []
        return
    assert paths and {len(p) for p in paths} == {best}
    # every path is a real walk over its triples, from a nearest source, with no node twice
    for p in paths:
        assert p.nodes[0] in sources and p.nodes[-1] == target and len(set(p.nodes)) == len(p.nodes)
        for i, (tri, d) in enumerate(zip(p.triple_index, p.directions)):
            h, r, t = kg.triples[tri].tolist()
            assert r == p.relations[i] and ((h, t) if d == 1 else (t, h)) == (p.nodes[i], p.nodes[i + 1])
    # node sequences are exactly networkx's shortest paths from the nearest sources
    expected = {
        tuple(seq)
        for s in sources
        if nx.has_path(undirected, s, target) and nx.shortest_path_length(undirected, s, target) == best
        for seq in nx.all_shortest_paths(undirected, s, target)
        if not set(seq[1:]) & set(sources)
    }
    assert {tuple(p.nodes) for p in paths} == expected
    assert [(len(p), p.nodes) for p in paths] == sorted((len(p), p.nodes) for p in paths)
    # limit cuts the same sorted list
    assert shortest_paths(kg, sources, [target], max_length=max_length, limit=2) == paths[:2]
    # the graph's own networkx view agrees
    view = kg.to_networkx().to_undirected()
    keys = kg.entities.keys
    assert nx.shortest_path_length(view, keys[paths[0].nodes[0]], keys[target]) == best


@settings(max_examples=40, deadline=None)
@given(edges=edges, data=st.data())
def test_k_hop_matches_networkx_distances(edges, data):
    kg, undirected = _graph_and_undirected(edges)
    seeds = data.draw(st.lists(st.integers(0, kg.num_entities - 1), min_size=1, max_size=3, unique=True))
    k = data.draw(st.integers(0, 3))
    expected = nx.multi_source_dijkstra_path_length(undirected, set(seeds), cutoff=k)
    sg = k_hop_subgraph(kg, seeds, k)
    assert dict(zip(sg.node_ids.tolist(), sg.hop.tolist())) == expected
    assert sg.node_ids[: len(seeds)].tolist() == seeds and sg.hop.tolist() == sorted(sg.hop.tolist())
    check_subgraph(kg, sg)
    cap = data.draw(st.integers(0, kg.num_entities))
    capped = k_hop_subgraph(kg, seeds, k, max_nodes=cap)
    assert capped.num_nodes == min(cap, sg.num_nodes) and capped.truncated == (cap < sg.num_nodes)
    assert set(capped.node_ids.tolist()) <= set(sg.node_ids.tolist())
    assert capped.node_ids[: min(cap, len(seeds))].tolist() == seeds[:cap]
    check_subgraph(kg, capped)
