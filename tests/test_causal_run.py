"""The causal tasks end to end on generated data (tiny random transformer, spacy.blank): `run_pipeline("ecare",
"generated")` writes the set and its KG store, preprocesses with oriented causal edges, trains one epoch, reports
accuracy by ask-for and evidence, saves a model that GraphQA loads to answer a causal question with choices;
`kgreason train --task copa --data generated` does the same from the command line; bad files fail or count."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_fusion import tiny_text_encoder
from test_run import TRAINING

from kgreason.data.causal import generate_causal, write_ecare
from kgreason.data.causal_graph import NO_EVIDENCE, oriented_relations
from kgreason.data.shards import ShardCache
from kgreason.kg import KnowledgeGraph
from kgreason.kg.store import Store
from kgreason.pipelines.cli import main
from kgreason.pipelines.qa import GraphQA
from kgreason.pipelines.run import generate_task_files, run_pipeline

SMALL = {"train_size": 40, "test_size": 12}


@pytest.fixture(scope="module")
def ecare_run(tokenizer, tmp_path_factory):
    out = tmp_path_factory.mktemp("ecare")
    return run_pipeline_tiny("ecare", "generated", out, tokenizer)


def run_pipeline_tiny(task, data, out, tokenizer, *, store=None):
    """A late-fusion R-GCN run with a tiny transformer, one epoch."""
    return run_pipeline(task, data, out=out, text_encoder=tiny_text_encoder(tokenizer), tokenizer=tokenizer,
                        fusion="late", graph_encoder="rgcn", model_kwargs={"graph_hidden_size": 16},
                        preprocess_kwargs={"nlp": "blank", **({"store": str(store)} if store else {})}, workers=1,
                        generate_kwargs=SMALL if data == "generated" else None, training_kwargs=TRAINING)


def test_generated_causal_files_come_with_their_store(tmp_path):
    files = generate_task_files("ecare", tmp_path / "e", **SMALL)
    assert files.train.name == "train.jsonl" and list(files.tests) == ["test"] and Store(files.store).exists
    assert KnowledgeGraph.load(files.store).same_statements(generate_causal(0).knowledge_graph())
    assert len(files.train.read_text().splitlines()) == 40
    again = generate_task_files("ecare", tmp_path / "e", **SMALL)  # kept
    assert again.train.read_bytes() == files.train.read_bytes()
    copa = generate_task_files("copa", tmp_path / "c", **SMALL)
    assert copa.tests["test"].suffix == ".xml" and copa.tests["test"].read_text().count("<item ") == 12


def test_ecare_run_reports_by_ask_for_and_evidence(ecare_run):
    report = ecare_run.tests["test"]
    assert report["n"] == 12 and 0 <= report["accuracy"] <= 1
    groups = report["groups"]
    assert set(groups["ask_for"]) <= {"cause", "effect"} and sum(g["n"] for g in groups["ask_for"].values()) == 12
    assert set(groups["evidence"]) <= {"right", "wrong", "both", "none"}
    assert groups["evidence"].get("right", {}).get("n", 0) >= 10  # generated: the right answer has a causal chain
    results = json.loads(ecare_run.results_file.read_text())
    assert results["preprocessing"]["train"]["records"] == 40 and results["preprocessing"]["train"]["errors"] == []
    assert results["fusion_config"]["multiple_choice"] is True
    kg = KnowledgeGraph.load(ecare_run.out / "data" / "kg")
    assert results["fusion_config"]["num_relations"] == len(oriented_relations(kg.relations))
    lines = [json.loads(line) for line in (ecare_run.out / "predictions" / "test.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and {line["ask_for"] for line in lines} <= {"cause", "effect"}
    bundle = json.loads((ecare_run.model_dir / "bundle.json").read_text())
    assert bundle["settings"]["store"] == str((ecare_run.out / "data" / "kg").resolve())


def test_graphqa_answers_a_causal_question_like_the_run(ecare_run):
    qa = GraphQA.from_pretrained(ecare_run.out, device="cpu")
    records = generate_causal(SMALL["test_size"], seed=100).records  # the generated test set (seed 0 * 1000 + 100)
    answers = list(qa.pipe([{"question": r.question, "choices": list(r.choices)} for r in records]))
    predictions = [json.loads(line) for line in (ecare_run.out / "predictions" / "test.jsonl").read_text().splitlines()]
    for record, answer, prediction in zip(records, answers, predictions):
        assert answer.label == record.choices[prediction["predicted"]]
        assert list(answer.scores.values()) == pytest.approx(prediction["scores"], abs=1e-5)
    # the question goes through the task's own build: the same oriented edges and evidence as preprocessing
    cache = json.loads(ecare_run.results_file.read_text())["preprocessing"]["test"]["cache_dir"]
    cached = list(ShardCache(cache).examples())
    prepared = qa.prepare([{"question": r.question, "choices": list(r.choices)} for r in records])
    for one, other in zip(cached, prepared):
        assert np.array_equal(one.edge_index, other.edge_index) and np.array_equal(one.edge_type, other.edge_type)
        assert one.meta["paths"] == other.meta["paths"] and one.meta["evidence"] == other.meta["evidence"]
    example = qa.prepare([{"question": "There was storm in the town. What happened as a result?",
                           "choices": ["Then there was flood.", "People saw cough."]}])[0]
    assert example.meta["ask_for"] == "effect" and example.meta["evidence_choices"] == [0]
    assert example.meta["evidence"] == [["storm —Causes→ rain —Causes→ flood"], [NO_EVIDENCE]]
    cause = qa.prepare([{"question": "Then there was flood. What was the cause of this?",
                         "choices": ["There was storm.", "Everyone talked about the joke."]}])[0]
    assert cause.meta["evidence"][0] == ["storm —Causes→ rain —Causes→ flood"]  # hypothesis → premise
    reversed_ids = {qa.bundle.relations.id("rev:Causes")}
    assert reversed_ids <= set(cause.edge_type.tolist()) and not reversed_ids & set(example.edge_type.tolist())
    answer = qa("There was storm in the town. What happened as a result?",
                choices=["Then there was flood.", "People saw cough."])
    assert answer.label in answer.scores and sum(answer.scores.values()) == pytest.approx(1)


def test_train_command_on_generated_copa(tokenizer, tmp_path):
    model_dir = tmp_path / "tiny-bert"
    tiny_text_encoder(tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(str(model_dir))
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "train", "--task", "copa", "--data", "generated", "--out", str(out), "--fusion", "late", "--graph-encoder",
        "rgcn", "--text-encoder", str(model_dir), "--nlp", "blank", "--epochs", "1", "--batch-size", "8",
        "--workers", "1", "--limit", "24", "--device", "cpu", "-q",
    ])
    assert result.exit_code == 0, result.output
    assert "test" in result.output and "accuracy" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["train"].endswith("train.xml") and results["tests"]["test"]["n"] == 24
    assert set(results["tests"]["test"]["groups"]) == {"ask_for", "evidence"}


def test_odd_records_are_flagged_and_counted_and_broken_xml_names_its_line(tokenizer, tmp_path):
    generated = generate_causal(30, seed=5)
    data = tmp_path / "data"
    data.mkdir()
    odd = [
        json.dumps({"index": "same", "premise": "The storm came.", "ask-for": "effect", "hypothesis1": "the storm came",
                    "hypothesis2": "The flood came.", "label": 1}),
        json.dumps({"index": "unlinked", "premise": "Nobody knew.", "ask-for": "cause", "hypothesis1": "There was fire.",
                    "hypothesis2": "There was joke.", "label": 0}),
        '{"index": "cut", "premise": "The rain',
    ]
    write_ecare(generated.records, data / "train.jsonl")
    with open(data / "train.jsonl", "a", encoding="utf-8") as out:
        out.write("\n".join(odd) + "\n")
    generated.knowledge_graph().save(tmp_path / "store")
    result = run_pipeline_tiny("ecare", data, tmp_path / "run", tokenizer, store=tmp_path / "store")
    summary = result.preprocessing["train"]
    assert summary["records"] == 32 and len(summary["errors"]) == 1
    assert summary["errors"][0].startswith(f"{data / 'train.jsonl'}:33: not a JSON object")
    flags = summary["flags"]
    assert flags["choice_same_as_premise"] == 1 and flags["premise_not_linked"] == 1 and flags["no_causal_path"] >= 1

    (data / "test.xml").write_text('<copa-corpus>\n<item id="1" asks-for="cause" most-plausible-alternative="1">\n'
                                   "<p>x</p><a1>y</a1><a2>z</a2>\n</itm>\n</copa-corpus>\n")
    (data / "train.jsonl").unlink()
    (data / "train.xml").write_text((data / "test.xml").read_text().replace("</itm>", "</item>"))
    runner = CliRunner()
    failed = runner.invoke(main, ["train", "--task", "copa", "--data", str(data), "--out", str(tmp_path / "copa"),
                                  "--nlp", "blank", "--store", str(tmp_path / "store"), "--workers", "1", "-q"])
    assert failed.exit_code == 2 and f"{data / 'test.xml'}:4" in failed.output and "mismatched tag" in failed.output


def test_accuracy_by_evidence_tells_which_choices_have_a_path():
    from kgreason.pipelines.evaluation import accuracy_report

    def prediction(label, predicted, with_path, ask_for="effect"):
        return {"label": label, "prediction": predicted, "scores": [0.5, 0.5],
                "meta": {"ask_for": ask_for, "evidence_choices": with_path}}

    report = accuracy_report([prediction(0, 0, [0]), prediction(1, 0, [0]), prediction(0, 0, [0, 1], "cause"),
                              prediction(1, 1, []), prediction(1, 1, [1])], task="copa")
    assert {value: group["n"] for value, group in report["groups"]["evidence"].items()} == {
        "both": 1, "none": 1, "right": 2, "wrong": 1}
    assert report["groups"]["evidence"]["wrong"]["accuracy"] == 0.0
    assert report["groups"]["ask_for"]["cause"] == {"accuracy": 1.0, "n": 1}
