"""The causal tasks as a user meets them with odd input: a model's KG store saved as an absolute path with a
fingerprint checked on load; the event graph builder skips malformed records; readers' hints fit the error; an unknown
extension is a clear error; a byte-order mark is read; e-CARE's explanation is kept; the answer carries its
causal evidence; repeated choices keep one score each."""

from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import contextmanager

import numpy as np
import pytest
from click.testing import CliRunner
from test_causal_run import run_pipeline_tiny

from kgreason.data.causal import (
    CausalRecord,
    CausalRecordError,
    causal_example,
    generate_causal,
    read_causal,
    read_copa,
    read_ecare,
    write_ecare,
)
from kgreason.data.causal_graph import NO_EVIDENCE, CausalGraph, build_event_graph
from kgreason.kg import KnowledgeGraph
from kgreason.kg.errors import TaskInputError
from kgreason.pipelines.bundle import BundleError, load_bundle, store_fingerprint
from kgreason.pipelines.cli import main
from kgreason.pipelines.evidence import build_evidence
from kgreason.pipelines.qa import GraphQA, score_keys

ECARE = {"index": "train-1", "premise": "It rained.", "ask-for": "effect", "hypothesis1": "The grass got wet.",
         "hypothesis2": "The sun shone.", "label": 0}
QUESTION = "There was storm in the town. What happened as a result?"
CHOICES = ["Then there was flood.", "People saw cough."]
OTHER_KG = KnowledgeGraph.from_triples([("storm", "Causes", "rain")])


@contextmanager
def working_directory(path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def run(tokenizer, tmp_path_factory):
    """An e-CARE run on generated data whose store was given relative to the directory it ran in."""
    base = tmp_path_factory.mktemp("relative")
    with working_directory(base):
        return run_pipeline_tiny("ecare", "generated", base / "run", tokenizer, store="run/data/kg")


@pytest.fixture(scope="module")
def qa(run):
    return GraphQA.from_pretrained(run.out, device="cpu")


def lines(path, *records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


# --- 1: the store in the bundle -----------------------------------------------------------------------------


def test_the_bundle_keeps_the_store_absolute_with_its_fingerprint(run, tmp_path):
    store = run.out / "data" / "kg"
    info = json.loads((run.model_dir / "bundle.json").read_text())
    assert info["settings"]["store"] == str(store.resolve())
    assert info["store_fingerprint"] == store_fingerprint(store)
    assert set(info["store_fingerprint"]) == {"entities", "relations", "triples", "digest"}
    with working_directory(tmp_path):  # elsewhere, where no "run/data/kg" is
        assert GraphQA.from_pretrained(run.out, device="cpu")(QUESTION, choices=CHOICES).label in CHOICES


def test_a_moved_or_changed_store_is_a_clear_error_and_old_bundles_still_load(run, tmp_path):
    model, moved = tmp_path / "model", tmp_path / "moved-kg"
    shutil.copytree(run.model_dir, model)
    shutil.copytree(run.out / "data" / "kg", moved)
    info = json.loads((model / "bundle.json").read_text())

    def with_settings(**changes):
        (model / "bundle.json").write_text(json.dumps({**info, "settings": {**info["settings"], **changes}}))

    with_settings(store=str(moved))
    assert load_bundle(model).settings.store == str(moved)  # the same store, moved: bundle.json says where
    OTHER_KG.save(moved)
    with pytest.raises(BundleError, match="is not the one the model was trained with: expected entities") as caught:
        load_bundle(model)
    assert f"{moved}" in str(caught.value) and "found entities" in str(caught.value)
    assert "settings.store" in caught.value.hint
    shutil.rmtree(moved)
    with pytest.raises(BundleError, match="there is no kgreason store there") as caught:
        GraphQA.from_pretrained(model, device="cpu")
    assert "put the store back" in caught.value.hint
    assert load_bundle(model, check_store=False).settings.store == str(moved)  # a warm start needs no store
    OTHER_KG.save(moved)
    del info["store_fingerprint"]  # a bundle saved before fingerprints: loads with any store there
    with_settings(store=str(moved))
    assert load_bundle(model).settings.store == str(moved)
    with_settings(store="moved-kg")
    with pytest.raises(BundleError, match=r"moved-kg \(a relative path, read from .*\), and there is no kgreason"):
        load_bundle(model)
    with working_directory(tmp_path):
        load_bundle(model)


# --- 7, 8: the answer's causal evidence, repeated choices ----------------------------------------------------


def test_the_answer_carries_each_choices_causal_evidence(qa, run, tmp_path):
    answer = qa(QUESTION, choices=CHOICES)
    evidence = answer.evidence
    assert evidence.causal_evidence == [["storm —Causes→ rain —Causes→ flood"], [NO_EVIDENCE]]
    assert evidence.choice == CHOICES.index(answer.label)
    assert evidence.answer_causal_evidence == evidence.causal_evidence[evidence.choice]
    (path,), () = evidence.causal_paths
    assert (path.choice, path.length) == (0, 2) and 0 <= path.weight <= 1  # weighted in choice 0's graph
    as_json = answer.to_dict()["evidence"]
    assert as_json["causal_evidence"] == evidence.causal_evidence and as_json["choice"] == evidence.choice
    assert as_json["causal_paths"][0][0]["text"] == path.text and as_json["causal_paths"][1] == []
    assert as_json["answer_causal_evidence"] == evidence.answer_causal_evidence
    assert evidence.causal_rows() == [(0, path.text, path.weight), (1, NO_EVIDENCE, None)]
    assert "<h2>Causal evidence</h2>" in evidence.to_html(tmp_path / "why.html").read_text()
    result = CliRunner().invoke(main, ["explain", "--model", str(run.out), QUESTION, "--choice", CHOICES[0],
                                       "--choice", CHOICES[1], "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["evidence"]["causal_evidence"][1] == [NO_EVIDENCE]
    printed = CliRunner().invoke(main, ["explain", "--model", str(run.out), QUESTION, "--choice", CHOICES[0],
                                        "--choice", CHOICES[1], "--device", "cpu"])
    assert printed.exit_code == 0, printed.output
    assert "causal evidence" in printed.output and "storm —Causes→ rain —Causes→ flood" in printed.output
    assert NO_EVIDENCE in printed.output and "no path joins" not in printed.output
    unexplained = qa(QUESTION, choices=["People saw cough.", "There was joke."]).evidence
    assert unexplained.answer_causal_evidence == [NO_EVIDENCE]


def test_causal_paths_are_ranked_by_the_choices_edge_importances():
    kg = KnowledgeGraph.from_triples([("storm", "Causes", "rain"), ("rain", "Causes", "flood"),
                                      ("storm", "Causes", "wind"), ("wind", "Causes", "flood")])
    graph, ids = CausalGraph(kg), kg.entities.id
    record = CausalRecord("q", "There was storm.", "effect", ("A flood came.", "Nothing."), 0, "q.jsonl", 1)
    example = causal_example(record, graph.retrieve([ids("storm")], [[ids("flood")], []], ask_for="effect"))
    unweighted = build_evidence(example, relation_names=graph.relation_names).causal_paths[0]
    assert [p.text for p in unweighted] == ["storm —Causes→ rain —Causes→ flood",
                                            "storm —Causes→ wind —Causes→ flood"]  # retrieval's order
    assert [p.weight for p in unweighted] == [None, None]
    local = example.node_ids.tolist()
    through_rain = np.array([float(ids("rain") in (local[s], local[t])) for s, t in example.edge_index.T.tolist()])
    importance = [0.9 - 0.8 * through_rain, np.ones(example.num_edges)]
    evidence = build_evidence(example, relation_names=graph.relation_names, choice=0,
                              choice_edge_importance=importance)
    wind, rain = evidence.causal_paths[0]
    assert wind.text.startswith("storm —Causes→ wind") and wind.weight == pytest.approx(0.9)
    assert rain.weight == pytest.approx(0.1)
    assert evidence.causal_evidence[1] == [NO_EVIDENCE]


def test_repeated_choices_keep_one_score_each(qa):
    assert score_keys(["A.", "B.", "A.", "A."]) == ["A.", "B.", "A. [choice 3]", "A. [choice 4]"]
    answer = qa("The fire burned. What happened as a result?", choices=["There was smoke.", "There was smoke."])
    assert list(answer.scores) == ["There was smoke.", "There was smoke. [choice 2]"]
    assert sum(answer.scores.values()) == pytest.approx(1) and answer.label == "There was smoke."
    distinct = qa(QUESTION, choices=CHOICES)
    assert list(distinct.scores) == CHOICES  # distinct choices keep their plain texts as keys


# --- 2, 3: the event graph builder and the readers' hints ------------------------------------------------------


def test_the_event_graph_builder_skips_and_lists_malformed_records(tmp_path):
    import spacy

    from kgreason.kg.linking import KGLinker  # noqa: F401 - registers the factory

    generated = generate_causal(12, seed=2)
    nlp = spacy.blank("en")
    nlp.add_pipe("kg_linker").set_graph(generated.knowledge_graph())
    write_ecare(generated.records, tmp_path / "good.jsonl")
    train = lines(tmp_path / "train.jsonl", *(tmp_path / "good.jsonl").read_text().splitlines()[:6],
                  '{"index": "cut", "premise": ', {**ECARE, "label": 2},
                  *(tmp_path / "good.jsonl").read_text().splitlines()[6:])
    summary = build_event_graph(train, tmp_path / "events.tsv", nlp)
    assert (summary.records, len(summary.errors)) == (12, 2)
    assert summary.errors[0].startswith(f"{train}:7: not a JSON object")
    assert summary.errors[1] == f"{train}:8: field 'label': expected 0 or 1 (the index of the right hypothesis), got 2"
    assert summary.triples == len((tmp_path / "events.tsv").read_text().splitlines()) > 0
    bad = lines(tmp_path / "bad.jsonl", "not json", {**ECARE, "ask-for": "why"})
    with pytest.raises(TaskInputError, match=r"bad.jsonl: no readable record, 2 malformed \(the first: .*bad.jsonl:1"):
        build_event_graph(bad, tmp_path / "none.tsv", nlp)
    assert not (tmp_path / "none.tsv").exists()


def test_hints_fit_the_error(tmp_path):
    with pytest.raises(CausalRecordError) as record:
        list(read_ecare(lines(tmp_path / "a.jsonl", {**ECARE, "label": 5})))
    assert record.value.hint == "fix or remove that record" and "on_error" not in str(record.value)
    (tmp_path / "b.jsonl").write_bytes(b'{"index": "caf\xe9"}\n')
    with pytest.raises(CausalRecordError, match="not UTF-8") as encoding:
        list(read_ecare(tmp_path / "b.jsonl"))
    assert "save the file as UTF-8" in encoding.value.hint
    (tmp_path / "c.xml").write_text("<copa-corpus>\n<item id='1'><p>x</p></itm>\n</copa-corpus>\n")
    with pytest.raises(CausalRecordError, match="not well-formed XML") as syntax:
        list(read_copa(tmp_path / "c.xml", on_error="skip"))
    assert "fix the file's XML syntax" in syntax.value.hint and "on_error" not in str(syntax.value)


def test_the_event_memory_logs_skipped_records_without_hints(tmp_path, monkeypatch, caplog):
    from kgreason.data import event_memory

    monkeypatch.setattr(event_memory, "SentenceEncoder", lambda name: lambda texts: np.ones((len(texts), 3)))
    train = lines(tmp_path / "train.jsonl", ECARE, {**ECARE, "index": "x", "premise": ""})
    with caplog.at_level(logging.WARNING, logger=event_memory.__name__):
        event_memory.build_event_memory(train, tmp_path / "memory.npz", encoder="toy")
    assert caplog.messages == [f"skipped {train}:2: field 'premise': expected a non-empty string, got ''"]


# --- 4, 5, 6: extensions, byte-order marks, explanations ------------------------------------------------------


def test_an_unknown_extension_names_the_file_and_the_formats(tmp_path):
    path = lines(tmp_path / "dev3.txt", ECARE)
    with pytest.raises(TaskInputError, match=r"dev3.txt: a causal task reads e-CARE JSON lines \(.jsonl\) or COPA "
                                             r"XML \(.xml\); this file has the extension '.txt'") as caught:
        read_causal(path)
    assert "rename the file" in caught.value.hint
    with pytest.raises(TaskInputError, match="this file has no extension"):
        read_causal(tmp_path / "dev3")
    OTHER_KG.save(tmp_path / "store")
    result = CliRunner().invoke(main, ["preprocess", "--task", "ecare", "--input", str(path), "--output",
                                       str(tmp_path / "cache"), "--store", str(tmp_path / "store"), "--nlp", "blank"])
    assert result.exit_code == 2 and "error: [DATA001]" in result.output and "dev3.txt" in result.output


def test_a_byte_order_mark_does_not_cost_the_first_record(tmp_path):
    ecare = tmp_path / "bom.jsonl"
    ecare.write_bytes(b"\xef\xbb\xbf" + lines(tmp_path / "plain.jsonl", ECARE, {**ECARE, "index": "2"}).read_bytes())
    skipped = []
    assert [(r.id, r.line) for r in read_causal(ecare, on_error="skip", skipped=skipped)] == [("train-1", 1), ("2", 2)]
    assert skipped == []
    copa = tmp_path / "bom.xml"
    copa.write_bytes(b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n<copa-corpus>\n<item id="1" asks-for='
                     b'"cause" most-plausible-alternative="1"><p>A.</p><a1>B.</a1><a2>C.</a2></item>\n</copa-corpus>\n')
    assert [r.id for r in read_causal(copa)] == ["1"]


def test_ecare_explanations_are_kept_and_models_read_the_same(tmp_path):
    explained = {**ECARE, "conceptual_explanation": " Rain wets what it falls on. "}
    path = lines(tmp_path / "dev_full.jsonl", explained, ECARE)
    with_it, without = read_ecare(path)
    assert with_it.explanation == "Rain wets what it falls on." and without.explanation is None
    write_ecare([with_it, without], tmp_path / "again.jsonl")
    assert [r.explanation for r in read_ecare(tmp_path / "again.jsonl")] == [with_it.explanation, None]
    one, other = causal_example(with_it), causal_example(without)
    assert (one.text, one.choices, one.label) == (other.text, other.choices, other.label)
    assert {**one.meta, "line": 0} == {**other.meta, "line": 0}
    with pytest.raises(CausalRecordError, match="field 'conceptual_explanation': expected a string"):
        list(read_ecare(lines(tmp_path / "bad.jsonl", {**ECARE, "conceptual_explanation": 3})))
