"""`KnowledgeGraph`: vocabularies of keys plus integer triple arrays; the type every other module shares.

A graph holds
- `entities`, `relations`, `literals`: `Vocabulary` objects (key string <-> id; keys as in `kgreason.kg.terms`);
- `triples: int64[N, 3]` rows (head, relation, tail) between entities, with `weights: float32[N]`
  (1.0 unless the source gave one, e.g. ConceptNet's confidence);
- `attributes: int64[M, 3]` rows (entity, relation, literal): literal-valued statements are kept as
  attributes, not as nodes, so that graph views and GNNs see entities only while nothing is dropped.
  `rdfs:label` / `skos:prefLabel` attributes give an entity's label, `skos:altLabel` its aliases.

Graphs are values: `extend()` returns a new graph; ids of existing keys never change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from .builder import GraphBuilder, GraphDelta
from .terms import Kind, kind_of, local_name, parse_literal
from .vocab import Vocabulary

if TYPE_CHECKING:  # pragma: no cover
    import networkx
    import rdflib
    import torch_geometric.data

    from .traversal import Path, Subgraph

LABEL_RELATIONS = (
    "<http://www.w3.org/2000/01/rdf-schema#label>",
    "<http://www.w3.org/2004/02/skos/core#prefLabel>",
)
ALIAS_RELATIONS = ("<http://www.w3.org/2004/02/skos/core#altLabel>",)


class KnowledgeGraph:
    """Entities, relations and literals with integer triples; see the module docstring for the layout."""

    def __init__(
        self,
        entities: Vocabulary,
        relations: Vocabulary,
        literals: Vocabulary,
        triples: np.ndarray,
        weights: np.ndarray | None = None,
        attributes: np.ndarray | None = None,
    ) -> None:
        self.entities, self.relations, self.literals = entities, relations, literals
        self.triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
        self.weights = (
            np.ones(len(self.triples), dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
        )
        self.attributes = np.zeros((0, 3), np.int64) if attributes is None else np.asarray(attributes, np.int64).reshape(-1, 3)
        if len(self.weights) != len(self.triples):
            raise ValueError(f"weights has {len(self.weights)} rows but triples has {len(self.triples)}")
        self._labels: tuple[dict[int, str], dict[int, list[str]]] | None = None
        self._adjacency = None  # kgreason.kg.traversal.Adjacency, built on first use
        self._sparql_engines: dict[str, Any] = {}  # engine name -> loaded store, built on first query

    # --- construction --------------------------------------------------------------------------------------

    @classmethod
    def empty(cls) -> KnowledgeGraph:
        return cls(Vocabulary(), Vocabulary(), Vocabulary(), np.zeros((0, 3), np.int64))

    @classmethod
    def from_triples(cls, triples: Iterable[Sequence[Any]]) -> KnowledgeGraph:
        """Graph from `(head, relation, tail)` or `(head, relation, tail, weight)` key tuples.

        >>> kg = KnowledgeGraph.from_triples([("ann", "mother_of", "bob"), ("bob", "father_of", "carl")])
        >>> kg.num_entities, kg.num_triples
        (3, 2)
        """
        rows = [tuple(t) for t in triples]
        builder = GraphBuilder()
        weights = [float(t[3]) for t in rows] if rows and len(rows[0]) > 3 else None
        builder.add([str(t[0]) for t in rows], [str(t[1]) for t in rows], [str(t[2]) for t in rows], weights)
        return builder.build()

    @classmethod
    def read(cls, *paths: str | PathLike, format: str | None = None, engine: str = "auto", allow_remote: bool = False) -> KnowledgeGraph:
        """Read files (RDF, TSV/CSV triples, ConceptNet; gzip too) into a new graph. See `kgreason.kg.readers`."""
        from .readers import read_into

        builder = GraphBuilder()
        for scope, path in enumerate(paths):
            read_into(builder, path, format=format, engine=engine, allow_remote=allow_remote, bnode_prefix=f"f{scope}_")
        return builder.build()

    def extend(self, delta: GraphDelta) -> KnowledgeGraph:
        """A new graph with `delta` (from `GraphBuilder.delta()`) appended; ids of this graph are kept."""
        entities, relations, literals = self.entities.copy(), self.relations.copy(), self.literals.copy()
        for vocab, keys in ((entities, delta.entity_keys), (relations, delta.relation_keys), (literals, delta.literal_keys)):
            vocab.ids(keys)
        return KnowledgeGraph(
            entities,
            relations,
            literals,
            np.concatenate([self.triples, delta.triples]),
            np.concatenate([self.weights, delta.weights]),
            np.concatenate([self.attributes, delta.attributes]),
        )

    # --- size and equality ---------------------------------------------------------------------------------

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    @property
    def num_triples(self) -> int:
        return len(self.triples)

    def __repr__(self) -> str:
        return (
            f"KnowledgeGraph(entities={self.num_entities}, relations={self.num_relations}, "
            f"triples={self.num_triples}, attributes={len(self.attributes)})"
        )

    def triple_keys(self) -> Iterable[tuple[str, str, str]]:
        """Every entity triple as `(head key, relation key, tail key)`."""
        e, r = self.entities.keys, self.relations.keys
        return ((e[h], r[p], e[t]) for h, p, t in self.triples.tolist())

    def attribute_keys(self) -> Iterable[tuple[str, str, str]]:
        """Every literal-valued statement as `(entity key, relation key, literal key)`."""
        e, r, lit = self.entities.keys, self.relations.keys, self.literals.keys
        return ((e[h], r[p], lit[v]) for h, p, v in self.attributes.tolist())

    def statement_set(self) -> set[tuple[str, str, str]]:
        """All statements (triples and attributes) as a set of key tuples: order-free comparison."""
        return set(self.triple_keys()) | set(self.attribute_keys())

    def same_statements(self, other: KnowledgeGraph) -> bool:
        """True when both graphs hold the same statements, whatever the ids (blank-node labels must match)."""
        return self.statement_set() == other.statement_set()

    # --- labels --------------------------------------------------------------------------------------------

    def _label_tables(self) -> tuple[dict[int, str], dict[int, list[str]]]:
        if self._labels is None:
            label_rel = {self.relations.get(k) for k in LABEL_RELATIONS} - {None}
            alias_rel = {self.relations.get(k) for k in ALIAS_RELATIONS} - {None}
            labels: dict[int, str] = {}
            aliases: dict[int, list[str]] = defaultdict(list)
            if label_rel or alias_rel:
                for ent, rel, lit in self.attributes.tolist():
                    if rel in label_rel or rel in alias_rel:
                        text = parse_literal(self.literals[lit])[0]
                        if rel in label_rel and ent not in labels:
                            labels[ent] = text
                        else:
                            aliases[ent].append(text)
            self._labels = (labels, dict(aliases))
        return self._labels

    def label(self, entity: int) -> str:
        """Display label: `rdfs:label`/`skos:prefLabel`, else the name, else the IRI's local name."""
        labels, _ = self._label_tables()
        return labels.get(entity) or local_name(self.entities[entity])

    def aliases(self, entity: int) -> list[str]:
        """Other labels of an entity (`skos:altLabel`, extra `rdfs:label`s)."""
        return list(self._label_tables()[1].get(entity, []))

    def find_entities(self, text: str) -> list[int]:
        """Ids of entities whose label, alias or name equals `text` (case-insensitive)."""
        wanted = text.casefold()
        labels, aliases = self._label_tables()
        hits = {e for e, lab in labels.items() if lab.casefold() == wanted}
        hits |= {e for e, names in aliases.items() if any(a.casefold() == wanted for a in names)}
        hits |= {i for i, key in enumerate(self.entities.keys) if kind_of(key) is Kind.NAME and key.casefold() == wanted}
        return sorted(hits)

    # --- views (kgreason.kg.views) -------------------------------------------------------------------------

    def to_rdflib(self, *, triple_terms: str = "error") -> rdflib.Graph:
        """An `rdflib.Graph` with every statement; names become `urn:kgreason:` IRIs."""
        from .views import to_rdflib

        return to_rdflib(self, triple_terms=triple_terms)

    def to_networkx(self) -> networkx.MultiDiGraph:
        """A `networkx.MultiDiGraph`: nodes are entity keys, edges carry `relation` and `weight`."""
        from .views import to_networkx

        return to_networkx(self)

    def to_pyg(self) -> torch_geometric.data.Data:
        """PyG `Data(edge_index: [2, N], edge_type: [N], edge_weight: [N], num_nodes)`."""
        from .views import to_pyg

        return to_pyg(self)

    @classmethod
    def from_rdflib(cls, graph: rdflib.Graph) -> KnowledgeGraph:
        from .views import from_rdflib

        return from_rdflib(graph)

    @classmethod
    def from_networkx(cls, graph: networkx.Graph) -> KnowledgeGraph:
        from .views import from_networkx

        return from_networkx(graph)

    # --- persistence (kgreason.kg.store) -------------------------------------------------------------------

    def save(self, directory: str | PathLike) -> None:
        """Write the graph as a store directory (atomically: readers see the old or the new graph)."""
        from .store import Store

        Store.create(directory, self)

    @classmethod
    def load(cls, directory: str | PathLike) -> KnowledgeGraph:
        """Read a store directory written by `save()` or `kgreason ingest`."""
        from .store import Store

        return Store(directory).load()

    # --- queries and traversal -----------------------------------------------------------------------------

    def query(self, sparql: str, *, engine: str = "oxigraph") -> Any:
        """Run a SPARQL query; see `kgreason.kg.sparql.query`."""
        from .sparql import query

        return query(self, sparql, engine=engine)

    def neighbours(self, entity: int, *, direction: str = "both") -> np.ndarray:
        """Rows `[neighbour, relation, direction(+1 out / -1 in)]` of one entity; int64 [d, 3]."""
        from .traversal import neighbours

        return neighbours(self, entity, direction=direction)

    def k_hop_subgraph(
        self, node_ids: Sequence[int], k: int, *, max_nodes: int | None = None, max_fanout: int | None = None
    ) -> Subgraph:
        """The entities within `k` hops of `node_ids` (either direction), capped at `max_nodes`; each expanded
        node adds at most `max_fanout` new neighbours (see `kgreason.kg.traversal.k_hop_subgraph`)."""
        from .traversal import k_hop_subgraph

        return k_hop_subgraph(self, node_ids, k, max_nodes=max_nodes, max_fanout=max_fanout)

    def shortest_paths(
        self, sources: Sequence[int], targets: Sequence[int], *, max_length: int = 4, limit: int | None = 10
    ) -> list[Path]:
        """Up to `limit` shortest paths (edges followed either way) from any source to any target."""
        from .traversal import shortest_paths

        return shortest_paths(self, sources, targets, max_length=max_length, limit=limit)
