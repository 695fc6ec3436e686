"""Link-prediction pre-training: decoder scores, exact filtered ranks, learning a tiny KG, save/load."""

from __future__ import annotations

import pytest
import torch

from kgreason.encoders.graph import build_graph_encoder
from kgreason.encoders.link_prediction import (
    DECODERS,
    LinkPredictionModel,
    filtered_ranks,
    ranking_metrics,
    train_link_prediction,
)


def lives_in_kg() -> torch.Tensor:
    """12 people (0-11) living in 4 cities (12-15, relation 0) and working for 3 firms (16-18, relation 1)."""
    people = torch.arange(12)
    lives = torch.stack([people, torch.zeros(12, dtype=torch.long), 12 + people % 4], dim=1)
    works = torch.stack([people, torch.ones(12, dtype=torch.long), 16 + people % 3], dim=1)
    return torch.cat([lives, works])


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_scores_have_one_column_per_entity_and_agree_with_score(decoder):
    torch.manual_seed(0)
    model = LinkPredictionModel(None, decoder, num_entities=7, num_relations=3, hidden_size=8)
    states = model.entity_states(None)
    heads, relations = torch.tensor([0, 4, 6]), torch.tensor([0, 5, 2])
    scores = model(heads, relations, states=states)
    assert scores.shape == (3, 7)
    tails = torch.tensor([1, 1, 3])
    single = model.decoder.score(states[heads], relations, states[tails])
    torch.testing.assert_close(scores.gather(1, tails.unsqueeze(1)).squeeze(1), single)


def test_rotate_splits_its_candidates_into_chunks_without_changing_the_scores(monkeypatch):
    torch.manual_seed(0)
    model = LinkPredictionModel(None, "rotate", num_entities=9, num_relations=2, hidden_size=6)
    states = model.entity_states(None)
    whole = model(torch.tensor([0, 1]), torch.tensor([0, 3]), states=states)
    monkeypatch.setattr(type(model.decoder), "CANDIDATE_ELEMENTS", 2 * 3 * 2)  # 2 candidates per chunk
    torch.testing.assert_close(model(torch.tensor([0, 1]), torch.tensor([0, 3]), states=states), whole)


def test_filtered_ranks_on_a_hand_made_case():
    # hidden 1: entity states 1, 2, 3, 4; relation 0 and its inverse weigh 1, so score(h, r, t) = h * t
    model = LinkPredictionModel(None, "distmult", num_entities=4, num_relations=1, hidden_size=1)
    with torch.no_grad():
        model.node_features.embedding.weight.copy_(torch.tensor([[1.0], [2.0], [3.0], [4.0]]))
        model.decoder.relation.fill_(1.0)
    test = torch.tensor([[0, 0, 1]])
    # tail query (0, r, ?): scores 1, 2, 3, 4 -> the answer 1 (2) is beaten by 2 and 3;
    # head query (?, r, 1): scores 2, 4, 6, 8 -> the answer 0 (2) is beaten by 1, 2 and 3.
    assert filtered_ranks(model, test, known_triples=test).tolist() == [3.0, 4.0]
    # (0, r, 3) and (2, r, 1) are true as well: they leave the rankings
    known = torch.tensor([[0, 0, 1], [0, 0, 3], [2, 0, 1]])
    assert filtered_ranks(model, test, known_triples=known).tolist() == [2.0, 3.0]
    # entity 2 moves to state 2: it ties with the tail answer (counts half) and, filtered, leaves the head ranking
    with torch.no_grad():
        model.node_features.embedding.weight[2] = 2.0
    assert filtered_ranks(model, test, known_triples=known).tolist() == [1.5, 3.0]


def test_ranking_metrics():
    metrics = ranking_metrics(torch.tensor([1.0, 2.0, 4.0, 20.0]))
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 4 + 1 / 20) / 4)
    assert metrics["mr"] == pytest.approx(6.75)
    assert (metrics["hits@1"], metrics["hits@3"], metrics["hits@10"]) == (0.25, 0.5, 0.75)


@pytest.mark.parametrize(("decoder", "encoder"), [("distmult", None), ("rotate", None), ("distmult", "rgcn")])
def test_a_tiny_kg_is_learned(decoder, encoder):
    torch.manual_seed(0)
    triples = lives_in_kg()
    graph_encoder = None if encoder is None else build_graph_encoder(encoder, hidden_size=16, num_relations=2,
                                                                     num_layers=1, dropout=0.0)
    model = LinkPredictionModel(graph_encoder, decoder, num_entities=19, num_relations=2, hidden_size=16)
    before = ranking_metrics(filtered_ranks(model, triples, known_triples=triples, graph=triples))["mrr"]
    losses = train_link_prediction(model, triples, epochs=150, batch_size=16, lr=0.02, label_smoothing=0.0)
    after = ranking_metrics(filtered_ranks(model, triples, known_triples=triples, graph=triples))["mrr"]
    assert losses[-1] < losses[0] / 5
    assert before < 0.5
    assert after > 0.95


def test_save_and_load_round_trip_and_the_encoder_moves_to_a_fresh_one(tmp_path):
    torch.manual_seed(0)
    triples = lives_in_kg()
    encoder = build_graph_encoder("rgcn", hidden_size=8, num_relations=2, num_layers=2, num_bases=2)
    model = LinkPredictionModel(encoder, "rotate", num_entities=19, num_relations=2)
    train_link_prediction(model, triples, epochs=2)
    model.save(tmp_path / "lp")
    loaded = LinkPredictionModel.load(tmp_path / "lp")
    assert loaded.config == model.config
    torch.testing.assert_close(filtered_ranks(loaded, triples, known_triples=triples, graph=triples),
                               filtered_ranks(model, triples, known_triples=triples, graph=triples))
    fresh = build_graph_encoder(**model.encoder.config)
    fresh.load_state_dict(loaded.encoder.state_dict())  # strict: the same parameters, as in a fusion model
    for name, tensor in model.encoder.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[name], tensor)


def test_errors_say_what_to_fix(tmp_path):
    encoder = build_graph_encoder("rgcn", hidden_size=8, num_relations=3)
    with pytest.raises(ValueError, match="num_relations=3 but the model has 8, 2"):
        LinkPredictionModel(encoder, "distmult", num_entities=5, num_relations=2)
    with pytest.raises(ValueError, match="unknown link-prediction decoder 'transe'"):
        LinkPredictionModel(None, "transe", num_entities=5, num_relations=2, hidden_size=8)
    model = LinkPredictionModel(None, "distmult", num_entities=5, num_relations=2, hidden_size=8)
    with pytest.raises(ValueError, match=r"entity id 7 .* outside \[0, 5\)"):
        filtered_ranks(model, torch.tensor([[0, 1, 7]]), known_triples=torch.tensor([[0, 1, 7]]))
    with pytest.raises(ValueError, match="must be int64 \\[T, 3\\]"):
        train_link_prediction(model, torch.tensor([[0, 1]]))
    with pytest.raises(FileNotFoundError, match="no link-prediction model here"):
        LinkPredictionModel.load(tmp_path)
