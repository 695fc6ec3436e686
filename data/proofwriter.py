"""ProofWriter / RuleTaker files, generated theories, and a check of the parser and chainer against gold answers.

- reads the Logic-LM JSON subset and the original RuleTaker / ProofWriter JSONL layouts into
  `ProofWriterRecord`s (`read_proofwriter`);
- generates RuleTaker-style theories whose questions have a known proof depth (`generate_theories`);
- checks parser + chainer against a dataset's gold answers (`check_records`) and fills in the proof depths
  that the Logic-LM subset lacks (`with_proof_depths`).

The theories' language, parser and forward chainer are `data.theory`; the theory as a `TextGraph` is
`data.theory_graph`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kgreason.kg import ParseError

from .theory import (
    Atom,
    Closure,
    ContradictionError,
    Rule,
    Theory,
    forward_chain,
    parse_statement,
    parse_theory,
    render_theory,
    rule_forms,
)

ANSWERS = ("True", "False", "Unknown")  # label index -> answer
ANSWER_SYNONYMS = {"uncertain": "Unknown"}  # FOLIO's name for what ProofWriter calls Unknown
QUESTION_PREFIX = "Based on the above information, is the following statement true, false, or unknown? "

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
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith("["):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise ParseError(f"not valid JSON: {e.msg}", path=str(path), line=e.lineno, column=e.colno,
                             hint="fix the file's JSON syntax at that place") from None
        return [record for index, item in enumerate(raw) for record in kept(_logic_lm_record, item, path, index)]
    _refuse_single_object(text, path)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            records += kept(_jsonl_line, line, path, number)
    return records


def _refuse_single_object(text: str, path: Path) -> None:
    """A file that is one JSON object spread over several lines (e.g. `{"data": [...]}`) is neither layout: say so
    once, instead of a "not valid JSON" error for each of its lines."""
    if len([line for line in text.splitlines() if line.strip()]) < 2:
        return
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        return  # JSONL (or broken): read line by line
    if isinstance(whole, dict):
        lists = [key for key, value in whole.items()  # a list of records, as {"data": [{...}, ...]}
                 if isinstance(value, list) and value and all(isinstance(item, dict) for item in value)]
        hint = (f"give the list itself (the value of its {lists[0]!r} key) as the file's content" if lists else
                "put the question in a list ([{...}]), or write one theory per line (JSONL)")
        raise ParseError(f"the file is one JSON object (keys {sorted(whole)[:5]}), not a JSON list of questions "
                         "(Logic-LM) nor one theory per line (JSONL)", path=str(path), line=1, hint=hint)


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
        m = _OPTION.fullmatch(option.strip()) if isinstance(option, str) else None
        label = _answer_label(m["text"]) if m else None
        if label is None:
            raise _format_error(path, f"{where}: field 'options' has {option!r}; expected 'A) True'-style strings "
                                      f"whose answer is one of {list(ANSWERS)} (any case; 'Uncertain' for Unknown)")
        letters.append(m["letter"])
        choices.append(ANSWERS[label])
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
    """true / false / "True" / "False" / "Unknown" / "Uncertain" (any case) -> index into `ANSWERS`."""
    if isinstance(answer, bool):
        return 0 if answer else 1
    if not isinstance(answer, str):
        return None
    name = ANSWER_SYNONYMS.get(answer.strip().lower(), answer.strip())
    names = [a.lower() for a in ANSWERS]
    return names.index(name.lower()) if name.lower() in names else None


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
