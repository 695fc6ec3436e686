"""`graph_only`: the graph alone: one vector per row's graph -> head.

The text is read only when the node features need it (`node_features="type"`: text-graph nodes are known by the
sentences they appear in, so node and edge inputs come from the text encoder's states of those sentences); with
`"learned"` node features the model has no text encoder at all.
"""

from __future__ import annotations

from kgreason.data.batch import KGQABatch

from .base import Features, FusionConfig, FusionModel, graph_vector_size


class GraphOnlyModel(FusionModel):
    """graph vector [G, 2 Hg] (attention pool ⊕ query-target state, see `GraphSide`) or [G, Hg] -> head."""

    name = "graph_only"

    @classmethod
    def needs_text(cls, config: FusionConfig) -> bool:
        return config.node_features == "type"

    @classmethod
    def features_size(cls, config: FusionConfig, *, text_hidden_size: int | None) -> int:
        return graph_vector_size(config)

    def features(self, batch: KGQABatch) -> Features:
        states = None
        if self.text_encoder is not None and self.config.edge_text == "sentence":
            states = self.sentence_states(batch)
        elif self.text_encoder is not None:
            states = self.text_encoder(batch.input_ids, batch.attention_mask,
                                       token_type_ids=batch.token_type_ids).last_hidden_state
        return self.graph(batch, states)
