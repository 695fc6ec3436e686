"""`kgreason preprocess` / `preprocess()`: every task on generated files, caching, resuming, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kgreason.data.causal import generate_causal
from kgreason.data.clutrr import generate_clutrr, write_clutrr
from kgreason.data.preprocess import preprocess
from kgreason.data.proofwriter import QUESTION_PREFIX, generate_theories
from kgreason.data.shards import ShardCache
from kgreason.pipelines.cli import main


def write_proofwriter(path: Path, *, theories: int = 4, depth: int = 2) -> list:
    """Generated theories as a Logic-LM ProofWriter JSON file; returns the records."""
    records = [record for theory in generate_theories(theories, depth=depth, seed=1) for record in theory.records]
    letters = "ABC"
    items = [
        {"id": r.id, "context": r.context, "question": QUESTION_PREFIX + r.statement,
         "options": [f"{letter}) {choice}" for letter, choice in zip(letters, r.choices)], "answer": letters[r.label]}
        for r in records
    ]
    path.write_text(json.dumps(items), encoding="utf-8")
    return records


def write_ecare(path: Path, records, *, extra_lines: list[str] = ()) -> None:
    lines = [
        json.dumps({"index": r.id, "premise": r.premise, "ask-for": r.ask_for, "hypothesis1": r.choices[0],
                    "hypothesis2": r.choices[1], "label": r.label})
        for r in records
    ]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n", encoding="utf-8")


@pytest.fixture
def causal(tmp_path):
    """A generated causal KG in a store, and an e-CARE file of its records."""
    generated = generate_causal(12, seed=3)
    store = tmp_path / "store"
    generated.knowledge_graph().save(store)
    path = tmp_path / "dev.jsonl"
    write_ecare(path, generated.records)
    return generated, store, path


def examples(summary) -> list[dict]:
    return [example.to_dict() for example in ShardCache(summary.cache_dir).examples()]


def test_proofwriter_examples_carry_the_theory_graph(tmp_path):
    records = write_proofwriter(tmp_path / "pw.json")
    summary = preprocess(tmp_path / "pw.json", tmp_path / "cache", task="proofwriter", workers=1, shard_size=5)
    assert (summary.records, summary.examples, summary.errors) == (len(records), len(records), [])
    assert summary.shards == -(-len(records) // 5)
    first = next(ShardCache(summary.cache_dir).examples())
    assert first.choices == ["True", "False", "Unknown"] and first.label == records[0].label
    assert first.text.endswith(records[0].statement) and first.num_edges > 0
    assert set(first.meta["relations"]) >= {"is", "if", "then"} or set(first.meta["relations"]) >= {"if", "then"}
    assert first.edge_type.max() < len(first.meta["relations"])
    for node, (start, end) in zip(first.mention_node_index.tolist(), first.mention_char_spans.tolist()):
        assert first.text[start:end].lower().endswith(first.meta["nodes"][node].split()[-1].lower())


def test_theory_closure_adds_proved_literals_and_queries_the_statement_in_its_own_cache(tmp_path):
    records = write_proofwriter(tmp_path / "pw.json", depth=3)
    plain = preprocess(tmp_path / "pw.json", tmp_path / "cache", task="proofwriter", workers=1)
    result = CliRunner().invoke(main, ["preprocess", "--task", "proofwriter", "--input", str(tmp_path / "pw.json"),
                                       "--output", str(tmp_path / "cache"), "--workers", "1", "--theory-closure",
                                       "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    closed = json.loads(result.output)
    assert closed["cache_dir"] != plain.cache_dir and closed["made"] == len(records)
    pairs = zip(ShardCache(plain.cache_dir).examples(), ShardCache(closed["cache_dir"]).examples(), records)
    added = queried = 0
    for one, two, record in pairs:
        assert "query_node_index" not in one.meta and two.num_edges >= one.num_edges
        added += two.num_edges - one.num_edges
        depths = two.meta["derived_depth"]  # the stated edges come first, then the proved ones
        assert len(depths) == two.num_edges and depths[:one.num_edges] == [0] * one.num_edges
        assert all(depth >= 1 for depth in depths[one.num_edges:])
        query = two.meta["query_node_index"]
        assert two.meta["query_relation"].startswith("not_") == (" not " in record.statement)
        if -1 in query:  # a statement about something the theory never names
            assert "query_not_in_graph" in two.meta["flags"]
            continue
        subject, obj = (two.meta["nodes"][node] for node in query)
        assert record.statement.startswith((f"The {subject} ", f"{subject} ")) and record.statement.endswith(f"{obj}.")
        queried += 1
    assert added > 0 and queried > len(records) // 2
    with pytest.raises(ValueError, match="theory_closure"):
        preprocess(tmp_path / "pw.json", tmp_path / "cache", task="clutrr", theory_closure=True)


def test_clutrr_examples_are_story_graphs_with_the_query(tmp_path):
    records = list(generate_clutrr(6, k=3, seed=2))
    write_clutrr(records, tmp_path / "c.csv")
    summary = preprocess(tmp_path / "c.csv", tmp_path / "cache", task="clutrr", workers=1, nlp="blank")
    made = list(ShardCache(summary.cache_dir).examples())
    assert len(made) == 6
    for record, example in zip(records, made):
        assert example.meta["k"] == 3 and example.meta["query"] == list(record.query)
        a, b = example.meta["query_node_index"]
        assert example.meta["nodes"][a] == record.query[0] and example.meta["nodes"][b] == record.query[1]
        assert example.label >= 0 and example.num_edges >= 3


def test_kinship_inverses_add_the_typed_edges_backwards_in_their_own_cache(tmp_path):
    write_clutrr(generate_clutrr(4, k=3, seed=2), tmp_path / "c.csv")
    plain = preprocess(tmp_path / "c.csv", tmp_path / "cache", task="clutrr", workers=1, nlp="blank")
    result = CliRunner().invoke(main, ["preprocess", "--task", "clutrr", "--input", str(tmp_path / "c.csv"), "--output",
                                       str(tmp_path / "cache"), "--nlp", "blank", "--workers", "1", "--kinship-inverses",
                                       "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    both = json.loads(result.output)
    assert both["cache_dir"] != plain.cache_dir and both["made"] == 4
    for one, two in zip(ShardCache(plain.cache_dir).examples(), ShardCache(both["cache_dir"]).examples()):
        assert two.num_edges == 2 * one.num_edges  # a generated story types every edge
    with pytest.raises(ValueError, match="kinship_inverses"):
        preprocess(tmp_path / "c.csv", tmp_path / "cache", task="proofwriter", kinship_inverses=True)


def test_causal_examples_link_and_retrieve_with_evidence(causal, tmp_path):
    generated, store, path = causal
    summary = preprocess(path, tmp_path / "cache", task="ecare", store=store, workers=1, nlp="blank")
    made = list(ShardCache(summary.cache_dir).examples())
    assert len(made) == len(generated.records) and summary.flags["no_linked_entity"] == 0
    kg = generated.knowledge_graph()
    for example in made:
        assert example.num_nodes > 0 and len(example.choices) == 2
        assert example.meta["paths"], example.text
        for node, (start, end) in zip(example.node_ids[example.mention_node_index].tolist(), example.mention_char_spans.tolist()):
            if start >= 0:  # mentioned in the premise, which starts the text
                assert example.text[start:end].lower().startswith(kg.label(node).split()[0][:3])


def test_a_second_run_reuses_the_cache_and_a_new_setting_does_not(causal, tmp_path):
    _, store, path = causal
    options = dict(task="ecare", store=store, workers=1, nlp="blank", shard_size=4)
    first = preprocess(path, tmp_path / "cache", **options)
    again = preprocess(path, tmp_path / "cache", **options)
    assert again.cache_dir == first.cache_dir and again.shards_cached == again.shards == first.shards and again.made == 0
    assert examples(again) == examples(first)
    other = preprocess(path, tmp_path / "cache", max_nodes=5, **options)
    assert other.cache_dir != first.cache_dir and other.made == first.made
    assert max(len(e["node_ids"]) for e in examples(other)) <= max(5, 4)


def test_two_workers_make_the_same_examples_as_one(causal, tmp_path):
    _, store, path = causal
    one = preprocess(path, tmp_path / "one", task="ecare", store=store, workers=1, nlp="blank", shard_size=3)
    two = preprocess(path, tmp_path / "two", task="ecare", store=store, workers=2, nlp="blank", shard_size=3)
    assert examples(one) == examples(two) and two.made == one.made


def test_bad_records_are_skipped_with_file_and_line_and_flags_are_counted(causal, tmp_path):
    generated, store, path = causal
    records = generated.records[:2]
    odd = [
        json.dumps({"index": "x1", "premise": "", "ask-for": "cause", "hypothesis1": "storm", "hypothesis2": "fire", "label": 0}),
        "{not json",
        json.dumps({"index": "x2", "premise": "Zzz qqq.", "ask-for": "effect", "hypothesis1": "Xx.", "hypothesis2": "Yy.", "label": 1}),
        json.dumps({"index": "x3", "premise": "The storm came. " * 40, "ask-for": "effect", "hypothesis1": "rain",
                    "hypothesis2": "sweat", "label": 0}),
        json.dumps({"index": "x4", "premise": "a", "ask-for": "sideways", "hypothesis1": "b", "hypothesis2": "c", "label": 0}),
    ]
    write_ecare(path, records, extra_lines=odd)
    summary = preprocess(path, tmp_path / "cache", task="ecare", store=store, workers=1, nlp="blank", max_chars=100)
    assert summary.records == summary.examples == 4
    assert [error.split(": ")[0] for error in summary.errors] == [f"{path}:3", f"{path}:4", f"{path}:7"]
    assert "premise" in summary.errors[0] and "ask-for" in summary.errors[2]  # an empty premise is malformed
    assert summary.flags["truncated"] == 1
    assert summary.flags["no_linked_entity"] == 1  # "Zzz qqq." and its choices link nothing
    flagged = {e["meta"]["id"]: e["meta"]["flags"] for e in examples(summary)}
    assert "no_linked_entity" in flagged["x2"] and flagged["x2"] and "truncated" in flagged["x3"]


def test_errors_say_what_to_do(tmp_path, causal):
    _, _, path = causal
    runner = CliRunner()
    result = runner.invoke(main, ["preprocess", "--task", "ecare", "--input", str(path), "--output", str(tmp_path / "c")])
    assert result.exit_code == 2 and "no store" in result.output and "--store" in result.output
    with pytest.raises(Exception, match="unknown task"):
        preprocess(path, tmp_path / "c", task="nope")


def test_cli_prints_a_summary(tmp_path):
    write_proofwriter(tmp_path / "pw.json", theories=2, depth=1)
    result = CliRunner().invoke(main, ["preprocess", "--task", "proofwriter", "--input", str(tmp_path / "pw.json"),
                                       "--output", str(tmp_path / "cache"), "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["examples"] == summary["records"] > 0 and summary["errors"] == []


@pytest.mark.slow
def test_a_killed_run_resumes_without_redoing_finished_shards(tmp_path):
    write_proofwriter(tmp_path / "pw.json", theories=60, depth=3)
    command = [str(Path(sys.executable).parent / "kgreason"), "preprocess", "--task", "proofwriter", "--input",
               str(tmp_path / "pw.json"), "--output", str(tmp_path / "cache"), "--workers", "1", "--shard-size", "2", "-q"]
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 300  # generous: a loaded machine starts the CLI slowly
    while time.monotonic() < deadline and len(list((tmp_path / "cache").glob("*/shard-*.json"))) < 5:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list((tmp_path / "cache").glob("*/shard-*.json")))
    assert finished >= 5
    resumed = preprocess(tmp_path / "pw.json", tmp_path / "cache", task="proofwriter", workers=1, shard_size=2)
    assert resumed.shards_cached >= finished and resumed.made < resumed.examples
    fresh = preprocess(tmp_path / "pw.json", tmp_path / "fresh", task="proofwriter", workers=1, shard_size=2)
    assert examples(resumed) == examples(fresh)


def test_clutrr_story_without_brackets_is_kept_and_flagged_without_ner(tmp_path):
    from dataclasses import replace

    records = list(generate_clutrr(2, k=2, seed=4))
    records[1] = replace(records[1], story=records[1].story.replace("[", "").replace("]", ""))
    write_clutrr(records, tmp_path / "c.csv")
    summary = preprocess(tmp_path / "c.csv", tmp_path / "cache", task="clutrr", workers=1, nlp="blank")
    made = list(ShardCache(summary.cache_dir).examples())
    assert summary.flags["no_linked_entity"] == 1 and made[1].num_nodes == 0 and made[0].num_nodes > 0
    assert "no_linked_entity" in made[1].meta["flags"] and made[1].meta["query_node_index"] == [-1, -1]


def test_pipeline_uses_torch_reads_the_config_without_spacy(tmp_path):
    from kgreason.data.preprocess_tasks import pipeline_uses_torch

    cnn, transformer = tmp_path / "cnn", tmp_path / "trf" / "en_trf-1.0"
    for path, architecture in ((cnn, "spacy.Tok2Vec.v2"), (transformer, "spacy-transformers.TransformerModel.v3")):
        path.mkdir(parents=True)
        (path / "config.cfg").write_text(f'[components.tok2vec.model]\n@architectures = "{architecture}"\n')
    assert not pipeline_uses_torch(str(cnn)) and pipeline_uses_torch(str(tmp_path / "trf"))
    assert not pipeline_uses_torch("blank") and pipeline_uses_torch("no_such_pipeline_package")
