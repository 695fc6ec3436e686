"""Causal records (kgreason.data.causal): e-CARE and COPA readers and writers on tiny files, odd records, the
generator, examples; the causal module (kgreason.data.causal_graph): relation orientations, evidence paths in the
asked direction, subgraph edges turned along the question, evidence in words, the causal event graph."""

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import dataset

from kgreason.data.batch import RelationVocabulary, collate
from kgreason.data.causal import (
    CAUSAL_TRIPLES,
    CausalRecord,
    CausalRecordError,
    causal_example,
    generate_causal,
    read_causal,
    read_copa,
    read_ecare,
    write_copa,
    write_ecare,
)
from kgreason.data.causal_graph import (
    CAUSAL_RELATIONS,
    EVENT_RELATION,
    NO_EVIDENCE,
    CausalGraph,
    event_triples,
    evidence_in_words,
    oriented_relations,
    write_event_graph,
)
from kgreason.data.example import KGQAExample
from kgreason.data.preprocess import Settings
from kgreason.kg import KnowledgeGraph
from kgreason.kg.errors import TaskInputError
from kgreason.kg.retrieval import retrieve

ECARE_OK = {
    "index": "dev-1",
    "premise": "Otters enter their new habitat.",
    "ask-for": "effect",
    "hypothesis1": "Otters start looking for abalone for food.",
    "hypothesis2": "They always live by the water.",
    "label": 0,
}

COPA_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE copa-corpus SYSTEM "copa.dtd">
<copa-corpus  version="1.0">

  <item id="1" asks-for="cause" most-plausible-alternative="1">
    <p>My body cast a shadow over the grass.</p>
    <a1>The sun was rising.</a1>
    <a2>The grass was cut.</a2>
  </item>

  <item id="2" asks-for="effect" most-plausible-alternative="2">
    <p>The item was packaged in &amp; bubble wrap. </p>
    <a1>It was small.</a1>
    <a2>It was
fragile.</a2>
  </item>
</copa-corpus>
"""


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


# --- e-CARE ----------------------------------------------------------------------------------------------


def test_ecare_reads_records_with_their_lines(tmp_path):
    second = dict(ECARE_OK, index="dev-2", **{"ask-for": "cause"}, label=1, premise="  Padded.  ")
    path = write_jsonl(tmp_path / "dev.jsonl", [ECARE_OK, "", second])
    records = list(read_ecare(path))
    assert records[0] == CausalRecord(
        "dev-1",
        "Otters enter their new habitat.",
        "effect",
        ("Otters start looking for abalone for food.", "They always live by the water."),
        0,
        str(path),
        1,
    )
    assert (records[1].id, records[1].premise, records[1].ask_for, records[1].label, records[1].line) == (
        "dev-2", "Padded.", "cause", 1, 3,
    )  # fmt: skip
    assert records[0].question == "Otters enter their new habitat. What happened as a result?"
    assert records[1].question.endswith("What was the cause of this?")
    assert records[0].pairs()[0] == (records[0].premise, records[0].choices[0])
    assert records[1].pairs()[1] == (records[1].choices[1], records[1].premise)


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ('{"index": "x", "premise": ', None, "not a JSON object"),
        ("[1, 2]", None, "expected a JSON object"),
        (json.dumps({k: v for k, v in ECARE_OK.items() if k != "hypothesis2"}), "hypothesis2", "missing"),
        (json.dumps(dict(ECARE_OK, **{"ask-for": "because"})), "ask-for", "'cause' or 'effect'"),
        (json.dumps(dict(ECARE_OK, label=2)), "label", "expected 0 or 1"),
        (json.dumps(dict(ECARE_OK, label=True)), "label", "expected 0 or 1"),
        (json.dumps(dict(ECARE_OK, premise="  ")), "premise", "non-empty string"),
        (json.dumps(dict(ECARE_OK, index=None)), "index", "string or integer id"),
    ],
)
def test_ecare_malformed_record_names_file_line_and_field(tmp_path, line, field, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [ECARE_OK, line, ECARE_OK])
    records = read_ecare(path)
    assert next(records).id == "dev-1"  # streaming: the good first record comes before the error
    with pytest.raises(CausalRecordError, match=message) as caught:
        next(records)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), 2, field)
    assert f"{path}:2" in str(error) and "fix or remove that record" in str(error)
    if field:
        assert f"field {field!r}" in str(error)


def test_ecare_skips_and_counts_malformed_records(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [ECARE_OK, "not json", dict(ECARE_OK, label=7), ECARE_OK])
    (tmp_path / "bytes.jsonl").write_bytes(path.read_bytes() + b'{"index": "\xff"}\n')
    skipped = []
    records = list(read_ecare(tmp_path / "bytes.jsonl", on_error="skip", skipped=skipped))
    assert [r.line for r in records] == [1, 4]
    assert [(e.line, e.field) for e in skipped] == [(2, None), (3, "label"), (5, None)]
    assert "not UTF-8 text (byte 0xff)" in str(skipped[-1]) and skipped[-1].column == 12
    assert len(list(read_ecare(path, on_error="skip"))) == 2  # skipping without a list works too
    with pytest.raises(ValueError, match="on_error must be"):
        list(read_ecare(path, on_error="ignore"))


# --- COPA ------------------------------------------------------------------------------------------------


def test_copa_reads_items(tmp_path):
    path = tmp_path / "copa-dev.xml"
    path.write_text(COPA_XML, encoding="utf-8")
    first, second = read_copa(path)
    assert first == CausalRecord(
        "1", "My body cast a shadow over the grass.", "cause", ("The sun was rising.", "The grass was cut."), 0,
        str(path), 5,
    )  # fmt: skip
    assert (second.id, second.ask_for, second.label, second.line) == ("2", "effect", 1, 11)
    assert second.premise == "The item was packaged in & bubble wrap." and second.choices[1] == "It was\nfragile."
    assert [r.id for r in read_causal(path)] == ["1", "2"]


def test_copa_reads_in_chunks(tmp_path, monkeypatch):
    import kgreason.data.causal as causal

    monkeypatch.setattr(causal, "XML_CHUNK", 7)  # items and texts split across many chunks
    path = tmp_path / "copa.xml"
    path.write_text(COPA_XML, encoding="utf-8")
    assert [(r.id, r.premise, r.line) for r in read_copa(path)] == [
        ("1", "My body cast a shadow over the grass.", 5),
        ("2", "The item was packaged in & bubble wrap.", 11),
    ]


CAUSE_1 = 'asks-for="cause" most-plausible-alternative="1"'
TEXTS = "<p>p</p><a1>a</a1><a2>b</a2>"


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        (f'<item id="9" most-plausible-alternative="1">{TEXTS}</item>', "asks-for", "missing"),
        (f'<item id="9" asks-for="why" most-plausible-alternative="1">{TEXTS}</item>', "asks-for", "'cause' or"),
        (f'<item id="9" asks-for="cause" most-plausible-alternative="3">{TEXTS}</item>', "most-plausible-alternative", "1 or 2"),
        (f'<item id="9" {CAUSE_1}><p>p</p><a1>a</a1></item>', "a2", "missing or empty"),
        (f'<item id="9" {CAUSE_1}><p> </p><a1>a</a1><a2>b</a2></item>', "p", "missing or empty"),
        (f'<item id="9" {CAUSE_1}>{TEXTS}<a1>c</a1></item>', "a1", "twice"),
        (f'<item id="9" {CAUSE_1}><p>p <b>x</b></p><a1>a</a1><a2>b</a2></item>', "b", "unexpected"),
    ],
)  # fmt: skip
def test_copa_malformed_item_names_file_line_and_field(tmp_path, item, field, message):
    path = tmp_path / "bad.xml"
    good = COPA_XML.split("\n\n")[1]
    path.write_text(f"<copa-corpus>\n{good}\n{item}\n{good}\n</copa-corpus>\n", encoding="utf-8")
    with pytest.raises(CausalRecordError, match=message) as caught:
        list(read_copa(path))
    assert (caught.value.line, caught.value.field) == (7, field)
    skipped = []
    assert [r.line for r in read_copa(path, on_error="skip", skipped=skipped)] == [2, 8]
    assert len(skipped) == 1 and skipped[0].line == 7


def test_copa_xml_that_is_not_well_formed_always_raises(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text(COPA_XML.replace("</a2>\n  </item>\n</copa", "</a2>\n  </itm>\n</copa"), encoding="utf-8")
    with pytest.raises(CausalRecordError, match="not well-formed XML: mismatched tag") as caught:
        list(read_copa(path, on_error="skip"))
    assert caught.value.line == 16 and caught.value.column is not None


def test_read_causal_refuses_unknown_extensions(tmp_path):
    with pytest.raises(TaskInputError, match=r"copa.csv: a causal task reads .*\(.jsonl\) or COPA XML \(.xml\)"):
        read_causal(tmp_path / "copa.csv")


# --- generator and examples ------------------------------------------------------------------------------


def test_generator_is_deterministic_and_consistent():
    one, again, other = generate_causal(30, seed=3), generate_causal(30, seed=3), generate_causal(30, seed=4)
    assert one.records == again.records and one.chains == again.chains
    assert one.records != other.records
    assert one.triples == list(CAUSAL_TRIPLES) and len(one.records) == 30
    causes = {(h, t) for h, r, t in CAUSAL_TRIPLES if r == "Causes"} | {
        (t, h) for h, r, t in CAUSAL_TRIPLES if r == "HasPrerequisite"
    }
    lengths = set()
    for record, chain in zip(one.records, one.chains):
        assert all(step in causes for step in zip(chain, chain[1:]))  # a real cause -> effect chain
        lengths.add(len(chain) - 1)
        given, answer = (chain[0], chain[-1]) if record.ask_for == "effect" else (chain[-1], chain[0])
        assert given in record.premise.split(" ") or f"{given}." in record.premise
        right, wrong = record.choices[record.label], record.choices[1 - record.label]
        assert answer in right.replace(".", "").split(" ") and answer not in wrong.replace(".", "").split(" ")
        assert record.ask_for in ("cause", "effect") and record.source == "generated(seed=3)"
    assert lengths == {1, 2}
    assert {len(c) for c in generate_causal(30, seed=3, max_chain=1).chains} == {2}
    with pytest.raises(ValueError, match="max_chain"):
        generate_causal(3, max_chain=0)


def test_generated_records_retrieve_their_causal_chain():
    generated = generate_causal(20, seed=0)
    kg = generated.knowledge_graph()
    lookup = {key: i for i, key in enumerate(kg.entities.keys)}

    def link(text):
        return [lookup[w] for w in text.lower().replace(".", "").split() if w in lookup]

    for record, chain in zip(generated.records, generated.chains):
        sub = retrieve(kg, link(record.premise), [link(c) for c in record.choices], max_path_length=2)
        walks = {tuple(kg.entities[n] for n in p.nodes) for p in sub.paths if p.choice == record.label}
        assert tuple(chain) in walks or tuple(reversed(chain)) in walks
        example = causal_example(record, sub)
        assert isinstance(example, KGQAExample) and example.label == record.label
        assert example.text == record.question and example.choices == list(record.choices)
        assert np.array_equal(example.node_ids, sub.node_ids) and np.array_equal(example.edge_type, sub.edge_type)
        assert example.mention_char_spans.shape == (len(example.mention_node_index), 2)
        assert example.meta["paths"] == [p.to_dict() for p in sub.paths]
        again = KGQAExample.from_dict(json.loads(json.dumps(example.to_dict())))  # JSON-safe meta
        assert again.meta == example.meta and np.array_equal(again.edge_index, example.edge_index)


def test_example_without_subgraph_is_flagged():
    record = generate_causal(1, seed=0).records[0]
    example = causal_example(record)
    assert example.num_nodes == 0 and example.meta["flags"] == ["no_linked_entity"]
    assert example.meta["choice_node_index"] == [[], []]


def test_cause_effect_order_reads_every_row_cause_first(tokenizer):
    cause = CausalRecord("1", "The glass broke.", "cause", ("It fell.", "It sang."), 0, "dev.jsonl", 1)
    effect = replace(cause, id="2", premise="It fell.", ask_for="effect", choices=("The glass broke.", "It sang."))
    examples = [causal_example(record, cause_effect_order=True) for record in (cause, effect)]
    assert [e.text for e in examples] == ["The glass broke.", "It fell."]
    assert [e.meta["choice_first"] for e in examples] == [True, False]
    rows = collate(examples, tokenizer=tokenizer, relations=RelationVocabulary("kg", ("Causes",))).input_ids
    first = tokenizer.decode(rows[0], skip_special_tokens=True)
    assert first.startswith("it fell") and first.endswith("the glass broke."), first  # cause, then effect
    assert tokenizer.decode(rows[2], skip_special_tokens=True).startswith("it fell")
    assert "choice_first" not in causal_example(cause).meta and causal_example(cause).text == cause.question
    with pytest.raises(ValueError, match="cause_effect_order"):
        Settings(task="clutrr", cause_effect_order=True)


# --- real files ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_ecare_dev_and_copa():
    skipped = []
    dev = list(read_ecare(dataset("ecare", "Causal_Reasoning", "dev.jsonl"), on_error="skip", skipped=skipped))
    assert len(dev) == 2132 and not skipped  # SOURCE.md: 2,132 questions
    assert sum(r.label for r in dev) == 1066 and sum(r.ask_for == "cause" for r in dev) == 1088
    assert dev[1].id == "dev-1" and dev[1].premise == "Otters enter their new habitat." and dev[1].line == 2
    for name, items in (("copa-dev.xml", 500), ("copa-test.xml", 500), ("copa-dev-keywords.xml", 500)):
        records = list(read_causal(dataset("copa", name)))
        assert len(records) == items and sum(r.label for r in records) == 250  # 250 / 250 labels
        assert sum(r.ask_for == "cause" for r in records) == 250
    balanced = list(read_copa(dataset("copa", "balanced_copa", "balacopa-dev-all.xml")))
    assert len(balanced) == 1000 and sum(r.ask_for == "cause" for r in balanced) == 500
    assert (balanced[1].id, balanced[1].premise, balanced[1].mirror_of) == ("1001", "The garden looked well-groomed.", "1")
    assert {r.mirror_of for r in balanced if r.mirror_of} == {r.id for r in balanced if not r.mirror_of}  # one twin each


def test_a_mirrored_copa_item_names_its_original_as_dev_group():
    mirrored = CausalRecord("1003", "The women were surprised.", "cause", ("a", "b"), 0, "balacopa-dev-all.xml", 9)
    original = replace(mirrored, id="3", premise="The women met for coffee.")
    assert (mirrored.mirror_of, original.mirror_of) == ("3", None)
    assert causal_example(mirrored).meta["dev_group"] == "3"
    assert "dev_group" not in causal_example(original).meta
    assert "dev_group" not in causal_example(replace(mirrored, source="train.jsonl")).meta  # e-CARE ids are not COPA's


# --- writers and odd records -----------------------------------------------------------------------------


def test_writers_round_trip_through_the_readers(tmp_path):
    records = [
        CausalRecord("a&1", 'He said "stop" & <left>.', "cause", ("It rained.", "It was <sunny>."), 1, "x", 1),
        CausalRecord("b", "The glass fell.", "effect", ("It broke.", "It sang."), 0, "x", 2),
    ]
    write_ecare(records, tmp_path / "t.jsonl")
    write_copa(records, tmp_path / "t.xml")
    for path in (tmp_path / "t.jsonl", tmp_path / "t.xml"):
        again = list(read_causal(path))
        assert [(r.id, r.premise, r.ask_for, r.choices, r.label) for r in again] == [
            (r.id, r.premise, r.ask_for, r.choices, r.label) for r in records
        ]


def test_odd_records_are_flagged():
    def record(premise, *choices):
        return CausalRecord("x", premise, "effect", choices, 0, "x", 1)

    assert record("The storm came.", "the storm  came", "A flood.").flags == ["choice_same_as_premise"]
    assert record("The storm came.", "A flood!", "a flood").flags == ["same_choices"]
    assert record("It rained.", "It rained!", "it rained").flags == ["choice_same_as_premise", "same_choices"]
    assert record("The storm came.", "A flood.", "A fire.").flags == []
    example = causal_example(record("The storm came.", "The storm came.", "A fire."))
    assert example.meta["flags"] == ["choice_same_as_premise", "no_linked_entity"]
    assert example.meta["evidence"] == [["no graph evidence"], ["no graph evidence"]]


# --- the causal module: direction ------------------------------------------------------------------------


def test_causal_graph_docstring_examples():
    import doctest

    import kgreason.data.causal_graph as module

    assert doctest.testmod(module).failed == 0


DIRECTED = [
    ("storm", "Causes", "rain"), ("rain", "Causes", "flood"), ("harvest", "HasPrerequisite", "rain"),
    ("drive", "HasFirstSubevent", "start engine"), ("study", "MotivatedByGoal", "pass exam"),
    ("rain", "IsA", "weather"), ("flood", "AtLocation", "city"), ("fire", "Causes", "smoke"),
]  # fmt: skip


@pytest.fixture
def directed():
    kg = KnowledgeGraph.from_triples(DIRECTED)
    return kg, CausalGraph(kg), kg.entities.id


def test_relation_vocabulary_adds_reversed_causal_relations(directed):
    kg, graph, _ = directed
    names = list(kg.relations)
    assert graph.relation_names == (*names, "rev:Causes", "rev:HasPrerequisite", "rev:HasFirstSubevent",
                                    "rev:MotivatedByGoal")
    assert oriented_relations(kg.relations) == graph.relation_names
    for name in ("Causes", "HasPrerequisite", "HasFirstSubevent", "MotivatedByGoal"):
        rel = kg.relations.id(name)
        assert graph.relation_names[graph.reversed_id[rel]] == f"rev:{name}"
        assert graph.orientation[rel] == CAUSAL_RELATIONS[name]
    assert graph.reversed_id[kg.relations.id("IsA")] == -1 and graph.orientation[kg.relations.id("IsA")] == 0
    assert graph.num_causal_triples == 6
    with pytest.raises(ValueError, match=r"\+1 or -1"):
        CausalGraph(kg, {"Causes": 2})


@pytest.mark.parametrize(
    ("premise", "choices", "ask_for", "expected"),
    [
        ("storm", ["flood", "smoke"], "effect", ["storm —Causes→ rain —Causes→ flood"]),
        ("flood", ["storm", "smoke"], "effect", []),  # storm is a cause of flood, not an effect
        ("flood", ["storm", "smoke"], "cause", ["storm —Causes→ rain —Causes→ flood"]),  # hypothesis → premise
        ("rain", ["harvest", "fire"], "effect", ["rain ←HasPrerequisite— harvest"]),  # harvest needs rain
        ("harvest", ["rain", "fire"], "cause", ["rain ←HasPrerequisite— harvest"]),
        ("harvest", ["rain", "fire"], "effect", []),
        ("start engine", ["drive", "fire"], "effect", ["start engine ←HasFirstSubevent— drive"]),
        ("study", ["pass exam", "fire"], "cause", ["pass exam ←MotivatedByGoal— study"]),
        ("weather", ["flood", "fire"], "effect", []),  # IsA is no causal step
    ],
)  # fmt: skip
def test_evidence_paths_run_in_the_asked_direction(directed, premise, choices, ask_for, expected):
    kg, graph, ids = directed
    paths = graph.paths([ids(premise)], [[ids(c)] for c in choices], ask_for=ask_for)
    assert [p.text for p in paths] == expected and all(p.choice == 0 for p in paths)
    for path in paths:  # cause first: the premise ends a cause question's path, starts an effect question's
        assert kg.entities[path.nodes[-1 if ask_for == "cause" else 0]] == premise
        assert len(path.triples) == len(path.nodes) - 1


def test_path_limits_and_choices_that_repeat_the_premise(directed):
    _, graph, ids = directed
    assert graph.paths([ids("storm")], [[ids("flood")]], ask_for="effect", max_length=1) == []
    assert graph.paths([ids("storm")], [[ids("storm")], [ids("rain")]], ask_for="effect")[0].choice == 1
    both = graph.paths([ids("storm")], [[ids("rain"), ids("flood")]], ask_for="effect", max_paths=1)
    assert [p.text for p in both] == ["storm —Causes→ rain"]
    assert graph.paths([], [[ids("rain")]], ask_for="effect") == []
    with pytest.raises(ValueError, match="ask_for"):
        graph.paths([ids("storm")], [[ids("rain")]], ask_for="why")
    with pytest.raises(ValueError, match="outside the graph"):
        graph.paths([99], [[ids("rain")]], ask_for="effect")


@pytest.mark.parametrize("ask_for", ["cause", "effect"])
def test_subgraph_edges_point_along_the_question(directed, ask_for):
    kg, graph, ids = directed
    premise, answer = ("storm", "flood") if ask_for == "effect" else ("flood", "storm")
    sub = graph.retrieve([ids(premise)], [[ids(answer)], [ids("smoke")]], ask_for=ask_for, hops=2)
    assert sub.flags == () and len(sub.paths) == 1
    local = {int(n): i for i, n in enumerate(sub.node_ids)}
    edges = {(int(s), int(t)): graph.relation_names[r] for (s, t), r in zip(sub.edge_index.T, sub.edge_type)}
    walk = [local[ids(name)] for name in ([premise, "rain", answer])]
    expected = "Causes" if ask_for == "effect" else "rev:Causes"  # the relation says which way the question runs
    assert [edges[step] for step in zip(walk, walk[1:])] == [expected, expected]
    for (s, t), name in edges.items():  # every edge is a triple of the KG, forwards or turned
        head, tail = kg.entities[int(sub.node_ids[s])], kg.entities[int(sub.node_ids[t])]
        relation = name.removeprefix("rev:")
        stored = (tail, relation, head) if name.startswith("rev:") else (head, relation, tail)
        assert stored in DIRECTED
    flagged = graph.retrieve([], [[ids("rain")], [ids("smoke")]], ask_for=ask_for)
    assert set(flagged.flags) == {"premise_not_linked", "no_causal_path"} and flagged.num_nodes >= 2


def test_evidence_in_words_says_when_there_is_none(directed):
    _, graph, ids = directed
    record = CausalRecord("r", "There was storm.", "effect", ("Then flood.", "Then smoke."), 0, "x", 1)
    sub = graph.retrieve([ids("storm")], [[ids("flood")], [ids("smoke")]], ask_for="effect")
    example = causal_example(record, sub)
    assert example.meta["evidence"] == [["storm —Causes→ rain —Causes→ flood"], ["no graph evidence"]]
    assert evidence_in_words(example.meta, 1) == [NO_EVIDENCE] and example.meta["evidence_choices"] == [0]
    assert "no_causal_path" not in example.meta["flags"]


def test_event_graph_grows_from_training_pairs_and_joins_the_store(tmp_path):
    import spacy

    from kgreason.kg.ingest import ingest
    from kgreason.kg.linking import KGLinker  # noqa: F401 - registers the factory

    generated = generate_causal(30, seed=1)
    kg = generated.knowledge_graph()
    nlp = spacy.blank("en")
    nlp.add_pipe("kg_linker").set_graph(kg)
    triples = event_triples(generated.records, nlp)
    counts = {(head, tail): weight for head, relation, tail, weight in triples}
    assert {relation for _, relation, _, _ in triples} == {EVENT_RELATION}
    assert {(chain[0], chain[-1]) for chain in generated.chains} == set(counts)  # cause concept -> effect concept
    assert [w for w in counts.values()] == sorted(counts.values(), reverse=True) and sum(counts.values()) == 30
    assert all(w >= 2 for _, _, _, w in event_triples(generated.records, nlp, min_count=2))
    held_out = [replace(generated.records[0], source="data/dev.jsonl")]
    with pytest.raises(ValueError, match="never from dev or test"):
        event_triples(held_out, nlp)

    kg.save(tmp_path / "store")
    ingest([write_event_graph(triples, tmp_path / "events.tsv")], tmp_path / "store", format="conceptnet")
    grown = KnowledgeGraph.load(tmp_path / "store")
    assert grown.num_triples == kg.num_triples + len(triples) and "rev:CausesEvent" in oriented_relations(grown.relations)
    record, chain = next((r, c) for r, c in zip(generated.records, generated.chains) if len(c) == 3)  # 2 steps in the KG
    given, answer = (chain[0], chain[-1]) if record.ask_for == "effect" else (chain[-1], chain[0])
    ids = grown.entities.id
    paths = CausalGraph(grown).paths([ids(given)], [[ids(answer)]], ask_for=record.ask_for)
    assert paths[0].text == f"{chain[0]} —CausesEvent→ {chain[-1]}"  # 1 step through the event graph
