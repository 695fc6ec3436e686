"""Graph traversal over a `KnowledgeGraph`: neighbours, k-hop subgraphs and shortest paths.

Everything runs on one `Adjacency`, a CSR index over both directions of every triple, built with numpy
(argsort and cumsum, no Python loop per edge) the first time a graph is traversed and cached on the graph
(`kg._adjacency`). For entity `e` the entries `indptr[e]:indptr[e + 1]` are its incident edges, sorted by
(neighbour, relation), then out-edges before in-edges, then triple:

    neighbour[i]  the entity at the other end              int64
    relation[i]   the relation id                          int64
    direction[i]  +1 out-edge (e is the head), -1 in-edge  int8
    triple[i]     the row of `kg.triples`                  int64

A triple `(h, r, t)` appears twice: as an out-edge of `h` and as an in-edge of `t` (a self-loop twice at `h`).

- `neighbours(kg, e)`: rows `[neighbour, relation, direction]` of one entity.
- `k_hop_subgraph(kg, seeds, k)`: the induced subgraph on the entities within `k` hops (either direction),
  with local `edge_index` ready for a GNN; BFS levels are expanded with numpy, one vector step per hop;
  `max_fanout` caps how many new neighbours one node (a hub) may add, `max_nodes` the whole set.
- `induced_edges(kg, nodes)`: every triple between the given entities, indexed locally.
- `shortest_paths(kg, sources, targets)`: every shortest path (edges followed either way) from the source
  set to each target, as `Path` objects that can `describe()` themselves.

>>> from kgreason.kg.graph import KnowledgeGraph
>>> kg = KnowledgeGraph.from_triples([("ann", "mother_of", "bob"), ("carl", "father_of", "bob")])
>>> ann, carl = kg.entities.id("ann"), kg.entities.id("carl")
>>> [p.describe(kg) for p in shortest_paths(kg, [ann], [carl])]
['ann —mother_of→ bob ←father_of— carl']
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .terms import local_name

if TYPE_CHECKING:  # pragma: no cover
    from .graph import KnowledgeGraph

DIRECTIONS = ("both", "out", "in")

__all__ = [
    "Adjacency",
    "Path",
    "Subgraph",
    "adjacency",
    "induced_edges",
    "k_hop_subgraph",
    "neighbours",
    "shortest_paths",
]


# --- adjacency -------------------------------------------------------------------------------------------


class GraphCounts:
    """`num_nodes` and `num_edges` of anything with `node_ids [N]` and `edge_index [2, E]`."""

    node_ids: np.ndarray
    edge_index: np.ndarray

    @property
    def num_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]


@dataclass(frozen=True)
class Adjacency:
    """CSR index of incident edges over both directions; see the module docstring for the layout.

    `indptr: int64[E + 1]`; `neighbour`, `relation`, `triple: int64[2N]`; `direction: int8[2N]`.
    """

    indptr: np.ndarray
    neighbour: np.ndarray
    relation: np.ndarray
    direction: np.ndarray
    triple: np.ndarray
    num_triples: int

    @property
    def num_entities(self) -> int:
        return len(self.indptr) - 1

    @property
    def degree(self) -> np.ndarray:
        """int64[E]: incident edges per entity (a self-loop counts twice)."""
        return np.diff(self.indptr)

    @classmethod
    def build(cls, triples: np.ndarray, num_entities: int) -> Adjacency:
        """Index `triples: int64[N, 3]` rows (head, relation, tail) with ids below `num_entities`."""
        triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
        n = len(triples)
        if n and (triples[:, [0, 2]].min() < 0 or triples[:, [0, 2]].max() >= num_entities):
            raise ValueError(
                f"triples refer to entity ids outside 0..{num_entities - 1}; the graph's arrays are inconsistent "
                "— rebuild it with GraphBuilder or KnowledgeGraph.from_triples"
            )
        heads, rels, tails = triples[:, 0], triples[:, 1], triples[:, 2]
        owner = np.concatenate([heads, tails])
        neighbour = np.concatenate([tails, heads])
        relation = np.concatenate([rels, rels])
        direction = np.concatenate([np.ones(n, np.int8), np.full(n, -1, np.int8)])
        triple = np.concatenate([np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)])
        # sort by (owner, neighbour, relation); stable, so ties keep out-entries first, then triple order
        key = owner * num_entities + neighbour
        num_rel = int(rels.max()) + 1 if n else 1
        if num_entities * num_entities * num_rel < 2**62:
            order = np.argsort(key * num_rel + relation, kind="stable")
        else:  # pragma: no cover - only for graphs with billions of entities
            order = np.lexsort((relation, key))
        indptr = np.zeros(num_entities + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner, minlength=num_entities), out=indptr[1:])
        return cls(indptr, neighbour[order], relation[order], direction[order], triple[order], n)

    def gather(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entries of every node in `nodes: int64[m]`: (positions int64[d], owner int64[d] index into `nodes`)."""
        starts = self.indptr[nodes]
        counts = self.indptr[nodes + 1] - starts
        total = int(counts.sum())
        owner = np.repeat(np.arange(len(nodes), dtype=np.int64), counts)
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(starts, counts) + offsets, owner


def adjacency(kg: KnowledgeGraph) -> Adjacency:
    """The graph's `Adjacency`, built on first use and cached in `kg._adjacency`."""
    adj = getattr(kg, "_adjacency", None)
    if not isinstance(adj, Adjacency) or adj.num_entities != kg.num_entities or adj.num_triples != kg.num_triples:
        adj = Adjacency.build(kg.triples, kg.num_entities)
        kg._adjacency = adj
    return adj


# --- argument checks -------------------------------------------------------------------------------------


def _entity(kg: KnowledgeGraph, entity: object, what: str = "entity") -> int:
    try:
        e = operator.index(entity)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(
            f"{what} must be an integer entity id, got {entity!r}; map keys with kg.entities.id(key)"
        ) from None
    if not 0 <= e < kg.num_entities:
        raise ValueError(f"{what} {e} is not an entity id of this graph; allowed ids are 0..{kg.num_entities - 1}")
    return e


def _entities(kg: KnowledgeGraph, ids: Sequence[int] | np.ndarray, what: str) -> np.ndarray:
    """`ids` as int64[m], checked against the graph (duplicates kept)."""
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(
            f"{what} must be a 1-D sequence of integer entity ids, got {arr.dtype} array of shape {arr.shape}; "
            "map keys with kg.entities.ids(keys)"
        )
    arr = arr.astype(np.int64, copy=False)
    bad = arr[(arr < 0) | (arr >= kg.num_entities)]
    if len(bad):
        raise ValueError(
            f"{what} contains {bad[0]}, which is not an entity id of this graph; "
            f"allowed ids are 0..{kg.num_entities - 1}"
        )
    return arr


def _unique_in_order(ids: np.ndarray) -> np.ndarray:
    _, first = np.unique(ids, return_index=True)
    return ids[np.sort(first)]


# --- neighbours ------------------------------------------------------------------------------------------


def neighbours(kg: KnowledgeGraph, entity: int, *, direction: str = "both") -> np.ndarray:
    """Rows `[neighbour, relation, direction]` (+1 out-edge, -1 in-edge) of `entity`; int64 [d, 3].

    `direction` is "both", "out" (triples with `entity` as head) or "in" (as tail). Rows are sorted by
    (neighbour, relation), out before in; parallel triples give repeated rows.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(map(repr, DIRECTIONS))}, got {direction!r}")
    e = _entity(kg, entity)
    adj = adjacency(kg)
    lo, hi = adj.indptr[e], adj.indptr[e + 1]
    rows = np.stack([adj.neighbour[lo:hi], adj.relation[lo:hi], adj.direction[lo:hi].astype(np.int64)], axis=1)
    if direction != "both":
        rows = rows[rows[:, 2] == (1 if direction == "out" else -1)]
    return rows


# --- k-hop subgraphs -------------------------------------------------------------------------------------


@dataclass
class Subgraph(GraphCounts):
    """An induced subgraph around seed entities, indexed locally for message passing.

    - `node_ids: int64[n]` global entity ids: the kept seeds first (in the given order, duplicates dropped),
      then hop 1, hop 2, ... each sorted by id;
    - `hop: int64[n]` the distance from the nearest seed (0 for seeds);
    - `edge_index: int64[2, e]` LOCAL positions in `node_ids`, head -> tail as in the triples;
    - `edge_type: int64[e]` relation ids; `triple_index: int64[e]` rows of `kg.triples` (ascending);
    - `seed_index: int64[s]` for each id passed as a seed (duplicates included) its local position, -1 when
      `max_nodes` dropped it — e.g. to gather the node of every entity mention;
    - `truncated`: True when `max_nodes` or `max_fanout` left out entities that were within `k` hops.
    """

    node_ids: np.ndarray
    hop: np.ndarray
    edge_index: np.ndarray
    edge_type: np.ndarray
    triple_index: np.ndarray
    seed_index: np.ndarray
    truncated: bool = False
    num_seeds: int = field(init=False)

    def __post_init__(self) -> None:
        self.num_seeds = int(np.count_nonzero(self.hop == 0))

    @classmethod
    def empty(cls, num_seeds: int = 0) -> Subgraph:
        z = np.zeros(0, dtype=np.int64)
        edges = np.zeros((2, 0), np.int64)
        return cls(z, z.copy(), edges, z.copy(), z.copy(), np.full(num_seeds, -1, np.int64), truncated=num_seeds > 0)


def k_hop_subgraph(
    kg: KnowledgeGraph,
    node_ids: Sequence[int],
    k: int,
    *,
    max_nodes: int | None = None,
    max_fanout: int | None = None,
) -> Subgraph:
    """The subgraph induced by the entities within `k` hops of `node_ids`, edges followed either way.

    Every triple with both ends in the node set is included. With `max_nodes`, entities are kept in this
    order until the budget is spent: the seeds (when the seeds alone exceed `max_nodes`, the first
    `max_nodes` distinct seeds are kept and nothing else), then whole hops ascending; within the hop that
    overflows, the entities with the most edges into the already-kept set win, ties broken by lower id.

    With `max_fanout`, each node expanded (a seed, or a node of an earlier hop) reaches at most
    `max_fanout` entities not reached before: those joined to it by the heaviest triple (`kg.weights`),
    ties broken by lower id. So a hub (an entity with thousands of edges) adds `max_fanout` nodes, not all
    its neighbours, and its neighbours are found only where they are also near other seeds. Nodes left out
    by either cap set `truncated`. The result is deterministic. Empty `node_ids` gives an empty `Subgraph`;
    ids outside the graph raise `ValueError`.
    """
    k = operator.index(k)
    if k < 0:
        raise ValueError(f"k must be >= 0 hops, got {k}")
    if max_nodes is not None and operator.index(max_nodes) < 0:
        raise ValueError(f"max_nodes must be >= 0 or None (no cap), got {max_nodes}")
    if max_fanout is not None and operator.index(max_fanout) < 1:
        raise ValueError(f"max_fanout must be >= 1 or None (no cap), got {max_fanout}")
    given = _entities(kg, node_ids, "node_ids")
    seeds = _unique_in_order(given)
    budget = len(seeds) if max_nodes is None else min(len(seeds), int(max_nodes))
    full = budget < len(seeds)  # max_nodes is spent: expand no further
    truncated = full
    seeds = seeds[:budget]
    if len(seeds) == 0:
        return Subgraph.empty(len(given))

    adj = adjacency(kg)
    dist = np.full(kg.num_entities, -1, dtype=np.int64)
    dist[seeds] = 0
    levels = [seeds]
    frontier = seeds
    for h in range(1, k + 1):
        if full or len(frontier) == 0:
            break
        pos, owner = adj.gather(frontier)
        fresh = dist[adj.neighbour[pos]] < 0
        pos, owner = pos[fresh], owner[fresh]
        if max_fanout is not None:
            keep = _fanout_mask(kg, adj, pos, owner, max_fanout)
            truncated |= not keep.all()
            pos = pos[keep]
        new, edges_in = np.unique(adj.neighbour[pos], return_counts=True)  # sorted ids; edges into the kept set
        if len(new) == 0:
            break
        if max_nodes is not None and sum(map(len, levels)) + len(new) > max_nodes:
            room = max_nodes - sum(map(len, levels))
            new = np.sort(new[np.lexsort((new, -edges_in))[:room]])
            full = truncated = True
        dist[new] = h
        levels.append(new)
        frontier = new

    nodes = np.concatenate(levels)
    local = np.full(kg.num_entities, -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes), dtype=np.int64)
    edge_index, edge_type, triple_index = _induced(kg, adj, nodes, local)
    return Subgraph(nodes, dist[nodes], edge_index, edge_type, triple_index, local[given], truncated)


def _fanout_mask(kg: KnowledgeGraph, adj: Adjacency, pos: np.ndarray, owner: np.ndarray, cap: int) -> np.ndarray:
    """bool[d]: which entries `pos` (grouped by `owner`, ascending) to keep so that each owner reaches at most
    `cap` distinct neighbours: those of its heaviest triples, ties to the lower id (every entry of a kept
    neighbour stays). Only the entries of owners with more than `cap` entries are sorted."""
    keep = np.ones(len(pos), dtype=bool)
    crowded = np.flatnonzero(np.bincount(owner)[owner] > cap)
    if len(crowded) == 0:
        return keep
    nb, own = adj.neighbour[pos[crowded]], owner[crowded]
    order = np.lexsort((nb, -kg.weights[adj.triple[pos[crowded]]], own))
    crowded, nb, own = crowded[order], nb[order], own[order]
    _, first, pair = np.unique(own * kg.num_entities + nb, return_index=True, return_inverse=True)
    is_first = np.zeros(len(nb), dtype=bool)
    is_first[first] = True
    seen = np.cumsum(is_first)  # distinct (owner, neighbour) pairs up to each entry, in sorted order
    rank = seen - seen[np.searchsorted(own, own)]  # at a pair's first entry: its rank within the owner
    keep[crowded] = rank[first][pair] < cap
    return keep


def induced_edges(
    kg: KnowledgeGraph, node_ids: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every triple with both ends among `node_ids` (distinct entity ids), indexed by position in `node_ids`.

    Returns `edge_index: int64[2, e]` (local head -> tail), `edge_type: int64[e]` (relation ids) and
    `triple_index: int64[e]` (rows of `kg.triples`, ascending); parallel triples stay separate edges.
    """
    nodes = _entities(kg, node_ids, "node_ids")
    if len(np.unique(nodes)) != len(nodes):
        raise ValueError("node_ids must be distinct entity ids; drop the repeats (e.g. with dict.fromkeys)")
    local = np.full(kg.num_entities, -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes), dtype=np.int64)
    return _induced(kg, adjacency(kg), nodes, local)


def _induced(kg: KnowledgeGraph, adj: Adjacency, nodes: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, ...]:
    """`induced_edges` given `local[global id]` = position in `nodes` (-1 outside)."""
    # out-entries of kept nodes whose other end is kept: each triple exactly once
    pos, _ = adj.gather(nodes)
    pos = pos[(adj.direction[pos] == 1) & (local[adj.neighbour[pos]] >= 0)]
    triple_index = np.sort(adj.triple[pos])
    rows = kg.triples[triple_index]
    edge_index = np.stack([local[rows[:, 0]], local[rows[:, 2]]]) if len(rows) else np.zeros((2, 0), np.int64)
    return edge_index, rows[:, 1].copy(), triple_index


# --- shortest paths --------------------------------------------------------------------------------------


@dataclass
class Path:
    """A walk through the graph: `nodes[i] -> nodes[i+1]` uses triple `triple_index[i]` with relation
    `relations[i]`, followed head -> tail (`directions[i] == +1`) or tail -> head (-1). `len()` is the
    number of edges; a single node is a path of length 0."""

    nodes: list[int]
    relations: list[int] = field(default_factory=list)
    directions: list[int] = field(default_factory=list)
    triple_index: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.relations)

    @property
    def source(self) -> int:
        return self.nodes[0]

    @property
    def target(self) -> int:
        return self.nodes[-1]

    def describe(self, kg: KnowledgeGraph) -> str:
        """One line such as `ann —mother_of→ bob ←father_of— carl`, with entity labels and relation names."""
        parts = [kg.label(self.nodes[0])]
        for rel, d, node in zip(self.relations, self.directions, self.nodes[1:]):
            name = local_name(kg.relations[rel])
            parts.append(f"—{name}→" if d > 0 else f"←{name}—")
            parts.append(kg.label(node))
        return " ".join(parts)


def shortest_paths(
    kg: KnowledgeGraph,
    sources: Sequence[int],
    targets: Sequence[int],
    *,
    max_length: int = 4,
    limit: int | None = 10,
) -> list[Path]:
    """Every shortest path from the source set to each target, edges usable in either direction.

    One BFS runs from all `sources` at once, so a target's paths start at its nearest sources (and never
    pass through another source); targets farther than `max_length` edges, or unreachable, give none. Paths
    between the same nodes over parallel triples are distinct paths. The result is sorted by
    (length, node sequence, then step by step relation, +1 before -1, triple) and cut to `limit` (None: all);
    a node that is both a source and a target gives a length-0 path. The BFS stops as soon as the paths
    found can fill `limit`; its last level (`max_length`) is reached from whichever side has fewer edges,
    the frontier or the targets not found yet; and only the returned paths are enumerated, so hubs cost no
    blow-up.
    """
    max_length = operator.index(max_length)
    if max_length < 0:
        raise ValueError(f"max_length must be >= 0 edges, got {max_length}")
    if limit is not None and operator.index(limit) < 0:
        raise ValueError(f"limit must be >= 0 or None (all paths), got {limit}")
    src = np.unique(_entities(kg, sources, "sources"))
    tgt = np.unique(_entities(kg, targets, "targets"))
    if len(src) == 0 or len(tgt) == 0 or limit == 0:
        return []

    adj = adjacency(kg)
    dist = np.full(kg.num_entities, -1, dtype=np.int64)
    count = np.zeros(kg.num_entities, dtype=np.float64)  # shortest paths into each node (float: no overflow)
    dist[src] = 0
    count[src] = 1.0
    found = float(np.count_nonzero(dist[tgt] == 0))
    frontier, depth = src, 0
    while depth < max_length and len(frontier) and found < (limit or np.inf) and (dist[tgt] < 0).any():
        missing = tgt[dist[tgt] < 0]
        if depth + 1 == max_length and _edges_at(adj, missing) < _edges_at(adj, frontier):
            # the last level only has to reach targets: look from them back into the frontier
            pos, owner = adj.gather(missing)
            back = adj.neighbour[pos]
            hit = dist[back] == depth
            ends, via = missing[owner[hit]], back[hit]
            depth += 1
            dist[ends] = depth
            np.add.at(count, ends, count[via])
            break
        pos, owner = adj.gather(frontier)
        reached = adj.neighbour[pos]
        fresh = dist[reached] < 0
        if not fresh.any():
            break
        reached, via = reached[fresh], frontier[owner[fresh]]
        depth += 1
        frontier = np.unique(reached)
        dist[frontier] = depth
        np.add.at(count, reached, count[via])
        found += float(count[tgt[dist[tgt] == depth]].sum())

    paths: list[Path] = []
    for length in range(depth + 1):
        ends = tgt[dist[tgt] == length]
        if len(ends):
            for path in _enumerate(adj, dist, ends, length):
                paths.append(path)
                if limit is not None and len(paths) >= limit:
                    return paths
    return paths


def _edges_at(adj: Adjacency, nodes: np.ndarray) -> int:
    """The number of adjacency entries of `nodes` (the cost of gathering them)."""
    return int((adj.indptr[nodes + 1] - adj.indptr[nodes]).sum())


def _enumerate(adj: Adjacency, dist: np.ndarray, ends: np.ndarray, length: int) -> Iterator[Path]:
    """Shortest paths of `length` edges into `ends` (all at BFS distance `length`), in sorted order."""
    on_path = np.zeros(len(dist), dtype=bool)  # nodes on some shortest path into `ends`
    on_path[ends] = True
    layer = ends
    for level in range(length, 0, -1):
        pos, _ = adj.gather(layer)
        before = adj.neighbour[pos]
        layer = np.unique(before[dist[before] == level - 1])
        on_path[layer] = True

    def successors(u: int, level: int) -> np.ndarray:
        nb = adj.neighbour[adj.indptr[u] : adj.indptr[u + 1]]
        return np.unique(nb[(dist[nb] == level) & on_path[nb]])

    def node_sequences(seq: list[int]) -> Iterator[list[int]]:
        if len(seq) == length + 1:
            yield seq
            return
        for v in successors(seq[-1], len(seq)).tolist():
            yield from node_sequences([*seq, v])

    def steps(u: int, v: int) -> list[tuple[int, int, int]]:
        lo, hi = adj.indptr[u], adj.indptr[u + 1]
        a, b = np.searchsorted(adj.neighbour[lo:hi], [v, v + 1]) + lo
        return list(zip(adj.relation[a:b].tolist(), adj.direction[a:b].tolist(), adj.triple[a:b].tolist()))

    for start in layer.tolist():  # the sources on a path, ascending
        for seq in node_sequences([start]):
            for combo in itertools.product(*(steps(u, v) for u, v in zip(seq, seq[1:]))):
                yield Path(list(seq), [c[0] for c in combo], [c[1] for c in combo], [c[2] for c in combo])
