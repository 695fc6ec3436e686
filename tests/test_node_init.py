"""Label-initialised node embeddings: PCA reduction, the cached label embeddings written once and reused, the
model's learned node embeddings overwritten, clear errors where there are none, and a run that uses them."""

from __future__ import annotations

import json

import pytest
import torch
from test_causal_run import SMALL, run_pipeline_tiny
from test_fusion import KG_NODES, make_model

from kgreason.kg import KnowledgeGraph
from kgreason.kg.errors import TaskInputError
from kgreason.pipelines.node_init import init_node_embeddings, reduce_dimensions


def test_reduce_dimensions_keeps_the_main_directions_at_unit_spread():
    torch.manual_seed(0)
    directions = torch.randn(2, 16)
    vectors = torch.randn(200, 2) @ directions * 10 + torch.randn(200, 16) * 0.01  # two strong directions, noise
    reduced = reduce_dimensions(vectors, 4)
    assert reduced.shape == (200, 4) and reduced[:, :2].std().item() > 0.5
    assert reduced[:, 2:].abs().max().item() < 0.05 * reduced[:, :2].abs().max().item()  # the noise directions
    distances = torch.cdist(vectors, vectors)
    kept = torch.cdist(reduced, reduced)
    near, far = (0, int(distances[0, 1:].argmin()) + 1), (0, int(distances[0].argmax()))
    assert kept[near] < kept[far]
    assert reduce_dimensions(torch.randn(3, 5), 8).shape == (3, 8)  # fewer vectors and dims than the width: padded


def kg_of(size: int) -> KnowledgeGraph:
    names = [f"concept {i}" for i in range(size)]
    return KnowledgeGraph.from_triples([(names[i], "causes", names[(i + 1) % size]) for i in range(size)])


def test_node_embeddings_start_from_the_cached_label_embeddings(tokenizer, tmp_path, monkeypatch):
    model = make_model("late", "rgcn", tokenizer, kind="kg")
    kg = kg_of(KG_NODES)
    before = model.graph.node_features.embedding.weight.clone()
    vectors = init_node_embeddings(model, kg, tokenizer, cache_dir=tmp_path)
    after = model.graph.node_features.embedding.weight
    assert vectors.shape == (KG_NODES, model.text_encoder.hidden_size) and not torch.equal(before, after)
    assert torch.allclose(after, reduce_dimensions(vectors, after.size(1)))
    assert len(list(tmp_path.glob("label-embeddings-*.safetensors"))) == 1
    assert model.text_encoder.training  # left as it was

    monkeypatch.setattr(model.text_encoder, "forward", lambda *a, **k: pytest.fail("the cache was not used"))
    again = init_node_embeddings(model, kg, tokenizer, cache_dir=tmp_path)
    assert torch.equal(again, vectors)


def test_node_init_says_where_it_does_not_apply(tokenizer, tmp_path):
    with pytest.raises(ValueError, match="needs a model with a text encoder and learned node embeddings"):
        init_node_embeddings(make_model("lm_only", "rgcn", tokenizer, kind="kg"), kg_of(KG_NODES), tokenizer,
                             cache_dir=tmp_path)
    with pytest.raises(ValueError, match="10 node embeddings but the KG 4 entities"):
        init_node_embeddings(make_model("late", "rgcn", tokenizer, kind="kg"), kg_of(4), tokenizer, cache_dir=tmp_path)


def test_a_causal_run_with_label_initialised_nodes(tokenizer, tmp_path):
    result = run_pipeline_tiny("ecare", "generated", tmp_path / "run", tokenizer, node_init="label")
    assert json.loads(result.results_file.read_text())["node_init"] == "label"
    assert len(list((tmp_path / "run" / "cache").glob("label-embeddings-*.safetensors"))) == 1
    assert result.tests["test"]["n"] == SMALL["test_size"]
    with pytest.raises(TaskInputError, match="needs a background KG; clutrr builds its graphs from the text"):
        run_pipeline_tiny("clutrr", "generated", tmp_path / "clutrr", tokenizer, node_init="label")
    assert not (tmp_path / "clutrr").exists()  # refused before any data was generated or preprocessed
    with pytest.raises(TaskInputError, match="node_init='pca'"):
        run_pipeline_tiny("ecare", "generated", tmp_path / "bad", tokenizer, node_init="pca")
