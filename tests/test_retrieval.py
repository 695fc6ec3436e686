"""Question subgraphs (kgreason.kg.retrieval) and the hub cap of k_hop_subgraph, on small hand-built graphs."""

import networkx as nx
import numpy as np
import pytest

from kgreason.kg.graph import KnowledgeGraph
from kgreason.kg.retrieval import NO_LINKED_ENTITY, PRUNED, RetrievedSubgraph, personalized_pagerank, retrieve
from kgreason.kg.traversal import induced_edges, k_hop_subgraph


def ids(kg, *names):
    return [kg.entities.id(n) for n in names]


def names(kg, node_ids):
    return [kg.entities[i] for i in np.asarray(node_ids).tolist()]


@pytest.fixture
def causal():
    """rain -> flood -> damage is the only causal route; weather is a hub-ish distractor; typed parallels."""
    return KnowledgeGraph.from_triples(
        [
            ("storm", "Causes", "rain"),
            ("rain", "Causes", "flood"),
            ("flood", "Causes", "damage"),
            ("rain", "IsA", "weather"),
            ("storm", "IsA", "weather"),
            ("sun", "IsA", "weather"),
            ("sun", "Causes", "heat"),
            ("heat", "Causes", "thirst"),
            ("flood", "RelatedTo", "damage"),  # a second, typed edge between flood and damage
            ("moon", "IsA", "rock"),  # another component
        ]
    )


def hub_graph(num_leaves: int = 100) -> KnowledgeGraph:
    """`hub` with `num_leaves` leaves (leaf i weighted i, so the heaviest are the last ones), a seed `q`
    tied to the hub, and `far` two steps behind leaf0."""
    triples = [("q", "r", "hub")] + [("hub", "r", f"leaf{i}") for i in range(num_leaves)]
    triples += [("leaf0", "r", "mid"), ("mid", "r", "far")]
    base = KnowledgeGraph.from_triples(triples)
    weights = np.ones(base.num_triples, np.float32)
    weights[1 : num_leaves + 1] = np.arange(num_leaves, dtype=np.float32)
    return KnowledgeGraph(base.entities, base.relations, base.literals, base.triples, weights=weights)


def random_graph(seed: int, num_nodes: int = 60, num_edges: int = 120) -> KnowledgeGraph:
    rng = np.random.default_rng(seed)
    heads, tails = rng.integers(num_nodes, size=(2, num_edges))
    relations = rng.integers(3, size=num_edges)
    return KnowledgeGraph.from_triples([(f"n{h}", f"r{r}", f"n{t}") for h, r, t in zip(heads, relations, tails)])


def check_consistent(kg: KnowledgeGraph, sub: RetrievedSubgraph) -> None:
    """Dtypes and shapes; local edges are the KG's triples; induced on the kept nodes; indices point at seeds."""
    assert sub.node_ids.dtype == np.int64 and sub.edge_index.dtype == np.int64 and sub.edge_type.dtype == np.int64
    assert sub.node_scores.dtype == np.float32 and sub.node_scores.shape == sub.node_ids.shape
    assert sub.edge_index.shape == (2, len(sub.edge_type)) == (2, len(sub.triple_index))
    assert len(set(sub.node_ids.tolist())) == sub.num_nodes
    rows = kg.triples[sub.triple_index]
    assert sub.node_ids[sub.edge_index[0]].tolist() == rows[:, 0].tolist()
    assert sub.node_ids[sub.edge_index[1]].tolist() == rows[:, 2].tolist()
    assert sub.edge_type.tolist() == rows[:, 1].tolist()
    inside = set(sub.node_ids.tolist())
    induced = [i for i, (h, _, t) in enumerate(kg.triples.tolist()) if h in inside and t in inside]
    assert sub.triple_index.tolist() == induced


def check_path(kg: KnowledgeGraph, path) -> None:
    """Each step is a KG triple joining consecutive nodes (either way); labels and text agree."""
    stored = set(map(tuple, kg.triples.tolist()))
    assert len(path.nodes) == len(path) + 1
    for (h, r, t), u, v, label in zip(path.triples, path.nodes, path.nodes[1:], path.labels):
        assert (h, r, t) in stored and {h, t} == {u, v}
        assert label == (kg.label(h), kg.relations[r], kg.label(t))
    assert path.text.startswith(kg.label(path.nodes[0])) and path.text.endswith(kg.label(path.nodes[-1]))


# --- seeds, budget, flags --------------------------------------------------------------------------------


def test_seeds_come_first_and_indices_point_at_them(causal):
    storm, rain, damage, heat = ids(causal, "storm", "rain", "damage", "heat")
    sub = retrieve(causal, [storm, rain, storm], [[damage], [heat, rain]])
    check_consistent(causal, sub)
    assert sub.node_ids[:4].tolist() == [storm, rain, damage, heat]
    assert sub.question_index.tolist() == [0, 1, 0]
    assert [c.tolist() for c in sub.choice_index] == [[2], [3, 1]]
    assert sub.mention_index.tolist() == [0, 1, 2, 3]
    assert sub.flags == ()  # the whole 2-hop neighbourhood fits


@pytest.mark.parametrize("score", ["ppr", "degree", "none"])
def test_max_nodes_is_respected_and_seeds_always_kept(score):
    kg = random_graph(0)
    seeds = [0, 5, 9]
    for max_nodes in (0, 2, 5, 12):
        sub = retrieve(kg, seeds[:1], [seeds[1:]], max_nodes=max_nodes, score=score)
        check_consistent(kg, sub)
        assert sub.num_nodes == max(max_nodes, len(seeds))
        assert sub.node_ids[: len(seeds)].tolist() == seeds
        assert PRUNED in sub.flags
    everything = retrieve(kg, seeds, hops=10, max_nodes=10_000, score=score)
    assert PRUNED not in everything.flags
    assert everything.num_nodes == k_hop_subgraph(kg, seeds, 10).num_nodes


def test_empty_seeds_give_an_empty_flagged_subgraph(causal):
    sub = retrieve(causal, [], [[], []])
    assert sub.num_nodes == 0 and sub.num_edges == 0 and sub.paths == []
    assert sub.flags == (NO_LINKED_ENTITY,)
    assert len(sub.choice_index) == 2 and sub.mention_index.size == 0
    assert sub.edge_index.shape == (2, 0) and sub.node_scores.dtype == np.float32


def test_only_choice_entities_still_give_a_subgraph_without_paths(causal):
    (damage,) = ids(causal, "damage")
    sub = retrieve(causal, [], [[damage]])
    assert sub.node_ids[0] == damage and sub.question_index.size == 0 and sub.paths == []
    assert NO_LINKED_ENTITY not in sub.flags


def test_bad_arguments(causal):
    with pytest.raises(ValueError, match="score must be one of"):
        retrieve(causal, [0], score="pagerank")
    with pytest.raises(ValueError, match="question_nodes contains 99"):
        retrieve(causal, [99])
    with pytest.raises(ValueError, match=r"choice_nodes\[1\] contains -1"):
        retrieve(causal, [0], [[1], [-1]])
    with pytest.raises(ValueError, match="max_nodes must be >= 0"):
        retrieve(causal, [0], max_nodes=-1)
    with pytest.raises(ValueError, match="k must be >= 0"):
        retrieve(causal, [0], hops=-1)


# --- typed edges -----------------------------------------------------------------------------------------


def test_typed_parallel_edges_are_kept(causal):
    flood, damage = ids(causal, "flood", "damage")
    sub = retrieve(causal, [flood], [[damage]], hops=0)
    assert sub.node_ids.tolist() == [flood, damage]
    assert sub.edge_index.tolist() == [[0, 0], [1, 1]]
    assert sorted(causal.relations[r] for r in sub.edge_type.tolist()) == ["Causes", "RelatedTo"]
    assert len(sub.paths) == 2 and {p.labels[0][1] for p in sub.paths} == {"Causes", "RelatedTo"}


def test_induced_edges_match_the_triples_and_refuse_repeats(causal):
    nodes = ids(causal, "damage", "flood", "rain")
    edge_index, edge_type, triple_index = induced_edges(causal, nodes)
    rows = causal.triples[triple_index]
    assert np.asarray(nodes)[edge_index[0]].tolist() == rows[:, 0].tolist()
    assert np.asarray(nodes)[edge_index[1]].tolist() == rows[:, 2].tolist()
    assert edge_type.tolist() == rows[:, 1].tolist() and len(rows) == 3
    with pytest.raises(ValueError, match="distinct"):
        induced_edges(causal, [nodes[0], nodes[0]])


# --- evidence paths --------------------------------------------------------------------------------------


def test_paths_connect_question_to_each_choice(causal):
    storm, damage, thirst, weather = ids(causal, "storm", "damage", "thirst", "weather")
    sub = retrieve(causal, [storm], [[damage], [thirst]], max_path_length=4)
    texts = {(p.choice, p.text) for p in sub.paths}
    assert (0, "storm —Causes→ rain —Causes→ flood —Causes→ damage") in texts
    assert (0, "storm —Causes→ rain —Causes→ flood —RelatedTo→ damage") in texts
    assert (1, "storm —IsA→ weather ←IsA— sun —Causes→ heat —Causes→ thirst") in texts
    for path in sub.paths:
        check_path(causal, path)
        assert set(path.nodes) <= set(sub.node_ids.tolist())  # evidence nodes are kept
    assert sub.paths[0].to_dict()["triples"][0] == list(sub.paths[0].triples[0])
    assert retrieve(causal, [storm], [[thirst]], max_path_length=3).paths == []  # too long


@pytest.mark.parametrize("seed", range(5))
def test_paths_are_real_and_shortest(seed):
    kg = random_graph(seed)
    undirected = nx.Graph([(h, t) for h, _, t in kg.triples.tolist()])
    rng = np.random.default_rng(seed)
    question = rng.choice(kg.num_entities, 2, replace=False).tolist()
    choices = [rng.choice(kg.num_entities, 2, replace=False).tolist() for _ in range(2)]
    sub = retrieve(kg, question, choices, max_paths=3, max_path_length=4)
    def distance(target):  # from the nearest question entity
        return min(
            (nx.shortest_path_length(undirected, q, target) for q in question if nx.has_path(undirected, q, target)),
            default=np.inf,
        )

    for i, choice in enumerate(choices):
        targets = set(choice) - set(question)
        nearest = min((distance(t) for t in targets if t in undirected), default=np.inf)
        found = [p for p in sub.paths if p.choice == i]
        assert bool(found) == (nearest <= 4) and len(found) <= 3
        for path in found:
            check_path(kg, path)
            assert path.nodes[0] in question and path.nodes[-1] in targets
            assert len(path) == distance(path.nodes[-1])  # the shortest way to its target
        assert [len(p) for p in found] == sorted(len(p) for p in found) and (not found or len(found[0]) == nearest)


def test_without_choices_paths_join_question_entities(causal):
    storm, damage, sun = ids(causal, "storm", "damage", "sun")
    sub = retrieve(causal, [storm, damage, sun], max_paths=2)
    assert [p.choice for p in sub.paths] == [-1, -1]
    assert [p.text for p in sub.paths] == [
        "storm —IsA→ weather ←IsA— sun",
        "storm —Causes→ rain —Causes→ flood —Causes→ damage",
    ]  # shortest first; damage and sun are 4 edges apart
    for path in sub.paths:
        check_path(causal, path)


def test_a_choice_entity_named_in_the_question_is_no_target(causal):
    rain, flood = ids(causal, "rain", "flood")
    sub = retrieve(causal, [rain], [[rain, flood]])
    assert [p.text for p in sub.paths] == ["rain —Causes→ flood"]


def test_a_path_that_does_not_fit_is_dropped_from_the_evidence(causal):
    storm, damage = ids(causal, "storm", "damage")
    sub = retrieve(causal, [storm], [[damage]], max_nodes=3)  # the path needs rain and flood: 4 nodes
    assert sub.paths == [] and sub.num_nodes == 3
    fits = retrieve(causal, [storm], [[damage]], max_nodes=4, max_paths=1)
    assert names(causal, fits.node_ids) == ["storm", "damage", "flood", "rain"]  # ranked after the seeds
    assert len(fits.paths) == 1


# --- ranking ---------------------------------------------------------------------------------------------


def test_pagerank_matches_the_closed_form():
    # a small graph with a parallel edge, a self-loop and an isolated node (3)
    edge_index = np.array([[0, 0, 1, 2, 2, 4], [1, 1, 2, 0, 2, 0]])
    n, seeds, restart = 5, np.array([0, 4]), 0.2
    scores = personalized_pagerank(edge_index, n, seeds, restart=restart, max_iterations=500, tolerance=1e-12)
    adjacency = np.zeros((n, n))
    np.add.at(adjacency, (edge_index[0], edge_index[1]), 1)
    np.add.at(adjacency, (edge_index[1], edge_index[0]), 1)
    teleport = np.zeros(n)
    teleport[seeds] = 0.5
    degree = adjacency.sum(1)
    walk = np.divide(adjacency, degree[:, None], out=np.zeros_like(adjacency), where=degree[:, None] > 0)
    walk[degree == 0] = teleport  # dangling mass goes back to the seeds
    exact = restart * np.linalg.solve(np.eye(n) - (1 - restart) * walk.T, teleport)
    assert np.allclose(scores, exact, atol=1e-6) and np.isclose(scores.sum(), 1.0)
    assert scores.dtype == np.float32 and scores[3] == 0


def test_pagerank_ranks_near_nodes_above_far_ones():
    chain = KnowledgeGraph.from_triples([(f"c{i}", "next", f"c{i + 1}") for i in range(8)])
    sub = retrieve(chain, ids(chain, "c0"), hops=6, max_nodes=100)
    score = dict(zip(names(chain, sub.node_ids), sub.node_scores.tolist()))
    beyond = [score[f"c{i}"] for i in range(1, 7)]  # (the seed itself may score below c1: c0 has one edge)
    assert beyond == sorted(beyond, reverse=True) and len(set(beyond)) == 6
    assert names(chain, sub.node_ids) == [f"c{i}" for i in range(7)]
    assert names(chain, retrieve(chain, ids(chain, "c0"), hops=6, max_nodes=3).node_ids) == ["c0", "c1", "c2"]


def test_pagerank_prefers_nodes_between_seeds(causal):
    storm, flood = ids(causal, "storm", "flood")
    sub = retrieve(causal, [storm], [[flood]], max_nodes=3, max_paths=0)
    assert names(causal, sub.node_ids) == ["storm", "flood", "rain"]  # rain touches both seeds


def test_degree_and_none_scores(causal):
    (rain,) = ids(causal, "rain")
    degree = retrieve(causal, [rain], score="degree", hops=1)
    expected = {n: 0 for n in names(causal, degree.node_ids)}
    for h, t in degree.edge_index.T.tolist():
        expected[causal.entities[degree.node_ids[h]]] += 1
        expected[causal.entities[degree.node_ids[t]]] += 1
    assert dict(zip(names(causal, degree.node_ids), degree.node_scores.tolist())) == expected
    plain = retrieve(causal, [rain], score="none", hops=2, max_nodes=4)
    assert names(causal, plain.node_ids) == ["rain", "storm", "flood", "weather"]  # hop 1 by id
    assert plain.node_scores.tolist() == [1.0] * 4


# --- hubs ------------------------------------------------------------------------------------------------


def test_fanout_cap_keeps_the_heaviest_neighbours_of_a_hub():
    kg = hub_graph(100)
    (hub,) = ids(kg, "hub")
    capped = k_hop_subgraph(kg, [hub], 1, max_fanout=5)
    assert names(kg, capped.node_ids) == ["hub", "leaf95", "leaf96", "leaf97", "leaf98", "leaf99"]
    assert capped.truncated
    assert k_hop_subgraph(kg, [hub], 1).num_nodes == 102  # 100 leaves and q
    assert not k_hop_subgraph(kg, [hub], 1, max_fanout=101).truncated


def test_fanout_cap_counts_distinct_neighbours_and_applies_at_every_hop():
    # two parallel triples to one neighbour count once; the hub met at hop 1 is capped too
    kg = KnowledgeGraph.from_triples(
        [("q", "r", "a"), ("q", "s", "a"), ("q", "r", "hub")] + [("hub", "r", f"x{i}") for i in range(10)]
    )
    q, a, hub = ids(kg, "q", "a", "hub")
    one = k_hop_subgraph(kg, [q], 1, max_fanout=2)
    assert sorted(one.node_ids.tolist()) == sorted([q, a, hub]) and not one.truncated
    two = k_hop_subgraph(kg, [q], 2, max_fanout=3)
    assert two.num_nodes == 3 + 3 and two.truncated
    with pytest.raises(ValueError, match="max_fanout must be >= 1"):
        k_hop_subgraph(kg, [q], 1, max_fanout=0)


def test_hub_cap_bounds_the_retrieved_neighbourhood_but_not_the_paths():
    kg = hub_graph(1000)
    q, far = ids(kg, "q", "far")
    sub = retrieve(kg, [q], [[far]], hops=2, max_fanout=8, max_nodes=1000, max_path_length=5)
    assert sub.num_nodes == 2 + 1 + 8 + 2  # q and far, the hub and its 8 heaviest leaves, mid and leaf0
    assert PRUNED in sub.flags
    assert [p.text for p in sub.paths] == ["q —r→ hub —r→ leaf0 —r→ mid —r→ far"]
    uncapped = retrieve(kg, [q], [[far]], hops=2, max_fanout=None, max_nodes=2000)
    assert uncapped.num_nodes == 1004  # q, far, the hub, 1000 leaves and mid (far's neighbour)
    small = retrieve(kg, [q], hops=2, max_fanout=None, max_candidates=50, max_nodes=1000)
    assert small.num_nodes == 50 and PRUNED in small.flags
