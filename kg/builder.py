"""`GraphBuilder`: turns streams of key triples into id arrays, appended to a base graph without duplicates.

Readers hand over chunks of columns (`heads`, `relations`, `tails`: lists of keys, see `kgreason.kg.terms`);
tails that are literals go to the attribute table, everything else to `triples`. Ids of the base graph never
change; new keys get the next ids. Duplicates, inside the new data or against the base, are dropped at
`delta()` time with numpy (the first occurrence wins, order is kept).
"""

from __future__ import annotations

from array import array
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
        self._triples = array("q")
        self._weights = array("f")
        self._attributes = array("q")
        self.read = 0

    def add(
        self,
        heads: list[str],
        relations: list[str],
        tails: list[str],
        weights: list[float] | None = None,
    ) -> None:
        """Add one chunk of statements given as three equally long columns of keys (plus optional weights)."""
        self.read += len(heads)
        is_literal = [t[:1] == '"' for t in tails]
        if any(is_literal):
            # Entity ids in order of first appearance, row by row; literal tails go to the attribute table.
            self.entities.ids([x for h, t, lit in zip(heads, tails, is_literal) for x in ((h,) if lit else (h, t))])
            lit_rows = [i for i, flag in enumerate(is_literal) if flag]
            ent_rows = [i for i, flag in enumerate(is_literal) if not flag]
            self._add_attributes([heads[i] for i in lit_rows], [relations[i] for i in lit_rows], [tails[i] for i in lit_rows])
            heads, relations, tails = [heads[i] for i in ent_rows], [relations[i] for i in ent_rows], [tails[i] for i in ent_rows]
            weights = [weights[i] for i in ent_rows] if weights is not None else None
        ends = self.entities.ids([x for pair in zip(heads, tails) for x in pair])  # first-appearance order
        flat = array("q", bytes(8 * 3 * len(heads)))
        flat[0::3], flat[1::3], flat[2::3] = array("q", ends[0::2]), array("q", self.relations.ids(relations)), array("q", ends[1::2])
        self._triples.extend(flat)
        self._weights.extend(weights if weights is not None else [1.0] * len(heads))

    def _add_attributes(self, heads: list[str], relations: list[str], values: list[str]) -> None:
        flat = array("q", bytes(8 * 3 * len(heads)))
        flat[0::3] = array("q", self.entities.ids(heads))
        flat[1::3] = array("q", self.relations.ids(relations))
        flat[2::3] = array("q", self.literals.ids(values))
        self._attributes.extend(flat)

    def delta(self) -> GraphDelta:
        """New keys and new, de-duplicated rows relative to the base graph."""
        base = self.base
        triples = np.frombuffer(self._triples, dtype=np.int64).reshape(-1, 3)
        weights = np.frombuffer(self._weights, dtype=np.float32)
        attributes = np.frombuffer(self._attributes, dtype=np.int64).reshape(-1, 3)
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
