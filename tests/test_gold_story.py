"""`gold_story`: a CLUTRR puzzle told by its gold graph (an upper bound), read back exactly by the story reader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kgreason.data.clutrr import generate_clutrr, write_clutrr
from kgreason.data.gold_story import gold_story
from kgreason.data.preprocess import preprocess
from kgreason.data.renaming import rename_people
from kgreason.data.shards import ShardCache
from kgreason.data.story_reader import evaluate_story_graphs
from kgreason.pipelines.cli import main


@pytest.mark.parametrize("noise", ["clean", "supporting", "irrelevant", "disconnected"])
def test_the_reader_reads_a_gold_story_as_the_gold_graph(noise):
    records = [gold_story(record) for record in generate_clutrr(12, k=4, seed=5, noise=noise)]
    metrics = evaluate_story_graphs(records)
    assert metrics.edges_recovered == metrics.gold_edges > 0 and metrics.extra_edges == 0
    assert metrics.labels_correct == metrics.typed_gold_edges == 12 * 4


def test_a_gold_story_keeps_the_puzzle_and_states_each_story_edge_once():
    record = next(generate_clutrr(1, k=3, seed=1, noise="supporting"))
    told = gold_story(record)
    assert (told.query, told.target, told.gold.story_edges, told.gold.edge_types) == (
        record.query, record.target, record.gold.story_edges, record.gold.edge_types)
    sentences = re.findall(r"[^.]+\.", told.story)
    assert len(sentences) == len(record.gold.story_edges)
    assert [sentence.strip() for sentence in sentences[:3]] == [f"[{b}] is [{a}]'s {rel}."
                                                                for a, rel, b in record.gold.typed_edges()]
    assert all("know each other" in sentence for sentence in sentences[3:]) and sentences[3:]
    assert told.gold.clean_story == " ".join(sentence.strip() for sentence in sentences[:3])


def test_gold_story_is_a_preprocessing_setting_with_its_own_cache(tmp_path, caplog):
    records = list(generate_clutrr(4, k=3, seed=2))
    write_clutrr(records, tmp_path / "c.csv")
    plain = preprocess(tmp_path / "c.csv", tmp_path / "cache", task="clutrr", workers=1, nlp="blank")
    assert "upper bound" not in caplog.text
    told = preprocess(tmp_path / "c.csv", tmp_path / "cache", task="clutrr", workers=1, nlp="blank",
                      rename_people=True, gold_story=True)
    assert f"{tmp_path / 'c.csv'}: every story replaced by its gold graph" in caplog.text and "upper bound" in caplog.text
    assert told.cache_dir != plain.cache_dir and told.made == 4
    for record, example in zip(records, ShardCache(told.cache_dir).examples()):
        expected = gold_story(rename_people(record))  # renamed first, then told by its gold graph
        assert example.text == expected.story and example.meta["query"] == list(expected.query)
        assert example.num_edges == record.k
    with pytest.raises(ValueError, match="gold_story"):
        preprocess(tmp_path / "c.csv", tmp_path / "cache", task="proofwriter", gold_story=True)


def test_the_cli_flag_reaches_the_cache_and_says_it_is_an_upper_bound(tmp_path):
    records = list(generate_clutrr(3, k=2, seed=4))
    write_clutrr(records, tmp_path / "c.csv")
    result = CliRunner().invoke(main, ["preprocess", "--task", "clutrr", "--input", str(tmp_path / "c.csv"),
                                       "--output", str(tmp_path / "cache"), "--nlp", "blank", "--workers", "1",
                                       "--gold-story", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    texts = [example.text for example in ShardCache(Path(json.loads(result.output)["cache_dir"])).examples()]
    assert texts == [gold_story(record).story for record in records]
    for command in ("preprocess", "train"):
        option = next(param for param in main.commands[command].params if param.name == "gold_story")
        assert "UPPER BOUND" in option.help


def test_a_question_without_gold_keeps_its_text():
    """`GraphQA`'s questions carry no gold: a model trained on gold stories still reads a user's story itself."""
    from kgreason.data.preprocess import Settings
    from kgreason.data.preprocess_tasks import ClutrrPipelines, _build_clutrr
    from kgreason.pipelines.qa import ClutrrQuestion

    settings = Settings(task="clutrr", nlp="blank", rename_people=True, gold_story=True)
    question = ClutrrQuestion(id="q", story="[Ann] took her son [Bob] to the zoo.", query=("Ann", "Bob"))
    (example,) = _build_clutrr([question], ClutrrPipelines(settings), settings)
    assert example.text == question.story and example.meta["query"] == ["Ann", "Bob"]
