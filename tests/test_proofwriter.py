"""ProofWriter theories: the readers, the sentence templates, the theory graph, forward chaining, the generator."""

import doctest
import json
import re
from dataclasses import replace

import pytest
import spacy
from conftest import PROJECT_ROOT, dataset

import kgreason.data.proofwriter as pw
import kgreason.data.theory as theory_module
import kgreason.data.theory_graph as theory_graph_module
from kgreason.data.proofwriter import check_records, generate_theories, read_proofwriter, with_proof_depths
from kgreason.data.text_graph import TextGraph
from kgreason.data.theory import (
    VARIABLE,
    Atom,
    ContradictionError,
    Rule,
    forward_chain,
    parse_statement,
    parse_theory,
    render_rule,
    rule_forms,
    singular,
)
from kgreason.data.theory_graph import TheoryGraph, theory_graph
from kgreason.kg import ParseError

X = VARIABLE


@pytest.mark.parametrize("module", [theory_module, theory_graph_module], ids=lambda module: module.__name__)
def test_the_module_examples_run(module):
    assert doctest.testmod(module).failed == 0


# ---------------------------------------------------------------------------------------------- readers

LOGIC_LM = {
    "id": "ProofWriter_RelNeg-OWA-D5-81_Q11",
    "context": "The cat eats the squirrel. If someone eats the squirrel then they are rough.",
    "question": "Based on the above information, is the following statement true, false, or unknown? The cat is rough.",
    "options": ["A) True", "B) False", "C) Unknown"],
    "answer": "A",
}


def write_json(tmp_path, records):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return path


def test_reads_the_logic_lm_layout(tmp_path):
    other = dict(LOGIC_LM, id="ProofWriter_AttNoneg-OWA-D3-7_Q2", answer="C")
    first, second = read_proofwriter(write_json(tmp_path, [LOGIC_LM, other]))
    assert first.statement == "The cat is rough."
    assert (first.label, first.answer, first.choices) == (0, "True", ("True", "False", "Unknown"))
    assert (first.max_depth, first.depth, first.world) == (5, None, "OWA")
    assert first.question == LOGIC_LM["question"] and first.context == LOGIC_LM["context"]
    assert (second.answer, second.max_depth) == ("Unknown", 3)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"context": None}, "field 'context' is missing"),
        ({"context": 3}, "field 'context' is a int, expected a str"),
        ({"answer": "D"}, "field 'answer' is 'D'; expected one of ['A', 'B', 'C']"),
        ({"options": ["True", "False"]}, "field 'options' has 'True'"),
        ({"question": "Is the cat rough?"}, "field 'question' has no statement after its '?'"),
    ],
)
def test_logic_lm_errors_name_the_file_record_and_field(tmp_path, change, message):
    bad = {k: v for k, v in {**LOGIC_LM, **change}.items() if v is not None}
    path = write_json(tmp_path, [LOGIC_LM, bad])
    with pytest.raises(ParseError) as error:
        read_proofwriter(path)
    text = str(error.value)
    assert str(path) in text and "record 1 (id 'ProofWriter_RelNeg-OWA-D5-81_Q11')" in text and message in text


def test_logic_lm_structural_errors(tmp_path):
    with pytest.raises(ParseError, match="record 0 is a list, not an object"):
        read_proofwriter(write_json(tmp_path, [[1]]))
    path = tmp_path / "broken.json"
    path.write_text('[\n{"id": 1,\n', encoding="utf-8")
    with pytest.raises(ParseError, match=r"broken.json:3:1: not valid JSON"):
        read_proofwriter(path)


RULETAKER = {
    "id": "RelNeg-D2-1742",
    "context": "The bald eagle is nice. If something is nice then it is big.",
    "questions": [
        {"id": "RelNeg-D2-1742-1", "text": "The bald eagle is big.", "label": True, "meta": {"QDep": 1}},
        {"id": "RelNeg-D2-1742-2", "text": "The bald eagle is not nice.", "label": False, "meta": {"QDep": 0}},
    ],
}
PROOFWRITER = {
    "id": "AttNeg-OWA-D3-12",
    "maxD": 1,
    "theory": "Gary is furry. Furry things are nice.",
    "questions": {
        "Q1": {"question": "Gary is nice.", "answer": True, "QDep": 1},
        "Q2": {"question": "Gary is red.", "answer": "Unknown", "QDep": 0},
    },
}


def test_reads_the_original_jsonl_layouts(tmp_path):
    path = tmp_path / "meta-dev.jsonl"
    path.write_text(json.dumps(RULETAKER) + "\n\n" + json.dumps(PROOFWRITER) + "\n", encoding="utf-8")
    records = read_proofwriter(path)
    got = [(r.id, r.statement, r.answer, r.depth, r.max_depth, r.world) for r in records]
    assert got == [
        ("RelNeg-D2-1742-1", "The bald eagle is big.", "True", 1, 2, None),
        ("RelNeg-D2-1742-2", "The bald eagle is not nice.", "False", 0, 2, None),
        ("AttNeg-OWA-D3-12_Q1", "Gary is nice.", "True", 1, 3, "OWA"),
        ("AttNeg-OWA-D3-12_Q2", "Gary is red.", "Unknown", 0, 3, "OWA"),
    ]
    assert records[0].context == RULETAKER["context"] and records[2].context == PROOFWRITER["theory"]


@pytest.mark.parametrize(
    "theory, message",
    [
        ({**PROOFWRITER, "questions": {"Q1": {"question": "Gary is nice.", "answer": "maybe"}}}, "answer 'maybe'"),
        ({**PROOFWRITER, "questions": {"Q1": {"question": "Gary is nice.", "answer": True, "QDep": "2"}}}, "QDep '2'"),
        ({**PROOFWRITER, "questions": {"Q1": {"answer": True}}}, "question 'Q1': field 'question' is missing"),
        ({"id": "X-D1-1", "questions": []}, "field 'theory' is missing"),
        ({**RULETAKER, "questions": [7]}, "question 0 is a int, not an object"),
    ],
)
def test_jsonl_errors_name_the_line_and_question(tmp_path, theory, message):
    path = tmp_path / "dev.jsonl"
    path.write_text(json.dumps(RULETAKER) + "\n" + json.dumps(theory) + "\n", encoding="utf-8")
    with pytest.raises(ParseError) as error:
        read_proofwriter(path)
    assert f"{path}:2: " in str(error.value) and message in str(error.value)


# ---------------------------------------------------------------------------------------------- templates


@pytest.mark.parametrize(
    "sentence, conditions, conclusion",
    [
        ("Bob is red.", [], ("Bob", "is", "red", False)),
        ("Bob is not big.", [], ("Bob", "is", "big", True)),
        ("The cat chases the dog.", [], ("cat", "chases", "dog", False)),
        ("The bald eagle does not chase Anne.", [], ("bald eagle", "chases", "Anne", True)),
        ("All quiet things are rough.", [(X, "is", "quiet", False)], (X, "is", "rough", False)),
        ("Young people are furry.", [(X, "is", "young", False)], (X, "is", "furry", False)),
        (
            "Red, cold things are round.",
            [(X, "is", "red", False), (X, "is", "cold", False)],
            (X, "is", "round", False),
        ),
        (
            "All red, cold people are not round.",
            [(X, "is", "red", False), (X, "is", "cold", False)],
            (X, "is", "round", True),
        ),
        (
            "If someone is big and red then they are nice.",
            [(X, "is", "big", False), (X, "is", "red", False)],
            (X, "is", "nice", False),
        ),
        (
            "If something is quiet and not cold then it is not smart.",
            [(X, "is", "quiet", False), (X, "is", "cold", True)],
            (X, "is", "smart", True),
        ),
        ("If something visits the lion then it is young.", [(X, "visits", "lion", False)], (X, "is", "young", False)),
        (
            "If someone sees the cat and they are not green then they see the cow.",
            [(X, "sees", "cat", False), (X, "is", "green", True)],
            (X, "sees", "cow", False),
        ),
        (
            "If someone does not eat the mouse then they do not chase the tiger.",
            [(X, "eats", "mouse", True)],
            (X, "chases", "tiger", True),
        ),
        (
            "If the cat chases the dog then the dog is kind.",
            [("cat", "chases", "dog", False)],
            ("dog", "is", "kind", False),
        ),
        (
            "If Dave is smart and Dave is kind then Dave is quiet.",
            [("Dave", "is", "smart", False), ("Dave", "is", "kind", False)],
            ("Dave", "is", "quiet", False),
        ),
        (
            "If something needs the bald eagle then the bald eagle does not need the squirrel.",
            [(X, "needs", "bald eagle", False)],
            ("bald eagle", "needs", "squirrel", True),
        ),
        (  # RuleTaker: the variable in a later condition only
            "If the bald eagle eats the squirrel and something does not eat the bald eagle then the bald eagle visits "
            "the squirrel.",
            [("bald eagle", "eats", "squirrel", False), (X, "eats", "bald eagle", True)],
            ("bald eagle", "visits", "squirrel", False),
        ),
    ],
)
def test_every_template_parses(sentence, conditions, conclusion):
    parsed = parse_theory(sentence)
    assert parsed.unparsed == []
    (theory_sentence,) = parsed.statements
    assert [tuple(vars(c.atom).values()) for c in theory_sentence.conditions] == conditions
    assert tuple(vars(theory_sentence.conclusion.atom).values()) == conclusion


@pytest.mark.parametrize(
    "sentence",
    [
        "Something is red.",  # a fact about no one
        "Bob is red and big.",
        "If something chases the dog then the dog chases it.",  # the variable as an object
        "If it rains then Bob is wet.",
        "If something is big then something is red and round.",
        "The cat and the dog are friends.",
        "All things are red.",
    ],
)
def test_sentences_outside_the_templates_are_reported(sentence):
    text = f"Bob is big. {sentence} The dog is red."
    graph = theory_graph(text)
    assert [text[a:b] for a, b in graph.unparsed] == [sentence]
    assert [text[a:b] for a, b in graph.sentences] == ["Bob is big.", sentence, "The dog is red."]
    assert graph.edge_triples() == [("Bob", "is", "big"), ("dog", "is", "red")]
    assert graph.sentence_index.tolist() == [0, 2]


@pytest.mark.parametrize("people", [False, True])
def test_rendered_rules_parse_back(people):
    rules = [
        Rule((Atom(X, "is", "big"), Atom(X, "is", "red")), Atom(X, "is", "nice", True)),
        Rule((Atom(X, "is", "big"), Atom(X, "is", "red", True)), Atom(X, "sees", "bald eagle")),
        Rule((Atom(X, "chases", "cat"), Atom(X, "is", "red")), Atom("cat", "chases", "Bob", True)),
        Rule((Atom("Bob", "is", "big"), Atom(X, "eats", "Bob", True)), Atom(X, "catches", "mouse")),
        Rule((Atom("cat", "flies", "dog"),), Atom("dog", "is", "kind")),
    ]
    for rule in rules:
        for form in rule_forms(rule):
            text = render_rule(rule, form=form, people=people)
            assert parse_theory(text).theory().rules == [rule], text
    assert rule_forms(rules[0]) == ("if", "all", "plain") and rule_forms(rules[1]) == ("if",)
    with pytest.raises(ValueError, match="cannot be written in form 'all'"):
        render_rule(rules[1], form="all")


def test_prontoqa_class_sentences_are_rules_over_singular_classes():
    text = ("Jompuses are not shy. Jompuses are yumpuses. Each yumpus is a dumpus. Every dumpus is not nervous. "
            "Max is a jompus.")
    theory = parse_theory(text).theory()
    assert theory.facts == [Atom("Max", "is", "jompus")]
    assert theory.rules == [
        Rule((Atom(X, "is", "jompus"),), Atom(X, "is", "shy", True)),
        Rule((Atom(X, "is", "jompus"),), Atom(X, "is", "yumpus")),
        Rule((Atom(X, "is", "yumpus"),), Atom(X, "is", "dumpus")),
        Rule((Atom(X, "is", "dumpus"),), Atom(X, "is", "nervous", True)),
    ]
    closure = forward_chain(theory)
    assert closure.answer(parse_statement("Max is not nervous.")) == ("True", 3)
    assert closure.answer(parse_statement("Max is shy.")) == ("False", 1)
    assert closure.answer(parse_statement("Max is not a dumpus.")) == ("False", 2)
    assert [singular(w) for w in ("Wumpuses", "cats", "butterflies", "foxes", "horses")] == [
        "wumpus", "cat", "butterfly", "fox", "horse"]


def test_the_parser_and_chainer_answer_prontoqa():
    report = check_records(read_proofwriter(dataset("logic_lm_subsets", "ProntoQA", "dev.json")))
    assert report.unparsed_sentences == [] and report.agreed == report.questions == 500


def test_statements():
    assert parse_statement("The bald eagle does not visit Bob.") == Atom("bald eagle", "visits", "Bob", True)
    assert Atom("bald eagle", "visits", "Bob", True).text() == "The bald eagle does not visit Bob."
    with pytest.raises(ValueError, match="is not a fact sentence"):
        parse_statement("All red things are big.")


# ---------------------------------------------------------------------------------------------- the graph

THEORY = (
    "Anne is big. The bald eagle does not chase Anne. If someone is big and not red then they see the bald eagle. "
    "Big things are kind. If the bald eagle chases Anne then Anne is not kind."
)


def test_facts_and_rules_become_typed_edges():
    graph = theory_graph(THEORY)
    assert isinstance(graph, TheoryGraph) and isinstance(graph, TextGraph) and graph.unparsed == []
    assert graph.edge_triples() == [
        ("Anne", "is", "big"),
        ("bald eagle", "not_chases", "Anne"),
        ("big", "if", "rule 1"),
        ("red", "not_if", "rule 1"),
        ("rule 1", "then_sees", "bald eagle"),
        ("big", "if", "rule 2"),
        ("rule 2", "then", "kind"),
        ("Anne", "if_chases", "rule 3"),
        ("bald eagle", "if_subject", "rule 3"),
        ("rule 3", "not_then", "kind"),
        ("rule 3", "then_subject", "Anne"),
    ]
    types = dict(zip(graph.nodes, graph.node_types))
    assert types == {
        "Anne": "entity", "big": "attribute", "bald eagle": "entity", "rule 1": "rule", "red": "attribute",
        "rule 2": "rule", "kind": "attribute", "rule 3": "rule",
    }  # fmt: skip
    assert graph.negated.tolist() == [False, True, False, True, False, False, False, False, False, True, False]
    assert graph.sentence_index.tolist() == [0, 1, 2, 2, 2, 3, 3, 4, 4, 4, 4]


def test_a_named_subject_is_linked_once_per_rule_and_role():
    assert theory_graph("If Dave is smart and Dave is kind then Dave is quiet.").edge_triples() == [
        ("smart", "if", "rule 1"),
        ("Dave", "if_subject", "rule 1"),
        ("kind", "if", "rule 1"),
        ("rule 1", "then", "quiet"),
        ("rule 1", "then_subject", "Dave"),
    ]


def test_spans_slice_the_text():
    graph = theory_graph(THEORY)
    for (source, target), (a, b, c, d), (s, e) in zip(graph.edges, graph.mention_spans, graph.sentence_spans):
        for node, (start, end) in ((source, (a, b)), (target, (c, d))):
            if graph.node_types[node] == "rule":
                assert (start, end) == (-1, -1) and graph.node_mentions[node] == []
            else:
                assert THEORY[start:end].lower() == graph.nodes[node].lower() and s <= start < end <= e
    for name, mentions in zip(graph.nodes, graph.node_mentions):
        assert all(THEORY[a:b].lower() == name.lower() for a, b in mentions)
    assert len(graph.node_mentions[graph.node("Anne")]) == 4  # facts, rule 3's condition and conclusion
    assert [THEORY[a:b] for a, b in graph.sentences][2] == (
        "If someone is big and not red then they see the bald eagle."
    )


def test_spacy_sentences_give_the_same_graph():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    with_spacy, plain = theory_graph(THEORY, nlp=nlp), theory_graph(THEORY)
    assert with_spacy.sentences == plain.sentences and with_spacy.edge_triples() == plain.edge_triples()


def test_the_closure_adds_each_proved_literal_read_from_its_rule():
    text = ("Bob is big. The cat chases the dog. If someone is big then they are not red. "
            "If someone is not red then they chase the dog.")
    plain, closed = theory_graph(text), theory_graph(text, closure=True)
    assert closed.edge_triples() == [*plain.edge_triples(), ("Bob", "not_is", "red"), ("Bob", "chases", "dog")]
    assert plain.derived_depth.tolist() == [0] * plain.num_edges
    assert closed.derived_depth.tolist() == [0] * plain.num_edges + [1, 2]
    assert closed.sentence_index.tolist()[-2:] == [2, 3]  # the sentences of the rules that concluded them
    assert closed.negated.tolist()[-2:] == [True, False]


def test_the_closure_graph_answers_every_generated_question_at_its_statement():
    from kgreason.data.preprocess_tasks import statement_query

    for generated in generate_theories(6, depth=3, seed=4):
        graph = theory_graph(generated.records[0].context, closure=True)
        for record in generated.records:
            (source, target), asked = statement_query(record.statement, graph)
            labels = {"not_" + label if neg else label for (s, t), label, neg in
                      zip(graph.edges.tolist(), graph.edge_labels, graph.negated.tolist()) if (s, t) == (source, target)}
            opposite = asked.removeprefix("not_") if asked.startswith("not_") else "not_" + asked
            found = "True" if asked in labels else "False" if opposite in labels else "Unknown"
            assert found == record.choices[record.label], record.statement
    assert statement_query("All red things are big.", graph) == ([-1, -1], "mentions")


def test_the_graph_has_rdf_and_pyg_views():
    graph = theory_graph(THEORY)
    turtle = graph.to_rdflib().serialize(format="turtle")
    assert "kg:not_then" in turtle and "kg:if_subject" in turtle
    assert graph.to_pyg().edge_index.shape == (2, graph.num_edges)


def test_the_documented_example_is_what_the_code_makes():
    doc = (PROJECT_ROOT / "docs" / "text-graphs.md").read_text(encoding="utf-8")
    assert re.search(r"^> (.+)$", doc, re.MULTILINE)[1] == THEORY
    turtle = re.search(r"```turtle\n(.*?)```", doc, re.DOTALL)[1]
    assert turtle.strip() == theory_graph(THEORY).to_rdflib().serialize(format="turtle").strip()


# ---------------------------------------------------------------------------------------------- forward chaining

CHAIN = (
    "Bob is big. Bob is not red. The cat chases Bob. If someone is big then they are kind. "
    "If someone is kind and not red then they are round. If the cat chases Bob and Bob is round then the cat is young. "
    "All young things are cold."
)


@pytest.mark.parametrize(
    "statement, answer, depth",
    [
        ("Bob is big.", "True", 0),
        ("Bob is red.", "False", 0),
        ("Bob is not red.", "True", 0),
        ("Bob is kind.", "True", 1),
        ("Bob is not kind.", "False", 1),
        ("Bob is round.", "True", 2),
        ("The cat is young.", "True", 3),
        ("The cat is not cold.", "False", 4),
        ("The cat is big.", "Unknown", None),
        ("Bob chases the cat.", "Unknown", None),
    ],
)
def test_forward_chaining_answers_with_depths(statement, answer, depth):
    closure = forward_chain(parse_theory(CHAIN).theory())
    assert closure.answer(parse_statement(statement)) == (answer, depth)
    assert closure.max_depth == 4


def test_derivations_name_the_rule_and_premises():
    closure = forward_chain(parse_theory(CHAIN).theory())
    young = closure.derivations[Atom("cat", "is", "young")]
    assert (young.depth, young.rule) == (3, 2)
    assert young.premises == (Atom("cat", "chases", "Bob"), Atom("Bob", "is", "round"))


def test_the_shallowest_proof_counts():
    theory = parse_theory(
        "Bob is big. Bob is red. If something is red then it is blue. If something is blue then it is kind. "
        "If something is big then it is kind."
    ).theory()
    assert forward_chain(theory).answer(Atom("Bob", "is", "kind")) == ("True", 1)


def test_negation_is_not_failure_to_prove():
    # open world: "not red" needs a proof of "Bob is not red"; nobody is ever round here
    theory = parse_theory("Bob is big. If someone is big and not red then they are round.").theory()
    assert forward_chain(theory).answer(Atom("Bob", "is", "round")) == ("Unknown", None)


def test_contradictions_are_reported():
    closure = forward_chain(parse_theory("Bob is big. Bob is not kind. Big things are kind.").theory())
    assert closure.contradictions() == [Atom("Bob", "is", "kind")]
    with pytest.raises(ContradictionError, match="proves both 'Bob is kind.' and its negation"):
        closure.answer(Atom("Bob", "is", "kind"))


# ---------------------------------------------------------------------------------------------- the generator


@pytest.mark.parametrize("depth", [0, 1, 3, 5])
def test_generated_theories_have_the_asked_depth(depth):
    theories = generate_theories(8, depth=depth, seed=depth)
    assert [t.id.split("-")[0] for t in theories[:4]] == ["GenAttNoneg", "GenAttNeg", "GenRelNoneg", "GenRelNeg"]
    for theory in theories:
        parsed = parse_theory(theory.context)
        assert parsed.unparsed == [] and parsed.theory() == theory.theory  # the text says what was generated
        closure = forward_chain(parsed.theory())
        assert closure.max_depth == depth and closure.contradictions() == []
        for record in theory.records:
            assert closure.answer(parse_statement(record.statement)) == (record.answer, record.depth)
            assert record.context == theory.context and record.max_depth == depth and record.world == "OWA"
        answered = sorted((r.answer, r.depth) for r in theory.records if r.answer != "Unknown")
        assert answered == sorted((answer, d) for d in range(depth + 1) for answer in ("True", "False"))
        assert sum(r.answer == "Unknown" for r in theory.records) == depth + 1


def test_generated_kinds_use_relations_and_negation():
    theories = generate_theories(8, depth=2, seed=1)
    text = {kind: " ".join(t.context for t in theories if t.id.startswith(f"Gen{kind}-")) for kind in pw.THEORY_KINDS}
    assert " not " not in text["AttNoneg"] + text["RelNoneg"]
    assert " not " in text["AttNeg"] and " not " in text["RelNeg"]
    atoms = [a for t in theories if t.id.startswith("GenRel") for a in t.closure.derivations]
    assert any(a.relation != "is" for a in atoms)
    assert all(a.relation == "is" for t in theories if t.id.startswith("GenAtt") for a in t.closure.derivations)


def test_generation_is_deterministic():
    contexts = [t.context for t in generate_theories(3, depth=2, seed=7)]
    assert contexts == [t.context for t in generate_theories(3, depth=2, seed=7)]
    assert contexts != [t.context for t in generate_theories(3, depth=2, seed=8)]
    with pytest.raises(ValueError, match="depth must be in 0..12"):
        generate_theories(1, depth=13)


def test_check_records_measures_agreement_and_depths_are_recovered():
    records = [r for t in generate_theories(4, depth=3, seed=2) for r in t.records]
    report = check_records(records)
    assert (report.theories, report.questions, report.agreement, report.parsed_share) == (4, 48, 1.0, 1.0)
    flipped = [replace(records[0], label=2)] + records[1:]
    assert check_records(flipped).disagreements == [(records[0].id, "Unknown", "True")]
    no_depth = [replace(r, depth=None) for r in records]
    assert [r.depth for r in with_proof_depths(no_depth)] == [r.depth for r in records]


# ---------------------------------------------------------------------------------------------- the real data


@pytest.mark.slow
def test_the_real_dev_set_parses_and_chains_to_the_gold_answers():
    records = read_proofwriter(dataset("logic_lm_subsets", "ProofWriter", "dev.json"))
    assert len(records) == 600 and [sum(r.label == k for r in records) for k in range(3)] == [200, 200, 200]
    report = check_records(records)
    assert report.unparsed_sentences == [] and report.agreement == 1.0, report.disagreements[:5]
    depths = {r.depth for r in with_proof_depths(records) if r.answer != "Unknown"}
    assert depths == set(range(6))


def test_malformed_records_can_be_skipped_and_counted(tmp_path):
    good = {"id": "ProofWriter_X-OWA-D1-1_Q1", "context": "Bob is red.", "question": "Is it? Bob is red.",
            "options": ["A) True", "B) False", "C) Unknown"], "answer": "A"}
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([good, {**good, "answer": "Z"}, good]))
    with pytest.raises(ParseError, match="record 1"):
        read_proofwriter(path)
    skipped = []
    assert len(read_proofwriter(path, on_error="skip", skipped=skipped)) == 2
    assert len(skipped) == 1 and "record 1" in str(skipped[0]) and "answer" in str(skipped[0])
    lines = tmp_path / "theories.jsonl"
    lines.write_text('{"id": "t1", "context": "Bob is red.", "questions": [{"id": "q", "text": "Bob is red.", "label": true}]}\nnot json\n')
    skipped = []
    assert [r.id for r in read_proofwriter(lines, on_error="skip", skipped=skipped)] == ["q"]
    assert skipped[0].line == 2
