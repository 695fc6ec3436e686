"""Collation of `KGQAExample`s into `KGQABatch`es: shapes, offsets, multiple choice, spans, vocabularies, loaders."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from test_preprocess import write_ecare, write_proofwriter

from kgreason.data.batch import (
    NODE_CHOICE,
    NODE_OTHER,
    NODE_QUESTION,
    UNK,
    ExampleDataset,
    KGQABatch,
    LabelVocabulary,
    RelationVocabulary,
    collate,
    make_loader,
    token_spans,
)
from kgreason.data.causal import generate_causal
from kgreason.data.causal_graph import oriented_relations
from kgreason.data.clutrr import generate_clutrr, write_clutrr
from kgreason.data.example import KGQAExample
from kgreason.data.preprocess import preprocess
from kgreason.data.shards import ShardCache


@pytest.fixture(scope="module")
def clutrr_cache(tmp_path_factory):
    """A preprocessing cache of 6 generated CLUTRR stories; the last one without brackets has no graph."""
    tmp = tmp_path_factory.mktemp("clutrr")
    records = list(generate_clutrr(6, k=3, seed=2))
    records[-1] = replace(records[-1], story=records[-1].story.replace("[", "").replace("]", ""))
    write_clutrr(records, tmp / "c.csv")
    return preprocess(tmp / "c.csv", tmp / "cache", task="clutrr", workers=1, nlp="blank").cache_dir


@pytest.fixture(scope="module")
def clutrr(clutrr_cache):
    examples = list(ShardCache(clutrr_cache).examples())
    assert examples[-1].num_nodes == 0 and all(e.num_edges for e in examples[:-1])
    return examples


@pytest.fixture(scope="module")
def causal(tmp_path_factory):
    """e-CARE examples over a generated KG, and its relation vocabulary; the last one links nothing."""
    tmp = tmp_path_factory.mktemp("causal")
    generated = generate_causal(6, seed=3)
    kg = generated.knowledge_graph()
    kg.save(tmp / "store")
    unlinkable = json.dumps({"index": "x", "premise": "Zzz qqq.", "ask-for": "effect", "hypothesis1": "Xx.",
                             "hypothesis2": "Yy.", "label": 1})
    write_ecare(tmp / "dev.jsonl", generated.records, extra_lines=[unlinkable])
    summary = preprocess(tmp / "dev.jsonl", tmp / "cache", task="ecare", store=tmp / "store", workers=1, nlp="blank")
    examples = list(ShardCache(summary.cache_dir).examples())
    assert examples[-1].num_nodes == 0 and all(e.num_nodes for e in examples[:-1])
    return examples, RelationVocabulary.from_kg_relations(oriented_relations(kg.relations))


@pytest.fixture(scope="module")
def proofwriter(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("proofwriter")
    write_proofwriter(tmp / "pw.json", theories=2, depth=2)
    summary = preprocess(tmp / "pw.json", tmp / "cache", task="proofwriter", workers=1)
    return list(ShardCache(summary.cache_dir).examples())[:6]


def clutrr_batch(examples, tokenizer, **options) -> KGQABatch:
    return collate(examples, tokenizer=tokenizer, relations=RelationVocabulary.build(examples),
                   labels=LabelVocabulary.for_task("clutrr"), **options)


def graph_of(batch: KGQABatch, graph: int) -> dict[str, np.ndarray]:
    """The arrays of one graph of a batch, its node indices un-offset."""
    nodes = np.flatnonzero(batch.batch.numpy() == graph)
    edges = np.flatnonzero(batch.batch.numpy()[batch.edge_index[0].numpy()] == graph) if batch.num_edges else []
    first = nodes[0] if len(nodes) else 0
    return {
        "node_ids": batch.node_ids.numpy()[nodes],
        "node_type": batch.node_type.numpy()[nodes],
        "edge_index": batch.edge_index.numpy()[:, edges] - first,
        "edge_type": batch.edge_type.numpy()[edges],
    }


def text_of(batch: KGQABatch, row: int) -> list[int]:
    return batch.input_ids[row][batch.attention_mask[row].bool()].tolist()


def test_classification_batch_shapes(clutrr, tokenizer):
    batch = clutrr_batch(clutrr, tokenizer)
    B, N, E = len(clutrr), sum(e.num_nodes for e in clutrr), sum(e.num_edges for e in clutrr)
    assert batch.num_choices is None and batch.batch_size == batch.num_graphs == B
    T = batch.input_ids.shape[1]
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert getattr(batch, name).shape == (B, T) and getattr(batch, name).dtype == torch.long
    assert batch.node_ids.shape == batch.node_type.shape == batch.batch.shape == (N,)
    assert batch.edge_index.shape == (2, E) and batch.edge_type.shape == (E,)
    assert batch.edge_char_spans.shape == (E, 2) and batch.edge_token_spans.shape == (E, 3)
    assert batch.labels.tolist() == [e.label for e in clutrr]
    assert batch.graph_has_nodes.tolist() == [True] * (B - 1) + [False]
    assert batch.query_nodes.shape == batch.query_targets.shape == (B,)
    assert (batch.node_type[batch.graph_has_nodes[batch.batch]] != NODE_OTHER).any()


def test_edges_and_queries_stay_inside_their_graph(clutrr, causal, tokenizer):
    for batch in (clutrr_batch(clutrr, tokenizer), collate(causal[0], tokenizer=tokenizer, relations=causal[1])):
        assert batch.edge_index.max() < batch.num_nodes and batch.edge_index.min() >= 0
        assert torch.equal(batch.batch[batch.edge_index[0]], batch.batch[batch.edge_index[1]])
        assert torch.all(batch.batch[1:] >= batch.batch[:-1])  # nodes grouped by graph, in row order
    batch = clutrr_batch(clutrr, tokenizer)
    for graph, example in enumerate(clutrr[:-1]):
        (a, b), names = example.meta["query_node_index"], example.meta["nodes"]
        node, target = batch.query_nodes[graph].item(), batch.query_targets[graph].item()
        assert batch.batch[node] == batch.batch[target] == graph
        first = (batch.batch == graph).nonzero()[0].item()
        assert (names[node - first], names[target - first]) == (names[a], names[b]) == tuple(example.meta["query"])
    assert batch.query_nodes[-1] == batch.query_targets[-1] == -1  # the story without a graph


@pytest.mark.parametrize("task", ["clutrr", "causal"])
def test_a_batch_of_two_equals_each_example_alone(task, clutrr, causal, tokenizer):
    if task == "clutrr":
        examples, relations = clutrr[:2], RelationVocabulary.build(clutrr)
    else:
        examples, relations = causal[0][:2], causal[1]
    both = collate(examples, tokenizer=tokenizer, relations=relations)
    rows = both.num_choices or 1
    for i, example in enumerate(examples):
        alone = collate([example], tokenizer=tokenizer, relations=relations)
        assert alone.labels.tolist() == [both.labels[i].item()] and alone.num_graphs == rows
        for row in range(rows):
            assert text_of(alone, row) == text_of(both, i * rows + row)
            together, single = graph_of(both, i * rows + row), graph_of(alone, row)
            assert together.keys() == single.keys()
            for name in together:
                assert np.array_equal(together[name], single[name]), name
        if task == "clutrr":
            assert both.query_nodes[i] - (both.batch == i).nonzero()[0] == alone.query_nodes[0]


def test_multiple_choice_copies_the_graph_per_choice_and_marks_that_choice(causal, tokenizer):
    examples, relations = causal
    batch = collate(examples, tokenizer=tokenizer, relations=relations)
    C = 2
    assert batch.num_choices == C and batch.batch_size == len(examples)
    assert batch.input_ids.shape[0] == batch.num_graphs == len(examples) * C
    assert batch.labels.tolist() == [e.label for e in examples]
    assert batch.edge_char_spans is None and batch.edge_token_spans is None and batch.query_nodes is None
    for i, example in enumerate(examples):
        for c, choice in enumerate(example.choices):
            row = i * C + c
            assert tokenizer.decode(text_of(batch, row), skip_special_tokens=True).endswith(choice.lower())
            graph = graph_of(batch, row)
            assert np.array_equal(graph["node_ids"], example.node_ids)
            assert np.array_equal(graph["edge_index"], example.edge_index)
            expected = np.full(example.num_nodes, NODE_OTHER)
            expected[example.meta["question_node_index"]] = NODE_QUESTION
            expected[example.meta["choice_node_index"][c]] = NODE_CHOICE
            assert np.array_equal(graph["node_type"], expected)
        if example.num_nodes:
            first, second = (graph_of(batch, i * C + c)["node_type"] for c in range(C))
            assert not np.array_equal(first, second)  # each copy marks its own choice
    assert batch.graph_has_nodes.tolist() == [True] * (len(examples) - 1) * C + [False] * C


def test_an_unseen_text_relation_maps_to_unk(clutrr, tokenizer):
    relations = RelationVocabulary.build(clutrr[1:])
    assert relations.names[0] == UNK and relations.id("no-such-relation") == 0
    renamed = replace(clutrr[0], meta={**clutrr[0].meta, "relations": ["zz-unseen"] * len(clutrr[0].meta["relations"])})
    batch = collate([clutrr[1], renamed], tokenizer=tokenizer, relations=relations)
    assert (batch.edge_type[-renamed.num_edges:] == 0).all() and (batch.edge_type[: clutrr[1].num_edges] > 0).all()
    known = [relations.names[i] for i in collate([clutrr[1]], tokenizer=tokenizer, relations=relations).edge_type]
    assert known == [clutrr[1].meta["relations"][t] for t in clutrr[1].edge_type]


def test_a_vocabulary_for_the_other_graph_source_is_refused(clutrr, causal, tokenizer):
    examples, kg_relations = causal
    with pytest.raises(ValueError, match="made for a background KG"):
        collate(clutrr[:1], tokenizer=tokenizer, relations=kg_relations)
    with pytest.raises(ValueError, match="from_kg_relations"):
        RelationVocabulary.build(examples)
    smaller = RelationVocabulary.from_kg_relations(kg_relations.names[: int(examples[0].edge_type.max())])
    with pytest.raises(ValueError, match="another store"):
        collate(examples[:1], tokenizer=tokenizer, relations=smaller)


def test_examples_without_a_graph_still_make_a_valid_batch(clutrr, causal, tokenizer):
    empty = clutrr[-1]
    batch = clutrr_batch([empty], tokenizer)
    assert batch.num_nodes == batch.num_edges == 0 and batch.input_ids.shape[0] == 1
    assert batch.graph_has_nodes.tolist() == [False] and batch.edge_index.shape == (2, 0)
    assert batch.edge_token_spans.shape == (0, 3) and batch.query_nodes.tolist() == [-1]
    mixed = clutrr_batch([empty, clutrr[0]], tokenizer)
    assert mixed.batch.tolist() == [1] * clutrr[0].num_nodes and mixed.edge_index.min() == 0
    unlinked = collate(causal[0][-1:], tokenizer=tokenizer, relations=causal[1])
    assert unlinked.num_nodes == 0 and unlinked.graph_has_nodes.tolist() == [False, False]


def test_edge_token_spans_decode_to_the_edge_sentence(clutrr, tokenizer):
    def squashed(text: str) -> str:
        return "".join(text.lower().split())

    for max_length, expect_cut in ((512, False), (24, True)):
        batch = clutrr_batch(clutrr, tokenizer, max_length=max_length)
        spans, chars = batch.edge_token_spans.tolist(), batch.edge_char_spans.tolist()
        assert [row for row, _, _ in spans] == batch.batch[batch.edge_index[0]].tolist()
        cut = dropped = 0
        for (row, start, end), (first, last) in zip(spans, chars):
            sentence = clutrr[row].text[first:last]
            if start == -1:
                assert end == -1
                dropped += 1
                continue
            decoded = tokenizer.decode(batch.input_ids[row, start:end])
            assert decoded and squashed(sentence).startswith(squashed(decoded))
            cut += squashed(decoded) != squashed(sentence)
        assert (cut > 0, dropped > 0) == (expect_cut, expect_cut)


def test_edge_endpoint_spans_decode_to_the_two_names_in_the_edge_sentence(clutrr, tokenizer):
    batch = clutrr_batch(clutrr, tokenizer)
    ends, sentences = batch.edge_endpoint_token_spans.tolist(), batch.edge_token_spans.tolist()
    assert batch.edge_endpoint_token_spans.shape == (batch.num_edges, 2, 3)
    found = 0
    for edge, ((source, target), (_, first, last)) in enumerate(zip(ends, sentences)):
        row = source[0]
        story = clutrr[row]
        nodes = story.meta["nodes"]
        local = (batch.edge_index[:, edge] - batch.edge_index.new_tensor(
            int((batch.batch < row).sum()))).tolist()  # the edge's nodes within its story
        for (span_row, start, end), node in zip((source, target), local):
            assert span_row == row
            if start == -1:
                continue
            found += 1
            assert first <= start < end <= last  # inside the edge's sentence
            assert "".join(tokenizer.decode(batch.input_ids[row, start:end]).split()) == nodes[node].lower()
    assert found >= batch.num_edges  # most endpoints are named in their sentence


def test_token_spans_cut_at_truncation_and_keep_to_the_first_segment():
    offsets = np.array([[[0, 0], [0, 3], [4, 9], [10, 12], [0, 0], [0, 2], [0, 0]]])  # CLS a b c SEP q SEP
    first_segment = np.array([[False, True, True, True, False, False, False]])
    chars = np.array([[0, 3], [4, 12], [5, 30], [13, 20], [-1, -1]])
    spans = token_spans(chars, np.zeros(5, np.int64), offsets=offsets, first_segment=first_segment)
    assert spans.tolist() == [[0, 1, 2], [0, 2, 4], [0, 2, 4], [0, -1, -1], [0, -1, -1]]


def test_proofwriter_rows_keep_the_statement_when_the_theory_is_cut(proofwriter, tokenizer):
    labels = LabelVocabulary.for_task("proofwriter")
    batch = collate(proofwriter, tokenizer=tokenizer, relations=RelationVocabulary.build(proofwriter),
                    labels=labels, max_length=16)
    assert batch.input_ids.shape[1] == 16 and batch.labels.tolist() == [e.label for e in proofwriter]
    for row, example in enumerate(proofwriter):
        decoded = tokenizer.decode(text_of(batch, row), skip_special_tokens=True)
        assert decoded.endswith(example.meta["statement"].lower().rstrip(".") + ".")
    shuffled = LabelVocabulary(("Unknown", "True", "False"))
    relabelled = collate(proofwriter, tokenizer=tokenizer, relations=RelationVocabulary.build(proofwriter), labels=shuffled)
    assert relabelled.labels.tolist() == [shuffled.id(e.choices[e.label]) for e in proofwriter]


def test_bad_batches_say_what_is_wrong(clutrr, causal, tokenizer):
    relations = RelationVocabulary.build(clutrr)
    with pytest.raises(ValueError, match="mixes multiple-choice"):
        collate([causal[0][0], clutrr[0]], tokenizer=tokenizer, relations=relations)
    with pytest.raises(ValueError, match="label 99"):
        clutrr_batch([replace(clutrr[0], label=99)], tokenizer)
    broken = replace(clutrr[0], edge_index=clutrr[0].edge_index + 100)
    with pytest.raises(ValueError, match=r"edge_index has values outside .*preprocess its file again"):
        clutrr_batch([broken], tokenizer)
    assert len(clutrr[0].mention_char_spans) == len(clutrr[0].mention_node_index) > 1
    short_spans = replace(clutrr[0], mention_char_spans=clutrr[0].mention_char_spans[:-1])
    with pytest.raises(ValueError, match=r"mention_char_spans has \d+ rows for \d+ mentions"):
        clutrr_batch([short_spans], tokenizer)
    with pytest.raises(ValueError, match="at least one example"):
        clutrr_batch([], tokenizer)


def test_to_moves_every_tensor(clutrr, tokenizer):
    moved = clutrr_batch(clutrr, tokenizer).to("meta")
    tensors = [value for value in vars(moved).values() if isinstance(value, torch.Tensor)]
    assert len(tensors) == 15 and all(tensor.device.type == "meta" for tensor in tensors)
    if torch.cuda.is_available():
        assert clutrr_batch(clutrr, tokenizer).pin_memory().input_ids.is_pinned()


def test_vocabularies_round_trip_through_json(clutrr, causal, tmp_path):
    for vocabulary in (RelationVocabulary.build(clutrr), causal[1], LabelVocabulary.for_task("clutrr")):
        path = tmp_path / f"{type(vocabulary).__name__}.json"
        vocabulary.save(path)
        back = type(vocabulary).load(path)
        assert back == vocabulary and len(back) == len(vocabulary) and back.names[-1] == vocabulary.names[-1]
    assert RelationVocabulary.load(tmp_path / "RelationVocabulary.json").kind == "kg"  # the KG one, saved second
    with pytest.raises(ValueError, match="not a RelationVocabulary file"):
        RelationVocabulary.load(tmp_path / "LabelVocabulary.json")


def test_loader_batches_are_the_same_with_workers_and_follow_the_seed(clutrr_cache, clutrr, tokenizer):
    dataset = ExampleDataset.from_cache(clutrr_cache)
    assert len(dataset) == len(clutrr) and dataset[0].text == clutrr[0].text
    options = dict(batch_size=2, shuffle=True, tokenizer=tokenizer, relations=RelationVocabulary.build(clutrr),
                   labels=LabelVocabulary.for_task("clutrr"))

    def ids(loader) -> list[list]:
        return [[m["id"] for m in batch.meta] for batch in loader]

    def contents(loader) -> list[list]:
        return [[batch.input_ids.tolist(), batch.edge_index.tolist(), batch.edge_token_spans.tolist()] for batch in loader]

    serial, parallel = make_loader(dataset, seed=1, **options), make_loader(dataset, seed=1, num_workers=2, **options)
    assert contents(serial) == contents(parallel)  # first epoch
    assert ids(serial) == ids(parallel)  # second epoch
    assert ids(make_loader(dataset, seed=1, **options)) != ids(serial)  # a new epoch, a new order
    orders = {tuple(map(tuple, ids(make_loader(dataset, seed=seed, **options)))) for seed in range(4)}
    assert len(orders) > 1
    with pytest.raises(FileNotFoundError, match="kgreason preprocess"):
        ExampleDataset.from_cache(f"{clutrr_cache}-missing")


def test_an_example_round_trips_its_edge_sentence_spans(clutrr):
    example = clutrr[0]
    assert example.edge_char_spans.shape == (example.num_edges, 2) and (example.edge_char_spans >= 0).all()
    back = KGQAExample.from_dict(json.loads(json.dumps(example.to_dict())))
    assert np.array_equal(back.edge_char_spans, example.edge_char_spans)
