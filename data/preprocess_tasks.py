"""The tasks `kgreason.data.preprocess` knows: how each reads its file and turns records into examples.

- clutrr: a CLUTRR CSV → the story graph of each story (`kgreason.data.story_reader.story_graphs`); the label is
  the target's index in `CLUTRR_LABELS`; `meta["query_node_index"]` are the two people asked about (-1 for one
  the story does not mention: flagged `query_not_in_story`, kept and answered from the text); a target that is a
  kinship relation but not one of the labels ("brother-in-law") is flagged `label_not_in_classes`, kept, and
  scored as unlabelled (label -1).
- proofwriter: a ProofWriter JSON/JSONL (also ProntoQA and FOLIO in the Logic-LM layout) → the theory graph of
  each context (a theory none of whose sentences parses: flagged `theory_not_parsed`, answered from the text);
  choices as the record offers them, among True/False/Unknown (FOLIO's "Uncertain" read as "Unknown"; ProntoQA
  offers True/False only, and is answered among those); the text is the context
  followed by the statement asked about; `meta["depth"]` is the record's proof depth, or, where the file has
  none (Logic-LM), the one forward chaining over the parsed theory finds (`with_proof_depths`). With
  `Settings(theory_closure=True)` the graph also holds the literals forward chaining proves, and
  `meta["query_node_index"]` are the statement's subject and object (-1 for one the graph lacks: flagged
  `query_not_in_graph`, kept and answered from the text).
- ecare, copa: e-CARE JSONL / COPA XML → the premise and each choice linked to the store's KG (`kg_linker`),
  a subgraph retrieved around them with causal evidence paths, its causal edges oriented along the question
  (`kgreason.data.causal_graph.CausalGraph.retrieve`; edge types index `oriented_relations(kg.relations)`).
  Rules for odd records (flagged, counted, kept): a premise that links no concept (`premise_not_linked`) is
  answered from the text and the choices' concepts; a hypothesis equal to the premise
  (`choice_same_as_premise`) gets no evidence; no causal path for any choice: `no_causal_path`.

Text graphs (clutrr, proofwriter) number their nodes 0..N-1 (`node_ids`) and their edge types index
`meta["relations"]` (negated edges prefixed `not_`); background-KG examples use the KG's ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kgreason.kg.errors import ParseError

from .example import KGQAExample
from .preprocess import Settings, Task, clean_text
from .text_graph import NEGATED, UNTYPED, TextGraph


def pipeline_uses_torch(name: str) -> bool:
    """Whether the spaCy pipeline `name` (a package name or a directory; "blank" has no model) names PyTorch or
    a transformer in its config.cfg, read without importing spaCy. True when the config cannot be found."""
    if name == "blank":
        return False
    path = Path(name)
    if not path.is_dir():
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            return True
        path = Path(next(iter(spec.submodule_search_locations)))
    configs = sorted(path.glob("config.cfg")) + sorted(path.glob("*/config.cfg"))
    return not configs or bool(re.search(r"torch|transformer", configs[0].read_text(encoding="utf-8"), re.IGNORECASE))


def load_nlp(settings: Settings, *, disable: tuple[str, ...] = ()):
    """The spaCy pipeline of `settings.nlp` ("blank": `spacy.blank("en")` + sentencizer)."""
    import spacy

    if settings.nlp == "blank":
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        return nlp
    nlp = spacy.load(settings.nlp, exclude=list(disable))
    _index_lemmas_as_sets(nlp)
    return nlp


def _index_lemmas_as_sets(nlp) -> None:
    """Make the rule lemmatizer's word lists sets (same lemmas). spaCy tests each candidate lemma with `form in
    index`; the English model's index holds lists (57k nouns), so every word the lemmatizer has not cached cost
    about 1 ms: a third of e-CARE preprocessing. The pipeline is for this process only (never saved)."""
    for _, component in nlp.pipeline:
        lookups = getattr(component, "lookups", None)
        if getattr(component, "mode", None) == "rule" and lookups is not None and lookups.has_table("lemma_index"):
            table = lookups.get_table("lemma_index")
            for key, words in table.items():
                table[key] = frozenset(words)


def text_graph_example(text: str, graph: TextGraph, *, flags: list[str], meta: dict[str, Any]) -> KGQAExample:
    """A `KGQAExample` of a graph read from `text` (node i is node_ids[i])."""
    labels = [NEGATED + label if negated else label for label, negated in zip(graph.edge_labels, graph.negated.tolist())]
    relations = sorted(set(labels))
    index = {name: i for i, name in enumerate(relations)}
    mentions = [(node, span) for node, spans in enumerate(graph.node_mentions) for span in spans]
    return KGQAExample(
        text=text,
        node_ids=np.arange(graph.num_nodes, dtype=np.int64),
        edge_index=graph.edges.T.copy(),
        edge_type=np.array([index[label] for label in labels], dtype=np.int64),
        edge_char_spans=graph.sentence_spans.reshape(-1, 2).copy(),
        mention_node_index=np.array([node for node, _ in mentions], dtype=np.int64),
        mention_char_spans=np.array([span for _, span in mentions], dtype=np.int64).reshape(-1, 2),
        meta={**meta, "graph": "text", "flags": flags, "nodes": graph.nodes, "node_types": graph.node_types,
              "relations": relations},
    )


# --- CLUTRR ------------------------------------------------------------------------------------------------


def clutrr_labels() -> list[str]:
    """The classes of the clutrr task: CLUTRR's kinship relations, sorted (an example's label indexes them)."""
    from .clutrr import CLUTRR_RELATIONS

    return sorted(CLUTRR_RELATIONS)


def _read_clutrr(path: Path, skipped: list[ParseError]) -> Iterator[Any]:
    from .clutrr import read_clutrr

    return read_clutrr(path, on_error="skip", skipped=skipped)


class ClutrrPipelines:
    """The pipelines the clutrr task needs: sentences only for stories with [bracketed] names (what CLUTRR
    writes; the model's `senter`, ~10x faster than its parser), and, loaded on first need, the model's NER
    for stories without brackets (PERSON entities). With `nlp="blank"` there is no NER: such stories get an
    empty graph, flagged `no_linked_entity`."""

    def __init__(self, settings: Settings) -> None:
        import spacy

        self.settings = settings
        if settings.nlp == "blank":
            self.sentences = load_nlp(settings)
        else:
            self.sentences = spacy.load(settings.nlp, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"])
            self.sentences.enable_pipe("senter")
        self._ner = None

    def ner(self):
        """The pipeline for stories without brackets, or None (blank)."""
        if self._ner is None and self.settings.nlp != "blank":
            self._ner = load_nlp(self.settings, disable=("lemmatizer",))
        return self._ner


def clutrr_gold_chain(record: Any) -> list[str] | None:
    """The people along a `ClutrrRecord`'s gold proof chain, from query[0] to query[1] (`gold.story_edges` of
    the chain walked either way); None without gold or when the chain does not join them."""
    gold = getattr(record, "gold", None)
    if gold is None:
        return None
    neighbours: dict[int, list[int]] = {}
    for a, b in gold.story_edges[: len(gold.edge_types)]:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    start, end = gold.query_edge
    previous = {start: start}  # breadth-first search: each person's predecessor
    frontier = [start]
    while frontier and end not in previous:
        reached = []
        for node in frontier:
            for neighbour in neighbours.get(node, ()):
                if neighbour not in previous:
                    previous[neighbour] = node
                    reached.append(neighbour)
        frontier = reached
    if end not in previous:
        return None
    chain = [end]
    while chain[-1] != start:
        chain.append(previous[chain[-1]])
    return [gold.people[i] for i in reversed(chain)]


def _build_clutrr(records: list, pipelines: ClutrrPipelines, settings: Settings) -> list[KGQAExample]:
    from .gold_story import gold_story
    from .renaming import rename_people
    from .story_reader import has_bracketed_names, story_graphs

    # a file's records carry gold; a GraphQA question has none and keeps its names and text
    for wanted, change in ((settings.rename_people, rename_people), (settings.gold_story, gold_story)):
        if wanted:
            records = [change(r) if getattr(r, "gold", None) is not None else r for r in records]
    cleaned = [clean_text(record.story, max_chars=settings.max_chars) for record in records]
    graphs: list[TextGraph | None] = [None] * len(records)

    def read(indices: list[int], nlp) -> None:
        texts = [cleaned[i][0] for i in indices]
        for i, graph in zip(indices, story_graphs(texts, nlp=nlp, inverses=settings.kinship_inverses)):
            graphs[i] = graph

    read([i for i, (text, _) in enumerate(cleaned) if has_bracketed_names(text)], pipelines.sentences)
    unbracketed = [i for i, (text, _) in enumerate(cleaned) if text and graphs[i] is None]
    if unbracketed and pipelines.ner() is not None:
        read(unbracketed, pipelines.ner())
    examples = []
    for record, (text, flags), graph in zip(records, cleaned, graphs):
        if graph is None or not graph.nodes:
            graph, flags = graph or TextGraph(text), sorted({*flags, "no_linked_entity"})
        query = graph.node_indices(record.query)
        if -1 in query:  # answered from the text alone: the graph side gets no query node
            flags = sorted({*flags, "query_not_in_story"})
        if record.target not in clutrr_labels():  # a kinship word CLUTRR never asks for: kept, scored as unlabelled
            flags = sorted({*flags, "label_not_in_classes"})
        meta = {"task": "clutrr", "id": record.id, "k": record.k, "task_name": record.task_name,
                "noise": record.noise, "query": list(record.query), "query_node_index": query, "target": record.target,
                "gold_chain": clutrr_gold_chain(record)}
        example = text_graph_example(text, graph, flags=flags, meta=meta)
        example.label = clutrr_labels().index(record.target) if record.target in clutrr_labels() else -1
        examples.append(example)
    return examples


# --- ProofWriter -------------------------------------------------------------------------------------------


def _read_proofwriter(path: Path, skipped: list[ParseError]) -> Iterator[Any]:
    from .proofwriter import read_proofwriter, with_proof_depths

    return iter(with_proof_depths(read_proofwriter(path, on_error="skip", skipped=skipped)))


def _no_resources(settings: Settings) -> None:
    """ProofWriter theories follow fixed templates: they are split and parsed without spaCy."""


def _build_proofwriter(records: list, _resources: None, settings: Settings) -> list[KGQAExample]:
    from .theory_graph import theory_graph

    examples = []
    for record in records:
        context, flags = clean_text(record.context, max_chars=settings.max_chars)
        graph = theory_graph(context, closure=settings.theory_closure)
        if context.strip() and not graph.num_edges:  # no sentence parsed: answered from the text alone
            flags = sorted({*flags, "theory_not_parsed"})
        meta = {"task": "proofwriter", "id": record.id, "statement": record.statement, "depth": record.depth,
                "max_depth": record.max_depth, "world": record.world, "unparsed_sentences": len(graph.unparsed)}
        if settings.theory_closure:
            meta["query_node_index"], meta["query_relation"] = statement_query(record.statement, graph)
            meta["derived_depth"] = graph.derived_depth.tolist()  # per edge: 0 stated, d proved at depth d
            if -1 in meta["query_node_index"]:  # answered from the text alone: the graph side gets no query
                flags = sorted({*flags, "query_not_in_graph"})
        example = text_graph_example(f"{context} {record.statement}".strip(), graph, flags=flags, meta=meta)
        example.choices = list(record.choices)
        example.label = record.label
        examples.append(example)
    return examples


def statement_query(statement: str, graph: TextGraph) -> tuple[list[int], str]:
    """The fact a question states, as a query on `graph`: ([subject node, object node], its edge label), e.g.
    "Bob is not red." -> ([Bob's node, red's node], "not_is"). A side the graph lacks is -1; a statement that is
    not a fact sentence gives ([-1, -1], `UNTYPED`)."""
    from .theory import parse_statement

    try:
        atom = parse_statement(statement)
    except ValueError:
        return [-1, -1], UNTYPED
    return graph.node_indices((atom.subject, atom.object)), NEGATED + atom.relation if atom.negated else atom.relation


# --- e-CARE and COPA ---------------------------------------------------------------------------------------


def _read_causal(path: Path, skipped: list[ParseError]) -> Iterator[Any]:
    from .causal import read_causal

    return read_causal(path, on_error="skip", skipped=skipped)


def load_linking(settings: Settings):
    """spaCy with the `kg_linker` over the store, the store's graph (shared with the linker), its `CausalGraph`,
    and the event memory of `settings.event_memory` with its sentence encoder (or None)."""
    from kgreason.kg.linking import KGLinker  # noqa: F401 - registers the factory

    from .causal_graph import CausalGraph

    nlp = load_nlp(settings, disable=("parser", "ner"))
    linker = nlp.add_pipe("kg_linker", config={"store": settings.store, "lemmatize_labels": False})
    linker.build()
    linked_memory = None
    if settings.event_memory:
        from .event_memory import EventMemory, SentenceEncoder

        memory = EventMemory.load(settings.event_memory)
        linked_memory = (memory, SentenceEncoder(memory.encoder))
    return nlp, linker.kg, CausalGraph(linker.kg), linked_memory


def _build_causal(records: list, resources, settings: Settings) -> list[KGQAExample]:
    from .causal import causal_example

    nlp, _, causal, memory = resources
    examples = []
    cleaned = [[clean_text(text, max_chars=settings.max_chars) for text in (r.premise, *r.choices)] for r in records]
    docs = iter(nlp.pipe(text for texts in cleaned for text, _ in texts))
    for record, texts in zip(records, cleaned):
        mentions = [next(docs)._.kg_mentions for _ in texts]  # premise, then each choice
        premise, *choices = ([m for m in doc_mentions if m.linked] for doc_mentions in mentions)
        subgraph = causal.retrieve(_linked(premise), [_linked(choice) for choice in choices],
                                   ask_for=record.ask_for, hops=settings.hops, max_nodes=settings.max_nodes,
                                   max_paths=settings.max_paths, max_path_length=settings.max_path_length)
        example = causal_example(record, subgraph, cause_effect_order=settings.cause_effect_order)
        spans = {m.node_id: (m.start_char, m.end_char) for m in premise}
        for i, node in enumerate(example.node_ids[example.mention_node_index].tolist()):
            example.mention_char_spans[i] = spans.get(node, (-1, -1))  # the premise starts `text`
        example.meta["task"] = "ecare" if record.source.endswith(".jsonl") else "copa"
        example.meta["flags"] = sorted({*example.meta["flags"], *(flag for _, flags in texts for flag in flags)})
        example.meta["mentions"] = [[m.to_dict() for m in doc_mentions] for doc_mentions in mentions]
        examples.append(example)
    if memory is not None:
        _link_events(records, cleaned, examples, *memory)
    return examples


def _link_events(records: list, cleaned: list, examples: list[KGQAExample], memory, encode) -> None:
    """Each example's choices linked to the event memory: `meta["event_links"]` (`EventLink.to_dict()` per
    choice) and `meta["choice_context"]` (what the model reads after each choice)."""
    from .event_memory import embed_questions

    vectors = embed_questions(encode, [texts[0][0] for texts in cleaned],
                              [[choice for choice, _ in texts[1:]] for texts in cleaned])
    links = memory.link(*vectors,
                        ask_for=[record.ask_for for record in records],
                        exclude=[(Path(record.source).name, record.id) for record in records])
    for example, choice_links in zip(examples, links):
        example.meta["event_links"] = [link.to_dict() for link in choice_links]
        example.meta["choice_context"] = [link.context for link in choice_links]


def _linked(mentions) -> list[int]:
    """The distinct node ids of linked mentions, in order of appearance."""
    return list(dict.fromkeys(m.node_id for m in mentions))


TASKS = {
    "clutrr": Task("clutrr", _read_clutrr, _build_clutrr, ClutrrPipelines),
    "proofwriter": Task("proofwriter", _read_proofwriter, _build_proofwriter, _no_resources),
    "ecare": Task("ecare", _read_causal, _build_causal, load_linking, needs_store=True),
    "copa": Task("copa", _read_causal, _build_causal, load_linking, needs_store=True),
}
