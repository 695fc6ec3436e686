"""From `KGQAExample`s to the `KGQABatch` a model consumes: vocabularies, collation, dataset and loader.

The text: one row of `input_ids` per graph, tokenized in one call per batch and truncated `longest_first`
to `max_length` tokens (a pair loses tokens from its longer part first, so a short question survives a
long story):

| examples | row |
|---|---|
| multiple choice (task ecare, copa or causal, with choices) | (text, choice), one row per choice: `[B*C, T]` (+ `meta["choice_context"]`); (choice, text) where `meta["choice_first"]` |
| clutrr | (story, "How is B related to A?") for the query (A, B) |
| proofwriter | (theory, statement) |
| any other | the text |

The graphs: a PyG-style disjoint union, one graph per row (a multiple-choice example's graph is copied for
each choice, with that choice's nodes marked). Following PyG's rule, whatever indexes nodes (`edge_index`,
`query_nodes`) is offset by the graph's first node. An example without nodes gives a graph without nodes
(`graph_has_nodes` is False there): the text still has its row, so a model can still answer.

A causal example read with an event memory has a `meta["choice_context"]` per choice (the training question
its link reaches, `kgreason.data.event_memory`): the row's second text is the choice followed by it.

Usage (docs/models.md, "Batches"):

    train = ExampleDataset.from_cache(summary.cache_dir)      # a `kgreason preprocess` cache
    loader = make_loader(train, batch_size=32, shuffle=True, seed=0, tokenizer=tokenizer,
                         relations=RelationVocabulary.build(train.examples),
                         labels=LabelVocabulary.for_task("clutrr"))
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from kgreason.kg.traversal import GraphCounts

from .example import KGQAExample
from .shards import ShardCache, write_json

UNK = "<unk>"  # the text relation of an edge whose name was not seen in training (id 0)
RELATION_KINDS = ("text", "kg")
MULTIPLE_CHOICE_TASKS = frozenset({"ecare", "copa", "causal"})
NODE_OTHER, NODE_QUESTION, NODE_CHOICE = 0, 1, 2  # values of `KGQABatch.node_type`
NUM_NODE_TYPES = 3


def is_text_graph(example: KGQAExample) -> bool:
    """Whether the example's graph was read from its text (edge types index `meta["relations"]`)."""
    return example.meta.get("graph") == "text"


def _describe(example: KGQAExample) -> str:
    """How errors name an example: `example 'id' (task clutrr)`."""
    return f"example {example.meta.get('id')!r} (task {example.meta.get('task')})"


# --- vocabularies ------------------------------------------------------------------------------------------


class _JsonFile:
    """`save(path)` / `load(path)` of a dataclass of `names` as JSON, tagged with the class name; ids by position."""

    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    @cached_property
    def _ids(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def save(self, path: str | os.PathLike) -> None:
        write_json(Path(path), {"type": type(self).__name__, **asdict(self)})

    @classmethod
    def load(cls, path: str | os.PathLike):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.pop("type", None) != cls.__name__:
            raise ValueError(f"{path}: not a {cls.__name__} file (saved by {cls.__name__}.save)")
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


@dataclass(frozen=True)
class RelationVocabulary(_JsonFile):
    """The edge types a graph encoder embeds: ids `0 .. len(vocab) - 1`.

    kind "text" (`build`): the relation names of the training examples' text graphs, `<unk>` first (id 0,
        for names never seen in training); an example's `edge_type` indexes its own `meta["relations"]`
        and is mapped by name.
    kind "kg" (`from_kg_relations`): the relations of a background KG in id order; an example's
        `edge_type` already holds these ids.
    """

    kind: str
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in RELATION_KINDS:
            raise ValueError(f"relation vocabulary kind {self.kind!r}: use one of {RELATION_KINDS}")
        if len(set(self.names)) != len(self.names):
            raise ValueError("relation vocabulary names must be unique")
        if self.kind == "text" and self.names[:1] != (UNK,):
            raise ValueError(f"a text relation vocabulary starts with {UNK!r}: make it with RelationVocabulary.build")

    @classmethod
    def build(cls, examples: Iterable[KGQAExample]) -> RelationVocabulary:
        """The relations of text-graph training examples: `<unk>`, then their names sorted."""
        names: set[str] = set()
        for example in examples:
            if not is_text_graph(example):
                raise ValueError(f"{_describe(example)} has a background-KG graph, whose edge types are the KG's "
                                 "ids: use RelationVocabulary.from_kg_relations(kg.relations)")
            names.update(example.meta["relations"])
        return cls("text", (UNK, *sorted(names)))

    @classmethod
    def from_kg_relations(cls, relations: Iterable[str]) -> RelationVocabulary:
        """The relations of a background KG, in id order (`kg.relations`)."""
        return cls("kg", tuple(relations))

    def id(self, name: str) -> int:
        """The id of relation `name`; text vocabularies give `<unk>`'s id (0) for unseen names."""
        if self.kind == "text":
            return self._ids.get(name, 0)
        if name not in self._ids:
            raise KeyError(f"relation {name!r} is not in the KG's {len(self)} relations")
        return self._ids[name]

    def negation_bases(self) -> list[int]:
        """For each id, the id of the relation it negates ("not_chases" -> "chases", `NEGATED` + a name also in
        the vocabulary), or its own id (`FusionConfig.relation_bases`)."""
        from .text_graph import NEGATED

        return [self._ids.get(name[len(NEGATED):], i) if name.startswith(NEGATED) else i
                for i, name in enumerate(self.names)]

    def edge_types(self, example: KGQAExample) -> np.ndarray:
        """int64 [E]: the vocabulary id of each edge of `example`."""
        if is_text_graph(example) != (self.kind == "text"):
            made = "text graphs" if self.kind == "text" else "a background KG"
            raise ValueError(f"{_describe(example)}: this relation vocabulary was made for {made}; use the "
                             "vocabulary of the model that matches the example's graph source")
        if self.kind == "text":
            lookup = np.array([self.id(name) for name in example.meta["relations"]], dtype=np.int64)
            return lookup[example.edge_type] if example.num_edges else np.zeros(0, np.int64)
        if example.num_edges and example.edge_type.max() >= len(self):
            raise ValueError(f"{_describe(example)}: edge type {example.edge_type.max()} is not one of the "
                             f"{len(self)} KG relations of the vocabulary; was the example retrieved from another store?")
        return example.edge_type


@dataclass(frozen=True)
class LabelVocabulary(_JsonFile):
    """The classes of a classification task, in label-id order."""

    names: tuple[str, ...]

    @classmethod
    def for_task(cls, task: str) -> LabelVocabulary:
        """clutrr: the sorted kinship relations (`clutrr_labels()`); proofwriter: True, False, Unknown."""
        from .preprocess_tasks import clutrr_labels
        from .proofwriter import ANSWERS

        classes = {"clutrr": clutrr_labels, "proofwriter": lambda: list(ANSWERS)}
        if task not in classes:
            raise ValueError(f"task {task!r} has no label set (multiple-choice tasks answer by choice index); "
                             f"known: {sorted(classes)}")
        return cls(tuple(classes[task]()))

    def id(self, name: str) -> int:
        if name not in self._ids:
            raise KeyError(f"label {name!r} is not one of {list(self.names)}")
        return self._ids[name]


# --- the batch ---------------------------------------------------------------------------------------------


@dataclass
class KGQABatch(GraphCounts):
    """A batch of B examples: R text rows and G = R graphs (R = B, or B*C for C choices), N nodes, E edges.

    input_ids, attention_mask: int64 [R, T]; token_type_ids: int64 [R, T] (None if the tokenizer has none)
    node_ids: int64 [N] global KG ids, or text-graph node indices
    node_type: int64 [N] NODE_OTHER (0), NODE_QUESTION (1: the text mentions it), NODE_CHOICE (2: this row's
        choice mentions it; wins over 1)
    edge_index: int64 [2, E] into the N nodes; edge_type: int64 [E] `RelationVocabulary` ids
    batch: int64 [N] the graph (= row) of each node; graph_has_nodes: bool [G]
    labels: int64 [B] the class, or the right choice (-1: unknown)
    num_choices: C, or None for classification (then R = B)
    offered: bool [B, K] the classes each classification example offers (its `choices`: ProntoQA's True / False of
        True / False / Unknown; all K for an example without choices); the model answers among these. None where
        every example offers every class.
    query_nodes, query_targets: int64 [G] the node asked about and its relative (CLUTRR's query (A, B)),
        offset like edge_index; -1 where absent. None when no example has a query.
    query_relations: int64 [G] the `RelationVocabulary` id of the relation asked about (`meta["query_relation"]`,
        a ProofWriter statement's "is" / "not_chases"); -1 where absent. None when no example names one.
    edge_char_spans: int64 [E, 2] the characters in the row's text of the sentence each edge was read from;
    edge_token_spans: int64 [E, 3] (row, first token, end token) of that sentence in `input_ids`, the end
        cut at truncation; tokens -1 where unknown or truncated away. Both None without text graphs.
    edge_endpoint_token_spans: int64 [E, 2, 3] (row, first token, end token) of the source's and the target's
        mention in that sentence (the first one; tokens -1 where the sentence names none of it): what tells apart
        two edges read from one sentence ("[Ann] took her son [Bob] and his sister [Cat]"). None as above.
    meta: the examples' meta dicts, B of them
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None
    node_ids: torch.Tensor
    node_type: torch.Tensor
    edge_index: torch.Tensor
    edge_type: torch.Tensor
    batch: torch.Tensor
    graph_has_nodes: torch.Tensor
    labels: torch.Tensor
    num_choices: int | None = None
    offered: torch.Tensor | None = None
    query_nodes: torch.Tensor | None = None
    query_targets: torch.Tensor | None = None
    query_relations: torch.Tensor | None = None
    edge_char_spans: torch.Tensor | None = None
    edge_token_spans: torch.Tensor | None = None
    edge_endpoint_token_spans: torch.Tensor | None = None
    meta: list[dict[str, Any]] = field(default_factory=list)

    @property
    def batch_size(self) -> int:
        return len(self.labels)

    @property
    def num_graphs(self) -> int:
        return self.input_ids.shape[0]

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> KGQABatch:
        """A copy with every tensor on `device`."""
        return self._map(lambda tensor: tensor.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> KGQABatch:
        """A copy with every tensor in pinned memory (`DataLoader(pin_memory=True)` calls this)."""
        return self._map(torch.Tensor.pin_memory)

    def _map(self, function: Callable[[torch.Tensor], torch.Tensor]) -> KGQABatch:
        tensors = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{name: function(value) for name, value in tensors.items() if isinstance(value, torch.Tensor)})


# --- collation ---------------------------------------------------------------------------------------------


def text_pair(example: KGQAExample) -> tuple[str, str | None]:
    """What a classification example's row reads: (text, question) or (text, None); see the module table.

    The first part always starts at character 0 of `example.text`, so the example's character spans hold.
    """
    task, meta = example.meta.get("task"), example.meta
    if task == "clutrr" and len(meta.get("query", ())) == 2:
        first, second = meta["query"]
        return example.text, f"How is {second} related to {first}?"
    if task == "proofwriter" and meta.get("statement"):
        statement = meta["statement"]
        context = example.text[: -len(statement)].rstrip() if example.text.endswith(statement) else example.text
        return context, statement
    return example.text, None


def collate(
    examples: Sequence[KGQAExample],
    *,
    tokenizer: Any,
    relations: RelationVocabulary,
    labels: LabelVocabulary | None = None,
    max_length: int = 128,
) -> KGQABatch:
    """One `KGQABatch` of `examples` (see the module docstring for rows and graphs).

    tokenizer: a Hugging Face fast tokenizer (its offset mapping places text-graph edges on tokens)
    relations: maps each edge's relation to the graph encoder's ids
    labels: for classification, the class names; an example with choices (ProofWriter) has its label
        mapped by the name of its right choice, any other is checked to be one of the classes
    """
    if not examples:
        raise ValueError("collate needs at least one example")
    for example in examples:
        _check(example)
    num_choices = _num_choices(examples)
    firsts, seconds = _text_rows(examples, num_choices=num_choices)
    text_graphs = any(is_text_graph(e) for e in examples)
    if text_graphs and not getattr(tokenizer, "is_fast", False):
        raise ValueError("text-graph edges are placed on tokens with the offset mapping of a fast tokenizer: "
                         "load it with AutoTokenizer.from_pretrained(..., use_fast=True)")
    encoding = tokenizer(firsts, seconds, padding=True, truncation="longest_first", max_length=max_length,
                         return_tensors="np", return_offsets_mapping=text_graphs)
    graphs = {name: torch.from_numpy(array) for name, array in
              _graph_union(examples, relations=relations, copies=num_choices or 1, endpoints=text_graphs).items()}
    char_spans = graphs.pop("edge_char_spans")
    endpoint_spans = graphs.pop("edge_endpoint_char_spans", None)  # text graphs only
    batch = KGQABatch(
        input_ids=_long(encoding["input_ids"]),
        attention_mask=_long(encoding["attention_mask"]),
        token_type_ids=_long(encoding["token_type_ids"]) if "token_type_ids" in encoding else None,
        **graphs,
        labels=torch.tensor([_label(e, labels=labels, num_choices=num_choices) for e in examples], dtype=torch.long),
        num_choices=num_choices,
        offered=None if num_choices or labels is None else _offered(examples, labels),
        meta=[e.meta for e in examples],
    )
    if text_graphs:
        first_segment = np.array([[s == 0 for s in encoding.sequence_ids(row)] for row in range(len(firsts))])
        batch.edge_char_spans = char_spans
        rows, offsets = batch.batch[batch.edge_index[0]].numpy(), np.asarray(encoding["offset_mapping"])
        batch.edge_token_spans = torch.from_numpy(token_spans(char_spans.numpy(), rows, offsets=offsets,
                                                              first_segment=first_segment))
        endpoints = token_spans(endpoint_spans.numpy().reshape(-1, 2), np.repeat(rows, 2), offsets=offsets,
                                first_segment=first_segment)
        batch.edge_endpoint_token_spans = torch.from_numpy(endpoints.reshape(-1, 2, 3))
    return batch


def _long(array: Any) -> torch.Tensor:
    return torch.from_numpy(np.asarray(array, dtype=np.int64))


def token_spans(char_spans: np.ndarray, rows: np.ndarray, *, offsets: np.ndarray, first_segment: np.ndarray) -> np.ndarray:
    """int64 [E, 3] (row, first token, end token) covering each character span, in the first text segment.

    char_spans: int64 [E, 2] [start, end) characters, -1 unknown; rows: int64 [E] the row of each span
    offsets: int64 [R, T, 2] the tokenizer's offset mapping; first_segment: bool [R, T] tokens of the first text
    The end is cut where the row's text was truncated; the tokens are -1 when nothing of the span is left.
    """
    out = np.full((len(char_spans), 3), -1, dtype=np.int64)
    out[:, 0] = rows
    token_row, token_col = np.nonzero(first_segment)  # row-major: rows ascending, tokens in text order
    if not len(char_spans) or not len(token_row):
        return out
    stride = int(max(offsets.max(), char_spans.max())) + 1  # keys row * stride + character sort rows apart
    token_starts = token_row * stride + offsets[token_row, token_col, 0]
    token_ends = token_row * stride + offsets[token_row, token_col, 1]
    first = np.searchsorted(token_ends, rows * stride + char_spans[:, 0], side="right")  # first token ending after start
    last = np.searchsorted(token_starts, rows * stride + char_spans[:, 1], side="left") - 1  # last starting before end
    first_clipped = np.minimum(first, len(token_row) - 1)
    found = (
        (char_spans[:, 0] >= 0)
        & (first < len(token_row))
        & (token_row[first_clipped] == rows)
        & (last >= first)
    )
    out[found, 1] = token_col[first[found]]
    out[found, 2] = token_col[last[found]] + 1
    return out


def endpoint_char_spans(example: KGQAExample, sentence_spans: np.ndarray) -> np.ndarray:
    """int64 [E, 2, 2]: the characters of each edge's source and target mention inside its sentence
    (`sentence_spans` [E, 2]), the first one there; -1 where the sentence holds no mention of that node."""
    out = np.full((example.num_edges, 2, 2), -1, dtype=np.int64)
    mentions, spans = example.mention_node_index, example.mention_char_spans
    if not example.num_edges or not len(mentions) or len(spans) != len(mentions):
        return out
    inside = ((spans[None, :, 0] >= sentence_spans[:, None, 0]) & (spans[None, :, 1] <= sentence_spans[:, None, 1])
              & (sentence_spans[:, None, 0] >= 0) & (spans[None, :, 0] >= 0))  # [E, M]
    for end in (0, 1):
        match = inside & (mentions[None, :] == example.edge_index[end][:, None])  # [E, M]
        found = match.any(1)
        out[found, end] = spans[match.argmax(1)[found]]
    return out


def _check(example: KGQAExample) -> None:
    """The example's arrays agree with each other (a corrupt cache would otherwise give a silently wrong batch)."""
    problems = []
    if example.num_edges and (example.edge_index.min() < 0 or example.edge_index.max() >= example.num_nodes):
        problems.append(f"edge_index has values outside 0..{example.num_nodes - 1}")
    if len(example.edge_type) != example.num_edges:
        problems.append(f"edge_type has {len(example.edge_type)} values for {example.num_edges} edges")
    if len(example.edge_char_spans) not in (0, example.num_edges):
        problems.append(f"edge_char_spans has {len(example.edge_char_spans)} rows for {example.num_edges} edges")
    if len(example.mention_char_spans) not in (0, len(example.mention_node_index)):
        problems.append(f"mention_char_spans has {len(example.mention_char_spans)} rows for "
                        f"{len(example.mention_node_index)} mentions")
    for name, nodes in (("mention_node_index", example.mention_node_index),
                        ('meta["query_node_index"]', np.asarray(example.meta.get("query_node_index", []), np.int64))):
        if len(nodes) and nodes.max() >= example.num_nodes:
            problems.append(f"{name} has node {nodes.max()} of {example.num_nodes}")
    if not isinstance(example.meta.get("query_relation", ""), str):
        problems.append(f'meta["query_relation"] is {example.meta["query_relation"]!r}, not a relation name')
    if problems:
        raise ValueError(f"{_describe(example)}: {'; '.join(problems)}; preprocess its file again")


def _num_choices(examples: Sequence[KGQAExample]) -> int | None:
    """C when every example is multiple choice with C choices, None when none is; else a clear error."""
    multiple = [e.meta.get("task") in MULTIPLE_CHOICE_TASKS and bool(e.choices) for e in examples]
    if not any(multiple):
        return None
    if not all(multiple):
        raise ValueError(f"a batch mixes multiple-choice examples ({_describe(examples[multiple.index(True)])}) "
                         f"with classification ones ({_describe(examples[multiple.index(False)])}): batch each task apart")
    counts = {len(e.choices) for e in examples}
    if len(counts) > 1:
        raise ValueError(f"a multiple-choice batch needs the same number of choices in every example, got {sorted(counts)}")
    return counts.pop()


def _text_rows(examples: Sequence[KGQAExample], *, num_choices: int | None) -> tuple[list[str], list[str] | None]:
    """The first and (for pairs) second texts of each row; see the module table."""
    if num_choices:
        pairs = [(choice, e.text) if e.meta.get("choice_first") else (e.text, choice)
                 for e in examples for choice in _choice_texts(e)]
        return [first for first, _ in pairs], [second for _, second in pairs]
    pairs = [text_pair(e) for e in examples]
    with_question = [second is not None for _, second in pairs]
    if any(with_question) and not all(with_question):
        raise ValueError(f"a batch mixes examples read with a question ({_describe(examples[with_question.index(True)])}) "
                         f"and without ({_describe(examples[with_question.index(False)])}): batch each task apart")
    return [first for first, _ in pairs], [second for _, second in pairs] if all(with_question) else None


def _choice_texts(example: KGQAExample) -> list[str]:
    """Each choice as its row reads it: followed by its `meta["choice_context"]` where it has one."""
    contexts = example.meta.get("choice_context") or [""] * len(example.choices)
    return [f"{choice} {context}" if context else choice for choice, context in zip(example.choices, contexts)]


def _label(example: KGQAExample, *, labels: LabelVocabulary | None, num_choices: int | None) -> int:
    """The example's label in the batch: its choice index, or its class (mapped by name when it has choices)."""
    if example.label == -1:
        return -1
    classes = num_choices or len(example.choices) or (len(labels) if labels is not None else None)
    if example.label < 0 or (classes is not None and example.label >= classes):
        raise ValueError(f"{_describe(example)}: label {example.label} is not one of its {classes} classes or choices")
    if labels is not None and not num_choices and example.choices:
        return labels.id(example.choices[example.label])
    return example.label


def _offered(examples: Sequence[KGQAExample], labels: LabelVocabulary) -> torch.Tensor | None:
    """bool [B, K]: the classes among each example's choices (names that are no class are passed over; all K for an
    example that names none), None when every example offers every class."""
    rows = []
    for example in examples:
        ids = {labels.id(name) for name in example.choices if name in labels.names}
        rows.append([not ids or i in ids for i in range(len(labels))])
    offered = torch.tensor(rows, dtype=torch.bool).reshape(len(examples), len(labels))
    return None if bool(offered.all()) else offered


def _starts(counts: np.ndarray) -> np.ndarray:
    """Exclusive cumulative sum: where each of the consecutive blocks of `counts` starts."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated `arange(start, start + count)` for each pair, without a Python loop."""
    total = int(counts.sum())
    return np.repeat(starts - _starts(counts), counts) + np.arange(total, dtype=np.int64)


def _graph_union(examples: Sequence[KGQAExample], *, relations: RelationVocabulary, copies: int,
                 endpoints: bool) -> dict[str, np.ndarray]:
    """The arrays of the graph part of the batch; each example's graph appears `copies` times in a row. With
    `endpoints` (text graphs), also "edge_endpoint_char_spans" [E, 2, 2] (`endpoint_char_spans`)."""
    node_counts = np.array([e.num_nodes for e in examples], dtype=np.int64)
    edge_counts = np.array([e.num_edges for e in examples], dtype=np.int64)
    node_starts, edge_starts = _starts(node_counts), _starts(edge_counts)
    graph_example = np.repeat(np.arange(len(examples)), copies)  # [G]
    graph_nodes, graph_edges = node_counts[graph_example], edge_counts[graph_example]
    graph_node_offset = _starts(graph_nodes)
    node_source = _ranges(node_starts[graph_example], graph_nodes)  # [N] rows of the examples' node arrays
    edge_source = _ranges(edge_starts[graph_example], graph_edges)  # [E] rows of the examples' edge arrays
    graph_of_edge = np.repeat(np.arange(len(graph_example)), graph_edges)

    question = [np.asarray(e.meta.get("question_node_index", e.mention_node_index), np.int64) for e in examples]
    node_type = np.zeros(int(node_counts.sum()), np.int64)
    node_type[np.concatenate([start + nodes for start, nodes in zip(node_starts, question)])] = NODE_QUESTION
    node_type = node_type[node_source]
    if copies > 1:
        choice_nodes = [
            graph_node_offset[g] + np.asarray(examples[b].meta.get("choice_node_index", [[]] * copies)[g % copies], np.int64)
            for g, b in enumerate(graph_example)
        ]
        node_type[np.concatenate(choice_nodes)] = NODE_CHOICE

    edge_index = np.concatenate([e.edge_index for e in examples], axis=1)[:, edge_source] + graph_node_offset[graph_of_edge]
    char_spans = [e.edge_char_spans if len(e.edge_char_spans) else np.full((e.num_edges, 2), -1, np.int64) for e in examples]
    graphs = {
        "node_ids": np.concatenate([e.node_ids for e in examples])[node_source],
        "node_type": node_type,
        "edge_index": edge_index,
        "edge_type": np.concatenate([relations.edge_types(e) for e in examples])[edge_source],
        "batch": np.repeat(np.arange(len(graph_example), dtype=np.int64), graph_nodes),
        "graph_has_nodes": graph_nodes > 0,
        "edge_char_spans": np.concatenate(char_spans)[edge_source],
    }
    if endpoints:
        graphs["edge_endpoint_char_spans"] = np.concatenate(
            [endpoint_char_spans(e, spans) for e, spans in zip(examples, char_spans)]).reshape(-1, 2, 2)[edge_source]
    if any("query_node_index" in e.meta for e in examples):
        query = np.array([(list(e.meta.get("query_node_index", ())) + [-1, -1])[:2] for e in examples], np.int64)[graph_example]
        offset_query = np.where(query >= 0, query + graph_node_offset[:, None], -1)
        graphs["query_nodes"], graphs["query_targets"] = offset_query[:, 0].copy(), offset_query[:, 1].copy()
    if any("query_relation" in e.meta for e in examples):
        asked = [e.meta.get("query_relation") for e in examples]
        graphs["query_relations"] = np.array([-1 if name is None else relations.id(name) for name in asked],
                                             np.int64)[graph_example]
    return graphs


# --- dataset and loader ------------------------------------------------------------------------------------


class ExampleDataset(Dataset):
    """The examples of a list, or of a preprocessing cache (`from_cache`), held in memory."""

    def __init__(self, examples: Iterable[KGQAExample]) -> None:
        self.examples = list(examples)

    @classmethod
    def from_cache(cls, directory: str | os.PathLike) -> ExampleDataset:
        """Every complete shard of a `kgreason preprocess` cache directory (`<output>/<task>-<key>`)."""
        cache = ShardCache(directory)
        if not cache.directory.is_dir() or not cache.done():
            raise FileNotFoundError(f"{directory}: no complete shards here; run `kgreason preprocess` and pass "
                                    "the cache directory it reports (summary.cache_dir)")
        return cls(cache.examples())

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> KGQAExample:
        return self.examples[index]


@dataclass(frozen=True)
class Collator:
    """`collate` with its settings bound: a picklable `collate_fn` for `DataLoader` workers."""

    tokenizer: Any
    relations: RelationVocabulary
    labels: LabelVocabulary | None = None
    max_length: int = 128

    def __call__(self, examples: Sequence[KGQAExample]) -> KGQABatch:
        return collate(examples, tokenizer=self.tokenizer, relations=self.relations, labels=self.labels,
                       max_length=self.max_length)


def make_loader(
    dataset: Dataset | Sequence[KGQAExample],
    *,
    batch_size: int,
    tokenizer: Any,
    relations: RelationVocabulary,
    labels: LabelVocabulary | None = None,
    shuffle: bool = False,
    seed: int = 0,
    max_length: int = 128,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A `DataLoader` of `KGQABatch`es in the dataset's order, or shuffled by `seed`: the same seed gives the
    same batches whatever `num_workers`, and each pass over the loader (epoch) a new order."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=RandomSampler(dataset, generator=torch.Generator().manual_seed(seed)) if shuffle else None,
        collate_fn=Collator(tokenizer, relations, labels, max_length),
        num_workers=num_workers,
        pin_memory=pin_memory,
    )
