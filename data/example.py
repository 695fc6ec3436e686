"""`KGQAExample`: one question with its graph, the unit every task produces and every model consumes.

The graph is either a subgraph of a background KG (`node_ids` are then that KG's entity ids) or a graph read
from the text itself (a `TextGraph`; `node_ids` are then its node indices and `meta["graph"] == "text"`).
Examples are written to disk as JSON lines (`to_dict` / `from_dict`): plain lists, no pickles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kgreason.kg.traversal import GraphCounts


@dataclass
class KGQAExample(GraphCounts):
    """One question, its answer choices and its graph.

    text: the input text (question, story or premise)
    choices: answer choices (empty for classification over a label set)
    label: index of the right choice or class (-1: unknown)
    node_ids: int64 [N] the graph's nodes (global KG ids or text-graph node indices)
    edge_index: int64 [2, E] local indices into `node_ids`
    edge_type: int64 [E] relation ids (of the KG, or of the task's relation vocabulary)
    edge_char_spans: int64 [E, 2] character span in `text` of the sentence each edge was read from (text
        graphs); empty when no edge has one, -1 where an edge has none
    mention_node_index: int64 [M] local nodes the text mentions
    mention_char_spans: int64 [M, 2] where in `text` (characters) each mention is; -1 when not from `text`
    meta: task, id, chain length / depth, flags (e.g. "no_linked_entity"), evidence paths
    """

    text: str
    choices: list[str] = field(default_factory=list)
    label: int = -1
    node_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    edge_index: np.ndarray = field(default_factory=lambda: np.zeros((2, 0), np.int64))
    edge_type: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    edge_char_spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    mention_node_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mention_char_spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    meta: dict[str, Any] = field(default_factory=dict)

    ARRAYS = {
        "node_ids": (np.int64, (-1,)),
        "edge_index": (np.int64, (2, -1)),
        "edge_type": (np.int64, (-1,)),
        "edge_char_spans": (np.int64, (-1, 2)),
        "mention_node_index": (np.int64, (-1,)),
        "mention_char_spans": (np.int64, (-1, 2)),
    }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (arrays as nested lists)."""
        out: dict[str, Any] = {"text": self.text, "choices": list(self.choices), "label": int(self.label)}
        out.update({name: getattr(self, name).tolist() for name in self.ARRAYS})
        out["meta"] = self.meta
        return out

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> KGQAExample:
        """The inverse of `to_dict`."""
        arrays = {
            name: np.asarray(record.get(name, []), dtype=dtype).reshape(shape)
            for name, (dtype, shape) in cls.ARRAYS.items()
        }
        return cls(
            text=record["text"],
            choices=list(record.get("choices", [])),
            label=int(record.get("label", -1)),
            meta=dict(record.get("meta", {})),
            **arrays,
        )
