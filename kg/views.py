"""Views of a `KnowledgeGraph` as rdflib, networkx and PyG objects, and the way back from rdflib / networkx.

- rdflib: every statement (triples and literal attributes); names become `urn:kgreason:` IRIs and are read
  back as names, so `from_rdflib(to_rdflib(kg))` holds the same statements.
- networkx: a `MultiDiGraph` whose nodes are entity keys (attribute `id`, `label`, and `literals`: a list of
  `(relation key, literal key)`), one edge per triple with `key` = `relation` = relation key and `weight`.
- PyG: `Data(edge_index: int64[2, N], edge_type: int64[N], edge_weight: float32[N], num_nodes)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .builder import GraphBuilder
from .errors import TermError
from .terms import NAME_NAMESPACE, BlankNodeScope, Kind, key_from_rdflib, key_to_rdflib, kind_of

if TYPE_CHECKING:  # pragma: no cover
    import networkx
    import rdflib
    import torch_geometric.data

    from .graph import KnowledgeGraph


def to_rdflib(kg: KnowledgeGraph, *, triple_terms: str = "error") -> rdflib.Graph:
    """`triple_terms='error'` raises on RDF 1.2 triple terms (rdflib cannot hold them); `'skip'` leaves them out."""
    import rdflib

    if triple_terms not in ("error", "skip"):
        raise ValueError("triple_terms must be 'error' or 'skip'")
    graph = rdflib.Graph()
    graph.bind("kg", NAME_NAMESPACE)  # plain names print as kg:name
    cache: dict[str, rdflib.term.Node | None] = {}

    def term(key: str):
        node = cache.get(key)
        if node is None and key not in cache:
            if kind_of(key) is Kind.TRIPLE and triple_terms == "skip":
                node = None
            else:
                node = key_to_rdflib(key)
            cache[key] = node
        return node

    for statements in (kg.triple_keys(), kg.attribute_keys()):
        for s, p, o in statements:
            ts, tp, to = term(s), term(p), term(o)
            if ts is not None and tp is not None and to is not None:
                graph.add((ts, tp, to))
    return graph


def from_rdflib(graph: rdflib.Graph) -> KnowledgeGraph:
    """Graph from an rdflib `Graph` (or `Dataset`: named graphs are merged). Blank-node labels are kept."""
    bnodes = BlankNodeScope(None)
    heads, rels, tails = [], [], []
    for s, p, o in graph.triples((None, None, None)):
        heads.append(key_from_rdflib(s, bnodes))
        rels.append(key_from_rdflib(p, bnodes))
        tails.append(key_from_rdflib(o, bnodes))
    builder = GraphBuilder()
    builder.add(heads, rels, tails)
    return builder.build()


def to_networkx(kg: KnowledgeGraph) -> networkx.MultiDiGraph:
    import networkx as nx

    graph = nx.MultiDiGraph()
    keys = kg.entities.keys
    graph.add_nodes_from((key, {"id": i, "label": kg.label(i), "literals": []}) for i, key in enumerate(keys))
    for ent, rel, lit in kg.attributes.tolist():
        graph.nodes[keys[ent]]["literals"].append((kg.relations[rel], kg.literals[lit]))
    rel_keys = kg.relations.keys
    graph.add_edges_from(
        (keys[h], keys[t], rel_keys[r], {"relation": rel_keys[r], "weight": w})
        for (h, r, t), w in zip(kg.triples.tolist(), kg.weights.tolist())
    )
    return graph


def from_networkx(graph: networkx.Graph) -> KnowledgeGraph:
    """Graph from any networkx graph: node keys via `str()`; an edge's relation is its `relation` attribute,
    else its multigraph key, else `related_to`; `weight` is kept; node `literals` lists become attributes.
    Undirected graphs give one triple per edge, in the order networkx stores its ends."""
    heads, rels, tails, weights = [], [], [], []
    multi = graph.is_multigraph()
    edges = graph.edges(keys=True, data=True) if multi else ((u, v, None, d) for u, v, d in graph.edges(data=True))
    for u, v, key, data in edges:
        relation = data.get("relation", key if isinstance(key, str) else "related_to")
        heads.append(_node_key(u))
        rels.append(str(relation))
        tails.append(_node_key(v))
        weights.append(float(data.get("weight", 1.0)))
    for u, data in graph.nodes(data=True):
        for relation, literal in data.get("literals", ()):
            if kind_of(literal) is not Kind.LITERAL:
                raise TermError(f"node {u!r}: literal {literal!r} is not an N-Triples literal", hint='write it as "text" or "1"^^<datatype>')
            heads.append(_node_key(u))
            rels.append(str(relation))
            tails.append(literal)
            weights.append(1.0)
    builder = GraphBuilder()
    builder.add(heads, rels, tails, weights)
    graph_kg = builder.build()
    isolated = [_node_key(n) for n in graph.nodes if _node_key(n) not in graph_kg.entities]
    if isolated:  # nodes without edges are entities too
        graph_kg.entities.ids(isolated)
    return graph_kg


def _node_key(node) -> str:
    key = str(node)
    if kind_of(key) is Kind.LITERAL:
        raise TermError(f"networkx node {node!r} looks like a literal; literals cannot be nodes", hint="store it in the node's 'literals' list")
    return key


def to_pyg(kg: KnowledgeGraph) -> torch_geometric.data.Data:
    import torch
    from torch_geometric.data import Data

    triples = kg.triples
    return Data(
        edge_index=torch.from_numpy(np.ascontiguousarray(triples[:, [0, 2]].T)),
        edge_type=torch.from_numpy(np.ascontiguousarray(triples[:, 1])),
        edge_weight=torch.from_numpy(kg.weights.copy()),
        num_nodes=kg.num_entities,
    )
