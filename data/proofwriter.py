"""ProofWriter / RuleTaker theories: read the files, parse the sentences, forward-chain, generate, graph.

A theory is facts ("Bob is red.", "The cat does not chase the dog.") and rules ("If someone is big and red
then they are nice.", "All quiet things are rough.") in the fixed synthetic English of RuleTaker (Clark,
Tafjord, Richardson 2020) and ProofWriter (Tafjord, Dalvi, Clark 2021). This module

- reads the Logic-LM JSON subset and the original RuleTaker / ProofWriter JSONL layouts into
  `ProofWriterRecord`s (`read_proofwriter`);
- parses a theory's sentences into `Atom`s and `Rule`s with character spans (`parse_theory`) and says
  which sentences match no template;
- answers a statement by forward chaining under the **open-world assumption** (`forward_chain`,
  `Closure.answer`): True when the statement is proved, False when its negation is proved, Unknown
  otherwise; a negated condition ("... and not red") holds only when the negative literal is proved
  (classical negation, as in ProofWriter's OWA data; the closed-world, negation-as-failure reading of
  RuleTaker / ProofWriter-CWA is not implemented);
- generates RuleTaker-style theories whose questions have a known proof depth (`generate_theories`);
- turns a theory into a `TextGraph` (`theory_graph`); the schema is in docs/text-graphs.md;
- checks parser + chainer against a dataset's gold answers (`check_records`) and fills in the proof depths
  that the Logic-LM subset lacks (`with_proof_depths`).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgreason.kg import ParseError

from .text_graph import Span, TextGraph, TextGraphBuilder

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language

ANSWERS = ("True", "False", "Unknown")  # label index -> answer
VARIABLE = "something"  # the subject of a rule about anyone ("something", "someone", "it", "they")
QUESTION_PREFIX = "Based on the above information, is the following statement true, false, or unknown? "

# ----------------------------------------------------------------------------------------------------------
# Atoms, rules, theories and their English
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Atom:
    """One literal `subject relation object`, e.g. ("Bob", "is", "red") or ("cat", "chases", "dog").

    subject: an entity name (proper names capitalised, "Bob"; common nouns lower case without "the",
        "bald eagle") or `VARIABLE` inside a rule
    relation: "is" (the object is an attribute) or a verb in the third person singular ("chases")
    object: an attribute ("red") or an entity name
    negated: "Bob is not red", "The cat does not chase the dog"
    """

    subject: str
    relation: str
    object: str
    negated: bool = False

    def negation(self) -> Atom:
        return replace(self, negated=not self.negated)

    def ground(self, entity: str) -> Atom:
        """The atom with `VARIABLE` replaced by `entity`."""
        return replace(self, subject=entity) if self.subject == VARIABLE else self

    def lift(self) -> Atom:
        """The atom about anyone: its subject replaced by `VARIABLE`."""
        return replace(self, subject=VARIABLE)

    def text(self) -> str:
        """The atom as a sentence: "The bald eagle does not chase Bob." (a ground atom only)."""
        if self.subject == VARIABLE:
            raise ValueError(f"{self} has a variable subject; only ground atoms are sentences")
        return f"{_capitalise(_entity_text(self.subject))} {_predicate_text(self, plural=False)}."


@dataclass(frozen=True)
class Rule:
    """`If conditions then conclusion`; atoms whose subject is `VARIABLE` share one variable."""

    conditions: tuple[Atom, ...]
    conclusion: Atom

    def groundings(self, entities: Iterable[str]) -> list[Rule]:
        """The rule for each entity in place of the variable (the rule itself when it has none)."""
        if all(atom.subject != VARIABLE for atom in (*self.conditions, self.conclusion)):
            return [self]
        return [
            Rule(tuple(atom.ground(e) for atom in self.conditions), self.conclusion.ground(e)) for e in entities
        ]


@dataclass
class Theory:
    """Facts (ground atoms) and rules, in the order of the text (rule k of the text is `rules[k - 1]`)."""

    facts: list[Atom] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    def entities(self) -> list[str]:
        """Every entity the theory names (subjects, and objects of verbs), in order of first appearance."""
        atoms = [*self.facts, *(a for rule in self.rules for a in (*rule.conditions, rule.conclusion))]
        names = [n for a in atoms for n in (a.subject, None if a.relation == "is" else a.object)]
        return list(dict.fromkeys(n for n in names if n is not None and n != VARIABLE))


def third_person(verb: str) -> str:
    """The third person singular of a base form: "chase" -> "chases", "catch" -> "catches", "fly" -> "flies"."""
    if re.search(r"(s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def base_form(verb: str) -> str:
    """The inverse of `third_person`: "chases" -> "chase", "catches" -> "catch", "flies" -> "fly"."""
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if re.search(r"(ss|sh|ch|x|z|o)es$", verb):
        return verb[:-2]
    return verb[:-1]


def singular(noun: str) -> str:
    """A plural noun's singular, lower case: "Jompuses" -> "jompus", "cats" -> "cat", "butterflies" -> "butterfly"."""
    noun = noun.lower()
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if re.search(r"(us|ss|sh|ch|x|z)es$", noun):
        return noun[:-2]
    return noun[:-1] if noun.endswith("s") else noun


def _is_plural_noun(word: str) -> bool:
    """Whether a word after "Wumpuses are" names a class ("yumpuses") rather than a property ("shy", "nervous")."""
    return word.endswith("s") and not word.endswith(("ss", "ous"))


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _entity_text(name: str) -> str:
    return name if name[:1].isupper() else f"the {name}"


def _predicate_text(atom: Atom, *, plural: bool) -> str:
    """ "is not red", "are red", "chases the dog", "do not chase the dog"."""
    if atom.relation == "is":
        return f"{'are' if plural else 'is'}{' not' if atom.negated else ''} {atom.object}"
    obj = _entity_text(atom.object)
    if atom.negated:
        return f"{'do' if plural else 'does'} not {base_form(atom.relation)} {obj}"
    return f"{base_form(atom.relation) if plural else atom.relation} {obj}"


RULE_FORMS = ("if", "all", "plain")  # "If ... then ...", "All red, cold things are round.", "Red things are round."


def rule_forms(rule: Rule) -> tuple[str, ...]:
    """The forms `render_rule` can write `rule` in: "all"/"plain" need positive attribute conditions about
    the variable and an attribute conclusion about it."""
    about_anyone = all(a.subject == VARIABLE and a.relation == "is" for a in (*rule.conditions, rule.conclusion))
    if about_anyone and not any(a.negated for a in rule.conditions):
        return RULE_FORMS
    return ("if",)


def render_rule(rule: Rule, *, form: str = "if", people: bool = False) -> str:
    """`rule` as a sentence. `people` picks "someone"/"they"/"people" over "something"/"it"/"things".

    >>> big_red = Rule((Atom(VARIABLE, "is", "big"), Atom(VARIABLE, "is", "red")), Atom(VARIABLE, "is", "nice"))
    >>> render_rule(big_red, people=True)
    'If someone is big and red then they are nice.'
    >>> render_rule(big_red, form="plain")
    'Big, red things are nice.'
    """
    if form not in rule_forms(rule):
        raise ValueError(f"rule {rule} cannot be written in form {form!r}; use one of {rule_forms(rule)}")
    if form != "if":
        adjectives = ", ".join(a.object for a in rule.conditions)
        head = f"All {adjectives}" if form == "all" else _capitalise(adjectives)
        negated = " not" if rule.conclusion.negated else ""
        return f"{head} {'people' if people else 'things'} are{negated} {rule.conclusion.object}."
    first, later = ("someone", "they") if people else ("something", "it")
    mentioned = False
    clauses = []
    previous: Atom | None = None
    for atom in rule.conditions:
        if atom.subject == VARIABLE and previous is not None and _is_ellipsis(previous, atom):
            clauses.append(f"{'not ' if atom.negated else ''}{atom.object}")  # "is big and not red"
        elif atom.subject == VARIABLE:
            word = later if mentioned else first
            clauses.append(f"{word} {_predicate_text(atom, plural=word == 'they')}")
            mentioned = True
        else:
            clauses.append(f"{_entity_text(atom.subject)} {_predicate_text(atom, plural=False)}")
        previous = atom
    conclusion = rule.conclusion
    if conclusion.subject == VARIABLE:
        if not mentioned:
            raise ValueError(f"rule {rule}: the variable appears in the conclusion only")
        subject, plural = later, later == "they"
    else:
        subject, plural = _entity_text(conclusion.subject), False
    return f"If {' and '.join(clauses)} then {subject} {_predicate_text(conclusion, plural=plural)}."


def _is_ellipsis(previous: Atom, atom: Atom) -> bool:
    """Whether `atom` is written as a bare "[not] red" after `previous` ("someone is big and red")."""
    return previous.subject == VARIABLE and previous.relation == "is" and atom.relation == "is"


def render_theory(theory: Theory, *, forms: Iterable[str] | None = None, people: bool = False) -> str:
    """The theory as text: facts, then rules (in `forms`, default all "if"), one sentence each."""
    forms = list(forms) if forms is not None else ["if"] * len(theory.rules)
    sentences = [fact.text() for fact in theory.facts]
    sentences += [render_rule(rule, form=form, people=people) for rule, form in zip(theory.rules, forms, strict=True)]
    return " ".join(sentences)


# ----------------------------------------------------------------------------------------------------------
# Parsing: the fixed sentence templates, with character spans
# ----------------------------------------------------------------------------------------------------------


_VARIABLE_WORDS = r"something|someone|it|they"
_NOUN = r"(?!(?:the|and|not|then|is|are|does|do)\b)[a-z]+"  # one word of "bald eagle"
_NAME = rf"(?!(?:If|All|The|{_VARIABLE_WORDS.title()})\b)[A-Z][a-z]+"  # "Bob", not "Someone"


def _entity_pattern(prefix: str) -> str:
    """ "the bald eagle" (group `<prefix>_noun`, without "the") or "Bob" (group `<prefix>_name`)."""
    return rf"(?:[Tt]he (?P<{prefix}_noun>{_NOUN}(?: {_NOUN})*?)|(?P<{prefix}_name>{_NAME}))"


_CLAUSE = re.compile(  # "Bob is not red", "they are big", "the cat chases the dog", "it does not see Bob"
    rf"(?:(?P<variable>{_VARIABLE_WORDS})|{_entity_pattern('subject')}) "
    r"(?:(?:is|are) (?P<attribute_not>not )?(?!not$)(?:an? )?(?P<attribute>[a-z]+)"
    rf"|(?:does|do) not (?P<base>[a-z]+) {_entity_pattern('negated_object')}"
    rf"|(?!(?:is|are|does|do) )(?P<verb>[a-z]+) {_entity_pattern('object')})"
)
_ELLIPSIS = re.compile(r"(?P<attribute_not>not )?(?P<attribute>[a-z]+)")  # "... is big and [not] red"
_IF_RULE = re.compile(r"If (?P<conditions>.+?) then (?P<conclusion>.+)")
_ALL_RULE = re.compile(  # "All red, cold things are round", "Red things are not round", "All quiet people are rough"
    r"(?:All (?=[a-z])|(?!All )(?=[A-Z]))(?P<conditions>[A-Za-z]+(?:, [a-z]+)*) (?:things|people) "
    r"are (?P<attribute_not>not )?(?P<attribute>[a-z]+)"
)
_CLASS_RULE = re.compile(  # ProntoQA: "Each yumpus is [not] a dumpus", "Every wumpus is [not] red", "Wumpuses are [not] red"
    r"(?:(?:Each|Every) (?P<noun>[a-z]+) is|(?P<plural>(?!All\b)[A-Z][a-z]+) are) (?P<attribute_not>not )?"
    r"(?:an? )?(?P<attribute>[a-z]+)"
)
_SENTENCE = re.compile(r"[^\s.](?:[^.]*[^\s.])?\.?")  # up to and including the next period


@dataclass(frozen=True)
class ParsedAtom:
    """An atom and where the text names its subject and object (absolute character spans).

    subject_span: None when the subject is the variable ("something", "they")
    """

    atom: Atom
    subject_span: Span | None
    object_span: Span


@dataclass(frozen=True)
class ParsedSentence:
    """A fact (no conditions) or a rule, read from the sentence at `span`."""

    span: Span
    conditions: tuple[ParsedAtom, ...]
    conclusion: ParsedAtom

    @property
    def is_rule(self) -> bool:
        return bool(self.conditions)


@dataclass
class ParsedTheory:
    """Every sentence of `text` (`sentences`, character spans) and what it was read as (`statements`,
    None where no template matched)."""

    text: str
    sentences: list[Span]
    statements: list[ParsedSentence | None]

    @property
    def unparsed(self) -> list[Span]:
        return [span for span, statement in zip(self.sentences, self.statements) if statement is None]

    def theory(self) -> Theory:
        parsed = [s for s in self.statements if s is not None]
        return Theory(
            facts=[s.conclusion.atom for s in parsed if not s.is_rule],
            rules=[Rule(tuple(c.atom for c in s.conditions), s.conclusion.atom) for s in parsed if s.is_rule],
        )


def split_sentences(text: str, *, nlp: Language | None = None) -> list[Span]:
    """Sentence character spans: each runs to its period; with `nlp`, spaCy's sentences (the pipeline needs
    a parser, `senter` or `sentencizer`)."""
    if nlp is None:
        return [m.span() for m in _SENTENCE.finditer(text)]
    return [(s.start_char, s.end_char) for s in nlp(text).sents]


def parse_theory(text: str, *, nlp: Language | None = None) -> ParsedTheory:
    """Read every sentence of a theory as a fact or a rule (see `parse_sentence`)."""
    spans = split_sentences(text, nlp=nlp)
    return ParsedTheory(text, spans, [parse_sentence(text, span) for span in spans])


def parse_sentence(text: str, span: Span) -> ParsedSentence | None:
    """The fact or rule written at `text[span[0]:span[1]]`, or None when it matches no template.

    Templates: facts "Bob is [not] red.", "The cat [does not] chase(s) the dog."; rules
    "If <condition> and ... then <conclusion>." (conditions and conclusions are fact clauses about a named
    entity or the variable "something"/"someone"/"it"/"they", and "[not] red" after an "is" clause about the
    variable), "[All] red, cold things|people are [not] round."; ProntoQA's classes: facts "Max is [not] a
    yumpus.", rules "Each|Every yumpus is [not] [a] dumpus|red.", "Yumpuses are [not] dumpuses|red." (a class is
    an attribute named by its singular: "if something is yumpus then it is dumpus").
    """
    raw = text[span[0] : span[1]]
    start = span[0] + len(raw) - len(raw.lstrip())
    body = raw.strip().removesuffix(".")
    if m := _IF_RULE.fullmatch(body):
        conditions: list[ParsedAtom] = []
        for piece, at in _split(m["conditions"], start + m.start("conditions"), " and "):
            condition = _parse_clause(piece, at, previous=conditions[-1] if conditions else None)
            if condition is None:
                return None
            conditions.append(condition)
        conclusion = _parse_clause(m["conclusion"], start + m.start("conclusion"), previous=None)
        if conclusion is None or (conclusion.atom.subject == VARIABLE and not _mentions_variable(conditions)):
            return None
        return ParsedSentence(span, tuple(conditions), conclusion)
    if m := _ALL_RULE.fullmatch(body):
        conditions = [
            ParsedAtom(Atom(VARIABLE, "is", word.group().lower()), None, _offset(word.span(), start + m.start(1)))
            for word in re.finditer(r"[A-Za-z]+", m["conditions"])
        ]
        negated = bool(m["attribute_not"])
        conclusion_atom = Atom(VARIABLE, "is", m["attribute"], negated)
        conclusion = ParsedAtom(conclusion_atom, None, _offset(m.span("attribute"), start))
        return ParsedSentence(span, tuple(conditions), conclusion)
    if m := _CLASS_RULE.fullmatch(body):
        group, name = ("noun", m["noun"]) if m["noun"] else ("plural", singular(m["plural"]))
        condition = ParsedAtom(Atom(VARIABLE, "is", name), None, _offset(m.span(group), start))
        attribute = m["attribute"]
        if m["plural"] and _is_plural_noun(attribute):  # "Jompuses are yumpuses": the class "yumpus"
            attribute = singular(attribute)
        conclusion_atom = Atom(VARIABLE, "is", attribute, bool(m["attribute_not"]))
        conclusion = ParsedAtom(conclusion_atom, None, _offset(m.span("attribute"), start))
        return ParsedSentence(span, (condition,), conclusion)
    fact = _parse_clause(body, start, previous=None)
    if fact is None or fact.atom.subject == VARIABLE:
        return None
    return ParsedSentence(span, (), fact)


def parse_statement(statement: str) -> Atom:
    """The ground atom a question asks about ("Charlie is not kind." -> Atom("Charlie", "is", "kind", True))."""
    parsed = parse_sentence(statement, (0, len(statement)))
    if parsed is None or parsed.is_rule:
        templates = "'Bob is [not] red.', 'The cat [does not] chase(s) the dog.'"
        raise ValueError(f"{statement!r} is not a fact sentence ({templates})")
    return parsed.conclusion.atom


def _split(text: str, start: int, separator: str) -> list[tuple[str, int]]:
    """`text.split(separator)` with each piece's absolute start (`text` begins at `start`)."""
    pieces, at = [], start
    for piece in text.split(separator):
        pieces.append((piece, at))
        at += len(piece) + len(separator)
    return pieces


def _offset(span: tuple[int, int], start: int) -> Span:
    return (span[0] + start, span[1] + start)


def _mentions_variable(atoms: list[ParsedAtom]) -> bool:
    return any(a.atom.subject == VARIABLE for a in atoms)


def _entity(m: re.Match[str], prefix: str, start: int) -> tuple[str, Span] | None:
    """The entity name matched by `_entity_pattern(prefix)` and its absolute span, if that group matched."""
    for group in (f"{prefix}_noun", f"{prefix}_name"):
        if m[group] is not None:
            return m[group], _offset(m.span(group), start)
    return None


def _parse_clause(text: str, start: int, *, previous: ParsedAtom | None) -> ParsedAtom | None:
    """One fact clause (`_CLAUSE`), or a bare "[not] red" continuing an "is" clause about `previous`'s subject."""
    if m := _CLAUSE.fullmatch(text):
        if m["variable"]:
            subject, subject_span, plural = VARIABLE, None, m["variable"] == "they"
        else:
            (subject, subject_span), plural = _entity(m, "subject", start), False  # type: ignore[misc]
        if m["attribute"] is not None:
            atom = Atom(subject, "is", m["attribute"], bool(m["attribute_not"]))
            return ParsedAtom(atom, subject_span, _offset(m.span("attribute"), start))
        if m["base"] is not None:
            obj, obj_span = _entity(m, "negated_object", start)  # type: ignore[misc]
            return ParsedAtom(Atom(subject, third_person(m["base"]), obj, True), subject_span, obj_span)
        obj, obj_span = _entity(m, "object", start)  # type: ignore[misc]
        verb = third_person(m["verb"]) if plural else m["verb"]
        return ParsedAtom(Atom(subject, verb, obj), subject_span, obj_span)
    if previous is not None and previous.atom.relation == "is" and (m := _ELLIPSIS.fullmatch(text)):
        negated = bool(m["attribute_not"])
        atom = Atom(previous.atom.subject, "is", m["attribute"], negated)
        return ParsedAtom(atom, previous.subject_span, _offset(m.span("attribute"), start))
    return None


# ----------------------------------------------------------------------------------------------------------
# Forward chaining (open-world assumption)
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Derivation:
    """How an atom was first proved: `depth` 0 for a given fact, else 1 + the deepest premise's depth.

    rule: index into `Theory.rules` of the rule that concluded it (None for a given fact)
    premises: the rule's ground conditions
    """

    depth: int
    rule: int | None = None
    premises: tuple[Atom, ...] = ()


class ContradictionError(ValueError):
    """The theory proves a statement and its negation, so the question has no answer."""


@dataclass
class Closure:
    """Every literal a theory proves (positive and negated), each with its shallowest `Derivation`."""

    derivations: dict[Atom, Derivation]

    @property
    def max_depth(self) -> int:
        return max((d.depth for d in self.derivations.values()), default=0)

    def contradictions(self) -> list[Atom]:
        """The positive atoms that are proved together with their negation."""
        return sorted(a for a in self.derivations if not a.negated and a.negation() in self.derivations)

    def answer(self, statement: Atom) -> tuple[str, int | None]:
        """("True" | "False" | "Unknown", proof depth): True when `statement` is proved, False when its
        negation is, Unknown (depth None) when neither is. Raises `ContradictionError` when both are."""
        proved, disproved = self.derivations.get(statement), self.derivations.get(statement.negation())
        if proved and disproved:
            raise ContradictionError(f"the theory proves both {statement.text()!r} and its negation")
        if proved:
            return "True", proved.depth
        if disproved:
            return "False", disproved.depth
        return "Unknown", None


def forward_chain(theory: Theory) -> Closure:
    """Apply the rules in rounds until nothing new follows; round d proves the atoms of depth d.

    The variable ranges over `theory.entities()`. A condition (negated or not) holds when that literal is
    proved: negation is classical (open world), never "not provable".
    """
    known = dict.fromkeys(theory.facts, Derivation(0))
    entities = theory.entities()
    groundings = [(index, ground) for index, rule in enumerate(theory.rules) for ground in rule.groundings(entities)]
    depth = 0
    while True:
        depth += 1
        new: dict[Atom, Derivation] = {}
        for index, rule in groundings:
            if rule.conclusion not in known and rule.conclusion not in new and all(c in known for c in rule.conditions):
                new[rule.conclusion] = Derivation(depth, index, rule.conditions)
        if not new:
            return Closure(known)
        known.update(new)


# ----------------------------------------------------------------------------------------------------------
# Records and the file readers
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProofWriterRecord:
    """One question about one theory.

    id: the question's id ("ProofWriter_RelNeg-OWA-D5-81_Q11")
    context: the theory (facts and rules as one text)
    statement: the sentence asked about ("The cat is not round.")
    label: index into `choices` of the answer
    choices: ("True", "False", "Unknown")
    question: the question as the source writes it (Logic-LM: `QUESTION_PREFIX` + statement)
    max_depth: the "D<n>" of the id: the maximum proof depth of the *dataset* the theory comes from (D5:
        questions of depth 0 to 5), not this question's depth; None when the id has none
    depth: this question's proof depth (`QDep` of the original files, the generator's, or forward
        chaining's via `with_proof_depths`); None when the source does not give it (the Logic-LM subset)
        and for Unknown answers of generated theories
    world: "OWA" / "CWA" as the id says, else None
    """

    id: str
    context: str
    statement: str
    label: int
    choices: tuple[str, ...] = ANSWERS
    question: str = ""
    max_depth: int | None = None
    depth: int | None = None
    world: str | None = None

    @property
    def answer(self) -> str:
        return self.choices[self.label]


def read_proofwriter(
    path: str | Path, *, on_error: str = "raise", skipped: list[ParseError] | None = None
) -> list[ProofWriterRecord]:
    """Records from a Logic-LM `ProofWriter/*.json` file (a JSON list of questions), or from the original
    JSONL layouts (one theory a line): RuleTaker's `{"id", "context", "questions": [{"id", "text", "label",
    "meta": {"QDep"}}]}` and ProofWriter's `meta-*.jsonl` `{"id", "theory", "questions": {"Q1": {"question",
    "answer", "QDep"}}}`. The layout is told by the first character (`[` or `{`).

    A malformed record raises `kgreason.kg.ParseError` naming the file, the record (or line) and the field;
    with `on_error="skip"` it is left out instead and its error appended to `skipped` (when given). A file
    that is not JSON at all always raises.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")

    def kept(make, *args) -> list[ProofWriterRecord]:
        try:
            made = make(*args)
        except ParseError as error:
            if on_error == "raise":
                raise
            if skipped is not None:
                skipped.append(error)
            return []
        return made if isinstance(made, list) else [made]

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise ParseError(f"not valid JSON: {e.msg}", path=str(path), line=e.lineno, column=e.colno) from None
        return [record for index, item in enumerate(raw) for record in kept(_logic_lm_record, item, path, index)]
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            records += kept(_jsonl_line, line, path, number)
    return records


def _jsonl_line(line: str, path: Path, number: int) -> list[ProofWriterRecord]:
    try:
        theory = json.loads(line)
    except json.JSONDecodeError as e:
        raise ParseError(f"not valid JSON: {e.msg}", path=str(path), line=number, column=e.colno) from None
    return _jsonl_records(theory, path, number)


_OPTION = re.compile(r"(?P<letter>[A-Z])\) (?P<text>.+)")


def _logic_lm_record(item: Any, path: Path, index: int) -> ProofWriterRecord:
    where = f"record {index}"
    if not isinstance(item, dict):
        raise _format_error(path, f"{where} is a {type(item).__name__}, not an object")
    where += f" (id {item.get('id')!r})" if isinstance(item.get("id"), str) else ""
    fields = {name: _field(item, name, str, path, where) for name in ("id", "context", "question", "answer")}
    options = _field(item, "options", list, path, where)
    letters, choices = [], []
    for option in options:
        m = _OPTION.fullmatch(option) if isinstance(option, str) else None
        if m is None:
            raise _format_error(path, f"{where}: field 'options' has {option!r}; expected 'A) True'-style strings")
        letters.append(m["letter"])
        choices.append(m["text"])
    if fields["answer"] not in letters:
        raise _format_error(path, f"{where}: field 'answer' is {fields['answer']!r}; expected one of {letters}")
    statement = fields["question"].rsplit("?", 1)[-1].strip()
    if not statement:
        raise _format_error(path, f"{where}: field 'question' has no statement after its '?'")
    return ProofWriterRecord(
        id=fields["id"],
        context=fields["context"],
        statement=statement,
        label=letters.index(fields["answer"]),
        choices=tuple(choices),
        question=fields["question"],
        **_id_meta(fields["id"]),
    )


def _jsonl_records(theory: Any, path: Path, line: int) -> list[ProofWriterRecord]:
    """The questions of one theory line: RuleTaker (`context` + a question list) or ProofWriter (`theory` +
    a question dict)."""
    if not isinstance(theory, dict):
        raise _format_error(path, f"the line is a {type(theory).__name__}, not an object", line=line)
    theory_id = _field(theory, "id", str, path, "theory", line=line)
    where = f"theory {theory_id!r}"
    ruletaker = "context" in theory
    context = _field(theory, "context" if ruletaker else "theory", str, path, where, line=line)
    questions = _field(theory, "questions", list if ruletaker else dict, path, where, line=line)
    records = []
    for key, question in enumerate(questions) if ruletaker else questions.items():
        here = f"{where}, question {key!r}"
        if not isinstance(question, dict):
            raise _format_error(path, f"{here} is a {type(question).__name__}, not an object", line=line)
        if ruletaker:
            qid = _field(question, "id", str, path, here, line=line)
            statement = _field(question, "text", str, path, here, line=line)
            answer, qdep = question.get("label"), (question.get("meta") or {}).get("QDep")
        else:
            qid = f"{theory_id}_{key}"
            statement = _field(question, "question", str, path, here, line=line)
            answer, qdep = question.get("answer"), question.get("QDep")
        label = _answer_label(answer)
        if label is None:
            raise _format_error(path, f"{here}: answer {answer!r}; expected true, false or 'Unknown'", line=line)
        if qdep not in (None, "") and (not isinstance(qdep, int) or isinstance(qdep, bool)):
            raise _format_error(path, f"{here}: QDep {qdep!r} is not an integer", line=line)
        records.append(
            ProofWriterRecord(
                id=qid,
                context=context,
                statement=statement.strip(),
                label=label,
                question=statement,
                depth=qdep if isinstance(qdep, int) else None,
                **_id_meta(theory_id),
            )
        )
    return records


def _answer_label(answer: Any) -> int | None:
    """true / false / "True" / "False" / "Unknown" (any case) -> index into `ANSWERS`."""
    if isinstance(answer, bool):
        return 0 if answer else 1
    names = [a.lower() for a in ANSWERS]
    return names.index(answer.lower()) if isinstance(answer, str) and answer.lower() in names else None


def _id_meta(record_id: str) -> dict[str, Any]:
    """`max_depth` and `world` from an id like "ProofWriter_AttNeg-OWA-D5-1041_Q1"."""
    depth = re.search(r"-D(\d+)(?:-|$)", record_id)
    world = re.search(r"-(OWA|CWA)-", record_id)
    return {"max_depth": int(depth[1]) if depth else None, "world": world[1] if world else None}


def _field(item: dict[str, Any], name: str, kind: type, path: Path, where: str, *, line: int | None = None) -> Any:
    if name not in item:
        raise _format_error(path, f"{where}: field {name!r} is missing", line=line)
    if not isinstance(item[name], kind):
        got = type(item[name]).__name__
        raise _format_error(path, f"{where}: field {name!r} is a {got}, expected a {kind.__name__}", line=line)
    return item[name]


def _format_error(path: Path, message: str, *, line: int | None = None) -> ParseError:
    return ParseError(
        message, path=str(path), line=line, hint="fix that record, or check that the file is a ProofWriter file"
    )


# ----------------------------------------------------------------------------------------------------------
# Generated theories with questions of known depth
# ----------------------------------------------------------------------------------------------------------

NAMES = ("Anne", "Bob", "Charlie", "Dave", "Erin", "Fiona", "Gary", "Harry")
ANIMALS = ("bald eagle", "bear", "cat", "cow", "dog", "lion", "mouse", "rabbit", "squirrel", "tiger")
ATTRIBUTES = (
    "big", "blue", "cold", "furry", "green", "kind", "nice",
    "quiet", "red", "rough", "round", "smart", "white", "young",
)  # fmt: skip
VERBS = ("chases", "eats", "likes", "needs", "sees", "visits")
THEORY_KINDS = ("AttNoneg", "AttNeg", "RelNoneg", "RelNeg")  # ProofWriter's four: attributes / relations, +- negation


@dataclass
class GeneratedTheory:
    """A generated theory, its text, what it proves and its questions (`records`, all with this context)."""

    id: str
    theory: Theory
    context: str
    closure: Closure
    records: list[ProofWriterRecord]


def generate_theories(n: int, *, depth: int, seed: int = 0, max_tries: int = 1000) -> list[GeneratedTheory]:
    """`n` RuleTaker-style theories whose deepest proof has exactly `depth` steps, with questions.

    Theories cycle through `THEORY_KINDS` ("Att": people with attributes, "Rel": animals with attributes
    and relations, "Neg": negated facts and conditions). Each has a planted chain of `depth` rules plus
    random distractor facts and rules; it is kept when its closure is consistent, reaches exactly `depth`
    and proves something at every depth. Questions (open world, answered by `forward_chain`): for every
    depth d in 0..`depth` one True question (a literal proved at depth d) and one False question (the
    negation of one), plus `depth` + 1 Unknown questions (depth None). Deterministic in `seed`.
    """
    if not 0 <= depth <= len(ATTRIBUTES) - 2:
        limit = len(ATTRIBUTES) - 2  # the planted chain needs depth + 2 attributes
        raise ValueError(f"depth must be in 0..{limit}, got {depth}")
    rng = random.Random(seed)
    theories = []
    for index in range(n):
        kind = THEORY_KINDS[index % len(THEORY_KINDS)]
        for _ in range(max_tries):
            sampler = _TheorySampler(rng, kind, depth=depth)
            sample = sampler.sample()
            closure = forward_chain(sample)
            depths = {d.depth for d in closure.derivations.values()}
            if not closure.contradictions() and depths == set(range(depth + 1)):
                break
        else:
            raise RuntimeError(f"no {kind} theory of depth {depth} in {max_tries} tries; raise max_tries")
        theories.append(sampler.with_questions(f"Gen{kind}-OWA-D{depth}-{index}", sample, closure))
    return theories


def write_ruletaker(theories: Iterable[GeneratedTheory], path: str | Path) -> int:
    """Write generated theories as RuleTaker JSONL (one theory a line, each question with its `QDep`), the
    layout `read_proofwriter` reads back with depths; returns the number of questions."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for theory in theories:
            questions = [{"id": r.id, "text": r.statement, "label": r.answer, "meta": {"QDep": r.depth}}
                         for r in theory.records]
            count += len(questions)
            out.write(json.dumps({"id": theory.id, "context": theory.context, "questions": questions}) + "\n")
    return count


class _TheorySampler:
    """Random facts and rules of one theory kind over a small vocabulary (enough attributes for `depth`)."""

    def __init__(self, rng: random.Random, kind: str, *, depth: int) -> None:
        self.rng, self.depth, self.relational, self.negation = rng, depth, kind.startswith("Rel"), kind.endswith("Neg")
        self.entities = rng.sample(ANIMALS if self.relational else NAMES, rng.randint(3, 4))
        self.attributes = rng.sample(ATTRIBUTES, max(rng.randint(4, 6), depth + 2))
        self.verbs = rng.sample(VERBS, rng.randint(2, 3)) if self.relational else []

    def literal(self, subject: str | None = None) -> Atom:
        """A random literal about `subject` (else a random entity); negated 30% of the time in "Neg" kinds."""
        rng = self.rng
        subject = subject or rng.choice(self.entities)
        negated = self.negation and rng.random() < 0.3
        if self.verbs and rng.random() < 0.5:
            return Atom(subject, rng.choice(self.verbs), rng.choice(self.entities), negated)
        return Atom(subject, "is", rng.choice(self.attributes), negated)

    def literals(self, subject: str, *, negated: bool | None = None) -> list[Atom]:
        """Every literal about `subject`: positive, then negated ones (`negated=None`: as the kind allows)."""
        atoms = [Atom(subject, "is", a) for a in self.attributes]
        atoms += [Atom(subject, v, o) for v in self.verbs for o in self.entities]
        return atoms + [a.negation() for a in atoms] if (self.negation if negated is None else negated) else atoms

    def sample(self) -> Theory:
        """A planted chain of `depth` rules from one fact, plus distractors."""
        rng = self.rng
        current = self.literal()
        facts, rules, used = [current], [], {current.lift()}
        for _ in range(self.depth):
            subject = current.subject if rng.random() < 0.7 else rng.choice(self.entities)
            fresh = [a for a in self.literals(subject) if a.lift() not in used and a.lift().negation() not in used]
            conclusion = rng.choice(fresh)  # the vocabulary has depth + 2 attributes: never empty
            used.add(conclusion.lift())
            if subject == current.subject and rng.random() < 0.7:  # about anyone: "If someone ... then they ..."
                conditions = [current.lift()]
                if rng.random() < 0.4:
                    extra = self.literal(subject)
                    facts.append(extra)
                    conditions.insert(rng.randint(0, 1), extra.lift())
                rules.append(Rule(tuple(conditions), conclusion.lift()))
            else:  # about named entities: "If the cat chases the dog then the dog is kind", or half of it lifted
                condition = current.lift() if rng.random() < 0.5 else current
                rules.append(Rule((condition,), conclusion))
            current = conclusion
        facts += [self.literal() for _ in range(rng.randint(2, 5))]
        for _ in range(rng.randint(1, 4)):
            atoms = [self.literal().lift() for _ in range(rng.randint(2, 3))]
            if len({a.negation() for a in atoms} | set(atoms)) == 2 * len(atoms):  # no repeats, no "p -> p"
                rules.append(Rule(tuple(atoms[:-1]), atoms[-1]))
        facts = list(dict.fromkeys(facts))
        rng.shuffle(facts)
        rng.shuffle(rules)
        return Theory(facts, rules)

    def with_questions(self, theory_id: str, theory: Theory, closure: Closure) -> GeneratedTheory:
        """The theory written out (random rule forms; mostly "someone" for animals, "something" for people)
        with True / False questions at every depth and as many Unknown ones."""
        rng = self.rng
        people = rng.random() < (0.8 if self.relational else 0.2)
        context = render_theory(theory, forms=[rng.choice(rule_forms(rule)) for rule in theory.rules], people=people)
        by_depth: dict[int, list[Atom]] = {}
        for atom, derivation in sorted(closure.derivations.items()):
            by_depth.setdefault(derivation.depth, []).append(atom)
        questions: list[tuple[Atom, int, int | None]] = []  # (statement, label, depth)
        for d in range(self.depth + 1):
            questions.append((rng.choice(by_depth[d]), 0, d))
            questions.append((rng.choice(by_depth[d]).negation(), 1, d))
        unknown = self.unknown_literals(theory, closure)
        questions += [(atom, 2, None) for atom in rng.sample(unknown, min(self.depth + 1, len(unknown)))]
        records = [
            ProofWriterRecord(
                id=f"{theory_id}_Q{number}",
                context=context,
                statement=statement.text(),
                label=label,
                question=QUESTION_PREFIX + statement.text(),
                max_depth=self.depth,
                depth=question_depth,
                world="OWA",
            )
            for number, (statement, label, question_depth) in enumerate(questions, start=1)
        ]
        return GeneratedTheory(theory_id, theory, context, closure, records)

    def unknown_literals(self, theory: Theory, closure: Closure) -> list[Atom]:
        """Every literal about the theory's entities, over the vocabulary, of which neither polarity is proved."""
        return [
            atom
            for entity in theory.entities()
            for atom in self.literals(entity, negated=True)
            if atom not in closure.derivations and atom.negation() not in closure.derivations
        ]


# ----------------------------------------------------------------------------------------------------------
# The theory as a TextGraph
# ----------------------------------------------------------------------------------------------------------


@dataclass
class TheoryGraph(TextGraph):
    """A `TextGraph` of a theory, plus `unparsed`: the spans of the sentences no template matched (they are
    in `sentences` too, with no edges), and `derived_depth: int64 [E]`: 0 for an edge the text states (a fact,
    a rule's link), d ≥ 1 for a literal that forward chaining proved at depth d (`theory_graph(closure=True)`)."""

    unparsed: list[Span] = field(default_factory=list)
    derived_depth: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def theory_graph(context: str, *, nlp: Language | None = None, closure: bool = False) -> TheoryGraph:
    """The theory's entities, attributes and rules as a graph (schema: docs/text-graphs.md).

    Facts: (subject, relation, object) edges, "Bob is red" -> (Bob, is, red), "The cat does not chase the
    dog" -> (cat, chases, dog) with `negated`. Rule k of the text -> node "rule k" (type "rule"); each
    condition is an edge into it from its object (label "if" for attributes, "if_<verb>" for relations),
    the conclusion an edge out of it to its object ("then", "then_<verb>"); a condition or conclusion
    about a named entity also links that entity ("if_subject" in, "then_subject" out). Negated conditions
    and conclusions set `negated` on their object edge. `nlp`: see `split_sentences`.

    closure: also add every literal that `forward_chain` proves from the parsed theory and the text does not
    state, as a fact edge (subject -> object, `negated` for a proved negation) read from the sentence of the rule
    that concluded it; `derived_depth` says which edges these are. The reasoning is symbolic, over what the
    parser read (never a gold proof).

    >>> g = theory_graph("The cat chases the dog. If someone is big then they are not red. Hello.")
    >>> g.edge_triples()
    [('cat', 'chases', 'dog'), ('big', 'if', 'rule 1'), ('rule 1', 'not_then', 'red')]
    >>> [g.text[a:b] for a, b in g.unparsed]
    ['Hello.']
    """
    parsed = parse_theory(context, nlp=nlp)
    builder = TextGraphBuilder(context)
    rule_sentences: list[int] = []  # sentence index of each rule, in `Theory.rules` order
    for span, statement in zip(parsed.sentences, parsed.statements):
        sentence = builder.sentence(span)
        if statement is not None and statement.is_rule:
            rule_sentences.append(sentence)
            _add_rule(builder, statement, f"rule {len(rule_sentences)}", sentence=sentence)
        elif statement is not None:
            fact = statement.conclusion
            subject = builder.node(fact.atom.subject, "entity", fact.subject_span)
            obj = builder.node(fact.atom.object, _object_type(fact.atom), fact.object_span)
            spans = {"source_span": fact.subject_span, "target_span": fact.object_span}
            builder.edge(subject, obj, fact.atom.relation, sentence=sentence, negated=fact.atom.negated, **spans)
    depths = [0] * len(builder.graph.edge_labels)
    if closure:
        for atom, derivation in forward_chain(parsed.theory()).derivations.items():
            if derivation.rule is not None:
                subject, obj = builder.node(atom.subject, "entity"), builder.node(atom.object, _object_type(atom))
                builder.edge(subject, obj, atom.relation, sentence=rule_sentences[derivation.rule], negated=atom.negated)
                depths.append(derivation.depth)
    graph = builder.build()
    return TheoryGraph(**vars(graph), unparsed=parsed.unparsed, derived_depth=np.array(depths, dtype=np.int64))


def _add_rule(builder: TextGraphBuilder, statement: ParsedSentence, name: str, *, sentence: int) -> None:
    """The rule node, an edge from each condition's object into it, one out of it to the conclusion's object,
    and the "if_subject" / "then_subject" links of named subjects (once per entity and role)."""
    rule = builder.node(name, "rule")
    linked: set[tuple[int, str]] = set()
    for role, part in [("if", c) for c in statement.conditions] + [("then", statement.conclusion)]:
        atom, incoming = part.atom, role == "if"
        obj = builder.node(atom.object, _object_type(atom), part.object_span)
        label = role if atom.relation == "is" else f"{role}_{atom.relation}"
        _link(builder, obj, rule, label, part.object_span, incoming=incoming, sentence=sentence, negated=atom.negated)
        if atom.subject != VARIABLE:
            subject = builder.node(atom.subject, "entity", part.subject_span)
            if (subject, role) not in linked:
                linked.add((subject, role))
                label = f"{role}_subject"
                _link(builder, subject, rule, label, part.subject_span, incoming=incoming, sentence=sentence)


def _object_type(atom: Atom) -> str:
    return "attribute" if atom.relation == "is" else "entity"


def _link(b: TextGraphBuilder, node: int, rule: int, label: str, span: Span | None, *, incoming: bool, **edge) -> None:
    """An edge node -> rule (`incoming`: a condition) or rule -> node (the conclusion); `span` is the node's."""
    if incoming:
        b.edge(node, rule, label, source_span=span, **edge)
    else:
        b.edge(rule, node, label, target_span=span, **edge)


# ----------------------------------------------------------------------------------------------------------
# Checking the parser and the chainer against gold answers
# ----------------------------------------------------------------------------------------------------------


@dataclass
class AgreementReport:
    """How much of a dataset the parser reads and how often forward chaining gives the gold answer.

    unparsed_sentences: (record id, sentence) for each sentence no template matched (each theory once)
    disagreements: (record id, gold answer, chained answer) where they differ ("Contradiction" / "Unparsed"
        when the theory proves both sides / the statement matches no template)
    """

    theories: int = 0
    sentences: int = 0
    questions: int = 0
    agreed: int = 0
    unparsed_sentences: list[tuple[str, str]] = field(default_factory=list)
    disagreements: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def parsed_share(self) -> float:
        return 1 - len(self.unparsed_sentences) / self.sentences if self.sentences else 0.0

    @property
    def agreement(self) -> float:
        return self.agreed / self.questions if self.questions else 0.0


def check_records(records: Iterable[ProofWriterRecord]) -> AgreementReport:
    """Parse every theory (once per distinct context), forward-chain it, answer every record's statement.

    Only meaningful for open-world records (`world` "OWA"); closed-world gold answers use negation as failure.
    """
    report = AgreementReport()
    closures: dict[str, Closure] = {}
    for record in records:
        if record.context not in closures:
            parsed = parse_theory(record.context)
            report.theories += 1
            report.sentences += len(parsed.sentences)
            report.unparsed_sentences += [(record.id, record.context[a:b]) for a, b in parsed.unparsed]
            closures[record.context] = forward_chain(parsed.theory())
        report.questions += 1
        answer, _ = _chained_answer(record, closures[record.context])
        if answer == record.answer:
            report.agreed += 1
        else:
            report.disagreements.append((record.id, record.answer, answer))
    return report


def with_proof_depths(records: Iterable[ProofWriterRecord]) -> list[ProofWriterRecord]:
    """The records, those without a `depth` (the Logic-LM subset) given the depth forward chaining finds:
    that of the shallowest proof of the statement (True) or of its negation (False). Unknown answers, and
    records whose chained answer is not the gold one, keep None."""
    closures: dict[str, Closure] = {}
    out = []
    for record in records:
        if record.depth is None:
            if record.context not in closures:
                closures[record.context] = forward_chain(parse_theory(record.context).theory())
            answer, depth = _chained_answer(record, closures[record.context])
            record = replace(record, depth=depth) if answer == record.answer else record
        out.append(record)
    return out


def _chained_answer(record: ProofWriterRecord, closure: Closure) -> tuple[str, int | None]:
    """`closure.answer` for the record's statement; "Unparsed" / "Contradiction" instead of raising."""
    try:
        statement = parse_statement(record.statement)
    except ValueError:
        return "Unparsed", None
    try:
        return closure.answer(statement)
    except ContradictionError:
        return "Contradiction", None
