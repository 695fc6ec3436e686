"""run_pipeline, evaluate_model and `kgreason train` / `evaluate` end to end on generated data, with a tiny random
transformer and spacy.blank: files found by name, dev carved reproducibly, accuracy broken down by k / depth /
answer, predictions written, the saved model evaluates to the same numbers, bad records counted."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from test_fusion import tiny_text_encoder

from kgreason.data.example import KGQAExample
from kgreason.data.shards import ShardCache
from kgreason.kg.errors import TaskInputError
from kgreason.pipelines.cli import main
from kgreason.pipelines.run import evaluate_model, find_task_files, generate_task_files, run_pipeline, split_dev

SMALL = {"train_size": 60, "test_size": 8, "test_lengths": (2, 4)}
TRAINING = {"epochs": 1, "batch_size": 8, "device": "cpu", "lr_text": 1e-3}


def tiny_run(task, data, out, tokenizer, **kwargs):
    return run_pipeline(task, data, out=out, text_encoder=tiny_text_encoder(tokenizer), tokenizer=tokenizer,
                        model_kwargs={"graph_hidden_size": 16}, preprocess_kwargs={"nlp": "blank"}, workers=1,
                        generate_kwargs=SMALL if data == "generated" else None, training_kwargs=TRAINING, **kwargs)


@pytest.fixture(scope="module")
def clutrr_run(tokenizer, tmp_path_factory):
    return tiny_run("clutrr", "generated", tmp_path_factory.mktemp("clutrr"), tokenizer)


def test_find_task_files_by_name(tmp_path):
    for name in ("1.2,1.3_train.csv.gz", "1.4_test.csv", "1.10_test.csv", "config.json", "SOURCE.md"):
        (tmp_path / name).write_text("")
    files = find_task_files(tmp_path)
    assert files.train[0].name == "1.2,1.3_train.csv.gz" and files.dev is None
    assert list(files.tests) == ["1.4_test", "1.10_test"]
    (tmp_path / "other_train.csv").write_text("")
    with pytest.raises(TaskInputError, match="several train"):
        find_task_files(tmp_path)
    with pytest.raises(TaskInputError, match="no such file"):
        find_task_files(tmp_path / "missing")


def test_dev_split_is_reproducible_and_order_free():
    examples = [KGQAExample(text="", meta={"id": f"r{i}"}) for i in range(400)]
    train, dev = split_dev(examples, fraction=0.1, seed=0)
    assert 20 < len(dev) < 60 and len(train) + len(dev) == 400
    _, dev_reversed = split_dev(examples[::-1], fraction=0.1, seed=0)
    assert {e.meta["id"] for e in dev} == {e.meta["id"] for e in dev_reversed}
    _, other_seed = split_dev(examples, fraction=0.1, seed=1)
    assert {e.meta["id"] for e in dev} != {e.meta["id"] for e in other_seed}


def test_dev_split_keeps_a_dev_group_together():
    """Balanced COPA: a mirrored item (meta `dev_group`: its original's id) is on the same side as its original."""
    originals = [KGQAExample(text="", meta={"id": str(i)}) for i in range(1, 301)]
    mirrored = [KGQAExample(text="", meta={"id": str(1000 + i), "dev_group": str(i)}) for i in range(1, 301)]
    train, dev = split_dev(originals + mirrored, fraction=0.2, seed=3)
    dev_ids = {e.meta["id"] for e in dev}
    assert 20 < len(dev) < 120 and len(train) + len(dev) == 600
    assert all((str(i) in dev_ids) == (str(1000 + i) in dev_ids) for i in range(1, 301))
    assert {e.meta["id"] for e in split_dev(originals, fraction=0.2, seed=3)[1]} == dev_ids & {str(i) for i in range(1, 301)}


def test_generated_files_are_kept_and_deterministic(tmp_path):
    first = generate_task_files("clutrr", tmp_path / "a", **SMALL)
    again = generate_task_files("clutrr", tmp_path / "b", **SMALL)
    assert first.train[0].read_bytes() == again.train[0].read_bytes()
    assert sorted(first.tests) == ["test_2", "test_4"]
    with pytest.raises(TaskInputError, match="no generator"):
        generate_task_files("commonsenseqa", tmp_path / "c")


def test_clutrr_run_reports_by_k_and_saves_everything(clutrr_run):
    out = clutrr_run.out
    assert set(clutrr_run.tests) == {"dev", "test_2", "test_4"}
    report = clutrr_run.tests["test_4"]
    assert report["n"] == 8 and 0 <= report["accuracy"] <= 1
    assert list(report["groups"]["k"]) == ["4"] and report["groups"]["k"]["4"]["n"] == 8
    assert set(clutrr_run.tests["dev"]["groups"]["k"]) <= {"2", "3"}
    lines = [json.loads(line) for line in (out / "predictions" / "test_4.jsonl").read_text().splitlines()]
    assert len(lines) == 8 and {"id", "gold", "predicted", "correct", "scores", "k"} <= set(lines[0])
    assert sum(line["correct"] for line in lines) / 8 == report["accuracy"]
    results = json.loads((out / "results.json").read_text())
    assert results["training"]["train_examples"] + results["training"]["dev_examples"] == 60
    assert results["preprocessing"]["train"]["records"] == 60 and results["environment"]["torch"]
    assert results["preprocess_settings"]["nlp"] == "blank" and results["preprocess_settings"]["gold_story"] is False
    assert (out / "model" / "bundle.json").is_file() and (out / "training" / "metrics.jsonl").is_file()


def test_saved_model_evaluates_to_the_same_numbers(clutrr_run, tmp_path):
    reports = evaluate_model(clutrr_run.out, clutrr_run.out / "data", out=tmp_path / "eval", device="cpu", workers=1)
    assert set(reports) == {"test_2", "test_4"}
    for name in reports:
        assert reports[name]["accuracy"] == clutrr_run.tests[name]["accuracy"]
    assert (tmp_path / "eval" / "predictions" / "test_4.jsonl").is_file()
    evaluated = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert evaluated["preprocess_settings"] == json.loads((clutrr_run.out / "results.json").read_text())["preprocess_settings"]


def test_proofwriter_run_reports_by_depth_and_answer(tokenizer, tmp_path):
    result = tiny_run("proofwriter", "generated", tmp_path, tokenizer)
    groups = result.tests["test_4"]["groups"]
    assert set(groups["answer"]) == {"True", "False", "Unknown"}
    assert {"0", "4", "none"} <= set(groups["depth"])  # Unknown answers have no proof depth


def test_bad_records_are_counted_not_fatal(tokenizer, tmp_path):
    files = generate_task_files("clutrr", tmp_path / "data", **SMALL)
    rows = list(csv.reader(io.StringIO(files.train[0].read_text())))
    story = rows[0].index("story")
    rows[2][story] = rows[2][story].replace("[", "").replace("]", "")  # no brackets: blank spaCy finds nobody
    rows[3][story] = rows[3][story].replace(rows[3][story].split("]")[0] + "]", "Somebody")  # a query person gone?
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    lines = text.getvalue().splitlines(keepends=True)
    lines.insert(5, "7,broken-row,not enough columns\n")
    files.train[0].write_text("".join(lines))
    result = tiny_run("clutrr", tmp_path / "data", tmp_path / "run", tokenizer)
    summary = json.loads((tmp_path / "run" / "results.json").read_text())["preprocessing"]["train"]
    assert summary["records"] == 60 and len(summary["errors"]) == 1 and ":6:" in summary["errors"][0]
    assert summary["flags"]["no_linked_entity"] == 1 and summary["flags"]["query_not_in_story"] >= 1
    assert result.tests["test_2"]["n"] == 8 and result.preprocessing["train"]["errors"] == summary["errors"]


def test_train_and_evaluate_commands(tokenizer, tmp_path):
    model_dir = tmp_path / "tiny-bert"
    tiny_text_encoder(tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(str(model_dir))
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(main, ["train", "--task", "clutrr", "--out", str(out), "--fusion", "late", "--graph-encoder",
                                  "rgcn", "--text-encoder", str(model_dir), "--nlp", "blank", "--epochs", "1",
                                  "--batch-size", "8", "--workers", "1", "--limit", "24", "--device", "cpu", "-q",
                                  "--model-option", "graph_readout=target", "--model-option", "edge_text=sentence"])
    assert result.exit_code == 0, result.output
    assert "test_6" in result.output and "accuracy" in result.output and str(out / "model") in result.output
    config = json.loads((out / "model" / "config.json").read_text())
    assert (config["graph_readout"], config["edge_text"], config["graph_layers"]) == ("target", "sentence", 10)
    bad = runner.invoke(main, ["train", "--task", "clutrr", "--out", str(tmp_path / "bad"), "--model-option", "depth=3"])
    assert bad.exit_code == 2 and "graph_readout" in bad.output and "--model-option" in bad.output
    evaluated = runner.invoke(main, ["evaluate", "--model", str(out), "--data", str(out / "data" / "test_6.csv"),
                                     "--workers", "1", "--device", "cpu", "--limit", "24", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    reports = json.loads(evaluated.output)
    trained = json.loads((out / "results.json").read_text())["tests"]["test_6"]
    assert reports["test_6"]["accuracy"] == trained["accuracy"] and reports["test_6"]["n"] == 24
    missing = runner.invoke(main, ["evaluate", "--model", str(tmp_path), "--data", str(out / "data")])
    assert missing.exit_code == 2 and "bundle.json" in missing.output


def test_train_command_with_the_theory_closure(tokenizer, tmp_path):
    """`kgreason train --task proofwriter --theory-closure`: the settings are saved with the model, the examples
    name the statement's query, and the model reads its relation."""
    model_dir = tmp_path / "tiny-bert"
    tiny_text_encoder(tokenizer).save_pretrained(model_dir)
    tokenizer.save_pretrained(str(model_dir))
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "train", "--task", "proofwriter", "--out", str(out), "--theory-closure", "--text-encoder", str(model_dir),
        "--epochs", "1", "--batch-size", "8", "--workers", "1", "--limit", "24", "--device", "cpu", "-q",
        "--model-option", "graph_layers=1", "--model-option", "graph_readout=target",
        "--model-option", "query_conditioned_edges=true", "--model-option", "shared_negation=true"])
    assert result.exit_code == 0, result.output
    bundle = json.loads((out / "model" / "bundle.json").read_text())
    config = json.loads((out / "model" / "config.json").read_text())
    assert bundle["settings"]["theory_closure"] is True and config["query_relation"] is True
    assert config["query_conditioned_edges"] is True and config["shared_negation"] is True
    relations = json.loads((out / "model" / "relations.json").read_text())["names"]
    negated = {relations[i]: relations[base] for i, base in enumerate(config["relation_bases"]) if base != i}
    assert negated and all(name == "not_" + base for name, base in negated.items())
    results = json.loads((out / "results.json").read_text())
    assert {"True", "False", "Unknown"} >= set(results["tests"]["test_4"]["groups"]["answer"])
    examples = list(ShardCache(results["preprocessing"]["train"]["cache_dir"]).examples())
    assert examples and all(len(e.meta["query_node_index"]) == 2 and e.meta["query_relation"] for e in examples)


@pytest.mark.parametrize(("option", "hint"), [("query_conditioned_edges", "--theory-closure"),
                                              ("shared_negation", "proofwriter")])
def test_query_options_need_graphs_that_use_them(tokenizer, tmp_path, option, hint):
    """CLUTRR's examples ask about no relation and its stories hold no negation."""
    with pytest.raises(TaskInputError, match=f"(?s){option}.*{hint}"):
        run_pipeline("clutrr", "generated", out=tmp_path, text_encoder=tiny_text_encoder(tokenizer),
                     tokenizer=tokenizer, model_kwargs={option: True},
                     preprocess_kwargs={"nlp": "blank"}, workers=1, generate_kwargs=SMALL, training_kwargs=TRAINING)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("factored", [False, True])
def test_closure_relations_named_like_labels_start_at_that_label(tokenizer, tmp_path, factored):
    """graph_readout="relation": the closure's classes are the labels, and a story edge read as "son" starts as
    the class the answer "son" is read from (the start survives a short training run). With factored_labels the
    classes are the gender-free kinship relations: "son" starts as "child", and the saved model keeps the algebra."""
    from kgreason.data.kinship import kinship_algebra

    result = run_pipeline("clutrr", "generated", out=tmp_path, text_encoder=tiny_text_encoder(tokenizer),
                          tokenizer=tokenizer, fusion="graph_only", graph_encoder="closure",
                          model_kwargs={"graph_readout": "relation", "edge_text": "sentence",
                                        "factored_labels": factored},
                          preprocess_kwargs={"nlp": "blank"}, workers=1, generate_kwargs=SMALL,
                          training_kwargs={**TRAINING, "lr_graph": 1e-3})
    config = json.loads((result.model_dir / "config.json").read_text())
    labels = json.loads((result.model_dir / "labels.json").read_text())["names"]
    relations = json.loads((result.model_dir / "relations.json").read_text())["names"]
    assert config["graph_hidden_size"] == len(labels) and "test_4" in result.tests
    from kgreason.fusion import FusionModel

    encoder = FusionModel.from_pretrained(result.model_dir).graph.encoder
    label_class = {name: index for index, name in enumerate(labels)}
    if factored:
        algebra = kinship_algebra(labels)
        assert {key: config["graph_options"][key] for key in algebra} == algebra
        label_class = {name: algebra["label_factors"][index][0] for name, index in label_class.items()}
        assert encoder.classes == 10 and label_class["son"] == label_class["daughter"] != label_class["mother"]
    shared = [name for name in relations if name in labels]
    assert shared, "the generated stories have typed edges named like the labels"
    for name in shared:
        assert encoder.relation[relations.index(name)].argmax().item() == label_class[name], name


def test_untyped_edge_length_makes_mentions_edges_weak(tokenizer, tmp_path):
    """model option untyped_edge_length: the closure counts the story graphs' "mentions" edges as that many steps;
    the saved model keeps the relation id and the length."""
    result = run_pipeline("clutrr", "generated", out=tmp_path, text_encoder=tiny_text_encoder(tokenizer),
                          tokenizer=tokenizer, fusion="graph_only", graph_encoder="closure",
                          model_kwargs={"graph_readout": "relation", "edge_text": "sentence", "untyped_edge_length": 4},
                          preprocess_kwargs={"nlp": "blank"}, workers=1, generate_kwargs=SMALL, training_kwargs=TRAINING)
    config = json.loads((result.model_dir / "config.json").read_text())
    relations = json.loads((result.model_dir / "relations.json").read_text())["names"]
    weak = [relations.index("mentions")] if "mentions" in relations else []  # generated stories type most edges
    assert config["graph_options"]["weak_relations"] == weak and config["untyped_edge_length"] == 4
    assert config["graph_options"]["weak_length"] == 4 and "test_4" in result.tests
    from kgreason.fusion import FusionModel

    encoder = FusionModel.from_pretrained(result.model_dir).graph.encoder
    assert (encoder.weak.tolist() if weak else encoder.weak) == (weak or None) and encoder.weak_length == 4


def test_factored_labels_need_a_task_with_a_label_algebra(tokenizer, tmp_path):
    """ProofWriter's True / False / Unknown are not a relation and an attribute of a person."""
    with pytest.raises(TaskInputError, match="(?s)factored_labels.*--task clutrr"):
        run_pipeline("proofwriter", "generated", out=tmp_path, text_encoder=tiny_text_encoder(tokenizer),
                     tokenizer=tokenizer, fusion="graph_only", graph_encoder="closure",
                     model_kwargs={"graph_readout": "relation", "factored_labels": True},
                     preprocess_kwargs={"nlp": "blank"}, workers=1, generate_kwargs=SMALL, training_kwargs=TRAINING)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("lines", [2, 9])
def test_the_accuracy_plot_keeps_its_legend_off_the_data_when_there_are_many_lines(tmp_path, lines):
    from PIL import Image

    from kgreason.pipelines.plots import LEGEND_INSIDE, plot_accuracy_by_group

    series = {f"model {i}": {"2": 0.9, "3": 0.8, "4": 0.1 * i} for i in range(lines)}
    path = plot_accuracy_by_group(series, tmp_path / "by_k.png", xlabel="k", trained_on={"2"})
    width, height = Image.open(path).size
    assert (width > 2 * height) == (lines > LEGEND_INSIDE)  # the wider figure holds the legend beside the axes
