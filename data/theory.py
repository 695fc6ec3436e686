"""The theories of ProofWriter / RuleTaker: their language, its English, its parser and a forward chainer.

A theory is facts ("Bob is red.", "The cat does not chase the dog.") and rules ("If someone is big and red
then they are nice.", "All quiet things are rough.") in the fixed synthetic English of RuleTaker (Clark,
Tafjord, Richardson 2020) and ProofWriter (Tafjord, Dalvi, Clark 2021). This module

- holds a theory as `Atom`s and `Rule`s and writes them in that English (`render_rule`, `render_theory`);
- parses a theory's sentences into `Atom`s and `Rule`s with character spans (`parse_theory`) and says
  which sentences match no template;
- answers a statement by forward chaining under the **open-world assumption** (`forward_chain`,
  `Closure.answer`): True when the statement is proved, False when its negation is proved, Unknown
  otherwise; a negated condition ("... and not red") holds only when the negative literal is proved
  (classical negation, as in ProofWriter's OWA data; the closed-world, negation-as-failure reading of
  RuleTaker / ProofWriter-CWA is not implemented).

The files and a generator are `data.proofwriter`; the theory as a `TextGraph` is `data.theory_graph`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .text_graph import Span

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language

VARIABLE = "something"  # the subject of a rule about anyone ("something", "someone", "it", "they")

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
