"""Models that join a text encoder and a graph encoder, resolved by name.

    from kgreason.fusion import FusionConfig, build_model
    model = build_model(FusionConfig(fusion="late", graph_encoder="rgcn", num_relations=len(relations),
                                     num_labels=len(labels)))       # text encoder: all-MiniLM-L6-v2
    output = model(batch)                                           # ModelOutput: logits, loss, importances

| name | what |
|---|---|
| `lm_only` | pooled text -> head (the baseline) |
| `graph_only` | pooled graph -> head (text only for text-graph node features) |
| `late` | pooled text ⊕ pooled graph -> MLP -> head |
| `interaction` | GreaseLM-style: [CLS] and the pooled graph exchange in the top N transformer layers |

The model modules import torch, transformers and torch_geometric; this module imports them only when a model is
built or loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from kgreason.encoders.text import TextEncoder

    from .base import FusionConfig, FusionModel

FUSION_MODELS: dict[str, str] = {  # name -> "module:class", imported on use
    "lm_only": "lm_only:LMOnlyModel",
    "graph_only": "graph_only:GraphOnlyModel",
    "late": "late:LateFusionModel",
    "interaction": "interaction:InteractionFusionModel",
}

__all__ = ["FUSION_MODELS", "FusionConfig", "FusionModel", "ModelOutput", "build_model", "model_class"]


def model_class(name: str) -> type[FusionModel]:
    """The class of the registered fusion model `name`."""
    if name not in FUSION_MODELS:
        raise ValueError(f"unknown fusion model {name!r}; choose one of {sorted(FUSION_MODELS)}")
    module, _, class_name = FUSION_MODELS[name].partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), class_name)


def build_model(config: FusionConfig, *, text_encoder: TextEncoder | None = None) -> nn.Module:
    """A new `config.fusion` model. Without `text_encoder`, one is loaded from `config.text_encoder` (None: the
    default all-MiniLM-L6-v2, local files only) when the model reads text."""
    model_type = model_class(config.fusion)
    if text_encoder is None and model_type.needs_text(config):
        from kgreason.encoders.text import TextEncoder

        text_encoder = TextEncoder.from_pretrained(config.text_encoder, freeze=config.text_freeze,
                                                   lora=config.text_lora)
    return model_type(config, text_encoder=text_encoder)


def __getattr__(name: str):
    """`FusionConfig`, `FusionModel` and `ModelOutput` from `.base`, imported on first use."""
    if name in {"FusionConfig", "FusionModel", "ModelOutput"}:
        return getattr(importlib.import_module(f"{__name__}.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
