"""Why a model answered: the linked mentions, the graph paths between what the question asks about (ranked by
the model's edge importances), and the subgraph, as data, JSON, an HTML page or a PNG.

    evidence = build_evidence(example, edge_importance=edges, node_importance=nodes)   # GraphQA does this
    evidence.paths[0].text                 # "Ann —son→ Bob —son→ Carl"
    evidence.to_html("why.html"); evidence.plot("why.png")

    path = top_path(example, edge_importance)            # the run evaluation: one example's best path
    path_matches_gold(path, example.meta["gold_chain"])  # CLUTRR: is it the gold proof chain?

Which paths (`endpoint_pairs`): CLUTRR from the first person of the query to the second (for "How is B related
to A?", from A to B, the way the gold chain runs); ProofWriter between the theory's nodes that the statement
names; background-KG questions from the question's entities to the chosen choice's; any other example between
its mentioned nodes. A path is simple (no node twice), at most `max_length` edges (default 10 in text graphs,
4 in KG subgraphs), and may follow an edge backwards: `Ann ←mother— Bob` reads "Ann is Bob's mother" (an edge
(A, rel, B) says "B is A's rel").

Ranking: a path's weight is the geometric mean of its edges' importances (`ModelOutput.edge_importance`: each
edge's share of the messages arriving at its target, in [0, 1]), so long and short paths compare fairly;
equal weights go to the shorter path. Between two nodes joined by several edges a path takes the most
important one. Without importances (a model that reads no graph: `lm_only`) paths are ranked by length,
typed relations before untyped ones, weights are None and `Evidence.weighted` is False.

Causal questions (e-CARE, COPA) also carry their causal evidence (`Evidence.causal_paths`): each choice's paths
over causal relations only, in the asked direction, written cause first (`kgreason.data.causal_graph`), ranked by
the geometric mean of the importances of their edges in that choice's graph, else shortest first; a choice without
one has "no graph evidence" (`Evidence.causal_evidence`).
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kgreason.data.causal_graph import NO_EVIDENCE, REVERSED
from kgreason.data.example import KGQAExample
from kgreason.data.text_graph import UNTYPED

MAX_LENGTH = 10  # edges in a path through a text graph (CLUTRR chains reach k = 10)
MAX_KG_LENGTH = 4  # ... through a background-KG subgraph (denser; retrieval's paths have at most 3)
MAX_PAIRS = 12  # endpoint pairs searched per example (ProofWriter statements, mentioned nodes)
SEARCH_STEPS = 20_000  # depth-first steps per endpoint pair before the search stops (dense graphs)
WEIGHTED_RANKING = ("geometric mean of the edges' importances (the model's share of messages along each edge); "
                    "ties: shorter first")
UNWEIGHTED_RANKING = "not weighted (the model reads no graph): shorter first, typed relations before untyped"


@dataclass
class LinkedMention:
    """A span of the input linked to a graph node.

    part: "text" (the example's text) or "choice i"; start, end: characters in that part (-1: not known)
    node: the local node index; name: its name; score: the linker's score (1.0 for names read off the text);
    how: how it was found ("bracketed name", "PERSON entity", "theory sentence", or the linker's "phrase",
    "lemma", "ner")
    """

    text: str
    start: int
    end: int
    node: int
    name: str
    score: float
    how: str
    part: str = "text"


@dataclass
class EvidenceEdge:
    """One edge of the subgraph: `target` is `source`'s `relation`; the sentence it was read from ("" for KG
    edges); importance: the model's, None without a graph; derived_depth: 0 where the text (or the KG) states the
    edge, d ≥ 1 where forward chaining proved it at depth d (ProofWriter with `--theory-closure`; its sentence
    is then that of the rule that concluded it)."""

    source: int
    target: int
    relation: str
    importance: float | None
    sentence: str
    derived_depth: int = 0


@dataclass
class WeightedPath:
    """A simple path of `len(edges)` edges through `nodes` (local indices, `names`); `forward[i]`: edge i is
    walked from its source to its target. weight: see the module docstring (None: not weighted).
    derived_depths: each edge's `EvidenceEdge.derived_depth` (empty: all stated)."""

    nodes: list[int]
    names: list[str]
    edges: list[int]
    relations: list[str]
    forward: list[bool]
    weight: float | None
    sentences: list[str]
    derived_depths: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.edges)

    @property
    def text(self) -> str:
        """The path in words: `Ann —son→ Bob ←father— Carl`; an edge that forward chaining proved says so:
        `cat —chases (proved, depth 2)→ dog`."""
        parts = [self.names[0]]
        depths = self.derived_depths or [0] * len(self.edges)
        for relation, forward, name, depth in zip(self.relations, self.forward, self.names[1:], depths):
            if relation.startswith(REVERSED):  # a causal edge turned for a cause question: show the stored triple
                relation, forward = relation[len(REVERSED):], not forward
            relation = relation_text(relation, depth)
            parts.append(f"—{relation}→ {name}" if forward else f"←{relation}— {name}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text}


@dataclass
class CausalPath:
    """A causal evidence path of choice `choice`, cause first: `text` in words ("storm —Causes→ rain"), `length`
    steps; weight: the geometric mean of the model's importances of its edges in that choice's graph (None: a model
    that reads no graph, or an edge the subgraph lacks)."""

    choice: int
    text: str
    length: int
    weight: float | None


@dataclass
class Evidence:
    """What an answer rests on (see the module docstring).

    text: the example's text (story, theory + statement, or question); answer, scores: the answer it explains
    mentions: the linked spans; nodes, node_types: the subgraph's nodes by local index; node_importance: the
    model's attention-pooling weight of each node (None without a graph); edges: the subgraph's edges
    endpoints: the (source, target) name pairs the paths were searched between; paths: best first
    weighted: whether paths carry the model's weights; ranking: how they were ranked, in words
    known_case: causal questions read with an event memory: the chosen choice's link to a training pair
        (`kgreason.data.event_memory.EventLink.to_dict()`: match, because, score, strength, cause, effect,
        explanation, pair_id, text)
    choice: the chosen choice's index (multiple choice), else None
    causal_paths: causal questions: each choice's causal paths, best first (see the module docstring); else None
    """

    text: str
    mentions: list[LinkedMention]
    nodes: list[str]
    node_types: list[str]
    node_importance: list[float] | None
    edges: list[EvidenceEdge]
    endpoints: list[tuple[str, str]]
    paths: list[WeightedPath]
    weighted: bool
    ranking: str
    answer: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    known_case: dict[str, Any] | None = None
    choice: int | None = None
    causal_paths: list[list[CausalPath]] | None = None

    @property
    def top_path(self) -> WeightedPath | None:
        return self.paths[0] if self.paths else None

    @property
    def causal_evidence(self) -> list[list[str]] | None:
        """Causal questions: each choice's causal paths in words, best first, or ["no graph evidence"]; else None."""
        if self.causal_paths is None:
            return None
        return [[path.text for path in paths] or [NO_EVIDENCE] for paths in self.causal_paths]

    @property
    def answer_causal_evidence(self) -> list[str] | None:
        """Causal questions: the chosen choice's `causal_evidence`; else None."""
        evidence = self.causal_evidence
        return None if evidence is None or self.choice is None else evidence[self.choice]

    def causal_rows(self) -> list[tuple[int, str, float | None]]:
        """(choice index, path in words or "no graph evidence", weight) for each choice's causal paths, choice by
        choice, best first: the rows of a causal-evidence table ([] for other questions)."""
        return [row for choice, paths in enumerate(self.causal_paths or [])
                for row in ([(choice, p.text, p.weight) for p in paths] or [(choice, NO_EVIDENCE, None)])]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: plain lists, strings and numbers."""
        importance = self.node_importance or [None] * len(self.nodes)
        return {
            "text": self.text, "answer": self.answer, "choice": self.choice, "scores": self.scores,
            "weighted": self.weighted, "ranking": self.ranking, "mentions": [asdict(m) for m in self.mentions],
            "endpoints": [list(pair) for pair in self.endpoints], "paths": [p.to_dict() for p in self.paths],
            "known_case": self.known_case, "answer_causal_evidence": self.answer_causal_evidence,
            "causal_evidence": self.causal_evidence,
            "causal_paths": None if self.causal_paths is None else [[asdict(p) for p in paths]
                                                                    for paths in self.causal_paths],
            "subgraph": {
                "nodes": [{"name": name, "type": kind, "importance": value}
                          for name, kind, value in zip(self.nodes, self.node_types, importance)],
                "edges": [asdict(edge) for edge in self.edges],
            },
        }

    def plot(self, path: str | Path, *, dpi: int = 120) -> Path:
        """Draw the subgraph, the top path highlighted, to a PNG file; returns its path."""
        path = Path(path)
        self._figure().savefig(path, format="png", dpi=dpi)
        return path

    def to_svg(self) -> str:
        """The drawing of `plot` as an SVG document (text kept as text)."""
        import matplotlib

        buffer = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "kgreason"}):
            self._figure().savefig(buffer, format="svg", metadata=dict.fromkeys(("Creator", "Date", "Format", "Type")))
        return buffer.getvalue()

    def to_html(self, path: str | Path) -> Path:
        """A self-contained HTML page (inline SVG, no scripts, no network): the answer, the drawing, the ranked
        paths with their sentences, the linked mentions and the edges by importance. Returns its path."""
        path = Path(path)
        svg = self.to_svg()
        svg = svg[svg.index("<svg"):]  # inline: drop the XML declaration and doctype
        path.write_text(_page(self, svg), encoding="utf-8")
        return path

    def _figure(self):
        """A matplotlib `Figure` (no pyplot, so no global backend is touched) of the subgraph."""
        from matplotlib.figure import Figure

        figure = Figure(figsize=(8, 5.5), layout="constrained")
        ax = figure.add_subplot()
        ax.set_axis_off()
        top = self.top_path
        title = f"answer: {self.answer}" if self.answer is not None else "evidence"
        ax.set_title(title + (f"\n{top.text}" if top else "\n(no path between the nodes asked about)"), fontsize=10)
        if not self.nodes:
            ax.text(0.5, 0.5, "the example has no graph", ha="center", va="center")
            return figure
        _draw(ax, self, top)
        return figure


def _draw(ax, evidence: Evidence, top: WeightedPath | None) -> None:
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(evidence.nodes)))
    labels: dict[tuple[int, int], list[str]] = {}
    strength: dict[tuple[int, int], float] = {}
    for edge in evidence.edges:
        if edge.source == edge.target:
            continue
        key = (edge.source, edge.target)
        graph.add_edge(*key)
        labels.setdefault(key, []).append(relation_text(edge.relation, edge.derived_depth))
        strength[key] = max(strength.get(key, 0.0), edge.importance or 0.0)
    on_path = set(top.nodes) if top else set()
    path_edges = {(evidence.edges[e].source, evidence.edges[e].target) for e in top.edges} if top else set()
    fixed = {node: (i / max(1, len(top.nodes) - 1) * 2 - 1, 0.0) for i, node in enumerate(top.nodes)} if top else {}
    position = nx.spring_layout(graph.to_undirected(), pos=fixed or None, fixed=list(fixed) or None, seed=0)
    colours = ["#f4a259" if n in on_path else "#bcd4e6" for n in graph.nodes]
    nx.draw_networkx_nodes(graph, position, ax=ax, node_color=colours, node_size=900, edgecolors="#555555")
    nx.draw_networkx_labels(graph, position, {i: evidence.nodes[i] for i in graph.nodes}, ax=ax, font_size=8)
    style = "arc3,rad=0.12"
    edges = list(graph.edges)
    widths = [3.0 if key in path_edges else 0.8 + 2.5 * strength[key] * evidence.weighted for key in edges]
    nx.draw_networkx_edges(graph, position, edgelist=edges, ax=ax, width=widths, connectionstyle=style,
                           edge_color=["#c0392b" if key in path_edges else "#888888" for key in edges],
                           arrowsize=14, node_size=900)
    edge_labels = {key: ", ".join(dict.fromkeys(names)) for key, names in labels.items()}
    nx.draw_networkx_edge_labels(graph, position, edge_labels, ax=ax, font_size=7, connectionstyle=style,
                                 bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})


def _page(evidence: Evidence, svg: str) -> str:
    """The HTML of `Evidence.to_html`."""
    e = html.escape

    def table(header: Sequence[str], rows: list[Sequence[Any]]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in row) + "</tr>" for row in rows)
        return f"<table><tr>{head}</tr>{body}</table>" if rows else "<p>none</p>"

    scores = sorted(evidence.scores.items(), key=lambda item: -item[1])
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>kgreason evidence</title><style>",
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}table{border-collapse:collapse;"
        "margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:90%}"
        "th{background:#eee}.text{background:#f7f7f7;padding:.6em;white-space:pre-wrap}svg{max-width:100%;height:auto}",
        "</style></head><body>",
        f"<h1>Answer: {e(str(evidence.answer))}</h1>",
        f"<p class='text'>{e(evidence.text)}</p>",
        table(["answer", "probability"], scores[:10]),
        "<h2>Subgraph</h2>", svg,
        f"<h2>Paths</h2><p>between {e(', '.join(f'{a} → {b}' for a, b in evidence.endpoints) or 'nothing')}; "
        f"ranked by {e(evidence.ranking)}</p>",
        table(["#", "path", "weight", "sentences"],
              [(i + 1, p.text, p.weight, " | ".join(dict.fromkeys(s for s in p.sentences if s)))
               for i, p in enumerate(evidence.paths)]),
        *(["<h2>Causal evidence</h2><p>each choice's paths over causal relations, in the asked direction, cause "
           "first</p>", table(["choice", "path", "weight"], [(c + 1, text, weight)
                                                             for c, text, weight in evidence.causal_rows()])]
          if evidence.causal_paths is not None else []),
        *(["<h2>Known case</h2><p>the training question that matches the answer best (score: the smaller of its two"
           " sides' cosine similarities, plus the question's to its explanation)</p>",
           table(["case", "score", "strength", "training id"], [(
               evidence.known_case["text"], evidence.known_case["score"], evidence.known_case["strength"],
               evidence.known_case["pair_id"])])]
          if evidence.known_case else []),
        "<h2>Linked mentions</h2>",
        table(["text", "where", "characters", "node", "score", "found by"],
              [(m.text, m.part, f"{m.start}–{m.end}", m.name, m.score, m.how) for m in evidence.mentions]),
        "<h2>Edges</h2>",
        table(["source", "relation", "target", "importance", "sentence"],
              [(evidence.nodes[d.source], relation_text(d.relation, d.derived_depth), evidence.nodes[d.target],
                d.importance, d.sentence)
               for d in sorted(evidence.edges, key=lambda d: -(d.importance or 0.0))]),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


# --- building ----------------------------------------------------------------------------------------------


def build_evidence(
    example: KGQAExample,
    *,
    edge_importance: np.ndarray | None = None,
    node_importance: np.ndarray | None = None,
    node_names: Sequence[str] | None = None,
    relation_names: Sequence[str] | None = None,
    choice: int | None = None,
    choice_edge_importance: Sequence[np.ndarray] | None = None,
    max_paths: int = 5,
    max_length: int | None = None,
    answer: str | None = None,
    scores: dict[str, float] | None = None,
) -> Evidence:
    """The evidence of one example.

    edge_importance: float [E] for the example's edges, node_importance: float [N] (None: a model without graph)
    node_names: name of each node (default: text graphs' `meta["nodes"]`, else the ids); relation_names: the
        name of each `edge_type` of a background-KG example (text graphs name theirs in `meta["relations"]`)
    choice: the chosen choice of a multiple-choice example (its entities end the paths)
    choice_edge_importance: C arrays float [E], the edge importances of each choice's graph (multiple choice):
        they weigh each choice's causal paths
    """
    names = _node_names(example, node_names)
    relations = _relation_names(example, relation_names)
    imp = None if edge_importance is None else np.asarray(edge_importance, dtype=np.float64).reshape(-1)
    if imp is not None and len(imp) != example.num_edges:
        raise ValueError(f"edge_importance has {len(imp)} values for the example's {example.num_edges} edges")
    sentences, depths = _edge_sentences(example), _derived_depths(example)
    edges = [EvidenceEdge(int(s), int(t), relations[i], None if imp is None else round(float(imp[i]), 6), sentences[i],
                          depths[i])
             for i, (s, t) in enumerate(example.edge_index.T.tolist())]
    pairs = endpoint_pairs(example, names=names, choice=choice)
    paths = rank_paths(example, imp, pairs=pairs, names=names, relations=relations, sentences=sentences,
                       limit=max_paths, max_length=max_length)
    node_types = list(example.meta.get("node_types") or ["entity"] * example.num_nodes)
    return Evidence(
        text=example.text,
        mentions=_mentions(example, names),
        nodes=names,
        node_types=node_types,
        node_importance=None if node_importance is None else np.round(np.asarray(node_importance, float), 6).tolist(),
        edges=edges,
        endpoints=[(names[a], names[b]) for a, b in pairs],
        paths=paths,
        weighted=imp is not None,
        ranking=WEIGHTED_RANKING if imp is not None else UNWEIGHTED_RANKING,
        answer=answer,
        scores=dict(scores or {}),
        known_case=(example.meta["event_links"][choice]
                    if choice is not None and example.meta.get("event_links") else None),
        choice=choice,
        causal_paths=causal_paths(example, relations=relations, choice_edge_importance=choice_edge_importance),
    )


def causal_paths(example: KGQAExample, *, relations: Sequence[str],
                 choice_edge_importance: Sequence[np.ndarray] | None = None) -> list[list[CausalPath]] | None:
    """Each choice's causal paths (`meta["paths"]` of a causal example, else None), best first: by weight (see
    `CausalPath`) where `choice_edge_importance` (C arrays float [E]) gives one, else in retrieval's order (shortest
    first). relations: [E] the name of each edge (`rev:<name>` for a causal edge turned along the question)."""
    meta = example.meta
    if "ask_for" not in meta:  # not a causal example (`kgreason.data.causal.causal_example`)
        return None
    local = {int(node): i for i, node in enumerate(example.node_ids.tolist())}
    edges: dict[tuple[int, int, str], list[int]] = {}  # (local node, local node, stored relation) -> edges
    for edge, (s, t) in enumerate(example.edge_index.T.tolist()):
        edges.setdefault((*sorted((s, t)), relations[edge].removeprefix(REVERSED)), []).append(edge)
    found: list[list[tuple[tuple, CausalPath]]] = [[] for _ in example.choices]
    for rank, path in enumerate(meta.get("paths", [])):
        choice = path["choice"]
        if not 0 <= choice < len(found):  # a path between the premise's own concepts
            continue
        importance = None if choice_edge_importance is None else choice_edge_importance[choice]
        steps = [edges.get((*sorted((local.get(h, -1), local.get(t, -1))), relation))
                 for (h, _, t), (_, relation, _) in zip(path["triples"], path["labels"])]
        weight = None
        if importance is not None and steps and all(steps):
            weight = round(_geometric_mean([max(float(importance[e]) for e in step) for step in steps]), 6)
        key = (weight is None, -(weight or 0.0), len(steps), rank)
        found[choice].append((key, CausalPath(choice, path["text"], len(steps), weight)))
    return [[causal for _, causal in sorted(paths, key=lambda item: item[0])] for paths in found]


def top_path(example: KGQAExample, edge_importance: np.ndarray | None, *, max_length: int | None = None,
             node_names: Sequence[str] | None = None,
             relation_names: Sequence[str] | None = None) -> WeightedPath | None:
    """The best path of `example` (CLUTRR: between its query people) by `edge_importance` (float [E]), or None."""
    names = _node_names(example, node_names)
    imp = None if edge_importance is None else np.asarray(edge_importance, dtype=np.float64).reshape(-1)
    paths = rank_paths(example, imp, pairs=endpoint_pairs(example, names=names), names=names,
                       relations=_relation_names(example, relation_names), sentences=_edge_sentences(example),
                       limit=1, max_length=max_length)
    return paths[0] if paths else None


def path_matches_gold(path: WeightedPath | None, gold_chain: Sequence[str] | None) -> bool:
    """Whether `path` walks exactly the people of the gold chain (`meta["gold_chain"]`, from query[0] to query[1])."""
    return path is not None and bool(gold_chain) and path.names == list(gold_chain)


def split_by_graph(batch: Any, values: Any, *, per: str = "edge") -> list[np.ndarray]:
    """A batch's [E] edge (per="edge") or [N] node (per="node") values cut into one array per graph (row).

    batch: a `KGQABatch`; values: a tensor or array, e.g. `ModelOutput.edge_importance`. Graphs are in row order:
    example b's choice c is graph b * C + c in a multiple-choice batch.
    """
    graph_of_node = batch.batch.cpu().numpy()
    owner = graph_of_node[batch.edge_index[0].cpu().numpy()] if per == "edge" else graph_of_node
    values = values.detach().float().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)
    counts = np.bincount(owner, minlength=batch.num_graphs)
    return np.split(values, np.cumsum(counts)[:-1])


def endpoint_pairs(example: KGQAExample, *, names: Sequence[str] | None = None,
                   choice: int | None = None) -> list[tuple[int, int]]:
    """The (source, target) local node pairs whose paths explain the answer (see the module docstring)."""
    meta, num_nodes = example.meta, example.num_nodes
    query = [i for i in meta.get("query_node_index", ()) if 0 <= i < num_nodes]
    if meta.get("task") == "clutrr" or len(meta.get("query_node_index", ())) == 2:
        return [(query[0], query[1])] if len(query) == 2 and query[0] != query[1] else []
    if "choice_node_index" in meta:
        question = list(dict.fromkeys(meta.get("question_node_index", [])))
        choices = meta["choice_node_index"]
        chosen = choice is not None and 0 <= choice < len(choices)
        targets = choices[choice] if chosen else [n for c in choices for n in c]
        return [(a, b) for a in question for b in dict.fromkeys(targets) if a != b][:MAX_PAIRS]
    names = _node_names(example, names)
    if meta.get("statement"):
        named = _named_in(meta["statement"], names, meta.get("node_types", []))
    else:
        named = list(dict.fromkeys(example.mention_node_index.tolist()))
    return [(a, b) for i, a in enumerate(named) for b in named[i + 1:]][:MAX_PAIRS]


def _named_in(statement: str, names: Sequence[str], types: Sequence[str]) -> list[int]:
    """Nodes whose name the statement contains as whole words, in the order it names them (rule nodes left out)."""
    found = []
    for i, name in enumerate(names):
        if i < len(types) and types[i] == "rule":
            continue
        match = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", statement, re.IGNORECASE)
        if match:
            found.append((match.start(), -len(name), i))
    return [i for _, _, i in sorted(found)]


def rank_paths(example: KGQAExample, importance: np.ndarray | None, *, pairs: Sequence[tuple[int, int]],
               names: Sequence[str], relations: Sequence[str], sentences: Sequence[str], limit: int,
               max_length: int | None = None) -> list[WeightedPath]:
    """The best `limit` simple paths between the `pairs`, best first (see the module docstring).

    importance: float [E] or None; names: [N]; relations, sentences: [E]; max_length: None for the default
    """
    if not pairs or not example.num_edges:
        return []
    if max_length is None:
        max_length = MAX_LENGTH if example.meta.get("graph") == "text" else MAX_KG_LENGTH
    adjacency = _adjacency(example, importance, relations)
    found: list[tuple[tuple, float | None, list[int], list[tuple[int, bool]]]] = []
    for source, target in pairs:
        for nodes, hops in _simple_paths(adjacency, source, target, max_length=max_length):
            edges = [edge for edge, _ in hops]
            if importance is None:
                weight = None
                key = (len(edges), sum(relations[e] == UNTYPED for e in edges), nodes)
            else:
                weight = _geometric_mean([float(importance[e]) for e in edges])
                key = (-round(weight, 9), len(edges), nodes)
            found.append((key, weight, nodes, hops))
    found.sort(key=lambda item: item[0])
    depths = _derived_depths(example)
    return [WeightedPath(nodes=nodes, names=[names[n] for n in nodes], edges=[e for e, _ in hops],
                         relations=[relations[e] for e, _ in hops], forward=[forward for _, forward in hops],
                         weight=None if weight is None else round(weight, 6), sentences=[sentences[e] for e, _ in hops],
                         derived_depths=[depths[e] for e, _ in hops] if any(depths) else [])
            for _, weight, nodes, hops in found[:limit]]


def _geometric_mean(values: Sequence[float]) -> float:
    """The geometric mean of edge importances (negatives count as 0): long and short paths compare fairly."""
    return math.prod(max(value, 0.0) for value in values) ** (1 / len(values))


def relation_text(relation: str, derived_depth: int) -> str:
    """`relation`, with "(proved, depth d)" where forward chaining proved the edge (`derived_depth` d ≥ 1)."""
    return f"{relation} (proved, depth {derived_depth})" if derived_depth else relation


def _adjacency(example: KGQAExample, importance: np.ndarray | None,
               relations: Sequence[str]) -> list[dict[int, tuple[int, bool]]]:
    """Per node: neighbour -> (the best edge between them, walked forward?), either direction."""
    best: list[dict[int, tuple[tuple, int, bool]]] = [{} for _ in range(example.num_nodes)]
    for edge, (s, t) in enumerate(example.edge_index.T.tolist()):
        if s == t:
            continue
        rank = (-float(importance[edge]),) if importance is not None else ()
        rank += (relations[edge] == UNTYPED, edge)
        for a, b, forward in ((s, t, True), (t, s, False)):
            if b not in best[a] or rank < best[a][b][0]:
                best[a][b] = (rank, edge, forward)
    return [{b: (edge, forward) for b, (_, edge, forward) in sorted(row.items())} for row in best]


def _simple_paths(adjacency: list[dict[int, tuple[int, bool]]], source: int, target: int, *,
                  max_length: int) -> list[tuple[list[int], list[tuple[int, bool]]]]:
    """Simple paths source → target of at most `max_length` edges (depth first, at most `SEARCH_STEPS` steps)."""
    out: list[tuple[list[int], list[tuple[int, bool]]]] = []
    nodes, hops = [source], []
    on_path = {source}
    stack = [iter(adjacency[source].items())]
    for _ in range(SEARCH_STEPS):
        if not stack:
            break
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
            on_path.discard(nodes.pop())
            if hops:
                hops.pop()
            continue
        neighbour, hop = step
        if neighbour in on_path:
            continue
        if neighbour == target:
            out.append(([*nodes, neighbour], [*hops, hop]))
        elif len(hops) + 1 < max_length:
            nodes.append(neighbour)
            hops.append(hop)
            on_path.add(neighbour)
            stack.append(iter(adjacency[neighbour].items()))
    return out


def _node_names(example: KGQAExample, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        return list(names)
    if example.meta.get("nodes") is not None:
        return list(example.meta["nodes"])
    return [str(n) for n in example.node_ids.tolist()]


def _relation_names(example: KGQAExample, names: Sequence[str] | None) -> list[str]:
    table = example.meta.get("relations") if example.meta.get("graph") == "text" else names
    if table is None:
        return [str(t) for t in example.edge_type.tolist()]
    return [str(table[t]) for t in example.edge_type.tolist()]


def _derived_depths(example: KGQAExample) -> list[int]:
    """Each edge's `EvidenceEdge.derived_depth` (`meta["derived_depth"]`, zeros where the example has none)."""
    depths = example.meta.get("derived_depth")
    return [int(d) for d in depths] if depths is not None and len(depths) == example.num_edges else [0] * example.num_edges


def _edge_sentences(example: KGQAExample) -> list[str]:
    """The sentence each edge was read from ("" where it has none)."""
    if not len(example.edge_char_spans):
        return [""] * example.num_edges
    return [example.text[s:t].strip() if s >= 0 else "" for s, t in example.edge_char_spans.tolist()]


def _mentions(example: KGQAExample, names: Sequence[str]) -> list[LinkedMention]:
    """Text graphs: each node's spans in the text; background-KG examples: the linker's mentions (`meta["mentions"]`:
    the text's, then each choice's), mapped to local nodes."""
    meta = example.meta
    if "mentions" in meta:
        local = {int(n): i for i, n in enumerate(example.node_ids.tolist())}
        out = []
        for part, mentions in enumerate(meta["mentions"]):
            for m in mentions:
                if m.get("node_id") is not None and int(m["node_id"]) in local:
                    node = local[int(m["node_id"])]
                    out.append(LinkedMention(m["text"], m["start_char"], m["end_char"], node, names[node],
                                             float(m.get("score", 0.0)), m.get("source", "linker"),
                                             "text" if part == 0 else f"choice {part}"))
        return out
    if meta.get("task") == "proofwriter":
        how = "theory sentence"
    else:
        how = "bracketed name" if "[" in example.text else "PERSON entity"
    return [LinkedMention(example.text[s:t] if s >= 0 else names[n], int(s), int(t), int(n), names[n], 1.0, how)
            for n, (s, t) in zip(example.mention_node_index.tolist(), example.mention_char_spans.tolist())]
