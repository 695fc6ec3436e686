"""`TextGraph`: a graph read from the input text itself (a CLUTRR story, a ProofWriter theory).

Nodes are the things the text talks about (people, entities, attributes, rules); every edge remembers where
in the text it came from: the sentence (character span) and the two mentions (character spans), so that an
encoder can pool the transformer's hidden states over exactly those characters (map them to its tokens with
the tokenizer's `offset_mapping`). Character offsets, not spaCy token offsets: they survive any tokenizer.

Edge labels are names (`"father"`, `"is"`, `"if"`, `"mentions"`); an edge that was read without a typed
relation has the label `UNTYPED`. Negation is an edge property (`negated`), not a separate label.

Views go through the KG core: `to_knowledge_graph()` gives a `KnowledgeGraph` over the node names (keys
`urn:kgreason:` names, see `kgreason.kg.terms`), hence `to_rdflib()` (Turtle, pictures via networkx) and
`to_pyg()` with the edges in this graph's order; `to_dot()` draws it with Graphviz.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kgreason.kg import KnowledgeGraph

if TYPE_CHECKING:  # pragma: no cover
    import rdflib
    import torch_geometric

UNTYPED = "mentions"  # label of an edge whose relation was not read off the text
NEGATED = "not_"  # prefix of a negated edge's relation in the KG views (`not_likes`)

Span = tuple[int, int]  # [start, end) character offsets into `TextGraph.text`


@dataclass
class TextGraph:
    """Nodes and edges read from `text`, each edge with its evidence in the text.

    nodes: N node names, unique (a person's name, "bald eagle", "red", "rule 3")
    node_types: N types ("person", "entity", "attribute", "rule")
    node_mentions: per node, the character spans where the text names it (may be empty, e.g. rule nodes)
    edges: int64 [E, 2] (source, target) node indices
    edge_labels: E relation names (`UNTYPED` when not typed)
    negated: bool [E]
    sentence_spans: int64 [E, 2] character span of the sentence each edge comes from
    mention_spans: int64 [E, 4] (source start, source end, target start, target end) characters; -1 when a
        side has no mention in that sentence (a rule node)
    sentence_index: int64 [E] index of that sentence in `sentences`
    sentences: the text's sentences as character spans, in order
    """

    text: str
    nodes: list[str] = field(default_factory=list)
    node_types: list[str] = field(default_factory=list)
    node_mentions: list[list[Span]] = field(default_factory=list)
    edges: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    edge_labels: list[str] = field(default_factory=list)
    negated: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    sentence_spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    mention_spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    sentence_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sentences: list[Span] = field(default_factory=list)

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    def node(self, name: str) -> int:
        """The index of the node called `name` (KeyError when there is none)."""
        return self.nodes.index(name)

    def node_indices(self, names: Iterable[str]) -> list[int]:
        """The index of each node named, -1 for a name the graph has no node for (a query about someone the
        text never mentions)."""
        return [self.nodes.index(name) if name in self.nodes else -1 for name in names]

    def edge_triples(self) -> list[tuple[str, str, str]]:
        """Edges as `(source name, relation, target name)`, negated relations prefixed with `NEGATED`."""
        return [
            (self.nodes[s], NEGATED + label if neg else label, self.nodes[t])
            for (s, t), label, neg in zip(self.edges.tolist(), self.edge_labels, self.negated.tolist())
        ]

    def to_knowledge_graph(self) -> KnowledgeGraph:
        """The graph as a `KnowledgeGraph` (node names as plain-name keys; repeated edges become one triple)."""
        return KnowledgeGraph.from_triples(self.edge_triples())

    def to_rdflib(self) -> rdflib.Graph:
        """The graph as RDF (`kg:` names), e.g. `graph.to_rdflib().serialize(format="turtle")`."""
        return self.to_knowledge_graph().to_rdflib()

    def to_dot(self) -> str:
        """The graph in Graphviz DOT, to look at: `dot -Tsvg graph.dot -o graph.svg`.

        Node shapes by type (person/entity: ellipse, attribute: box, rule: diamond); negated edges dashed.
        """
        shapes = {"attribute": "box", "rule": "diamond"}

        def quoted(text: str) -> str:
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = ["digraph text_graph {", "  node [fontname=Helvetica]; edge [fontname=Helvetica, fontsize=10];"]
        lines += [f"  n{i} [label={quoted(name)}, shape={shapes.get(kind, 'ellipse')}];"
                  for i, (name, kind) in enumerate(zip(self.nodes, self.node_types))]
        lines += [f"  n{s} -> n{t} [label={quoted(label)}{', style=dashed' if neg else ''}];"
                  for (s, t), label, neg in zip(self.edges.tolist(), self.edge_labels, self.negated.tolist())]
        return "\n".join([*lines, "}"]) + "\n"

    def to_pyg(self) -> torch_geometric.data.Data:
        """`Data(edge_index [2, E], edge_type [E], num_nodes)`, nodes and edges in this graph's order.

        `edge_type` indexes `relation_names`, the sorted distinct edge labels (negated ones prefixed).
        """
        import torch
        from torch_geometric.data import Data

        labels = [NEGATED + label if neg else label for label, neg in zip(self.edge_labels, self.negated.tolist())]
        names = sorted(set(labels))
        index = {name: i for i, name in enumerate(names)}
        return Data(
            edge_index=torch.as_tensor(self.edges.T.copy(), dtype=torch.long).reshape(2, -1),
            edge_type=torch.tensor([index[label] for label in labels], dtype=torch.long),
            num_nodes=self.num_nodes,
            relation_names=names,
        )


class TextGraphBuilder:
    """Adds nodes and edges one at a time; `build()` makes the arrays.

    >>> b = TextGraphBuilder("Ann likes Bob.")
    >>> s = b.sentence((0, 14))
    >>> ann, bob = b.node("Ann", "person", (0, 3)), b.node("Bob", "person", (10, 13))
    >>> _ = b.edge(ann, bob, "likes", sentence=s, source_span=(0, 3), target_span=(10, 13))
    >>> b.build().edge_triples()
    [('Ann', 'likes', 'Bob')]
    """

    def __init__(self, text: str) -> None:
        self.graph = TextGraph(text)
        self._index: dict[str, int] = {}
        self._edges: list[tuple[int, int]] = []
        self._negated: list[bool] = []
        self._sentence: list[int] = []
        self._mentions: list[tuple[int, int, int, int]] = []

    def sentence(self, span: Span) -> int:
        """Register a sentence (character span); returns its index."""
        self.graph.sentences.append((int(span[0]), int(span[1])))
        return len(self.graph.sentences) - 1

    def node(self, name: str, type: str, mention: Span | None = None) -> int:
        """The node called `name` (made on first use, with `type`); `mention` is added to its mentions."""
        graph = self.graph
        i = self._index.get(name)
        if i is None:
            i = self._index[name] = len(graph.nodes)
            graph.nodes.append(name)
            graph.node_types.append(type)
            graph.node_mentions.append([])
        if mention is not None and tuple(mention) not in graph.node_mentions[i]:
            graph.node_mentions[i].append((int(mention[0]), int(mention[1])))
        return i

    def edge(
        self,
        source: int,
        target: int,
        label: str = UNTYPED,
        *,
        sentence: int,
        source_span: Span | None = None,
        target_span: Span | None = None,
        negated: bool = False,
    ) -> int:
        """Add an edge read from sentence `sentence`; returns its index."""
        self._edges.append((source, target))
        self.graph.edge_labels.append(label)
        self._negated.append(negated)
        self._sentence.append(sentence)
        self._mentions.append((*(source_span or (-1, -1)), *(target_span or (-1, -1))))
        return len(self._edges) - 1

    def build(self) -> TextGraph:
        graph = self.graph
        graph.edges = np.array(self._edges, dtype=np.int64).reshape(-1, 2)
        graph.negated = np.array(self._negated, dtype=bool)
        graph.sentence_index = np.array(self._sentence, dtype=np.int64)
        spans = np.array(graph.sentences, dtype=np.int64).reshape(-1, 2)
        graph.sentence_spans = spans[graph.sentence_index] if len(spans) else np.zeros((0, 2), np.int64)
        graph.mention_spans = np.array(self._mentions, dtype=np.int64).reshape(-1, 4)
        return graph
