"""The causal reasoning module: a KG's causal and event relations read with their direction.

ConceptNet says "a causes b" in several ways, not all pointing from cause to effect. `CAUSAL_RELATIONS` gives
each causal or event relation its orientation: +1 when the head is the cause (or comes first) and the tail the
effect, -1 the other way round:

| relation | +1 / -1 | reads |
|---|---|---|
| Causes, CausesDesire | +1 | rain —Causes→ flood |
| HasSubevent, HasLastSubevent | +1 | eat —HasSubevent→ chew; shower —HasLastSubevent→ dry off |
| UsedFor, Desires | +1 | knife —UsedFor→ cut; dog —Desires→ bone |
| HasPrerequisite | -1 | fire —HasPrerequisite→ fuel: fuel comes first |
| HasFirstSubevent | -1 | drive —HasFirstSubevent→ start engine: starting comes first |
| MotivatedByGoal | -1 | study —MotivatedByGoal→ pass exam: the goal moves the act |
| CausesEvent (the causal event graph below) | +1 | eat —CausesEvent→ defecate |

Every other relation (IsA, AtLocation, ...) is not causal and keeps its stored direction.

A question asks for the effect of its premise (evidence runs premise → hypothesis, cause to effect) or for
its cause (evidence runs hypothesis → premise). `CausalGraph(kg)` turns that into the graph the model sees:

- **Evidence paths** (`paths`): walks from the premise's concepts to each choice's over causal triples only,
  each step from cause to effect (effect questions) or from effect to cause (cause questions), shortest
  first, at most `max_length` steps and `max_paths` per choice. They are returned as `EvidencePath`s in
  cause → effect order, so their text reads causally ("storm —Causes→ rain", "fuel ←HasPrerequisite— fire";
  a cause question's path starts at the hypothesis and ends at the premise). A choice whose concepts all
  appear in the premise has no path (nothing causes itself).
- **Oriented edges** (`orient`): every causal edge of the question's subgraph points along the question,
  from what is given toward what is asked (cause → effect for effect questions, effect → cause for cause
  questions). An edge turned against its stored triple gets the relation id of `"rev:<name>"`, so the
  relation types tell the model which way the question runs: the right answer of an effect question is
  reached from the premise over `Causes` edges, that of a cause question over `rev:Causes` edges, and in both
  the messages flow from the premise toward the answer. The ids of the `rev:` relations follow the KG's
  (`oriented_relations(kg.relations)` is the relation vocabulary of a causal model).
- `retrieve(...)` does both around `kgreason.kg.retrieval.retrieve` (which keeps the evidence paths' nodes
  in the pruned subgraph) and adds the flags `premise_not_linked` (the premise names no concept of the KG)
  and `no_causal_path` (no choice has evidence: "no graph evidence").

**Causal event graph** (optional): `event_triples(train_records, nlp)` grows causal triples from the training
pairs themselves: every concept linked in a record's cause sentence → every concept of its effect sentence
(the right hypothesis and the premise, in the asked direction), relation `CausesEvent` (+1), weighted by how
many records say so. `write_event_graph` writes them in ConceptNet's layout for `kgreason ingest --format
conceptnet`, next to ConceptNet in one store; dev and test questions then link into it. Records read from a
file named `*dev*` / `*test*` are refused: the graph must never see the questions it is evaluated on.
`build_event_graph(train, output, nlp)` does it all for one training file, skipping its malformed records
(counted and listed in the returned `EventGraphSummary`, as preprocessing does).

>>> from kgreason.kg import KnowledgeGraph
>>> kg = KnowledgeGraph.from_triples([("storm", "Causes", "rain"), ("fire", "HasPrerequisite", "fuel")])
>>> graph = CausalGraph(kg)
>>> ids = kg.entities.id
>>> [p.text for p in graph.paths([ids("rain")], [[ids("storm")], [ids("fire")]], ask_for="cause")]
['storm —Causes→ rain']
>>> [p.text for p in graph.paths([ids("fuel")], [[ids("storm")], [ids("fire")]], ask_for="effect")]
['fuel ←HasPrerequisite— fire']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgreason.kg.errors import TaskInputError
from kgreason.kg.retrieval import EvidencePath, RetrievedSubgraph, retrieve
from kgreason.kg.terms import local_name
from kgreason.kg import traversal

if TYPE_CHECKING:  # pragma: no cover
    from kgreason.kg import KnowledgeGraph

EVENT_RELATION = "CausesEvent"  # the causal event graph's relation: cause concept -> effect concept
CAUSAL_RELATIONS: Mapping[str, int] = {
    "Causes": 1, "CausesDesire": 1, "HasSubevent": 1, "HasLastSubevent": 1, "UsedFor": 1, "Desires": 1,
    EVENT_RELATION: 1, "HasPrerequisite": -1, "HasFirstSubevent": -1, "MotivatedByGoal": -1,
}  # fmt: skip
REVERSED = "rev:"  # prefix of the relation of a causal edge turned against its stored triple
NO_EVIDENCE = "no graph evidence"
PREMISE_NOT_LINKED = "premise_not_linked"
NO_CAUSAL_PATH = "no_causal_path"

__all__ = [
    "CAUSAL_RELATIONS",
    "EVENT_RELATION",
    "NO_CAUSAL_PATH",
    "NO_EVIDENCE",
    "PREMISE_NOT_LINKED",
    "CausalGraph",
    "EventGraphSummary",
    "build_event_graph",
    "event_triples",
    "evidence_in_words",
    "oriented_relations",
    "write_event_graph",
]


def oriented_relations(relations: Iterable[str], causal: Mapping[str, int] = CAUSAL_RELATIONS) -> tuple[str, ...]:
    """The relation vocabulary of causal examples: the KG's relation keys in id order, then `"rev:<name>"` for
    each causal one, in id order (`<name>` is the key's local name)."""
    relations = list(relations)
    return (*relations, *(REVERSED + local_name(key) for key in relations if local_name(key) in causal))


def evidence_in_words(meta: Mapping[str, Any], choice: int) -> list[str]:
    """The causal paths of a causal example's choice, in words (`meta["paths"]`), or `[NO_EVIDENCE]`."""
    return [path["text"] for path in meta.get("paths", []) if path["choice"] == choice] or [NO_EVIDENCE]


class CausalGraph:
    """The causal view of `kg` (see the module docstring); `causal` maps relation local names to +1 / -1.

    orientation: int8 [R] +1 / -1 for causal relations, 0 otherwise; reversed_id: int64 [R] the id of
    `"rev:<name>"` (R + its rank among the causal relations), -1 for the others; relation_names: the
    vocabulary `oriented_relations(kg.relations)`.
    """

    def __init__(self, kg: KnowledgeGraph, causal: Mapping[str, int] = CAUSAL_RELATIONS) -> None:
        bad = {name: sign for name, sign in causal.items() if sign not in (1, -1)}
        if bad:
            raise ValueError(f"causal relation orientations must be +1 or -1, got {bad}")
        self.kg = kg
        num_relations = kg.num_relations
        self.orientation = np.array([causal.get(local_name(key), 0) for key in kg.relations], dtype=np.int8)
        causal_ids = np.flatnonzero(self.orientation)
        self.reversed_id = np.full(num_relations, -1, dtype=np.int64)
        self.reversed_id[causal_ids] = num_relations + np.arange(len(causal_ids), dtype=np.int64)
        self.relation_names = oriented_relations(kg.relations, causal)
        rows = np.flatnonzero(self.orientation[kg.triples[:, 1]] != 0) if kg.num_triples else np.zeros(0, np.int64)
        head, relation, tail = kg.triples[rows].T if len(rows) else (np.zeros(0, np.int64),) * 3
        forward = self.orientation[relation] > 0
        cause, effect = np.where(forward, head, tail), np.where(forward, tail, head)
        # the steps a search may take: "effect" walks cause -> effect, "cause" effect -> cause
        self._steps = {"effect": _Steps.build(cause, effect, rows, kg.num_entities),
                       "cause": _Steps.build(effect, cause, rows, kg.num_entities)}

    @property
    def num_causal_triples(self) -> int:
        return len(self._steps["effect"].triple)

    def paths(self, question_nodes: Sequence[int], choice_nodes: Sequence[Sequence[int]], *, ask_for: str,
              max_paths: int = 5, max_length: int = 3) -> list[EvidencePath]:
        """The causal evidence paths of each choice, in cause → effect order (see the module docstring).

        question_nodes: the premise's entity ids; choice_nodes: each choice's. Paths of choice 0 first, each
        choice's shortest first, then by node sequence; `max_paths` per choice, `max_length` steps at most.
        """
        _check_ask_for(ask_for)
        kg = self.kg
        sources = np.unique(_ids(kg, question_nodes, "question_nodes"))
        targets = [np.setdiff1d(_ids(kg, ids, f"choice_nodes[{i}]"), sources) for i, ids in enumerate(choice_nodes)]
        wanted = np.unique(np.concatenate([np.zeros(0, np.int64), *targets]))
        if not len(sources) or not len(wanted) or max_paths <= 0:
            return []
        steps, back = self._steps[ask_for], self._steps["cause" if ask_for == "effect" else "effect"]
        dist = steps.distances(sources, wanted, max_length=max_length)
        found = []
        for choice, ends in enumerate(targets):
            ends = ends[dist[ends] >= 0]
            ends = ends[np.lexsort((ends, dist[ends]))]  # nearest first, then lower id
            walks: list[tuple[list[int], list[int]]] = []
            for end in ends.tolist():
                for walk in back.walks_back(end, dist):
                    walks.append(walk)
                    if len(walks) >= max_paths:
                        break
                if len(walks) >= max_paths:
                    break
            walks.sort(key=lambda walk: (len(walk[1]), walk[0]))
            found += [self._evidence(nodes, triples, choice=choice, ask_for=ask_for) for nodes, triples in walks]
        return found

    def _evidence(self, nodes: list[int], triples: list[int], *, choice: int, ask_for: str) -> EvidencePath:
        """An `EvidencePath` of a search walk (premise first), turned into cause → effect order."""
        if ask_for == "cause":  # the walk went effect -> cause: read it backwards
            nodes, triples = nodes[::-1], triples[::-1]
        rows = self.kg.triples[triples]
        directions = [1 if int(h) == u else -1 for (h, _, _), u in zip(rows.tolist(), nodes)]
        path = traversal.Path(list(nodes), rows[:, 1].tolist(), directions, list(triples))
        return EvidencePath.from_path(self.kg, path, choice=choice)

    def orient(self, subgraph: RetrievedSubgraph, ask_for: str) -> RetrievedSubgraph:
        """`subgraph` with every causal edge pointing along the question (edge_type: KG relation ids in,
        `relation_names` ids out; see the module docstring)."""
        _check_ask_for(ask_for)
        sign = 1 if ask_for == "effect" else -1
        flip = self.orientation[subgraph.edge_type] * sign < 0
        edge_index, edge_type = subgraph.edge_index.copy(), subgraph.edge_type.copy()
        edge_index[:, flip] = subgraph.edge_index[::-1][:, flip]
        edge_type[flip] = self.reversed_id[subgraph.edge_type[flip]]
        return replace(subgraph, edge_index=edge_index, edge_type=edge_type)

    def retrieve(self, question_nodes: Sequence[int], choice_nodes: Sequence[Sequence[int]], *, ask_for: str,
                 hops: int = 1, max_nodes: int = 64, max_paths: int = 5, max_path_length: int = 3,
                 **options: Any) -> RetrievedSubgraph:
        """The question's subgraph (`kgreason.kg.retrieval.retrieve`, `options` passed on) with the causal
        evidence paths kept in it, its causal edges oriented, flagged `premise_not_linked` / `no_causal_path`."""
        paths = self.paths(question_nodes, choice_nodes, ask_for=ask_for, max_paths=max_paths,
                           max_length=max_path_length)
        subgraph = retrieve(self.kg, question_nodes, choice_nodes, hops=hops, max_nodes=max_nodes, paths=paths,
                            **options)
        flags = [*subgraph.flags, *([PREMISE_NOT_LINKED] if not len(question_nodes) else []),
                 *([NO_CAUSAL_PATH] if not subgraph.paths else [])]
        return self.orient(replace(subgraph, flags=tuple(flags)), ask_for)


# --- the causal event graph ------------------------------------------------------------------------------


def event_triples(records: Iterable[Any], nlp: Any, *, min_count: int = 1) -> list[tuple[str, str, str, float]]:
    """(cause key, `EVENT_RELATION`, effect key, count) of training `CausalRecord`s (see the module docstring),
    the pairs seen in at least `min_count` records, most frequent first (then by keys).

    nlp: a spaCy pipeline ending in the `kg_linker` of the store the triples will join. A concept in both
    sentences is no cause of itself; unlabelled records are left out; a record from a `*dev*` / `*test*` file
    raises `ValueError`.
    """
    pairs = []
    for record in records:
        check_training_record(record, "a causal event graph")
        if record.label >= 0:
            pairs.append(record.pairs()[record.label])
    docs = nlp.pipe(text for pair in pairs for text in pair)
    counts: Counter[tuple[str, str]] = Counter()
    for cause_doc, effect_doc in zip(docs, docs):
        causes = {m.node_key for m in cause_doc._.kg_mentions if m.linked}
        effects = {m.node_key for m in effect_doc._.kg_mentions if m.linked}
        counts.update((cause, effect) for cause in causes - effects for effect in effects - causes)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(cause, EVENT_RELATION, effect, float(n)) for (cause, effect), n in ranked if n >= min_count]


def check_training_record(record: Any, grown: str) -> None:
    """`ValueError` (with the record's file and line) for a record read from a `*dev*` / `*test*` file: what is
    `grown` from training questions (an event graph, an event memory) must never see those it is evaluated on."""
    name = Path(record.source).name.lower()
    if "dev" in name or "test" in name:
        raise ValueError(f"{record.source}:{record.line}: {grown} grows from training records only, never from dev "
                         "or test data; pass the train file's records")


@dataclass
class EventGraphSummary:
    """What `build_event_graph` did: the training file (`input`) and its `records` read, the `triples` written to
    `output`, and `errors`: one line per malformed record skipped (`file:line: field ...: what was wrong`)."""

    input: str
    output: str
    records: int = 0
    triples: int = 0
    errors: list[str] = field(default_factory=list)


def build_event_graph(train: str | PathLike, output: str | PathLike, nlp: Any, *,
                      min_count: int = 1) -> EventGraphSummary:
    """`event_triples` of a training file (e-CARE JSONL or COPA XML) written to `output` (`write_event_graph`).

    Malformed records are skipped and listed in the summary; a file with none readable raises `TaskInputError`
    (as do an unknown extension and XML that is not well-formed), one from dev / test data `ValueError`.
    """
    from .causal import read_causal
    from .preprocess import skipped_record

    skipped: list = []
    records = list(read_causal(train, on_error="skip", skipped=skipped))
    errors = [skipped_record(error) for error in skipped]
    if not records:
        first = f" (the first: {errors[0]})" if errors else ""
        raise TaskInputError(f"{train}: no readable record, {len(errors)} malformed{first}",
                             hint="pass an e-CARE JSONL or COPA XML training file, and fix its records")
    triples = event_triples(records, nlp, min_count=min_count)
    write_event_graph(triples, output)
    return EventGraphSummary(str(train), str(output), len(records), len(triples), errors)


def write_event_graph(triples: Iterable[tuple[str, str, str, float]], path: str | PathLike) -> Path:
    """The triples of `event_triples` as a ConceptNet-layout file (relation, head, tail, weight; tab-separated)
    for `kgreason ingest --format conceptnet`, written whole or not at all; returns its path."""
    from .shards import write_atomically

    path = Path(path)
    text = "".join(f"{relation}\t{head}\t{tail}\t{weight:g}\n" for head, relation, tail, weight in triples)
    write_atomically(path, text.encode("utf-8"))
    return path


def _ids(kg: KnowledgeGraph, ids: Sequence[int], what: str) -> np.ndarray:
    """int64 [n]: entity ids, checked to be in the graph."""
    array = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(array) and (array.min() < 0 or array.max() >= kg.num_entities):
        raise ValueError(f"{what} has ids outside the graph's 0..{kg.num_entities - 1}: {array.tolist()}")
    return array


def _check_ask_for(ask_for: str) -> None:
    if ask_for not in ("cause", "effect"):
        raise ValueError(f"ask_for must be 'cause' or 'effect', got {ask_for!r}")


class _Steps:
    """Directed steps `source -> target` over causal triples, as CSR: the steps out of node u are
    `target[indptr[u]:indptr[u + 1]]` (sorted by target, then triple) with their `triple` rows."""

    def __init__(self, indptr: np.ndarray, target: np.ndarray, triple: np.ndarray) -> None:
        self.indptr, self.target, self.triple = indptr, target, triple

    @classmethod
    def build(cls, source: np.ndarray, target: np.ndarray, triple: np.ndarray, num_entities: int) -> _Steps:
        order = np.lexsort((triple, target, source))
        indptr = np.zeros(num_entities + 1, dtype=np.int64)
        np.cumsum(np.bincount(source, minlength=num_entities), out=indptr[1:])
        return cls(indptr, target[order].astype(np.int64), triple[order].astype(np.int64))

    def distances(self, sources: np.ndarray, targets: np.ndarray, *, max_length: int) -> np.ndarray:
        """int64 [num_entities]: steps from the nearest source (breadth first, at most `max_length`), -1 beyond;
        the search stops once every target is reached."""
        dist = np.full(len(self.indptr) - 1, -1, dtype=np.int64)
        dist[sources] = 0
        frontier = sources
        for depth in range(1, max_length + 1):
            if (dist[targets] >= 0).all() or not len(frontier):
                break
            starts, ends = self.indptr[frontier], self.indptr[frontier + 1]
            counts = ends - starts
            positions = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            reached = self.target[positions]
            frontier = np.unique(reached[dist[reached] < 0])
            dist[frontier] = depth
        return dist

    def walks_back(self, end: int, dist: np.ndarray) -> Iterator[tuple[list[int], list[int]]]:
        """Every shortest walk of the search into `end`, as (nodes from the source, triples); `self` holds the
        search's steps turned around (into a node from its predecessors)."""
        def back(node: int) -> Iterator[tuple[list[int], list[int]]]:
            level = int(dist[node])
            if level == 0:
                yield [node], []
                return
            lo, hi = self.indptr[node], self.indptr[node + 1]
            for before, triple in zip(self.target[lo:hi].tolist(), self.triple[lo:hi].tolist()):
                if dist[before] == level - 1:
                    for nodes, triples in back(before):
                        yield [*nodes, node], [*triples, triple]

        yield from back(end)
