"""Question subgraphs: the part of a background KG around a question's linked entities, pruned and ranked.

`retrieve(kg, question_nodes, choice_nodes)` takes the entity ids linked in a question (and in each answer
choice) and returns a `RetrievedSubgraph`:

1. **Seeds**: the question's entities, then each choice's (repeats dropped). Seeds are always kept.
2. **Evidence**: the shortest paths (edges followed either way, at most `max_path_length` edges) from the
   question's entities to each choice's entities, `max_paths` per choice; with no choices, between pairs of
   question entities (`max_paths` in all). A choice entity that the question also mentions is not a target
   (it would be a path of length 0). A caller with its own notion of evidence passes its paths instead
   (`paths=`; e.g. causal relations only, each followed from cause to effect).
3. **Candidates** (hub policy): the entities within `hops` of the seeds, found by
   `traversal.k_hop_subgraph` with two caps. `max_fanout`: each expanded node (seed or not) adds at most
   that many new neighbours, those of its heaviest triples (`kg.weights`), then lower ids; ConceptNet's
   "person" has 3,198 edges and adds 64 nodes with the default. `max_candidates`: the whole set stops
   there; the hop that overflows keeps the nodes with most edges into the set (connectors first). A hub's
   other neighbours still come in when they are near another seed. The nodes of the evidence paths (found
   on the whole graph, without caps) are added.
4. **Ranking** (`score`): "ppr" is personalised PageRank restarting at the seeds (uniformly), by
   vectorised power iteration (at most 30 steps) on the candidates' induced graph, walked undirected:
   every triple is an edge both ways, parallel typed triples count separately, nodes without edges send
   their mass back to the seeds. "degree" is the number of candidate edges at a node; "none" keeps the BFS
   order (nearer hops first, then lower ids) and scores every node 1.
5. **Pruning**: the seeds, then the nodes of each evidence path, shortest path first (a path whose nodes
   no longer fit is dropped from the evidence), then the best-scored candidates (ties: nearer hop, lower
   id), up to `max_nodes` nodes, or exactly the seeds when they alone are more. Every triple between kept
   nodes is an edge (typed edges kept, parallel triples separate).

>>> from kgreason.kg import KnowledgeGraph
>>> kg = KnowledgeGraph.from_triples([("rain", "Causes", "flood"), ("flood", "Causes", "damage")])
>>> sub = retrieve(kg, [kg.entities.id("rain")], [[kg.entities.id("damage")]])
>>> [kg.entities[i] for i in sub.node_ids], sub.paths[0].text
(['rain', 'damage', 'flood'], 'rain —Causes→ flood —Causes→ damage')
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .terms import local_name
from .traversal import GraphCounts, Path, _entities, induced_edges, k_hop_subgraph, shortest_paths

if TYPE_CHECKING:  # pragma: no cover
    from .graph import KnowledgeGraph

SCORES = ("ppr", "degree", "none")
NO_LINKED_ENTITY = "no_linked_entity"  # flag: no seed at all, the subgraph is empty
PRUNED = "subgraph_pruned"  # flag: some entities within `hops` of the seeds were left out

__all__ = [
    "NO_LINKED_ENTITY",
    "SCORES",
    "PRUNED",
    "EvidencePath",
    "RetrievedSubgraph",
    "personalized_pagerank",
    "retrieve",
]


@dataclass(frozen=True)
class EvidencePath:
    """A path of KG triples from a question entity to a choice entity (or to another question entity; or,
    as the causal evidence of a cause question, from a choice entity to a question entity).

    - `nodes`: global entity ids in walk order (`len(nodes) == len(triples) + 1`);
    - `triples`: `(head, relation, tail)` global ids as stored in the KG, step by step; a step may follow
      its triple backwards (then `tail` is the node the walk came from);
    - `labels`: the same triples as `(kg.label(head), relation name, kg.label(tail))`;
    - `text`: one line, e.g. `otter —IsA→ mammal ←IsA— cat —Desires→ food`;
    - `choice`: the index of the choice reached, -1 for a path between question entities.
    """

    nodes: tuple[int, ...]
    triples: tuple[tuple[int, int, int], ...]
    labels: tuple[tuple[str, str, str], ...]
    text: str
    choice: int

    def __len__(self) -> int:
        return len(self.triples)

    @classmethod
    def from_path(cls, kg: KnowledgeGraph, path: Path, *, choice: int) -> EvidencePath:
        rows = [tuple(row) for row in kg.triples[path.triple_index].tolist()]
        labels = tuple((kg.label(h), local_name(kg.relations[r]), kg.label(t)) for h, r, t in rows)
        return cls(tuple(path.nodes), tuple(rows), labels, path.describe(kg), choice)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: lists of ids and labels."""
        return {
            "nodes": list(self.nodes),
            "triples": [list(t) for t in self.triples],
            "labels": [list(t) for t in self.labels],
            "text": self.text,
            "choice": self.choice,
        }


@dataclass
class RetrievedSubgraph(GraphCounts):
    """A question's subgraph of a background KG; the graph fields of a `KGQAExample` (kgreason.data).

    - `node_ids: int64[N]` global entity ids: the seeds first (question, then choices), then by score;
    - `edge_index: int64[2, E]` local head -> tail; `edge_type: int64[E]` KG relation ids;
      `triple_index: int64[E]` rows of `kg.triples` (ascending);
    - `node_scores: float32[N]` the ranking score of each node (see `retrieve`);
    - `question_index: int64[q]` local position of each question entity passed (repeats included);
    - `choice_index: list[int64[c_i]]` the same for each choice;
    - `paths`: `EvidencePath`s by choice, shortest first within each;
    - `flags`: `NO_LINKED_ENTITY`, `PRUNED` where they apply.
    """

    node_ids: np.ndarray
    edge_index: np.ndarray
    edge_type: np.ndarray
    triple_index: np.ndarray
    node_scores: np.ndarray
    question_index: np.ndarray
    choice_index: list[np.ndarray]
    paths: list[EvidencePath] = field(default_factory=list)
    flags: tuple[str, ...] = ()

    @property
    def mention_index(self) -> np.ndarray:
        """int64[M]: the distinct local nodes that the question or a choice mentions, ascending."""
        return np.unique(np.concatenate([self.question_index, *self.choice_index]))

    @classmethod
    def empty(cls, num_choices: int = 0) -> RetrievedSubgraph:
        """The subgraph of a question where nothing was linked: no nodes, flagged `NO_LINKED_ENTITY`."""
        z = np.zeros(0, np.int64)
        return cls(
            z, np.zeros((2, 0), np.int64), z.copy(), z.copy(), np.zeros(0, np.float32), z.copy(),
            [z.copy() for _ in range(num_choices)], flags=(NO_LINKED_ENTITY,),
        )  # fmt: skip


def retrieve(
    kg: KnowledgeGraph,
    question_nodes: Sequence[int],
    choice_nodes: Sequence[Sequence[int]] = (),
    *,
    hops: int = 2,
    max_nodes: int = 200,
    score: str = "ppr",
    max_paths: int = 5,
    max_path_length: int = 3,
    max_fanout: int | None = 64,
    max_candidates: int | None = 5000,
    paths: Sequence[EvidencePath] | None = None,
) -> RetrievedSubgraph:
    """The pruned, ranked subgraph of `kg` around a question; the steps are in the module docstring.

    `question_nodes`: entity ids linked in the question; `choice_nodes`: one sequence of entity ids per
    answer choice (a choice with none is allowed). `hops`: radius of the candidate set; `max_nodes`: nodes
    kept (the seeds are kept even when they are more); `score`: "ppr", "degree" or "none"; `max_paths` and
    `max_path_length`: evidence paths per choice and their length in edges; `max_fanout` and
    `max_candidates`: the hub caps of the candidate set (None: no cap). `paths`: the evidence, found by the
    caller (nodes of this graph; None: the shortest paths searched here). No seed at all gives
    `RetrievedSubgraph.empty` flagged `NO_LINKED_ENTITY`; ids outside the graph raise `ValueError`.
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(map(repr, SCORES))}, got {score!r}")
    for name, value in (("max_nodes", max_nodes), ("max_paths", max_paths), ("max_candidates", max_candidates)):
        if value is not None and operator.index(value) < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    question = _entities(kg, question_nodes, "question_nodes")
    choices = [_entities(kg, ids, f"choice_nodes[{i}]") for i, ids in enumerate(choice_nodes)]
    seeds = np.asarray(list(dict.fromkeys(np.concatenate([question, *choices]).tolist())), dtype=np.int64)
    if len(seeds) == 0:
        return RetrievedSubgraph.empty(len(choices))

    if paths is None:
        paths = _evidence_paths(kg, question, choices, max_paths=max_paths, max_length=max_path_length)
    else:
        paths = list(paths)
        _entities(kg, [n for p in paths for n in p.nodes], "the nodes of paths")
    cap = None if max_candidates is None else max(int(max_candidates), len(seeds))
    ball = k_hop_subgraph(kg, seeds, hops, max_nodes=cap, max_fanout=max_fanout)
    on_paths = [n for p in paths for n in p.nodes]
    candidates = np.asarray(list(dict.fromkeys([*ball.node_ids.tolist(), *on_paths])), dtype=np.int64)
    if len(candidates) == ball.num_nodes:  # the usual case: the paths run inside the ball
        edge_index, edge_type, triple_index = ball.edge_index, ball.edge_type, ball.triple_index
    else:
        edge_index, edge_type, triple_index = induced_edges(kg, candidates)
    hop = np.full(len(candidates), hops + 1, dtype=np.int64)  # path nodes outside the ball: farthest
    hop[: ball.num_nodes] = ball.hop

    if score == "ppr":
        scores = personalized_pagerank(edge_index, len(candidates), np.arange(len(seeds)))
    elif score == "degree":
        scores = np.bincount(edge_index.ravel(), minlength=len(candidates)).astype(np.float32)
    else:
        scores = np.ones(len(candidates), dtype=np.float32)

    where = np.full(kg.num_entities, -1, dtype=np.int64)  # global id -> position among the candidates
    where[candidates] = np.arange(len(candidates), dtype=np.int64)
    ranked = np.lexsort((candidates, hop, -scores))  # best score, then nearer hop, then lower id
    keep, fitting = _select(ranked, where, paths, num_seeds=len(seeds), budget=max(int(max_nodes), len(seeds)))
    local = np.full(len(candidates), -1, dtype=np.int64)
    local[keep] = np.arange(len(keep), dtype=np.int64)
    inside = (local[edge_index[0]] >= 0) & (local[edge_index[1]] >= 0)
    flags = (PRUNED,) if ball.truncated or len(keep) < len(candidates) else ()
    return RetrievedSubgraph(
        node_ids=candidates[keep],
        edge_index=local[edge_index[:, inside]],
        edge_type=edge_type[inside],
        triple_index=triple_index[inside],
        node_scores=scores[keep].astype(np.float32),
        question_index=local[where[question]],
        choice_index=[local[where[c]] for c in choices],
        paths=fitting,
        flags=flags,
    )


def personalized_pagerank(
    edge_index: np.ndarray,
    num_nodes: int,
    seeds: np.ndarray,
    *,
    restart: float = 0.15,
    max_iterations: int = 30,
    tolerance: float = 1e-4,
) -> np.ndarray:
    """Personalised PageRank of an undirected walk that restarts at `seeds` (uniformly): float32[num_nodes].

    `edge_index: int64[2, E]` local edges, each walked both ways (parallel edges count separately);
    `seeds: int64[s]` local node ids. Power iteration: each step is one sparse product done as a weighted
    `np.bincount` over the 2E directed entries (no sort, no Python loop), until the L1 change is below
    `tolerance` or after `max_iterations` steps; mass at nodes with no edges goes back to the seeds.
    The scores sum to 1.
    """
    if not 0.0 < restart <= 1.0:
        raise ValueError(f"restart must be in (0, 1], got {restart}")
    teleport = np.zeros(num_nodes, dtype=np.float64)
    seeds = np.unique(np.asarray(seeds, dtype=np.int64))
    if num_nodes == 0 or len(seeds) == 0:
        return teleport.astype(np.float32)
    teleport[seeds] = 1.0 / len(seeds)
    source = np.concatenate([edge_index[0], edge_index[1]])  # entry i walks source[i] -> target[i]
    target = np.concatenate([edge_index[1], edge_index[0]])
    degree = np.bincount(source, minlength=num_nodes).astype(np.float64)
    dangling = np.flatnonzero(degree == 0)
    inverse_degree = np.divide(1.0, degree, out=np.zeros(num_nodes), where=degree > 0)
    restarted = restart * teleport
    rank = teleport.copy()
    for _ in range(max_iterations):
        spread = np.bincount(target, weights=(rank * inverse_degree)[source], minlength=num_nodes)
        if len(dangling):
            spread += rank[dangling].sum() * teleport
        new = (1.0 - restart) * spread + restarted
        change = np.abs(new - rank).sum()
        rank = new
        if change < tolerance:
            break
    return rank.astype(np.float32)


def _select(
    ranked: np.ndarray, where: np.ndarray, paths: list[EvidencePath], *, num_seeds: int, budget: int
) -> tuple[np.ndarray, list[EvidencePath]]:
    """The candidates to keep, `budget` at most: the seeds (positions 0..num_seeds-1), whole evidence paths
    while they fit (shortest first), then the best `ranked`; in the order seeds, then rank. With the paths
    that fit, in their order."""
    kept = np.zeros(len(ranked), dtype=bool)
    kept[:num_seeds] = True
    fitting = set()
    for i in sorted(range(len(paths)), key=lambda i: len(paths[i])):
        extra = np.unique(where[list(paths[i].nodes)])
        extra = extra[~kept[extra]]
        if kept.sum() + len(extra) <= budget:
            kept[extra] = True
            fitting.add(i)
    kept[ranked[~kept[ranked]][: budget - int(kept.sum())]] = True
    keep = np.concatenate([np.arange(num_seeds), ranked[kept[ranked] & (ranked >= num_seeds)]])
    return keep, [path for i, path in enumerate(paths) if i in fitting]


def _evidence_paths(
    kg: KnowledgeGraph, question: np.ndarray, choices: list[np.ndarray], *, max_paths: int, max_length: int
) -> list[EvidencePath]:
    """Shortest paths question -> each choice (`max_paths` each), or between question entities (in all)."""
    if choices:
        found = []
        for i, targets in enumerate(choices):
            targets = np.setdiff1d(targets, question)
            for path in shortest_paths(kg, question, targets, max_length=max_length, limit=max_paths):
                found.append(EvidencePath.from_path(kg, path, choice=i))
        return found
    distinct = np.asarray(list(dict.fromkeys(question.tolist())), dtype=np.int64)
    pairs = [
        path
        for i in range(len(distinct) - 1)
        for path in shortest_paths(kg, distinct[i : i + 1], distinct[i + 1 :], max_length=max_length, limit=max_paths)
    ]
    pairs.sort(key=len)  # stable: per source in order, then the helper's own order
    return [EvidencePath.from_path(kg, path, choice=-1) for path in pairs[:max_paths]]
