"""The causal tasks end to end on generated data (tiny random transformer, spacy.blank): `run_pipeline("ecare",
"generated")` writes the set and its KG store, preprocesses with oriented causal edges, trains one epoch, reports
accuracy by ask-for and evidence, saves a model that GraphQA loads to answer a causal question with choices;
`kgreason train --task copa --data generated` does the same from the command line; bad files fail or count;
several training files are joined, a run can start from a trained model, Balanced COPA's mirrored items are
reported apart."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from test_fusion import tiny_text_encoder
from test_run import TRAINING

from kgreason.data.causal import generate_causal, write_copa, write_ecare
from kgreason.data.causal_graph import NO_EVIDENCE, oriented_relations
from kgreason.data.shards import ShardCache
from kgreason.kg import KnowledgeGraph
from kgreason.kg.store import Store
from kgreason.pipelines.cli import main
from kgreason.pipelines.qa import GraphQA
from kgreason.kg.errors import TaskInputError
from kgreason.pipelines.run import choose_task_files, generate_task_files, run_pipeline

SMALL = {"train_size": 40, "test_size": 12}


@pytest.fixture(scope="module")
def ecare_run(tokenizer, tmp_path_factory):
    out = tmp_path_factory.mktemp("ecare")
    return run_pipeline_tiny("ecare", "generated", out, tokenizer)


def run_pipeline_tiny(task, data, out, tokenizer, *, store=None, **options):
    """A late-fusion R-GCN run with a tiny transformer, one epoch (`options`: more `run_pipeline` arguments)."""
    return run_pipeline(task, data, out=out, text_encoder=tiny_text_encoder(tokenizer), tokenizer=tokenizer,
                        fusion="late", graph_encoder="rgcn", model_kwargs={"graph_hidden_size": 16},
                        preprocess_kwargs={"nlp": "blank", **({"store": str(store)} if store else {})}, workers=1,
                        generate_kwargs=SMALL if data == "generated" else None, training_kwargs=TRAINING, **options)


def test_generated_causal_files_come_with_their_store(tmp_path):
    files = generate_task_files("ecare", tmp_path / "e", **SMALL)
    assert files.train[0].name == "train.jsonl" and list(files.tests) == ["test"] and Store(files.store).exists
    assert KnowledgeGraph.load(files.store).same_statements(generate_causal(0).knowledge_graph())
    assert len(files.train[0].read_text().splitlines()) == 40
    again = generate_task_files("ecare", tmp_path / "e", **SMALL)  # kept
    assert again.train[0].read_bytes() == files.train[0].read_bytes()
    copa = generate_task_files("copa", tmp_path / "c", **SMALL)
    assert copa.tests["test"].suffix == ".xml" and copa.tests["test"].read_text().count("<item ") == 12


def test_ecare_run_reports_by_ask_for_and_evidence(ecare_run):
    report = ecare_run.tests["test"]
    assert report["n"] == 12 and 0 <= report["accuracy"] <= 1
    groups = report["groups"]
    assert set(groups["ask_for"]) <= {"cause", "effect"} and sum(g["n"] for g in groups["ask_for"].values()) == 12
    assert set(groups["evidence"]) <= {"right", "wrong", "both", "none"}
    assert groups["evidence"].get("right", {}).get("n", 0) >= 10  # generated: the right answer has a causal chain
    assert "copa_item" not in groups  # e-CARE has no mirrored items
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


@pytest.mark.parametrize("order", [[], ["--cause-effect-order"]])
def test_train_command_on_generated_copa(tokenizer, tmp_path, order):
    model_dir = tmp_path / "tiny-bert"
    tiny_text_encoder(tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(str(model_dir))
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "train", "--task", "copa", "--data", "generated", "--out", str(out), "--fusion", "late", "--graph-encoder",
        "rgcn", "--text-encoder", str(model_dir), "--nlp", "blank", "--epochs", "1", "--batch-size", "8",
        "--workers", "1", "--limit", "24", "--device", "cpu", "-q", *order,
    ])
    assert result.exit_code == 0, result.output
    assert "test" in result.output and "accuracy" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["preprocess_settings"]["cause_effect_order"] is bool(order)
    assert results["data"]["train"].endswith("train.xml") and results["tests"]["test"]["n"] == 24
    assert set(results["tests"]["test"]["groups"]) == {"ask_for", "evidence", "copa_item"}
    assert set(results["tests"]["test"]["groups"]["copa_item"]) == {"original"}


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


def balanced_copa_file(path, size):
    """A Balanced-COPA-like file: `size` original items (ids 1..) and as many mirrored ones (ids 1001..)."""
    records = generate_causal(2 * size, seed=7).records
    write_copa([replace(r, id=str(i + 1 if i < size else 1001 + i - size)) for i, r in enumerate(records)], path)
    return path


def test_copa_trains_on_ecare_and_copa_files_joined_and_reports_mirrored_items(tokenizer, tmp_path):
    ecare = generate_task_files("ecare", tmp_path / "e", **SMALL)
    copa = generate_task_files("copa", tmp_path / "c", seed=1, **SMALL)
    balanced = balanced_copa_file(tmp_path / "balanced-dev.xml", 6)
    files = choose_task_files(None, train=(ecare.train[0], copa.train[0]), dev=copa.tests["test"], tests=(balanced,))
    result = run_pipeline_tiny("copa", files, tmp_path / "run", tokenizer, store=ecare.store)
    results = json.loads(result.results_file.read_text())
    assert result.training["train_examples"] == 80 and result.training["dev_examples"] == 12  # both files, whole
    assert results["preprocessing"]["train"]["records"] == 40
    assert results["preprocessing"]["train (train.xml)"]["records"] == 40
    assert results["data"]["train"] == f"{ecare.train[0]}, {copa.train[0]}"
    items = result.tests["balanced-dev"]["groups"]["copa_item"]
    assert {value: group["n"] for value, group in items.items()} == {"mirrored": 6, "original": 6}


def test_choose_task_files_replaces_the_folders_files(tmp_path):
    ecare = generate_task_files("ecare", tmp_path / "e", **SMALL)
    folder = choose_task_files(tmp_path / "e")
    assert folder.train == (ecare.train[0],) and list(folder.tests) == ["test"]
    chosen = choose_task_files(tmp_path / "e", dev=ecare.tests["test"], tests=(ecare.train[0],))
    assert chosen.train == (ecare.train[0],) and chosen.dev == ecare.tests["test"] and list(chosen.tests) == ["train"]
    with pytest.raises(TaskInputError, match="missing.jsonl: no such file"):
        choose_task_files(None, train=(tmp_path / "missing.jsonl",))
    with pytest.raises(TaskInputError, match="given twice as a test file"):
        choose_task_files(None, tests=(ecare.tests["test"], ecare.tests["test"]))
    copa = generate_task_files("copa", tmp_path / "c", **SMALL)  # two files named "test": the second by its folder
    assert list(choose_task_files(None, tests=(ecare.tests["test"], copa.tests["test"])).tests) == ["test", "c-test"]


def test_a_copa_run_starts_from_the_ecare_model(ecare_run, tokenizer, tmp_path):
    from safetensors.torch import load_file

    copa = generate_task_files("copa", tmp_path / "c", seed=1, **SMALL)
    files = choose_task_files(None, train=(copa.train[0],), tests=(copa.tests["test"],))
    store = {"nlp": "blank", "store": str(ecare_run.out / "data" / "kg")}
    frozen = {**TRAINING, "lr_text": 0.0, "lr_graph": 0.0}  # no update: the weights stay the e-CARE model's
    result = run_pipeline("copa", files, out=tmp_path / "warm", init_from=ecare_run.out, preprocess_kwargs=store,
                          workers=1, training_kwargs=frozen)
    before, after = (load_file(str(d / "model.safetensors")) for d in (ecare_run.model_dir, result.model_dir))
    assert before.keys() == after.keys() and all((before[k] == after[k]).all() for k in before)
    results = json.loads(result.results_file.read_text())
    assert results["init_from"] == str(ecare_run.out) and results["fusion"] == "late" and results["graph_encoder"] == "rgcn"
    with pytest.raises(TaskInputError, match="fusion='lm_only' \\(the model has 'late'\\)"):
        run_pipeline("copa", files, out=tmp_path / "bad", init_from=ecare_run.out, fusion="lm_only",
                     preprocess_kwargs=store, workers=1, training_kwargs=TRAINING)
    with pytest.raises(TaskInputError, match="its rows read the question first"):
        run_pipeline("copa", files, out=tmp_path / "order", init_from=ecare_run.out,
                     preprocess_kwargs={**store, "cause_effect_order": True}, workers=1, training_kwargs=TRAINING)
    with pytest.raises(TaskInputError, match="keeps its own node embeddings"):
        run_pipeline("copa", files, out=tmp_path / "both", init_from=ecare_run.out, node_init="label",
                     preprocess_kwargs=store, workers=1, training_kwargs=TRAINING)
    with pytest.raises(TaskInputError, match="a ecare model cannot start a clutrr run"):
        run_pipeline("clutrr", "generated", out=tmp_path / "clutrr", init_from=ecare_run.out,
                     preprocess_kwargs={"nlp": "blank"}, generate_kwargs={"train_size": 8, "test_size": 2,
                                                                          "test_lengths": (2,)},
                     workers=1, training_kwargs=TRAINING)


def test_train_command_takes_files_one_by_one_and_a_model_to_start_from(ecare_run, tmp_path):
    copa = generate_task_files("copa", tmp_path / "c", seed=1, **SMALL)
    ecare = ecare_run.out / "data"
    common = ["--nlp", "blank", "--store", str(ecare / "kg"), "--workers", "1", "--device", "cpu", "--epochs", "1", "-q"]
    runner = CliRunner()
    result = runner.invoke(main, ["train", "--task", "copa", "--init-from", str(ecare_run.out), "--train",
                                  str(ecare / "train.jsonl"), "--train", str(copa.train[0]), "--test",
                                  str(copa.tests["test"]), "--out", str(tmp_path / "run"), "--cache",
                                  str(tmp_path / "shared-cache"), *common])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "shared-cache").iterdir())) == 3 and not (tmp_path / "run" / "cache").exists()
    assert "copa / late: accuracy" in result.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["training"]["train_examples"] + results["training"]["dev_examples"] == 80
    assert list(results["tests"]) == ["dev", "test"]
    mixed = runner.invoke(main, ["train", "--task", "copa", "--data", "generated", "--train", str(copa.train[0]),
                                 "--out", str(tmp_path / "mixed"), *common])
    assert mixed.exit_code == 2 and "--train / --dev / --test replace a dataset's files" in mixed.output


def test_events_command_grows_an_event_graph_from_training_questions_only(tmp_path):
    files = generate_task_files("ecare", tmp_path / "e", **SMALL)
    runner = CliRunner()
    common = ["--store", str(files.store), "--nlp", "blank", "--min-count", "1"]
    result = runner.invoke(main, ["events", "--train", str(files.train[0]), "--output", str(tmp_path / "ev.tsv"), *common])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in (tmp_path / "ev.tsv").read_text().splitlines()]
    assert rows and all(relation == "CausesEvent" and float(weight) >= 1 for relation, _, _, weight in rows)
    assert f"{len(rows)} event triples" in result.output
    ingested = runner.invoke(main, ["ingest", str(tmp_path / "ev.tsv"), "--format", "conceptnet", "--store",
                                    str(tmp_path / "store"), "-q"])
    assert ingested.exit_code == 0, ingested.output
    assert "CausesEvent" in KnowledgeGraph.load(tmp_path / "store").relations
    refused = runner.invoke(main, ["events", "--train", str(files.tests["test"]), "--output", str(tmp_path / "t.tsv"),
                                   *common])
    assert refused.exit_code == 2 and "never from dev or test data" in refused.output
    assert not (tmp_path / "t.tsv").exists()
    broken = tmp_path / "broken_train.jsonl"
    broken.write_text("{not json\n" + files.train[0].read_text())
    skipping = runner.invoke(main, ["events", "--train", str(broken), "--output", str(tmp_path / "b.tsv"), *common])
    assert skipping.exit_code == 0, skipping.output
    assert "1 malformed records skipped" in skipping.output and "broken_train.jsonl:1:" in skipping.output
    assert (tmp_path / "b.tsv").read_text() == (tmp_path / "ev.tsv").read_text()
