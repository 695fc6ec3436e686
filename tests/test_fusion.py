"""Fusion models on tiny generated batches, over every registered fusion x every registered graph encoder:
shapes, gradients, save / load, determinism, empty graphs, both heads, and a short overfitting run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig

from kgreason.data.batch import RelationVocabulary, collate
from kgreason.data.example import KGQAExample
from kgreason.encoders.graph import GRAPH_ENCODERS
from kgreason.encoders.text import TextEncoder
from kgreason.fusion import FUSION_MODELS, FusionConfig, FusionModel, build_model

KINSHIP = ["mother", "father", "sister"]  # relations of the text graphs; the class is the second one's index
NAMES = ["Ann", "Bob", "Carl", "Dora", "Eve", "Finn"]
KG_RELATIONS, KG_NODES = ("causes", "part_of"), 10
GRAPH_HIDDEN = 16


def kinship_examples(count: int, *, seed: int) -> list[KGQAExample]:
    """Text-graph stories "A is the r1 of B. B is the r2 of C." with the query (A, C); label = index of r2."""
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(count):
        a, b, c = rng.choice(NAMES, 3, replace=False)
        r1, r2 = rng.choice(KINSHIP, 2)
        first, second = f"{a} is the {r1} of {b}.", f"{b} is the {r2} of {c}."
        text = f"{first} {second}"
        relations = sorted({r1, r2})
        examples.append(KGQAExample(
            text=text, label=KINSHIP.index(r2),
            node_ids=np.arange(3), edge_index=np.array([[0, 1], [1, 2]]),
            edge_type=np.array([relations.index(r1), relations.index(r2)]),
            edge_char_spans=np.array([[0, len(first)], [len(first) + 1, len(text)]]),
            mention_node_index=np.arange(3),
            meta={"task": "clutrr", "graph": "text", "relations": relations, "id": f"k{i}",
                  "query": [str(a), str(c)], "query_node_index": [0, 2], "nodes": [str(a), str(b), str(c)]},
        ))
    return examples


def unlinked_story(label: int = 0) -> KGQAExample:
    return KGQAExample(text="Nobody is named here.", label=label,
                       meta={"task": "clutrr", "graph": "text", "relations": [], "query": ["X", "Y"], "id": "empty"})


def causal_examples(count: int, *, seed: int) -> list[KGQAExample]:
    """Two-choice questions over a 10-node KG; the last one links nothing."""
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(count - 1):
        node_ids = rng.choice(KG_NODES, 4, replace=False)
        examples.append(KGQAExample(
            text=f"Event {i} happened.", choices=["It rained.", "It was sunny."], label=int(rng.integers(2)),
            node_ids=node_ids, edge_index=np.array([[0, 1, 2], [1, 2, 3]]), edge_type=rng.integers(2, size=3),
            mention_node_index=np.array([0]),
            meta={"task": "causal", "id": f"c{i}", "choice_node_index": [[2], [3]]},
        ))
    examples.append(KGQAExample(text="Zzz.", choices=["Xx.", "Yy."], label=1, meta={"task": "causal", "id": "none"}))
    return examples


def text_batch(tokenizer, examples):
    return collate(examples, tokenizer=tokenizer, relations=RelationVocabulary("text", ("<unk>", *sorted(KINSHIP))))


def kg_batch(tokenizer, examples):
    return collate(examples, tokenizer=tokenizer, relations=RelationVocabulary.from_kg_relations(KG_RELATIONS))


def tiny_text_encoder(tokenizer) -> TextEncoder:
    return TextEncoder.from_config(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    ))


def make_model(fusion: str, encoder: str, tokenizer, *, kind: str = "text", seed: int = 0, **overrides):
    """A fusion model with a tiny random text encoder: kind "text" (text graphs, 3 classes) or "kg" (KG, 2 choices)."""
    torch.manual_seed(seed)
    settings = {"num_relations": 1 + len(KINSHIP), "num_labels": len(KINSHIP), "node_features": "type"}
    if kind == "kg":
        settings = {"num_relations": len(KG_RELATIONS), "multiple_choice": True, "node_features": "learned",
                    "num_nodes": KG_NODES}
    options = {**({"heads": 2} if encoder == "gatv2" else {}), **overrides.pop("graph_options", {})}
    config = FusionConfig(fusion=fusion, graph_encoder=encoder, graph_hidden_size=GRAPH_HIDDEN, graph_options=options,
                          **{**settings, **overrides})
    return build_model(config, text_encoder=tiny_text_encoder(tokenizer))


def batch_of(kind: str, tokenizer):
    if kind == "text":
        return text_batch(tokenizer, [*kinship_examples(3, seed=1), unlinked_story()])
    return kg_batch(tokenizer, causal_examples(4, seed=1))


def has_grad(module) -> bool:
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


FUSIONS, ENCODERS = sorted(FUSION_MODELS), sorted(GRAPH_ENCODERS)
every_model = pytest.mark.parametrize(("fusion", "encoder"), [(f, e) for f in FUSIONS for e in ENCODERS])


def test_every_fusion_is_registered():
    assert set(FUSION_MODELS) == {"lm_only", "graph_only", "late", "interaction"}


@pytest.mark.parametrize(("fusion", "encoder", "kind"), [  # "closure" reads relations from a query: text graphs only
    (f, e, kind) for f in FUSIONS for e in ENCODERS for kind in ("text", "kg") if (e, kind) != ("closure", "kg")])
def test_shapes_loss_and_gradients(fusion, encoder, kind, tokenizer):
    model = make_model(fusion, encoder, tokenizer, kind=kind).train()
    batch = batch_of(kind, tokenizer)
    output = model(batch)
    expected = (4, 2) if kind == "kg" else (4, len(KINSHIP))
    assert output.logits.shape == expected and torch.isfinite(output.logits).all()
    if fusion == "lm_only":
        assert output.edge_importance is None and output.node_importance is None
    else:
        assert output.edge_importance.shape == (batch.num_edges,)
        assert output.node_importance.shape == (batch.num_nodes,)
    output.loss.backward()
    if model.graph is not None:
        assert has_grad(model.graph.encoder), "no gradient reaches the graph encoder"
    if fusion in ("late", "interaction") or (fusion == "graph_only" and kind == "text"):
        assert has_grad(model.text_encoder), "no gradient reaches the text encoder"
    if fusion == "graph_only" and kind == "kg":
        assert model.text_encoder is None  # learned node features: the text is not read


@every_model
def test_save_and_load_give_the_same_logits(fusion, encoder, tokenizer, tmp_path):
    model = make_model(fusion, encoder, tokenizer).eval()
    batch = batch_of("text", tokenizer)
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "text_config.json", "model.safetensors"}
    loaded = FusionModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model) and loaded.config == model.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch).logits, model(batch).logits, rtol=0, atol=0)


def test_shared_tensors_are_saved_once_and_loaded_under_every_name(tokenizer, tmp_path):
    from safetensors.torch import load_file

    model = make_model("interaction", "rgcn", tokenizer, interaction_layers=2).eval()
    model.exchanges[1].mix = model.exchanges[0].mix  # two names, one storage: safetensors would refuse it
    model.save_pretrained(tmp_path)
    assert not any(name.startswith("exchanges.1.") for name in load_file(tmp_path / "model.safetensors"))
    batch = batch_of("text", tokenizer)
    with torch.no_grad():
        assert torch.equal(FusionModel.from_pretrained(tmp_path).eval()(batch).logits, model(batch).logits)


def test_graph_only_without_text_saves_no_text_config(tokenizer, tmp_path):
    model = make_model("graph_only", "rgcn", tokenizer, kind="kg").eval()
    model.save_pretrained(tmp_path)
    assert not (tmp_path / "text_config.json").exists()
    batch = batch_of("kg", tokenizer)
    with torch.no_grad():
        assert torch.equal(FusionModel.from_pretrained(tmp_path).eval()(batch).logits, model(batch).logits)


@every_model
def test_same_seed_same_logits(fusion, encoder, tokenizer):
    batch = batch_of("text", tokenizer)
    with torch.no_grad():
        first = make_model(fusion, encoder, tokenizer, seed=3).eval()(batch).logits
        again = make_model(fusion, encoder, tokenizer, seed=3).eval()(batch).logits
        other = make_model(fusion, encoder, tokenizer, seed=4).eval()(batch).logits
    assert torch.equal(first, again) and not torch.equal(first, other)


@every_model
@pytest.mark.parametrize("asked", [False, True])
def test_rows_without_a_graph_still_get_an_answer(fusion, encoder, asked, tokenizer):
    """Also when the rows ask about nodes and a relation their (empty) graphs lack (a FOLIO statement)."""
    model = make_model(fusion, encoder, tokenizer, query_relation=asked, query_conditioned_edges=asked).eval()
    stories = [unlinked_story(0), unlinked_story(2)]
    if asked:
        for story in stories:
            story.meta.update(query_node_index=[-1, -1], query_relation="sister")
    batch = text_batch(tokenizer, stories)
    assert batch.num_nodes == 0 and batch.num_edges == 0
    with torch.no_grad():
        output = model(batch)
    assert output.logits.shape == (2, len(KINSHIP)) and torch.isfinite(output.logits).all()
    assert torch.isfinite(output.loss)


def test_a_graph_row_does_not_change_another_rows_logits(tokenizer):
    """Rows are independent: a story's logits are the same alone and next to a story without a graph."""
    model = make_model("interaction", "composition", tokenizer).eval()
    story = kinship_examples(1, seed=5)
    with torch.no_grad():
        alone = model(text_batch(tokenizer, story)).logits
        together = model(text_batch(tokenizer, [*story, unlinked_story()])).logits
    torch.testing.assert_close(together[:1], alone, rtol=1e-5, atol=1e-5)


def test_heads_check_the_batch_kind(tokenizer):
    classifier = make_model("late", "rgcn", tokenizer)
    with pytest.raises(ValueError, match="multiple_choice=True"):
        classifier(batch_of("kg", tokenizer))
    chooser = make_model("lm_only", "rgcn", tokenizer, kind="kg")
    with pytest.raises(ValueError, match="multiple_choice=False"):
        chooser(batch_of("text", tokenizer))


def test_unknown_labels_are_ignored_by_the_loss(tokenizer):
    model = make_model("lm_only", "rgcn", tokenizer).eval()
    examples = kinship_examples(2, seed=6)
    batch = text_batch(tokenizer, examples)
    with torch.no_grad():
        full = model(batch)
        examples[1].label = -1
        partial = model(text_batch(tokenizer, examples))
        examples[0].label = -1
        none = model(text_batch(tokenizer, examples))
    expected = torch.nn.functional.cross_entropy(full.logits[:1], batch.labels[:1])
    torch.testing.assert_close(partial.loss, expected)
    assert none.loss is None


def test_config_errors_say_what_to_do(tokenizer):
    with pytest.raises(ValueError, match="num_nodes"):
        FusionConfig(node_features="learned")
    with pytest.raises(ValueError, match="unknown fusion model"):
        build_model(FusionConfig(fusion="early"))
    with pytest.raises(ValueError, match="interaction_layers=3"):
        make_model("interaction", "rgcn", tokenizer, interaction_layers=3)
    with pytest.raises(ValueError, match="factored_labels needs graph_readout='relation'.*label_factors"):
        FusionConfig(fusion="graph_only", graph_encoder="closure", graph_readout="relation", factored_labels=True)
    with pytest.raises(ValueError, match="untyped_edge_length=3: an integer ≥ 1 for the 'closure' encoder"):
        FusionConfig(graph_encoder="rgcn", untyped_edge_length=3)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_loss_falls_on_a_tiny_task(fusion, tokenizer):
    model = make_model(fusion, "rgcn", tokenizer, dropout=0.0).train()
    batch = text_batch(tokenizer, kinship_examples(8, seed=7))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = model(batch).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


def test_a_lora_text_encoder_is_rebuilt_from_the_config(tokenizer, tmp_path):
    pytest.importorskip("peft")
    lora = {"r": 4, "lora_alpha": 8}
    torch.manual_seed(0)
    encoder = TextEncoder.from_config(tiny_text_encoder(tokenizer).config, lora=lora)
    config = FusionConfig(fusion="late", num_relations=1 + len(KINSHIP), num_labels=len(KINSHIP),
                          graph_hidden_size=GRAPH_HIDDEN, text_lora=lora)
    model = build_model(config, text_encoder=encoder).eval()
    with torch.no_grad():
        for parameter in model.text_encoder.parameters():
            if parameter.requires_grad:  # the adapters (lora_B starts at zero, which would hide a lost adapter)
                parameter.normal_()
    model.save_pretrained(tmp_path)
    loaded = FusionModel.from_pretrained(tmp_path).eval()
    batch = batch_of("text", tokenizer)
    with torch.no_grad():
        assert torch.equal(loaded(batch).logits, model(batch).logits)
    assert loaded.text_encoder.num_trainable_parameters() == model.text_encoder.num_trainable_parameters()


@pytest.mark.parametrize("fusion", ["graph_only", "late", "interaction"])
def test_the_target_readout_gives_the_head_the_query_targets_state_alone(fusion, tokenizer):
    model = make_model(fusion, "composition", tokenizer, graph_readout="target").eval()
    batch = batch_of("text", tokenizer)
    assert model.graph.output_size == GRAPH_HIDDEN
    with torch.no_grad():
        h, _ = model.graph.encode(batch, model.graph.node_inputs(batch, None), None)
        vector, _ = model.graph.readout(batch, h)
    targets = batch.query_targets
    torch.testing.assert_close(vector[targets >= 0], h[targets[targets >= 0]])
    assert (vector[targets < 0] == 0).all()  # the unlinked story has no target
    assert model(batch).logits.shape == (4, len(KINSHIP))


def test_the_query_relation_is_added_to_the_query_nodes_input_alone(tokenizer):
    """`query_relation=True`: the relation asked about (`meta["query_relation"]`, by vocabulary id; -1 where an
    example names none, <unk> for a name never seen) is embedded into its query node's input, and the answer
    depends on it."""
    examples = [*kinship_examples(3, seed=1), unlinked_story()]
    for example, asked in zip(examples, ("sister", "not_sister", None)):
        if asked is not None:
            example.meta["query_relation"] = asked
    batch = text_batch(tokenizer, examples)
    vocabulary = RelationVocabulary("text", ("<unk>", *sorted(KINSHIP)))
    assert batch.query_relations.tolist() == [vocabulary.id("sister"), 0, -1, -1]
    model = make_model("interaction", "composition", tokenizer, query_relation=True).eval()
    with torch.no_grad():
        x = model.graph.node_inputs(batch, None)
        without = model.graph.node_inputs(replace(batch, query_relations=None), None)
        changed = (x != without).any(-1).nonzero().squeeze(-1)
        assert changed.tolist() == batch.query_nodes[:2].tolist()
        torch.testing.assert_close(x[changed] - without[changed], model.graph.query_relation(batch.query_relations[:2]))
        other = replace(batch, query_relations=torch.tensor([vocabulary.id("mother"), 0, -1, -1]))
        assert not torch.allclose(model(batch).logits[0], model(other).logits[0])
    assert make_model("interaction", "composition", tokenizer).graph.query_relation is None


@pytest.mark.parametrize("fusion", FUSIONS)
def test_five_choices_as_in_commonsenseqa(fusion, tokenizer):
    """A multiple-choice head takes any number of choices: five, each with its own text and its own node."""
    rng = np.random.default_rng(0)
    examples = [KGQAExample(text=f"Where would you put thing {i}?", choices=[f"place {c}" for c in range(5)],
                            label=i % 5, node_ids=rng.choice(KG_NODES, 6, replace=False),
                            edge_index=np.array([[0, 0, 0, 0, 0], [1, 2, 3, 4, 5]]), edge_type=rng.integers(2, size=5),
                            mention_node_index=np.array([0]),
                            meta={"task": "causal", "id": f"q{i}", "choice_node_index": [[1], [2], [3], [4], [5]]})
                for i in range(3)]
    batch = kg_batch(tokenizer, examples)
    model = make_model(fusion, "rgcn", tokenizer, kind="kg")
    output = model(batch)
    output.loss.backward()
    assert batch.num_choices == 5 and output.logits.shape == (3, 5) and torch.isfinite(output.loss)


def asking_batch(tokenizer):
    """Three kinship stories asking "sister", "not_sister" (<unk>: never seen) and nothing, and an unlinked story."""
    examples = [*kinship_examples(3, seed=1), unlinked_story()]
    for example, asked in zip(examples, ("sister", "not_sister")):
        example.meta["query_relation"] = asked
    return text_batch(tokenizer, examples)


def test_query_conditioned_edges_embed_the_asked_and_the_edge_relation(tokenizer):
    """`query_conditioned_edges=True`: each edge's input adds the embedding of (the relation its graph asks about,
    its own relation), nothing in a graph that asks about none, and the answer depends on the relation asked."""
    batch = asking_batch(tokenizer)
    model = make_model("graph_only", "composition", tokenizer, query_conditioned_edges=True).eval()
    pairs = model.graph.query_edge_inputs(batch)
    graph_of_edge = batch.batch[batch.edge_index[0]]
    asks = graph_of_edge < 2
    assert pairs.shape == (batch.num_edges, GRAPH_HIDDEN) and asks.any() and (~asks).any()
    expected = model.graph.query_edge_pairs(batch.query_relations[graph_of_edge[asks]] * (1 + len(KINSHIP))
                                            + batch.edge_type[asks])
    torch.testing.assert_close(pairs[asks], expected)
    assert (pairs[~asks] == 0).all()
    vocabulary = RelationVocabulary("text", ("<unk>", *sorted(KINSHIP)))
    other = replace(batch, query_relations=torch.tensor([vocabulary.id("mother"), 0, -1, -1]))
    with torch.no_grad():
        logits, other_logits = model(batch).logits, model(other).logits
    assert not torch.allclose(logits[0], other_logits[0]) and torch.equal(logits[2:], other_logits[2:])
    assert make_model("graph_only", "composition", tokenizer).graph.query_edge_inputs(batch) is None


def sister_negates_mother() -> list[int]:
    """`relation_bases` of the kinship vocabulary as if "sister" were "not_mother" (the stories hold no negation)."""
    names = ("<unk>", *sorted(KINSHIP))
    return [names.index("mother") if name == "sister" else i for i, name in enumerate(names)]


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("fusion", ["graph_only", "interaction"])
def test_query_conditioned_edges_and_shared_negation_train_with_every_encoder(fusion, encoder, tokenizer):
    model = make_model(fusion, encoder, tokenizer, query_relation=True, query_conditioned_edges=True,
                       shared_negation=True, relation_bases=sister_negates_mother())
    output = model(asking_batch(tokenizer))
    output.loss.backward()
    assert torch.isfinite(output.logits).all() and has_grad(model.graph.query_edge_pairs)
    assert has_grad(model.graph.negations)


def test_shared_negation_reads_a_negated_relation_as_its_base_plus_one_vector(tokenizer, monkeypatch):
    """An edge of a negated relation reaches the encoder with its base relation's type and the edge negation
    vector added to its input; an asked negated relation embeds as its base plus the query negation vector."""
    bases = sister_negates_mother()
    names = ("<unk>", *sorted(KINSHIP))
    sister, mother = names.index("sister"), names.index("mother")
    batch = asking_batch(tokenizer)  # the first story asks "sister"
    assert (batch.edge_type == sister).any()
    model = make_model("graph_only", "composition", tokenizer, query_relation=True, shared_negation=True,
                       relation_bases=bases).eval()
    seen = []
    encode = model.graph.encoder.forward

    def spy(x, edge_index, edge_type, **kwargs):
        seen.append((edge_type, kwargs["edge_attr"]))
        return encode(x, edge_index, edge_type, **kwargs)

    monkeypatch.setattr(model.graph.encoder, "forward", spy)
    negations = model.graph.negations
    with torch.no_grad():
        model(batch)
        model.graph.negations = None  # the same model reading every relation on its own
        model(batch)
    (types, inputs), (plain_types, plain_inputs) = seen
    negated = batch.edge_type == sister
    assert torch.equal(plain_types, batch.edge_type) and torch.equal(types, torch.where(negated, mother, plain_types))
    torch.testing.assert_close(inputs - plain_inputs, negated.unsqueeze(-1) * negations.edge)
    model.graph.negations = negations
    with torch.no_grad():
        x = model.graph.node_inputs(batch, None)
        plain = model.graph.node_inputs(replace(batch, query_relations=None), None)
    source = batch.query_nodes[0]
    torch.testing.assert_close(x[source] - plain[source],
                               model.graph.query_relation.weight[mother] + model.graph.negations.query)
    with pytest.raises(ValueError, match="needs relation_bases"):
        make_model("graph_only", "composition", tokenizer, shared_negation=True)
    with pytest.raises(ValueError, match="one id in"):
        make_model("graph_only", "composition", tokenizer, shared_negation=True, relation_bases=[0, 1])


def test_negation_bases_pair_each_negated_relation_with_its_base():
    vocabulary = RelationVocabulary("text", ("<unk>", "chases", "is", "not_chases", "not_is", "not_sees"))
    assert vocabulary.negation_bases() == [0, 1, 2, 1, 2, 5]  # "sees" is not in the vocabulary


@pytest.mark.parametrize("fusion", ["graph_only", "late"])
def test_sentence_edge_text_reads_each_edge_sentence_on_its_own(fusion, tokenizer):
    """With edge_text="sentence" an edge's input depends on its own sentence only: another sentence in the story
    leaves it unchanged (with "story" it does not)."""
    stories = kinship_examples(1, seed=3)
    changed = kinship_examples(1, seed=3)
    first, _, second = changed[0].text.partition(". ")
    changed[0].text = f"{first}. {second.replace(' is the ', ' was once the ')}"  # spans recomputed below
    changed[0].edge_char_spans = np.array([[0, len(first) + 1], [len(first) + 2, len(changed[0].text)]])
    for edge_text, same in (("sentence", True), ("story", False)):
        model = make_model(fusion, "composition", tokenizer, edge_text=edge_text).eval()
        with torch.no_grad():
            inputs = []
            for examples in (stories, changed):
                batch = text_batch(tokenizer, examples)
                states = (model.sentence_states(batch) if edge_text == "sentence" else
                          model.text_encoder(batch.input_ids, batch.attention_mask).last_hidden_state)
                inputs.append(model.graph.edge_inputs(batch, states)[0])
        assert torch.allclose(inputs[0], inputs[1], atol=1e-5) == same, edge_text
        batch = text_batch(tokenizer, stories)
        model.train()
        model(batch).loss.backward()
        assert has_grad(model.text_encoder) and has_grad(model.graph.encoder)


def test_edge_endpoints_tell_apart_two_edges_read_from_one_sentence(tokenizer):
    """"Ann took her son Bob and his sister Cat.": both edges have the sentence's states; with edge_endpoints
    they also read their own two names, so their inputs differ (and the mention states get gradients)."""
    text = "Ann took her son Bob and his sister Cat."
    names = [(text.index(name), text.index(name) + len(name)) for name in ("Ann", "Bob", "Cat")]
    story = KGQAExample(text=text, label=0, node_ids=np.arange(3), edge_index=np.array([[0, 1], [1, 2]]),
                        edge_type=np.array([0, 0]), edge_char_spans=np.array([[0, len(text)]] * 2),
                        mention_node_index=np.arange(3), mention_char_spans=np.array(names),
                        meta={"task": "clutrr", "graph": "text", "relations": ["mentions"], "id": "three",
                              "query": ["Ann", "Cat"], "query_node_index": [0, 2], "nodes": ["Ann", "Bob", "Cat"]})
    batch = text_batch(tokenizer, [story])
    assert batch.edge_endpoint_token_spans[:, :, 1:].ge(0).all()
    for endpoints, differ in ((False, False), (True, True)):
        model = make_model("graph_only", "composition", tokenizer, edge_text="sentence", edge_endpoints=endpoints)
        edge_attr = model.graph.edge_inputs(batch, model.sentence_states(batch))
        assert (not torch.allclose(edge_attr[0], edge_attr[1])) == differ
    model(batch).loss.backward()
    assert has_grad(model.graph.endpoint_projection)


def test_the_relation_readout_reads_the_closure_relation_as_the_answer(tokenizer):
    """graph_readout="relation": the logits are the closure's log-probabilities at the query target; no head."""
    model = make_model("graph_only", "closure", tokenizer, graph_readout="relation", edge_text="sentence",
                       edge_endpoints=True).eval()
    assert model.head is None and model.config.graph_hidden_size == len(KINSHIP)
    batch = batch_of("text", tokenizer)
    with torch.no_grad():
        output = model(batch)
        h, _ = model.graph.encode(batch, model.graph.node_inputs(batch, None),
                                  model.graph.edge_inputs(batch, model.sentence_states(batch)))
    targets = batch.query_targets
    torch.testing.assert_close(output.logits[targets >= 0], h[targets[targets >= 0]])
    torch.testing.assert_close(output.logits[targets >= 0].exp().sum(-1), torch.ones(int((targets >= 0).sum())))
    assert (output.logits[targets < 0] == 0).all()  # no target: every label alike
    with pytest.raises(ValueError, match="needs fusion 'graph_only' and a classification task"):
        FusionConfig(fusion="late", graph_readout="relation")


def test_the_relation_readout_counts_the_mass_left_on_unnamed_classes(tokenizer):
    """With the closure's `unnamed_classes`, the logits are the named classes' log-probabilities out of all the
    classes, and the loss is their NLL: the probability left on unnamed classes counts against the answer."""
    model = make_model("graph_only", "closure", tokenizer, graph_readout="relation", edge_text="sentence",
                       graph_options={"unnamed_classes": 3}).eval()
    assert model.graph.encoder.classes == len(KINSHIP) + 3
    batch = batch_of("text", tokenizer)
    with torch.no_grad():
        output = model(batch)
    answered = (batch.query_targets >= 0) & (batch.labels >= 0)
    named = output.logits[answered].exp().sum(-1)
    assert (named < 1).all() and (named > 0).all()
    torch.testing.assert_close(output.loss, F.nll_loss(output.logits, batch.labels, ignore_index=-1))
    logits, labels = output.logits[answered], batch.labels[answered]
    renormalised = F.cross_entropy(logits, labels, reduction="none")
    assert (-logits.gather(1, labels[:, None]).squeeze(1) > renormalised).all()


def test_new_config_fields_are_checked():
    with pytest.raises(ValueError, match="graph_readout='mean'"):
        FusionConfig(graph_readout="mean")
    with pytest.raises(ValueError, match="edge_text='page'"):
        FusionConfig(edge_text="page")
    with pytest.raises(ValueError, match="'late' or 'graph_only', not 'interaction'"):
        FusionConfig(fusion="interaction", edge_text="sentence")
