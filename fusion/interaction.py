"""`interaction`: GreaseLM-style fusion (Zhang et al., 2022): text and graph exchange in the top N layers.

    embed -> transformer layers 1 .. L-N (text alone)
    node inputs x from NodeFeatures (+ the sentence states at layer L-N, text graphs)
    for each of the last N layers:
        hidden = transformer layer(hidden)
        h = graph encoder(x, edge_attr = this layer's sentence states)       # all `graph_layers` rounds
        interaction token = hidden[:, 0] ([CLS]); interaction node = attention pool of h (one per graph)
        [token', node'] = [token, node] + MLP([token ⊕ node])                 # the exchange
        hidden[:, 0] = token'; x = h + (node' - node) broadcast to the graph's nodes
    head over [CLS] ⊕ graph vector (attention pool ⊕ query-target state, or the target state alone)

Choices: the interaction node is the pooled graph rather than an extra virtual node (no new relation type, and
a graph without nodes still has one: the learned `no_graph` vector); the whole graph encoder (one set of
weights, shared by the N fusion layers) runs once per fusion layer rather than one GNN layer per transformer
layer, because the composition encoder restarts from its query node on every call and needs all its rounds to
follow a chain. The edge importance is the mean over the N calls; each fusion layer has its own exchange MLP.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from kgreason.data.batch import KGQABatch
from kgreason.encoders.text import TextEncoder

from .base import Features, FusionConfig, FusionModel, graph_vector_size, mlp


class Exchange(nn.Module):
    """token: [R, Ht], node: [R, Hg] -> both plus their part of MLP([token ⊕ node])."""

    def __init__(self, text_hidden: int, graph_hidden: int, *, width: int, dropout: float) -> None:
        super().__init__()
        self.text_hidden = text_hidden
        self.mix = mlp(text_hidden + graph_hidden, width, text_hidden + graph_hidden, dropout=dropout)

    def forward(self, token: Tensor, node: Tensor) -> tuple[Tensor, Tensor]:
        update = self.mix(torch.cat([token, node], dim=-1))
        return token + update[:, : self.text_hidden], node + update[:, self.text_hidden :]


class InteractionFusionModel(FusionModel):
    """The top `config.interaction_layers` transformer layers exchange with the graph (see the module docstring)."""

    name = "interaction"

    def __init__(self, config: FusionConfig, *, text_encoder: TextEncoder | None = None) -> None:
        super().__init__(config, text_encoder=text_encoder)
        num_layers = self.text_encoder.num_layers
        if not 1 <= config.interaction_layers <= num_layers:
            raise ValueError(f"FusionConfig.interaction_layers={config.interaction_layers}: the text encoder has "
                             f"{num_layers} layers; use 1..{num_layers}")
        text_hidden = self.text_encoder.hidden_size
        self.exchanges = nn.ModuleList(
            Exchange(text_hidden, config.graph_hidden_size, width=config.fusion_hidden_size or text_hidden,
                     dropout=config.dropout)
            for _ in range(config.interaction_layers)
        )

    @classmethod
    def features_size(cls, config: FusionConfig, *, text_hidden_size: int | None) -> int:
        return text_hidden_size + graph_vector_size(config)

    def features(self, batch: KGQABatch) -> Features:
        text, graph = self.text_encoder, self.graph
        hidden = text.embed(batch.input_ids, batch.token_type_ids)  # [R, T, Ht]
        mask = text.extended_attention_mask(batch.attention_mask, hidden.dtype)
        first_fused = text.num_layers - len(self.exchanges)
        for layer in text.layers[:first_fused]:
            hidden = layer(hidden, mask)
        x = graph.node_inputs(batch, graph.edge_inputs(batch, hidden))  # [N, Hg]
        edge_importance = 0
        for layer, exchange in zip(text.layers[first_fused:], self.exchanges):
            hidden = layer(hidden, mask)
            h, importance = graph.encode(batch, x, graph.edge_inputs(batch, hidden))
            edge_importance = edge_importance + importance / len(self.exchanges)
            node, _ = graph.pool(batch, h)
            token, new_node = exchange(hidden[:, 0], node)
            hidden = torch.cat([token.unsqueeze(1), hidden[:, 1:]], dim=1)
            x = h + (new_node - node)[batch.batch]
        vector, node_importance = graph.readout(batch, x)
        return Features(torch.cat([hidden[:, 0], vector], dim=-1), edge_importance, node_importance)
