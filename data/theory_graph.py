"""A ProofWriter / RuleTaker theory as a `TextGraph` (`theory_graph`): entities, attributes and rule nodes; the
schema is in docs/text-graphs.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .text_graph import Span, TextGraph, TextGraphBuilder
from .theory import VARIABLE, Atom, ParsedSentence, forward_chain, parse_theory

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language


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
