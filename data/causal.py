"""Causal two-choice questions: e-CARE and COPA files read into one `CausalRecord`, and a generator.

A record is a premise, whether the question asks for its cause or its effect, two choices and the index of
the right one:

- `read_ecare(path)`: e-CARE `Causal_Reasoning/{train,dev}.jsonl`, one JSON object a line with `index`,
  `premise`, `ask-for`, `hypothesis1`, `hypothesis2`, `label` (0 or 1), and in `dev_full.jsonl` a
  `conceptual_explanation` (kept as `CausalRecord.explanation`; no model reads it);
- `read_copa(path)`: COPA XML (`copa-{dev,test}.xml`, the `-keywords` variants, Balanced COPA's
  `balacopa-dev-all.xml`), `<item id asks-for most-plausible-alternative="1|2">` with `<p>`, `<a1>`, `<a2>`;
- `read_causal(path)`: either, by the file's extension (`.jsonl` / `.xml`; another raises `TaskInputError`).

Readers stream (a JSONL line, or a 64 KiB chunk of XML, at a time) UTF-8, a byte-order mark at the start
allowed. A malformed record raises `CausalRecordError` naming the file, the line and the field; with
`on_error="skip"` it is skipped instead, and appended to the list passed as `skipped` (to count and report).
An XML file that is not well-formed always raises: what follows cannot be read.

Records that read but make odd questions are kept and flagged (`CausalRecord.flags`, counted by
preprocessing): `choice_same_as_premise` (a hypothesis says what the premise says, ignoring case, spacing and
end punctuation: it gets no graph evidence, nothing causes itself) and `same_choices` (both hypotheses say the
same: the model cannot tell them apart, and picks either).

`generate_causal(n, seed=...)` makes records over a small ConceptNet-like KG (`Causes` and
`HasPrerequisite` triples between concepts, plus a few `IsA`/`AtLocation` distractors), with templated
sentences; the same seed gives the same records. `write_ecare` / `write_copa` write records in the two formats.
COPA's items have ids 1-1000 (dev 1-500, test 501-1000); Balanced COPA adds ids 1001-1500, mirrored dev
items (`CausalRecord.copa_item`), which expose answers picked from cues in the choices alone.
`causal_example(record, subgraph)` joins a record with a retrieved KG subgraph into a `KGQAExample`.
"""

from __future__ import annotations

import codecs
import json
import random
import re
import xml.parsers.expat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from kgreason.kg import KnowledgeGraph, ParseError
from kgreason.kg.errors import TaskInputError
from kgreason.kg.retrieval import RetrievedSubgraph

from .causal_graph import evidence_in_words
from .example import KGQAExample

ASK_FOR = ("cause", "effect")
ON_ERROR = ("raise", "skip")
QUESTIONS = {"cause": "What was the cause of this?", "effect": "What happened as a result?"}  # COPA's wording
XML_CHUNK = 1 << 16
COPA_ITEMS = 1000  # the original COPA ids; Balanced COPA's mirrored items come above
CHOICE_SAME_AS_PREMISE = "choice_same_as_premise"
SAME_CHOICES = "same_choices"
_PUNCTUATION_AND_SPACE = re.compile(r"[\s.!?,;:]+")

__all__ = [
    "ASK_FOR",
    "CAUSAL_TRIPLES",
    "CausalRecord",
    "CausalRecordError",
    "GeneratedCausal",
    "causal_example",
    "generate_causal",
    "read_causal",
    "read_copa",
    "read_ecare",
    "write_copa",
    "write_ecare",
]


@dataclass(frozen=True)
class CausalRecord:
    """One causal question. `ask_for` is "cause" or "effect"; `label` indexes `choices` (0 or 1);
    `source` is the file it came from and `line` the line where the record starts (1-based); `explanation`:
    e-CARE's `conceptual_explanation` where the file has one, else None."""

    id: str
    premise: str
    ask_for: str
    choices: tuple[str, str]
    label: int
    source: str
    line: int
    explanation: str | None = None

    @property
    def question(self) -> str:
        """The premise and COPA's question, e.g. "The item was fragile. What happened as a result?"."""
        return f"{self.premise} {QUESTIONS[self.ask_for]}"

    @property
    def copa_item(self) -> str | None:
        """COPA XML: "mirrored" for Balanced COPA's mirrored items (ids above 1000, each a dev item with the
        premise changed so that the other choice is right), else "original"; e-CARE: None."""
        if not self.source.lower().endswith(".xml"):
            return None
        return "mirrored" if self.id.isdigit() and int(self.id) > COPA_ITEMS else "original"

    @property
    def mirror_of(self) -> str | None:
        """Balanced COPA: the id of the COPA dev item a mirrored item was made from (its id less 1000), else None."""
        return str(int(self.id) - COPA_ITEMS) if self.copa_item == "mirrored" else None

    @property
    def flags(self) -> list[str]:
        """`choice_same_as_premise` / `same_choices` where they apply (see the module docstring)."""
        premise, *choices = (_normalised(text) for text in (self.premise, *self.choices))
        return [*([CHOICE_SAME_AS_PREMISE] if premise in choices else []),
                *([SAME_CHOICES] if len(set(choices)) < len(choices) else [])]

    def pairs(self) -> list[tuple[str, str]]:
        """(cause, effect) sentences for each choice: the premise is the cause when the effect is asked."""
        if self.ask_for == "effect":
            return [(self.premise, choice) for choice in self.choices]
        return [(choice, self.premise) for choice in self.choices]


def _normalised(text: str) -> str:
    """Lower case, runs of spaces and punctuation as one space, none at the ends."""
    return _PUNCTUATION_AND_SPACE.sub(" ", text.lower()).strip()


RECORD_HINT = "fix or remove that record"
NOT_UTF8_HINT = "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8` for a Latin-1 file), or fix that record"
NOT_XML_HINT = ("fix the file's XML syntax at that position (e.g. a mismatched or unclosed tag): the file cannot be "
                "read past it, and skipping records does not help")


class CausalRecordError(ParseError):
    """A causal record (or, for XML that is not well-formed, the file) that cannot be read: `path`, `line`
    (1-based), `column` and `field` say where, `hint` what to do (default: fix or remove the record)."""

    def __init__(self, message: str, *, path: str, line: int, field: str | None = None, column: int | None = None,
                 hint: str = RECORD_HINT):
        self.field = field
        what = f"field {field!r}: {message}" if field else message
        super().__init__(what, path=path, line=line, column=column, hint=hint)


# --- e-CARE (JSON lines) ---------------------------------------------------------------------------------


def read_ecare(
    path: str | PathLike, *, on_error: str = "raise", skipped: list[CausalRecordError] | None = None
) -> Iterator[CausalRecord]:
    """Records of an e-CARE causal-reasoning JSONL file, one a line (blank lines are ignored; a UTF-8 byte-order
    mark before the first is dropped).

    `on_error`: "raise" (the default) or "skip" a malformed record; skipped records' errors are appended to
    `skipped` when it is given.
    """
    _check_on_error(on_error)
    source = str(path)
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if not raw.strip():
                continue
            try:
                yield _ecare_record(raw, source, number)
            except CausalRecordError as error:
                _handle(error, on_error, skipped)


def _ecare_record(raw: bytes, source: str, line: int) -> CausalRecord:
    def fail(message: str, field: str | None = None, column: int | None = None,
             hint: str = RECORD_HINT) -> CausalRecordError:
        return CausalRecordError(message, path=source, line=line, field=field, column=column, hint=hint)

    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise fail(f"not UTF-8 text (byte {raw[error.start]:#04x})", column=error.start + 1,
                   hint=NOT_UTF8_HINT) from None
    except json.JSONDecodeError as error:
        raise fail(f"not a JSON object: {error.msg}", column=error.colno) from None
    if not isinstance(record, dict):
        raise fail(f"expected a JSON object, got {type(record).__name__}")
    for name in ("index", "premise", "ask-for", "hypothesis1", "hypothesis2", "label"):
        if name not in record:
            raise fail("missing", name)
    index = record["index"]
    if not isinstance(index, (str, int)) or isinstance(index, bool):
        raise fail(f"expected a string or integer id, got {index!r}", "index")
    texts = {name: record[name] for name in ("premise", "hypothesis1", "hypothesis2")}
    for name, text in texts.items():
        if not isinstance(text, str) or not text.strip():
            raise fail(f"expected a non-empty string, got {text!r}", name)
    ask_for, label = record["ask-for"], record["label"]
    if ask_for not in ASK_FOR:
        raise fail(f"expected 'cause' or 'effect', got {ask_for!r}", "ask-for")
    if label not in (0, 1) or isinstance(label, bool):
        raise fail(f"expected 0 or 1 (the index of the right hypothesis), got {label!r}", "label")
    explanation = record.get("conceptual_explanation")
    if explanation is not None and not isinstance(explanation, str):
        raise fail(f"expected a string, got {explanation!r}", "conceptual_explanation")
    choices = (texts["hypothesis1"].strip(), texts["hypothesis2"].strip())
    return CausalRecord(str(index), texts["premise"].strip(), ask_for, choices, label, source, line,
                        (explanation or "").strip() or None)


# --- COPA (XML) ------------------------------------------------------------------------------------------


def read_copa(
    path: str | PathLike, *, on_error: str = "raise", skipped: list[CausalRecordError] | None = None
) -> Iterator[CausalRecord]:
    """Records of a COPA XML file (`<item>` elements anywhere under the root), streamed with expat.

    `most-plausible-alternative` 1 or 2 becomes `label` 0 or 1; texts are stripped. `on_error` and
    `skipped` as for `read_ecare`; XML that is not well-formed raises `CausalRecordError` in any case.
    """
    _check_on_error(on_error)
    reader = _CopaReader(str(path))
    with open(path, "rb") as stream:
        while chunk := stream.read(XML_CHUNK):
            reader.feed(chunk, final=False)
            yield from reader.take(on_error, skipped)
        reader.feed(b"", final=True)
        yield from reader.take(on_error, skipped)


@dataclass
class _CopaReader:
    """expat callbacks that turn `<item>` elements into records (or errors), kept until `take()`."""

    source: str
    done: list[CausalRecord | CausalRecordError] = field(default_factory=list)
    item: dict[str, Any] | None = None  # attributes, line and texts of the item being read
    text: list[str] | None = None  # character data of the <p>/<a1>/<a2> being read

    def __post_init__(self) -> None:
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.characters

    def feed(self, data: bytes, *, final: bool) -> None:
        try:
            self.parser.Parse(data, final)
        except xml.parsers.expat.ExpatError as error:
            raise CausalRecordError(
                f"not well-formed XML: {xml.parsers.expat.errors.messages[error.code]}",
                path=self.source,
                line=error.lineno,
                column=error.offset + 1,
                hint=NOT_XML_HINT,
            ) from None

    def take(self, on_error: str, skipped: list[CausalRecordError] | None) -> Iterator[CausalRecord]:
        done, self.done = self.done, []
        for entry in done:
            if isinstance(entry, CausalRecordError):
                _handle(entry, on_error, skipped)
            else:
                yield entry

    def start(self, name: str, attributes: dict[str, str]) -> None:
        if name == "item":
            self.item = {"attributes": attributes, "line": self.parser.CurrentLineNumber, "texts": {}, "problem": None}
        elif self.item is not None and self.item["problem"] is None:
            if name not in ("p", "a1", "a2") or self.text is not None:
                self.item["problem"] = (f"unexpected element <{name}> (an item holds <p>, <a1> and <a2>)", name)
            elif name in self.item["texts"]:
                self.item["problem"] = (f"<{name}> appears twice", name)
            else:
                self.text = []

    def characters(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def end(self, name: str) -> None:
        if self.item is None:
            return
        if name == "item":
            self.done.append(self._record(self.item))
            self.item = None
        elif self.text is not None and name in ("p", "a1", "a2"):
            self.item["texts"][name] = "".join(self.text).strip()
            self.text = None

    def _record(self, item: dict[str, Any]) -> CausalRecord | CausalRecordError:
        def fail(message: str, field: str) -> CausalRecordError:
            return CausalRecordError(message, path=self.source, line=item["line"], field=field)

        attributes, texts = item["attributes"], item["texts"]
        if item["problem"]:
            return fail(*item["problem"])
        for name in ("id", "asks-for", "most-plausible-alternative"):
            if name not in attributes:
                return fail("missing attribute of <item>", name)
        for name in ("p", "a1", "a2"):
            if not texts.get(name):
                return fail(f"<{name}> is missing or empty", name)
        if attributes["asks-for"] not in ASK_FOR:
            return fail(f"expected 'cause' or 'effect', got {attributes['asks-for']!r}", "asks-for")
        answer = attributes["most-plausible-alternative"]
        if answer not in ("1", "2"):
            return fail(f"expected 1 or 2, got {answer!r}", "most-plausible-alternative")
        choices = (texts["a1"], texts["a2"])
        return CausalRecord(
            attributes["id"], texts["p"], attributes["asks-for"], choices, int(answer) - 1, self.source, item["line"]
        )


# --- either ----------------------------------------------------------------------------------------------

READERS = {".jsonl": read_ecare, ".xml": read_copa}


def read_causal(
    path: str | PathLike, *, on_error: str = "raise", skipped: list[CausalRecordError] | None = None
) -> Iterator[CausalRecord]:
    """Records of an e-CARE (`.jsonl`) or COPA (`.xml`) file, chosen by the extension; another extension raises
    `TaskInputError`."""
    suffix = Path(path).suffix.lower()
    if suffix not in READERS:
        raise TaskInputError(
            f"{path}: a causal task reads e-CARE JSON lines (.jsonl) or COPA XML (.xml); this file has "
            + (f"the extension {suffix!r}" if suffix else "no extension"),
            hint="pass the .jsonl / .xml file, or rename the file to the extension of its format (in Python, "
            "read_ecare / read_copa read a file of any name)",
        )
    return READERS[suffix](path, on_error=on_error, skipped=skipped)


def _check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def _handle(error: CausalRecordError, on_error: str, skipped: list[CausalRecordError] | None) -> None:
    if on_error == "raise":
        raise error
    if skipped is not None:
        skipped.append(error)


# --- writers ---------------------------------------------------------------------------------------------


def write_ecare(records: Iterable[CausalRecord], path: str | PathLike) -> None:
    """The records as an e-CARE JSONL file (one object a line, with `conceptual_explanation` where a record has
    an explanation; `read_ecare` reads them back)."""
    with open(path, "w", encoding="utf-8") as out:
        for r in records:
            record = {"index": r.id, "premise": r.premise, "ask-for": r.ask_for, "hypothesis1": r.choices[0],
                      "hypothesis2": r.choices[1], "label": r.label,
                      **({"conceptual_explanation": r.explanation} if r.explanation is not None else {})}
            out.write(json.dumps(record) + "\n")


def write_copa(records: Iterable[CausalRecord], path: str | PathLike) -> None:
    """The records as a COPA XML file (`read_copa` reads them back)."""
    with open(path, "w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<copa-corpus version="1.0">\n')
        for r in records:
            out.write(f"  <item id={quoteattr(r.id)} asks-for={quoteattr(r.ask_for)} "
                      f'most-plausible-alternative="{r.label + 1}">\n'
                      f"    <p>{escape(r.premise)}</p>\n    <a1>{escape(r.choices[0])}</a1>\n"
                      f"    <a2>{escape(r.choices[1])}</a2>\n  </item>\n")
        out.write("</copa-corpus>\n")


# --- generated records -----------------------------------------------------------------------------------

# A small ConceptNet-like KG: (head, relation, tail) with ConceptNet relation names. `Causes` points from
# cause to effect, `HasPrerequisite` from effect to cause; IsA/AtLocation triples connect concepts without
# a causal link (distractor paths).
CAUSAL_TRIPLES: tuple[tuple[str, str, str], ...] = (
    ("storm", "Causes", "rain"),
    ("rain", "Causes", "flood"),
    ("flood", "Causes", "damage"),
    ("fire", "Causes", "smoke"),
    ("smoke", "Causes", "cough"),
    ("exercise", "Causes", "sweat"),
    ("sweat", "Causes", "thirst"),
    ("joke", "Causes", "laughter"),
    ("drought", "Causes", "hunger"),
    ("virus", "Causes", "fever"),
    ("earthquake", "Causes", "panic"),
    ("traffic", "Causes", "delay"),
    ("harvest", "HasPrerequisite", "rain"),
    ("fire", "HasPrerequisite", "fuel"),
    ("recovery", "HasPrerequisite", "rest"),
    ("fever", "HasPrerequisite", "infection"),
    ("rain", "IsA", "weather"),
    ("storm", "IsA", "weather"),
    ("drought", "IsA", "weather"),
    ("cough", "IsA", "symptom"),
    ("fever", "IsA", "symptom"),
    ("smoke", "AtLocation", "city"),
    ("traffic", "AtLocation", "city"),
)
PREMISE_TEMPLATES = ("There was {} in the town.", "The town had to deal with {}.", "Everyone talked about the {}.")
CHOICE_TEMPLATES = ("People saw {}.", "The {} came.", "Then there was {}.")


@dataclass
class GeneratedCausal:
    """Generated records with their KG: `triples` (names), `records`, and for each record `chains[i]`, the
    concepts from cause to effect of its right answer (`len - 1` causal steps)."""

    triples: list[tuple[str, str, str]]
    records: list[CausalRecord]
    chains: list[list[str]]

    def knowledge_graph(self) -> KnowledgeGraph:
        return KnowledgeGraph.from_triples(self.triples)


def generate_causal(num_records: int = 20, *, seed: int = 0, max_chain: int = 2) -> GeneratedCausal:
    """`num_records` two-choice questions over `CAUSAL_TRIPLES`, the same for the same `seed`.

    Each picks a cause -> effect chain of 1..`max_chain` causal steps (`Causes`, or `HasPrerequisite`
    reversed), asks for the effect of the first concept or the cause of the last, and adds as the wrong
    choice a concept with no causal chain to or from the premise's concept. Sentences come from templates
    that contain the concept's name, so an exact-label linker finds it.
    """
    if max_chain < 1:
        raise ValueError(f"max_chain must be >= 1 causal step, got {max_chain}")
    rng = random.Random(seed)
    causes: dict[str, list[str]] = {}  # cause -> its direct effects
    for head, relation, tail in CAUSAL_TRIPLES:
        if relation == "Causes":
            causes.setdefault(head, []).append(tail)
        elif relation == "HasPrerequisite":
            causes.setdefault(tail, []).append(head)
    chains = [[c, e] for c, effects in causes.items() for e in effects]
    frontier = chains
    for _ in range(max_chain - 1):
        frontier = [[*chain, e] for chain in frontier for e in causes.get(chain[-1], [])]
        chains += frontier
    related = {c: {c} for c in {n for chain in chains for n in chain}}  # concept -> causally linked concepts
    for chain in chains:
        related[chain[0]].update(chain)
        related[chain[-1]].update(chain)
    concepts = sorted(related)

    records, used = [], []
    for i in range(num_records):
        chain = rng.choice(chains)
        ask_for = rng.choice(ASK_FOR)
        given, answer = (chain[0], chain[-1]) if ask_for == "effect" else (chain[-1], chain[0])
        wrong = rng.choice([c for c in concepts if c not in related[given] and c not in related[answer]])
        label = rng.randrange(2)
        texts = [rng.choice(CHOICE_TEMPLATES).format(c) for c in (answer, wrong)]
        choices = (texts[0], texts[1]) if label == 0 else (texts[1], texts[0])
        premise = rng.choice(PREMISE_TEMPLATES).format(given)
        source = f"generated(seed={seed})"
        records.append(CausalRecord(f"gen-{seed}-{i}", premise, ask_for, choices, label, source, i + 1))
        used.append(list(chain))
    return GeneratedCausal(list(CAUSAL_TRIPLES), records, used)


# --- examples --------------------------------------------------------------------------------------------


def causal_example(record: CausalRecord, subgraph: RetrievedSubgraph | None = None, *,
                   cause_effect_order: bool = False) -> KGQAExample:
    """A `KGQAExample` of `record` (text: `record.question`) with the graph of `subgraph`. With
    `cause_effect_order` the text is the premise alone, and for a cause question `meta["choice_first"]` puts each
    choice before it in the model's rows, so that every row reads cause, then effect (`kgreason.data.batch`).

    `mention_node_index` are the nodes the premise or a choice mentions (their character spans are not known
    here: -1); `meta` holds the record's id, source, line, `ask_for`, flags (`CausalRecord.flags`) and, for a
    mirrored Balanced COPA item, `dev_group` (the id of its original, which `split_dev` keeps it with), and from
    the subgraph its flags, evidence paths (`EvidencePath.to_dict()`), `evidence` (each choice's paths in
    words, or "no graph evidence"), `evidence_choices` (the choices with a path), node scores and the local
    nodes of the question and of each choice. Without a subgraph the graph is empty and flagged
    "no_linked_entity".
    """
    subgraph = subgraph if subgraph is not None else RetrievedSubgraph.empty(len(record.choices))
    mentions = subgraph.mention_index
    meta = {
        "task": "causal",
        "id": record.id,
        "source": record.source,
        "line": record.line,
        "ask_for": record.ask_for,
        "copa_item": record.copa_item,
        **({"dev_group": record.mirror_of} if record.mirror_of else {}),  # the dev split keeps twins together
        **({"choice_first": record.ask_for == "cause"} if cause_effect_order else {}),
        "flags": sorted({*subgraph.flags, *record.flags}),
        "paths": [path.to_dict() for path in subgraph.paths],
        "node_scores": subgraph.node_scores.tolist(),
        "question_node_index": subgraph.question_index.tolist(),
        "choice_node_index": [index.tolist() for index in subgraph.choice_index],
    }
    meta["evidence"] = [evidence_in_words(meta, choice) for choice in range(len(record.choices))]
    meta["evidence_choices"] = sorted({path.choice for path in subgraph.paths})
    return KGQAExample(
        text=record.premise if cause_effect_order else record.question,
        choices=list(record.choices),
        label=record.label,
        node_ids=subgraph.node_ids,
        edge_index=subgraph.edge_index,
        edge_type=subgraph.edge_type,
        mention_node_index=mentions,
        mention_char_spans=np.full((len(mentions), 2), -1, dtype=np.int64),
        meta=meta,
    )
