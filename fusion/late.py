"""`late`: late fusion: pooled text ⊕ graph vector -> MLP -> head. The graph encoder sees the text only through
the node and edge inputs (text-graph sentence states; with `edge_text="sentence"` from a second pass that reads
each sentence on its own); the two halves meet once, at the end."""

from __future__ import annotations

import torch

from kgreason.data.batch import KGQABatch
from kgreason.encoders.text import TextEncoder

from .base import Features, FusionConfig, FusionModel, mlp


class LateFusionModel(FusionModel):
    """[pooled text [R, Ht] ⊕ graph vector [G, 2 Hg or Hg]] -> MLP -> [R, fusion_hidden_size] -> head."""

    name = "late"

    def __init__(self, config: FusionConfig, *, text_encoder: TextEncoder | None = None) -> None:
        super().__init__(config, text_encoder=text_encoder)
        text_hidden = self.text_encoder.hidden_size
        width = config.fusion_hidden_size or text_hidden
        self.fuse = mlp(text_hidden + self.graph.output_size, width, width, dropout=config.dropout)

    @classmethod
    def features_size(cls, config: FusionConfig, *, text_hidden_size: int | None) -> int:
        return config.fusion_hidden_size or text_hidden_size

    def features(self, batch: KGQABatch) -> Features:
        text = self.text_encoder(batch.input_ids, batch.attention_mask, token_type_ids=batch.token_type_ids)
        states = self.sentence_states(batch) if self.config.edge_text == "sentence" else text.last_hidden_state
        graph = self.graph(batch, states)
        fused = self.fuse(torch.cat([text.pooled, graph.vector], dim=-1))
        return Features(fused, graph.edge_importance, graph.node_importance)
