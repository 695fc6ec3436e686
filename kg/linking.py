"""The `kg_linker` spaCy component: find a knowledge graph's entities in text (`doc._.kg_mentions`).

    >>> import spacy
    >>> from kgreason.kg import KnowledgeGraph
    >>> from kgreason.kg.linking import KGLinker   # registers the factory (the package's entry point does too)
    >>> nlp = spacy.blank("en")
    >>> kg = KnowledgeGraph.from_triples([("go to the store", "HasSubevent", "pay"), ("store", "IsA", "shop")])
    >>> linker = nlp.add_pipe("kg_linker")         # from a store: config={"store": "/abs/path/to/store"}
    >>> linker.set_graph(kg)
    >>> [(m.text, m.node_key, m.source) for m in nlp("I Go to a Store and pay.")._.kg_mentions]
    [('Go to a Store', 'go to the store', 'phrase'), ('pay', 'pay', 'phrase')]

How a doc is linked
- Names: every entity's label (`kg.label(i)`) and aliases (`kg.aliases(i)`); blank nodes and triple terms
  count only when they have a label.
- Ignored words: the words of `ignore_words` (default "a", "an", "the") and space tokens are left out of
  names and text before matching, so "went to the store" matches ConceptNet's "go to store" (ConceptNet
  names have no articles) and "the Beatles" matches "The Beatles" or "Beatles". A mention spans the text
  from its first to its last matched token (articles inside included). Use `[]` for other languages.
- Phrase matches (two `PhraseMatcher`s over the kept tokens, all matches, nested ones too):
  * source "phrase": the text's lowercase tokens equal a name's (attr LOWER, case-insensitive);
  * source "lemma": the text's lemmas equal a name's lemmas (attr LEMMA), so "The man went to the stores"
    links "go to the store". Names are lemmatized by this pipeline's own components that run before the
    linker and bear on lemmas (tok2vec, tagger, attribute_ruler, lemmatizer — not parser or ner), over all
    names at once with `nlp.pipe`. `lemmatize_labels=False` takes every name's lowercase tokens as its
    lemmas instead: right for graphs whose names are lemmas already (ConceptNet), and ~10x faster to build.
    A pipeline with no lemmatizer before the linker (`spacy.blank("en")`) has no lemmas: LOWER matches only.
- NER (when the doc has `doc.ents`): an entity span whose lowercase kept tokens equal a name's links to
  that name's entities, source "ner". With `keep_unlinked_ents=True` an entity span that matches no name
  is kept as a mention with `node_id=None`.
- Filters, applied before overlaps: a match is dropped when its text has fewer than `min_chars`
  characters ("I", "2"), or, with `skip_stop_words`, when every token is punctuation, space or a stop word
  of the language (by its text or its lemma: "went" counts as "go"). ConceptNet has nodes "a", "it", "go",
  "get" that would otherwise link everywhere; they still link inside longer matches ("go to store").
- Overlaps: the longest match (in tokens of the text) wins. Ties, and several entities under one name,
  go to the higher prior (`prior="degree"`: the entity's number of edges in the graph; `"none"`: no
  preference), then to a linked mention over an unlinked one, then by source (ner, phrase, lemma), earlier
  start, lower entity id. One (span, entity) found several ways keeps the first source of that order.

The mentions are kept as plain dicts in `doc.user_data[USER_DATA_KEY]` (the `kg_mentions` extension reads
and writes them there), so they survive `nlp.pipe(texts, n_process=N)` and `Doc.to_bytes()`.

Serialisation: the pipeline's config names the store (use an absolute path: `spacy.load()` resolves a
relative one against the working directory), `to_disk()` writes nothing and `spacy.load()` reads the store
again. The matchers are built from the graph on the first doc (after every component's weights are
loaded) or by `build()`; call `build()` before `nlp.pipe(..., n_process=N)` so that the worker processes
inherit the matchers instead of each building its own.
"""

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from spacy.attrs import IDX, IS_SPACE, LEMMA, LOWER
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span, Token

from .errors import StoreError
from .graph import KnowledgeGraph
from .store import Store
from .terms import Kind, kind_of

EXTENSION = "kg_mentions"
USER_DATA_KEY = "kgreason.kg_mentions"
SOURCES = ("ner", "phrase", "lemma")  # preference order when one (span, entity) is found several ways
MAX_NAME_CHARS = 200  # longer labels (long literals used as rdfs:label) are not names to match
# What components assign that lemmatizing a name does not need: these components are skipped then.
NOT_FOR_LEMMAS = frozenset(
    {
        "token.dep", "token.head", "token.is_sent_start", "doc.sents",
        "doc.ents", "token.ent_iob", "token.ent_type", "token.ent_kb_id", "doc.spans", "doc.cats",
    }
)  # fmt: skip
NAME_BATCH_SIZE = 1000
NAME_ATTRS = [LOWER, LEMMA, IS_SPACE]  # what building the matchers reads of a name's tokens
DEFAULT_IGNORE_WORDS = ("a", "an", "the")


@dataclasses.dataclass(frozen=True)
class Mention:
    """One linked (or, for NER spans, possibly unlinked) mention in a doc.

    start, end: token offsets `[start, end)`; start_char, end_char: character offsets `[start_char, end_char)`
    node_id, node_key, node_label: the entity (id, key, `kg.label`); None for an unlinked NER span
    score: the prior of the entity (its degree with `prior="degree"`); 0.0 with `"none"` and when unlinked
    source: "phrase" (lowercase tokens), "lemma" (lemmas) or "ner" (an entity span)
    ner_label: the entity type when the mention is an NER span (or its tokens without the ignored words)
    """

    start: int
    end: int
    start_char: int
    end_char: int
    text: str
    node_id: int | None
    node_key: str | None
    node_label: str | None
    score: float
    source: str
    ner_label: str | None = None

    @property
    def linked(self) -> bool:
        return self.node_id is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (ints, floats, strings, None)."""
        return dict(vars(self))  # the fields are plain values: no deep copy needed

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Mention":
        return cls(**data)


def _get_mentions(doc: Doc) -> list[Mention] | None:
    stored = doc.user_data.get(USER_DATA_KEY)
    return None if stored is None else [Mention.from_dict(m) for m in stored]


def _set_mentions(doc: Doc, mentions: Iterable[Mention]) -> None:
    doc.user_data[USER_DATA_KEY] = [m.to_dict() for m in mentions]


# None on docs the linker has not seen; a new list on every read (assign a list to change it).
Doc.set_extension(EXTENSION, getter=_get_mentions, setter=_set_mentions, force=True)


# --- priors: float64 [num_entities], higher is preferred -----------------------------------------------------


def degree_prior(kg: KnowledgeGraph) -> np.ndarray:
    """Edges at each entity (a self-loop counts twice): float64 [num_entities]."""
    return np.bincount(kg.triples[:, [0, 2]].ravel(), minlength=kg.num_entities).astype(np.float64)


def no_prior(kg: KnowledgeGraph) -> np.ndarray:
    return np.zeros(kg.num_entities, dtype=np.float64)


PRIORS: dict[str, Callable[[KnowledgeGraph], np.ndarray]] = {"degree": degree_prior, "none": no_prior}


# --- names and overlaps (no spaCy needed) --------------------------------------------------------------------


def entity_names(kg: KnowledgeGraph) -> dict[str, list[int]]:
    """Each name (label or alias, stripped) -> the entities it names, in id order."""
    names: dict[str, list[int]] = {}
    for entity, key in enumerate(kg.entities.keys):
        label = kg.label(entity)
        unnamed = label == key and kind_of(key) in (Kind.BLANK, Kind.TRIPLE)
        for text in ([] if unnamed else [label]) + kg.aliases(entity):
            text = text.strip()
            if text and len(text) <= MAX_NAME_CHARS:
                ids = names.setdefault(text, [])
                if not ids or ids[-1] != entity:
                    ids.append(entity)
    return names


class Candidate(NamedTuple):
    """A possible mention: tokens `[start, end)`, entity (None: an unlinked NER span), source, prior."""

    start: int
    end: int
    node: int | None
    source: str
    prior: float

    def rank(self) -> tuple:
        """Sort key: longest first, then higher prior, linked, source order, earlier, lower id."""
        linked = self.node is not None
        return (self.start - self.end, -self.prior, not linked, SOURCES.index(self.source), self.start, self.node if linked else -1)


def resolve_overlaps(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Non-overlapping candidates, best `Candidate.rank()` first, returned in text order."""
    taken: set[int] = set()
    chosen = []
    for cand in sorted(candidates, key=Candidate.rank):
        tokens = range(cand.start, cand.end)
        if not taken.intersection(tokens):
            taken.update(tokens)
            chosen.append(cand)
    return sorted(chosen, key=lambda c: c.start)


# --- the component -----------------------------------------------------------------------------------------


def load_store(store: str | PathLike) -> KnowledgeGraph:
    """`KnowledgeGraph.load(store)`, with an error that says how to make the store when there is none."""
    path = Path(store)
    if not Store(path).exists:
        where = str(path) if path.is_absolute() else f"{path} (relative to {Path.cwd()})"
        raise StoreError(
            f"kg_linker: no knowledge-graph store at {where}",
            hint=f"create it with `kgreason ingest FILE... --store {path}`, or point the component's "
            "config 'store' at an existing store directory",
        )
    return KnowledgeGraph.load(path)


@dataclasses.dataclass
class _Index:
    """The matchers and the lookups from matched tokens back to entities."""

    lower: PhraseMatcher
    by_lower: dict[tuple[int, ...], list[int]]  # lowercase hashes of a name's kept tokens -> entities
    lemma: PhraseMatcher | None  # None without a lemmatizer before the linker
    by_lemma: dict[tuple[int, ...], list[int]]  # lemma hashes of a name's kept tokens -> entities
    prior: np.ndarray  # float64 [num_entities]


class KGLinker:
    """Links a doc's phrases and entity spans to the entities of a `KnowledgeGraph` (see the module doc).

    Made by `nlp.add_pipe("kg_linker", config={"store": DIR, ...})`, or outside a pipeline by
    `KGLinker.from_graph(nlp, kg)`; `set_graph(kg)` swaps the graph. Options are those of the factory.
    """

    def __init__(
        self,
        nlp: Language,
        name: str = "kg_linker",
        *,
        store: str | PathLike | None = None,
        prior: str = "degree",
        min_chars: int = 2,
        skip_stop_words: bool = True,
        keep_unlinked_ents: bool = False,
        lemmatize_labels: bool = True,
        ignore_words: Iterable[str] = DEFAULT_IGNORE_WORDS,
    ) -> None:
        if prior not in PRIORS:
            raise ValueError(f"kg_linker: unknown prior {prior!r}; choose one of {sorted(PRIORS)}")
        if min_chars < 0:
            raise ValueError(f"kg_linker: min_chars must be >= 0, got {min_chars}")
        self.nlp, self.name = nlp, name
        self.store, self.prior, self.min_chars = store, prior, min_chars
        self.skip_stop_words, self.keep_unlinked_ents, self.lemmatize_labels = skip_stop_words, keep_unlinked_ents, lemmatize_labels
        self.ignore_words = [word.lower() for word in ignore_words]
        self._ignored = {nlp.vocab.strings.add(word) for word in self.ignore_words}  # lowercase hashes
        self._stop_words = frozenset(nlp.Defaults.stop_words)
        self._kg = None if store is None else load_store(store)
        self._index: _Index | None = None

    @classmethod
    def from_graph(cls, nlp: Language, kg: KnowledgeGraph, **options: Any) -> "KGLinker":
        """A linker over an in-memory graph, used as `linker(nlp(text))` (or added with `set_graph`)."""
        linker = cls(nlp, **options)
        linker.set_graph(kg)
        return linker

    @property
    def kg(self) -> KnowledgeGraph:
        if self._kg is None:
            raise ValueError(
                f"{self.name}: no knowledge graph; add the component with config={{'store': DIR}} "
                "(a store made by `kgreason ingest`) or call set_graph(kg)"
            )
        return self._kg

    def set_graph(self, kg: KnowledgeGraph) -> None:
        """Link to `kg` from now on (the matchers are rebuilt); a pipeline holding it cannot be saved."""
        self._kg, self.store, self._index = kg, None, None

    # --- building ------------------------------------------------------------------------------------------

    def lemma_components(self) -> list[str]:
        """The components (before this one) that lemmatizing a name needs; [] when none assigns lemmas."""
        names = list(self.nlp.pipe_names)
        if self.name in names:
            names = names[: names.index(self.name)]
        assigns = {name: set(self.nlp.get_pipe_meta(name).assigns) for name in names}
        needed = [name for name in names if not assigns[name] or not assigns[name] <= NOT_FOR_LEMMAS]
        return needed if any("token.lemma" in assigns[name] for name in needed) else []

    def build(self) -> "KGLinker":
        """Build the matchers now (else the first doc does). Run before `nlp.pipe(..., n_process=N)`."""
        kg = self.kg
        names = entity_names(kg)
        texts = list(names)
        lemma_components = self.lemma_components()
        lemmatized = bool(lemma_components) and self.lemmatize_labels
        if lemmatized:
            skip = [name for name in self.nlp.pipe_names if name not in lemma_components]
            docs = self.nlp.pipe(texts, disable=skip, batch_size=NAME_BATCH_SIZE)
            token_rows = (doc.to_array(NAME_ATTRS).tolist() for doc in docs)
        else:
            token_rows = self._tokenize_names(texts)
        by_lower: dict[tuple[int, ...], list[int]] = {}
        by_lemma: dict[tuple[int, ...], list[int]] = {}
        ignored = self._ignored
        for text, rows in zip(texts, token_rows):
            kept = [(lower, lemma) for lower, lemma, space in rows if not (space or lower in ignored)]
            if kept:
                lower = tuple(pair[0] for pair in kept)
                by_lower.setdefault(lower, []).extend(names[text])
                by_lemma.setdefault(tuple(pair[1] for pair in kept) if lemmatized else lower, []).extend(names[text])
        for table in (by_lower, by_lemma):
            for key, ids in table.items():
                table[key] = sorted(set(ids))
        lower_matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        lower_matcher.add(self.name, list(by_lower))  # patterns as hash sequences: no pattern docs kept
        lemma_matcher = None
        if lemma_components:
            lemma_matcher = PhraseMatcher(self.nlp.vocab, attr="LEMMA")
            lemma_matcher.add(self.name, list(by_lemma))
        self._index = _Index(lower_matcher, by_lower, lemma_matcher, by_lemma, PRIORS[self.prior](kg))
        return self

    def _tokenize_names(self, texts: list[str]) -> Iterator[list[list[int]]]:
        """Each name's token rows `[LOWER, LEMMA, IS_SPACE]`, whitespace tokens left out.

        The tokenizer splits on whitespace first and applies its rules within each chunk (no special case
        holds whitespace), so each distinct chunk is tokenized once, many to a Doc joined by spaces: for
        ConceptNet-100K's 78k names that is 21k chunks instead of 223k, about 8x faster than one Doc per name.
        """
        chunks = list(dict.fromkeys(chunk for text in texts for chunk in text.split()))
        rows_of: dict[str, list[list[int]]] = {}
        for batch in range(0, len(chunks), NAME_BATCH_SIZE * 10):
            part = chunks[batch : batch + NAME_BATCH_SIZE * 10]
            starts = np.cumsum([0] + [len(chunk) + 1 for chunk in part])[:-1]
            doc = self.nlp.tokenizer(" ".join(part))
            owner = np.searchsorted(starts, doc.to_array([IDX]).astype(np.int64).reshape(-1), side="right") - 1
            bounds = np.searchsorted(owner, np.arange(len(part) + 1))
            rows = doc.to_array(NAME_ATTRS).tolist()
            rows_of.update((chunk, rows[bounds[k] : bounds[k + 1]]) for k, chunk in enumerate(part))
        for text in texts:
            yield [row for chunk in text.split() for row in rows_of[chunk]]

    def _kept(self, tokens: Iterable[Token]) -> list[Token]:
        """The tokens that take part in matching: not space, not an ignored word."""
        return [t for t in tokens if not (t.is_space or t.lower in self._ignored)]

    # --- linking -------------------------------------------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        index = self._index or self.build()._index
        candidates, ent_labels = self._candidates(doc, index)
        mentions = []
        for cand in resolve_overlaps(candidates):
            span = doc[cand.start : cand.end]
            node = cand.node
            mentions.append(
                Mention(
                    start=cand.start,
                    end=cand.end,
                    start_char=span.start_char,
                    end_char=span.end_char,
                    text=span.text,
                    node_id=node,
                    node_key=None if node is None else self.kg.entities[node],
                    node_label=None if node is None else self.kg.label(node),
                    score=0.0 if node is None else float(cand.prior),
                    source=cand.source,
                    ner_label=ent_labels.get((cand.start, cand.end)),
                )
            )
        doc._.kg_mentions = mentions
        return doc

    def _keeps(self, span: Span) -> bool:
        """False for spans the filters drop: too short, or only stop words (text or lemma) / punctuation / space."""
        if len(span.text) < self.min_chars:
            return False
        stop = self._stop_words
        return not (self.skip_stop_words and all(t.is_stop or t.is_punct or t.is_space or t.lemma_ in stop for t in span))

    def _candidates(self, doc: Doc, index: _Index) -> tuple[list[Candidate], dict[tuple[int, int], str]]:
        """Every filtered (span, entity) with its best source; and the NER label of each entity span."""
        found: dict[tuple[int, int, int | None], str] = {}

        def offer(start: int, end: int, nodes: Iterable[int | None], source: str) -> None:
            if not self._keeps(doc[start:end]):
                return
            for node in nodes:
                old = found.get((start, end, node))
                if old is None or SOURCES.index(source) < SOURCES.index(old):
                    found[(start, end, node)] = source

        ent_labels: dict[tuple[int, int], str] = {}
        for ent in doc.ents if doc.has_annotation("ENT_IOB") else ():
            ent_labels[(ent.start, ent.end)] = ent.label_
            kept = self._kept(ent)
            nodes = index.by_lower.get(tuple(t.lower for t in kept)) if kept else None
            if nodes:
                ent_labels[(kept[0].i, kept[-1].i + 1)] = ent.label_
                offer(kept[0].i, kept[-1].i + 1, nodes, "ner")
            elif self.keep_unlinked_ents:
                offer(ent.start, ent.end, [None], "ner")

        kept = self._kept(doc)
        positions = [t.i for t in kept]  # compact index -> token index in `doc`
        if len(kept) == len(doc):
            compact = doc
        else:
            lemmas = [t.lemma_ for t in kept] if doc.has_annotation("LEMMA") else None
            compact = Doc(doc.vocab, words=[t.text for t in kept], lemmas=lemmas)
        matchers = [(index.lower, index.by_lower, "LOWER", "phrase")]
        if index.lemma is not None and compact.has_annotation("LEMMA"):
            matchers.append((index.lemma, index.by_lemma, "LEMMA", "lemma"))
        for matcher, table, attr, source in matchers:
            if not len(compact):
                break
            hashes = compact.to_array(attr).tolist()
            for _, start, end in matcher(compact):
                offer(positions[start], positions[end - 1] + 1, table[tuple(hashes[start:end])], source)

        prior = index.prior
        candidates = [
            Candidate(start, end, node, source, -np.inf if node is None else float(prior[node]))
            for (start, end, node), source in found.items()
        ]
        return candidates, ent_labels

    # --- serialisation: the config names the store; nothing else is written ----------------------------------

    def _check_saveable(self) -> None:
        if self._kg is not None and self.store is None:
            raise ValueError(
                f"{self.name}: the knowledge graph was given in memory (set_graph / from_graph), so a saved "
                "pipeline could not find it again; save it with kg.save(DIR) and add the component with "
                "config={'store': DIR}"
            )

    def to_disk(self, path: str | PathLike, *, exclude: Iterable[str] = ()) -> None:
        """Writes nothing: `spacy.load()` reads the store named in the config."""
        self._check_saveable()

    def from_disk(self, path: str | PathLike, *, exclude: Iterable[str] = ()) -> "KGLinker":
        """Drops the matchers: the other components' weights are being loaded, and name lemmas depend on them."""
        self._index = None
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        self._check_saveable()
        return b""

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> "KGLinker":
        self._index = None
        return self


@Language.factory(
    "kg_linker",
    default_config={
        "store": None,
        "prior": "degree",
        "min_chars": 2,
        "skip_stop_words": True,
        "keep_unlinked_ents": False,
        "lemmatize_labels": True,
        "ignore_words": list(DEFAULT_IGNORE_WORDS),
    },
    assigns=[f"doc._.{EXTENSION}"],
)
def make_kg_linker(
    nlp: Language,
    name: str,
    store: str | None,
    prior: str,
    min_chars: int,
    skip_stop_words: bool,
    keep_unlinked_ents: bool,
    lemmatize_labels: bool,
    ignore_words: list[str],
) -> KGLinker:
    """The `kg_linker` factory (entry point `spacy_factories`): see `KGLinker` and the module doc."""
    return KGLinker(
        nlp,
        name,
        store=store,
        prior=prior,
        min_chars=min_chars,
        skip_stop_words=skip_stop_words,
        keep_unlinked_ents=keep_unlinked_ents,
        lemmatize_labels=lemmatize_labels,
        ignore_words=ignore_words,
    )
