"""`GraphBuilder`: turns streams of key triples into id arrays, appended to a base graph without duplicates.

Readers hand over `EncodedChunk`s: the chunk's distinct keys (see `kgreason.kg.terms`) once, and its rows as
small ints into them, so that each key string is looked up in a vocabulary once per chunk, not once per row.
`GraphBuilder.add` takes plain columns of keys instead. Tails that are literals go to the attribute table,
everything else to `triples`. Ids of the base graph never change; new keys get the next ids. Duplicates,
inside the new data or against the base, are dropped at `delta()` time with numpy (the first occurrence
wins, order is kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .graph import KnowledgeGraph


@dataclass
class GraphDelta:
    """What a batch of input adds to a base graph: new vocabulary keys (in id order) and new rows."""

    entity_keys: list[str]
    relation_keys: list[str]
    literal_keys: list[str]
    triples: np.ndarray  # int64 [n, 3] (head, relation, tail), global ids
    weights: np.ndarray  # float32 [n]
    attributes: np.ndarray  # int64 [m, 3] (entity, relation, literal), global ids
    read: int = 0  # statements read (triples + attributes) before deduplication
    duplicates: int = 0  # statements dropped because they were already there
    stats: dict = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.entity_keys or self.relation_keys or self.literal_keys or len(self.triples) or len(self.attributes))


@dataclass
class EncodedChunk:
    """Statements as indices into the chunk's own key table.

    keys: K keys, numbered in order of first appearance, row by row (head, relation, tail). Keys are
        normally distinct; one that repeats (two spellings of one term) gets one id all the same.
    rows: int32 [n, 3] (head, relation, tail) indices into `keys`
    weights: float32 [n], or None for all 1.0
    """

    keys: list[str]
    rows: np.ndarray
    weights: np.ndarray | None = None

    @classmethod
    def from_columns(
        cls,
        heads: Sequence[str],
        relations: Sequence[str],
        tails: Sequence[str],
        weights: Sequence[float] | None = None,
    ) -> EncodedChunk:
        """The chunk of three equally long columns of keys (and optional weights)."""
        index: dict[str, int] = {}
        intern = index.setdefault
        ids = [intern(key, len(index)) for row in zip(heads, relations, tails) for key in row]
        rows = np.array(ids, dtype=np.int32).reshape(-1, 3)
        return cls(list(index), rows, None if weights is None else np.asarray(weights, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.rows)

    def columns(self) -> tuple[list[str], list[str], list[str], list[float] | None]:
        """`(heads, relations, tails, weights or None)` as lists, the form `GraphBuilder.add` takes."""
        heads, relations, tails = ([self.keys[i] for i in column] for column in self.rows.T.tolist())
        return heads, relations, tails, None if self.weights is None else self.weights.tolist()


class Interner(dict):
    """`interner[x]`: the id of `x`, a new one (the count so far) for an unseen `x`; `list(interner)`: the keys."""

    def __missing__(self, key) -> int:
        value = self[key] = len(self)
        return value


def _in_order_of_appearance(seq: np.ndarray) -> np.ndarray:
    """The distinct values of `seq` (int [n]) in order of their first appearance."""
    values, first = np.unique(seq, return_index=True)
    return values[np.argsort(first)]


def _row_keys(rows: np.ndarray, sizes: tuple[int, int, int]) -> np.ndarray:
    """One int64 per row `[a, b, c]` when it fits (a*B*C + b*C + c), else a void view for np.unique/isin."""
    _, b, c = sizes
    if rows.shape[0] == 0 or (max(sizes) + 1) ** 3 < 2**62:
        return (rows[:, 0] * b + rows[:, 1]) * c + rows[:, 2]
    contiguous = np.ascontiguousarray(rows)
    return contiguous.view(np.dtype((np.void, contiguous.dtype.itemsize * 3))).ravel()


def _new_rows(rows: np.ndarray, base_rows: np.ndarray, sizes: tuple[int, int, int]) -> np.ndarray:
    """Indices of the rows to keep: first occurrences that are not already in `base_rows`. Shapes [n, 3]."""
    if rows.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    keys = _row_keys(rows, sizes)
    _, first = np.unique(keys, return_index=True)
    first.sort()
    if base_rows.shape[0]:
        keep = ~np.isin(keys[first], _row_keys(base_rows, sizes))
        first = first[keep]
    return first


class GraphBuilder:
    """Accumulates key triples against `base` (not modified); `delta()` gives what is new."""

    def __init__(self, base: KnowledgeGraph | None = None) -> None:
        from .graph import KnowledgeGraph

        self.base = base if base is not None else KnowledgeGraph.empty()
        self.entities = self.base.entities.copy()
        self.relations = self.base.relations.copy()
        self.literals = self.base.literals.copy()
        self._triples: list[np.ndarray] = []  # int64 [n_i, 3] blocks
        self._weights: list[np.ndarray] = []  # float32 [n_i] blocks
        self._attributes: list[np.ndarray] = []  # int64 [m_i, 3] blocks
        self.read = 0

    def add(
        self,
        heads: list[str],
        relations: list[str],
        tails: list[str],
        weights: list[float] | None = None,
    ) -> None:
        """Add one chunk of statements given as three equally long columns of keys (plus optional weights)."""
        self.add_encoded(EncodedChunk.from_columns(heads, relations, tails, weights))

    def add_encoded(self, chunk: EncodedChunk) -> None:
        """Add one chunk of statements. Rows whose tail is a literal go to the attribute table.

        New keys get the next ids of their vocabulary in order of first appearance, row by row (entities:
        head, then tail), exactly as if the rows were added one at a time.
        """
        rows, keys = chunk.rows, chunk.keys
        self.read += len(rows)
        if not len(rows):
            return
        heads, rels, tails = rows[:, 0], rows[:, 1], rows[:, 2]
        literal_row = np.fromiter((k[:1] == '"' for k in keys), dtype=bool, count=len(keys))[tails]
        entity_seq = rows[:, 0::2][np.stack([np.ones_like(literal_row), ~literal_row], axis=1)]  # h0, t0, h1, ...
        sequences = (entity_seq, rels, tails[literal_row])
        used = np.zeros((3, len(keys)), dtype=bool)
        for role, seq in enumerate(sequences):
            used[role, seq] = True
        shared = used.sum(axis=0) > 1
        maps = []
        for role, (vocab, seq) in enumerate(zip((self.entities, self.relations, self.literals), sequences)):
            # Local ids count first appearances over all roles; within a role that is the same order unless
            # one of its keys also plays another role (e.g. a predicate that is also a subject).
            local = np.flatnonzero(used[role])
            if shared[local].any():
                local = _in_order_of_appearance(seq)
            mapping = np.zeros(len(keys), dtype=np.int64)
            mapping[local] = vocab.ids([keys[i] for i in local.tolist()])
            maps.append(mapping)
        entity, relation, literal = maps
        plain = ~literal_row
        self._triples.append(np.stack([entity[heads[plain]], relation[rels[plain]], entity[tails[plain]]], axis=1))
        weights = np.ones(len(rows), np.float32) if chunk.weights is None else np.asarray(chunk.weights, np.float32)
        self._weights.append(weights[plain])
        if literal_row.any():
            lit = literal_row
            self._attributes.append(np.stack([entity[heads[lit]], relation[rels[lit]], literal[tails[lit]]], axis=1))

    def delta(self) -> GraphDelta:
        """New keys and new, de-duplicated rows relative to the base graph."""
        base = self.base
        triples = np.concatenate([np.zeros((0, 3), np.int64), *self._triples])
        weights = np.concatenate([np.zeros(0, np.float32), *self._weights])
        attributes = np.concatenate([np.zeros((0, 3), np.int64), *self._attributes])
        sizes = (len(self.entities), len(self.relations), len(self.entities))
        keep_t = _new_rows(triples, base.triples, sizes)
        sizes_a = (len(self.entities), len(self.relations), len(self.literals))
        keep_a = _new_rows(attributes, base.attributes, sizes_a)
        kept = len(keep_t) + len(keep_a)
        return GraphDelta(
            entity_keys=list(self.entities.keys[base.num_entities :]),
            relation_keys=list(self.relations.keys[base.num_relations :]),
            literal_keys=list(self.literals.keys[len(base.literals) :]),
            triples=triples[keep_t].copy(),
            weights=weights[keep_t].copy(),
            attributes=attributes[keep_a].copy(),
            read=self.read,
            duplicates=self.read - kept,
        )

    def build(self) -> KnowledgeGraph:
        """The base graph extended by everything added so far."""
        return self.base.extend(self.delta())
