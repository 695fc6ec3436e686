"""Bad input in the logic tasks' files, as a user meets it on the command line: each odd record is reported where
it is (file, line or id), handled by a stated rule and counted; a bad file costs only itself, never the run."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from click.testing import CliRunner
from test_fusion import KINSHIP, kinship_examples, make_model, tiny_text_encoder

from kgreason.data.batch import LabelVocabulary, RelationVocabulary, collate
from kgreason.data.preprocess import preprocess
from kgreason.data.proofwriter import read_proofwriter
from kgreason.fusion.base import offered_classes
from kgreason.kg.errors import ParseError, TaskInputError
from kgreason.pipelines.cli import main
from kgreason.pipelines.evaluation import accuracy_report
from kgreason.pipelines.run import choose_task_files, generate_task_files, run_pipeline, write_predictions

SMALL = {"train_size": 40, "test_size": 6, "test_lengths": (2, 3)}
TRAINING = {"epochs": 1, "batch_size": 8, "device": "cpu", "lr_text": 1e-3}
THEORY = "The cat is big. If something is big then it is red."


def logic_lm(records: list[dict]) -> str:
    return json.dumps([{"id": f"q{i}", "context": THEORY, "question": "Is it true? The cat is red.",
                        "options": ["A) True", "B) False", "C) Unknown"], "answer": "A", **record}
                       for i, record in enumerate(records)])


def test_logic_lm_options_are_read_in_any_case_and_checked(tmp_path):
    """"A) true" is True; FOLIO's "Uncertain" is Unknown; an option that is no answer skips its record, named."""
    path = tmp_path / "test.json"
    path.write_text(logic_lm([{"options": ["A) true", "B) false", "C) unknown"], "answer": "B"},
                              {"options": ["A) True", "B) False", "C) Uncertain"], "answer": "C"},
                              {"options": ["A) True", "B) Maybe"]}]))
    skipped = []
    records = read_proofwriter(path, on_error="skip", skipped=skipped)
    assert [(r.choices, r.answer) for r in records] == [(("True", "False", "Unknown"), "False"),
                                                        (("True", "False", "Unknown"), "Unknown")]
    assert len(skipped) == 1 and "record 2" in str(skipped[0]) and "'B) Maybe'" in str(skipped[0])


def test_a_json_object_file_is_one_clear_error(tmp_path):
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps({"data": json.loads(logic_lm([{}, {}]))}, indent=1))
    with pytest.raises(ParseError, match="one JSON object.*'data'") as error:
        read_proofwriter(path, on_error="skip", skipped=[])
    assert "its 'data' key" in str(error.value)
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + logic_lm([{}]).encode())
    assert len(read_proofwriter(bom)) == 1


def test_a_test_file_named_dev_keeps_the_dev_report_apart(tmp_path):
    (tmp_path / "FOLIO").mkdir()
    for path in (tmp_path / "train.json", tmp_path / "dev.json", tmp_path / "FOLIO" / "dev.json"):
        path.write_text("[]")
    files = choose_task_files(None, train=(tmp_path / "train.json",), dev=tmp_path / "dev.json",
                              tests=(tmp_path / "FOLIO" / "dev.json",))
    assert files.dev == tmp_path / "dev.json" and list(files.tests) == ["FOLIO-dev"]


def test_an_example_is_answered_among_the_choices_it_offers(tokenizer):
    """ProntoQA offers True / False of the model's True / False / Unknown: the classes not offered get -inf logits, in
    training's loss and dev metric as in `evaluate` and `GraphQA`."""
    first, second = kinship_examples(2, seed=0)
    first.choices, first.label = ["mother", "father"], 1  # label: an index into its choices
    batch = collate([first, second], tokenizer=tokenizer, labels=LabelVocabulary(tuple(KINSHIP)),
                    relations=RelationVocabulary("text", ("<unk>", *sorted(KINSHIP))))
    assert batch.offered.tolist() == [[True, True, False], [True, True, True]]
    assert batch.labels[0] == KINSHIP.index("father")
    model = make_model("lm_only", "rgcn", tokenizer)
    with torch.no_grad():
        model.head.out.bias.copy_(torch.tensor([0.0, 0.0, 100.0]))  # "sister", not offered to the first
    output = model.eval()(batch)
    assert output.logits[0, 2] == float("-inf") and int(output.logits[0].argmax()) in (0, 1)
    assert int(output.logits[1].argmax()) == 2 and torch.isfinite(output.loss)
    assert offered_classes(batch.offered, 5).tolist() == [[True, True, False, False, False], [True] * 5]


def test_the_evidence_breakdown_says_none_when_no_question_has_a_path():
    predictions = [{"prediction": 0, "label": 0, "scores": [0.6, 0.4], "meta": {}}]
    assert accuracy_report(predictions, task="copa")["groups"]["evidence"] == {"none": {"accuracy": 1.0, "n": 1}}


def clutrr_file(tmp_path, change=None) -> tuple:
    files = generate_task_files("clutrr", tmp_path / "data", **SMALL)
    if change is not None:
        rows = list(csv.reader(io.StringIO(files.tests["test_2"].read_text())))
        change(rows)
        text = io.StringIO()
        csv.writer(text).writerows(rows)
        files.tests["test_2"].write_text(text.getvalue())
    return files


def test_flagged_records_are_listed_by_id(tmp_path):
    """A target CLUTRR never asks for, and a theory none of whose sentences parses: kept, flagged, found by id."""
    def in_law(rows):
        rows[1][rows[0].index("target")] = "brother-in-law"

    files = clutrr_file(tmp_path, in_law)
    summary = preprocess(files.tests["test_2"], tmp_path / "cache", task="clutrr", workers=1, nlp="blank")
    in_law_id = next(csv.DictReader(io.StringIO(files.tests["test_2"].read_text())))["id"]
    assert summary.flags["label_not_in_classes"] == 1 and summary.flagged["label_not_in_classes"] == [in_law_id]
    write_predictions(tmp_path / "p.jsonl", [{"meta": {"id": in_law_id, "target": "brother-in-law"}, "label": -1,
                                              "prediction": 0, "scores": [1.0]}], label_names=("aunt",))
    assert json.loads((tmp_path / "p.jsonl").read_text())["gold"] == "brother-in-law"
    theory = tmp_path / "theory.json"
    theory.write_text(logic_lm([{"context": "Zorbs glimmer quietly under the moon."}, {}]))
    summary = preprocess(theory, tmp_path / "cache", task="proofwriter", workers=1)
    assert summary.flags["theory_not_parsed"] == 1 and summary.flagged["theory_not_parsed"] == ["q0"]


def test_a_file_that_cannot_be_read_leaves_no_cache_folder(tmp_path):
    bad = tmp_path / "bad_test.csv"
    bad.write_text("id,story\n1,Ann went home.\n")
    with pytest.raises(ParseError, match="not a CLUTRR CSV") as error:
        preprocess(bad, tmp_path / "cache", task="clutrr", workers=1, nlp="blank")
    assert "first row names the columns" in str(error.value)
    assert not list((tmp_path / "cache").iterdir())


def test_preprocess_fails_when_no_record_is_usable(tmp_path):
    theory = tmp_path / "theory.json"
    theory.write_text(logic_lm([{"answer": "Z"}]))
    result = CliRunner().invoke(main, ["preprocess", "--task", "proofwriter", "--input", str(theory), "--output",
                                       str(tmp_path / "cache"), "--workers", "1", "-q"])
    assert result.exit_code == 1 and "no usable record" in result.output and "field 'answer'" in result.output
    single = tmp_path / "single.json"
    single.write_text(json.dumps(json.loads(logic_lm([{}]))[0], indent=1))
    with pytest.raises(ParseError, match=r"put the question in a list"):
        read_proofwriter(single)


def test_no_usable_training_example_names_the_skipped_records(tokenizer, tmp_path):
    train = tmp_path / "train.json"
    train.write_text(logic_lm([{"answer": "Z"}, {"options": "A) True"}]))
    with pytest.raises(TaskInputError, match=r"(?s)2 malformed records skipped.*train\.json.*field 'answer'"):
        run_pipeline("proofwriter", choose_task_files(None, train=(train,)), out=tmp_path / "run",
                     text_encoder=tiny_text_encoder(tokenizer), tokenizer=tokenizer, workers=1,
                     training_kwargs=TRAINING)


def test_a_test_file_without_usable_examples_costs_only_itself(tiny_encoder_dir, tmp_path):
    """Every record of one test file malformed: the model is saved, the other files reported, that file's report
    is its error, and `train` exits with status 1 after writing everything."""
    files = clutrr_file(tmp_path)
    broken = tmp_path / "data" / "broken_test.csv"
    header = files.tests["test_2"].read_text().splitlines()[0]
    broken.write_text(header + "\n0,x,too few cells\n")
    result = CliRunner().invoke(main, [
        "train", "--task", "clutrr", "--train", str(files.train[0]), "--test", str(files.tests["test_2"]),
        "--test", str(broken), "--out", str(tmp_path / "run"), "--text-encoder", str(tiny_encoder_dir), "--nlp", "blank",
        "--fusion", "lm_only", "--epochs", "1", "--batch-size", "8", "--workers", "1", "--device", "cpu", "-q"])
    assert result.exit_code == 1, result.output
    assert "broken_test was not evaluated: [DATA001] no usable example" in result.output
    assert "skipped " in result.output and "broken_test.csv:2: the row has 3 cells" in result.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["tests"]["test_2"]["n"] == 6 and "no usable example" in results["tests"]["broken_test"]["error"]
    assert (tmp_path / "run" / "model" / "bundle.json").is_file()


def test_evaluate_goes_on_past_a_bad_file_and_shows_what_it_skipped(tiny_encoder_dir, tmp_path):
    files = clutrr_file(tmp_path, lambda rows: rows.insert(2, ["1", "broken-row", "not enough cells"]))
    run = tmp_path / "run"
    trained = CliRunner().invoke(main, [
        "train", "--task", "clutrr", "--train", str(files.train[0]), "--test", str(files.tests["test_2"]),
        "--out", str(run), "--text-encoder", str(tiny_encoder_dir), "--nlp", "blank", "--fusion", "lm_only",
        "--epochs", "1", "--batch-size", "8", "--workers", "1", "--device", "cpu", "-q"])
    assert trained.exit_code == 0, trained.output
    assert "test_2: 6 records read, 1 malformed skipped" in trained.output
    (files.tests["test_3"].parent / "9_test.csv").write_text("id,story\n1,Ann went home.\n")  # not a CLUTRR CSV
    evaluated = CliRunner().invoke(main, ["evaluate", "--model", str(run), "--data", str(tmp_path / "data"),
                                          "--out", str(tmp_path / "eval"), "--workers", "1", "--device", "cpu", "-q"])
    assert evaluated.exit_code == 1, evaluated.output
    assert "test_2: 6 records read, 1 malformed skipped" in evaluated.output and "skipped " in evaluated.output
    assert "error: 9_test was not evaluated: [DATA101]" in evaluated.output
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["tests"]["test_3"]["n"] == 6 and "not a CLUTRR CSV" in results["tests"]["9_test"]["error"]
    assert results["preprocessing"]["test_2"]["errors"] and (tmp_path / "eval" / "predictions" / "test_3.jsonl").is_file()
