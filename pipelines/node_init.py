"""Learned node embeddings that start from what the nodes' labels say (`run_pipeline(..., node_init="label")`).

A background KG's nodes get a learned embedding each (`node_features="learned"`). Started at random, a node that
no training question reaches is noise at test time; started from its label's sentence embedding, it starts near
the concepts that mean the same (QA-GNN and GreaseLM feed their GNNs such concept embeddings too):

    init_node_embeddings(model, kg, tokenizer, cache_dir="runs/cache")

The text encoder's mean-pooled states of every label ("go to store") are computed once and cached on disk
(`cache_label_embeddings`: one file per encoder and label list), reduced to the graph width by PCA and scaled to
the spread of a fresh embedding; the embeddings are then trained like random ones. Only the start differs, so
the saved model has the same size and needs no cache file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from kgreason.encoders.graph import cache_label_embeddings

NODE_INITS = ("random", "label")


@torch.no_grad()
def init_node_embeddings(model: Any, kg: Any, tokenizer: Any, *, cache_dir: str | Path, batch_size: int = 256,
                         max_length: int = 16) -> Tensor:
    """Overwrite `model`'s learned node embeddings [num_nodes, Hg] with the reduced label embeddings of `kg`'s
    entities (read with `model.text_encoder`); returns the label embeddings [num_nodes, Ht]."""
    graph = getattr(model, "graph", None)
    embedding = None if graph is None else graph.node_features.embedding
    if embedding is None or model.text_encoder is None:
        raise ValueError(f"node_init='label' needs a model with a text encoder and learned node embeddings (a "
                         f"background KG); {model.config.fusion!r} with node_features="
                         f"{model.config.node_features!r} has {'none' if embedding is None else 'no text encoder'}")
    if embedding.num_embeddings != kg.num_entities:
        raise ValueError(f"the model has {embedding.num_embeddings} node embeddings but the KG {kg.num_entities} "
                         "entities: use the KG the model was built for")
    text_encoder = model.text_encoder
    device = next(text_encoder.parameters()).device
    was_training = text_encoder.training
    text_encoder.eval()

    def encode(labels: list[str]) -> Tensor:
        encoded = tokenizer(labels, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
        return text_encoder(encoded["input_ids"], encoded["attention_mask"]).pooled  # mean over the tokens

    labels = [kg.label(entity) for entity in range(kg.num_entities)]
    vectors = cache_label_embeddings(labels, encode, cache_dir, encoder_name=_encoder_name(model),
                                     batch_size=batch_size)
    text_encoder.train(was_training)
    embedding.weight.copy_(reduce_dimensions(vectors, embedding.embedding_dim).to(embedding.weight))
    return vectors


def reduce_dimensions(vectors: Tensor, width: int) -> Tensor:
    """vectors: [N, d] -> [N, width]: the top `width` principal components (zero-padded when d is smaller), each
    signed so that its largest coefficient is positive (the same result on every run), scaled to unit standard
    deviation like `nn.Embedding`'s N(0, 1) start."""
    centred = vectors.double() - vectors.double().mean(0, keepdim=True)
    rank = min(width, centred.size(1))
    _, eigenvectors = torch.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    basis = eigenvectors.flip(-1)[:, :rank]
    basis = basis * basis.gather(0, basis.abs().argmax(0, keepdim=True)).sign()
    reduced = torch.zeros(vectors.size(0), width, dtype=torch.float64)
    reduced[:, :rank] = centred @ basis
    return (reduced / reduced[:, :rank].std().clamp(min=1e-12)).float()


def _encoder_name(model: Any) -> str:
    """What the label embeddings depend on: the text encoder's architecture and a checksum of its weights."""
    text = model.text_encoder
    checksum = sum(float(p.double().sum()) for p in text.parameters())
    return f"{text.config.model_type}-{text.hidden_size}-{checksum:.6e}"

