"""`lm_only`: the baseline every result is compared with: the text encoder's pooled states -> head; no graph."""

from __future__ import annotations

from kgreason.data.batch import KGQABatch

from .base import Features, FusionConfig, FusionModel


class LMOnlyModel(FusionModel):
    """pooled text [R, Ht] (masked mean of the last states) -> head. The batch's graph is ignored."""

    name = "lm_only"
    uses_graph = False

    @classmethod
    def features_size(cls, config: FusionConfig, *, text_hidden_size: int | None) -> int:
        return text_hidden_size

    def features(self, batch: KGQABatch) -> Features:
        text = self.text_encoder(batch.input_ids, batch.attention_mask, token_type_ids=batch.token_type_ids)
        return Features(text.pooled)
