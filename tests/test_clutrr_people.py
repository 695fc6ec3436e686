"""bench/clutrr_people.py: which questions' texts state a chain edge against the gold, and reading evaluations."""

import json
from pathlib import Path

import pytest

from kgreason.data.clutrr import ClutrrGold, ClutrrRecord, write_clutrr


@pytest.fixture
def people(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import clutrr_people

    return clutrr_people


def _record(id: str, story: str) -> ClutrrRecord:
    """Gold: Bob is Ann's son, Cal is Bob's brother; asked: Cal is Ann's son."""
    gold = ClutrrGold(people=("Ann", "Bob", "Cal"), genders={"Ann": "female", "Bob": "male", "Cal": "male"},
                      story_edges=((0, 1), (1, 2)), edge_types=("son", "brother"), query_edge=(0, 2),
                      f_comb=("son", "brother"), proof_state=[])
    return ClutrrRecord(id, story, ("Ann", "Cal"), "son", "task_1.2", 2, gold)


@pytest.mark.parametrize(("story", "against"), [
    ("[Ann] took her son [Bob] out. [Bob] met his brother [Cal].", False),
    ("[Bob] took his son [Ann] out. [Bob] met his brother [Cal].", True),  # the gold's relation, backwards
    ("[Bob] has a few children, [Ann], Ed and Flo. [Bob] met his brother [Cal].", True),  # its ungendered base
    ("[Bob] met his brother [Cal]. [Cal] and [Bob] went out.", False),  # brother is its own inverse's base
])  # fmt: skip
def test_text_against_gold_finds_chain_edges_stated_the_other_way_round(people, story, against):
    assert people.text_against_gold([_record("q", story)]) == {"q": against}


def test_an_evaluation_directory_is_scored_like_a_run(people, tmp_path):
    data = tmp_path / "1.2_test.csv"
    write_clutrr([_record("q1", "[Ann] took her son [Bob] out. [Bob] met his brother [Cal]."),
                  _record("q2", "[Bob] took his son [Ann] out. [Bob] met his brother [Cal].")], data)
    evaluation = tmp_path / "evaluation"
    (evaluation / "predictions").mkdir(parents=True)
    (evaluation / "results.json").write_text(json.dumps({"data": str(tmp_path), "files": {"1.2_test": str(data)}}))
    (evaluation / "predictions" / "1.2_test.jsonl").write_text(
        "".join(json.dumps({"id": id, "gold": "son", "predicted": "son", "correct": correct}) + "\n"
                for id, correct in (("q1", True), ("q2", False))))
    scored = people.score_run(evaluation)["1.2_test"]
    assert scored["n"] == 2 and scored["text_consistent_right"] == 1 and scored["text_against"] == 1
    assert scored.get("text_against_right", 0) == 0


def test_a_run_without_results_is_refused_before_any_folder_is_read(people, tmp_path, capsys):
    unfinished = tmp_path / "run-still-training"
    unfinished.mkdir()
    assert people.main(["--datasets", str(tmp_path / "no-datasets"), "--runs", str(unfinished),
                        "--output", str(tmp_path / "out.json")]) == 1
    assert f"no results.json in {unfinished}" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_templates_seen_counts_the_chain_sentences_training_also_has(people):
    """A chain edge's template is its sentence with the pair's names masked as [A], [B] and other names as [X]; an
    edge told across sentences has none."""
    trained = people.chain_templates(_record("t", "[Ann] took her son [Bob] out with [Dee]. [Bob] met his brother [Cal]."))
    assert trained == [("son", "[A] took her son [B] out with [X]."), ("brother", "[A] met his brother [B].")]
    same = _record("q1", "[Ann] took her son [Bob] out with [Eve]. [Bob] met his brother [Cal].")
    other = _record("q2", "[Ann] went out with her son [Bob]. [Bob] met his brother [Cal], and [Ed].")
    apart = _record("q3", "[Ann] took her son out. He is [Bob]. [Cal] met his brother [Bob].")
    assert people.templates_seen([same], set(trained)) == 1.0  # another third name, the same sentence
    assert people.templates_seen([other], set(trained)) == 0.0
    assert people.templates_seen([apart], set(trained)) == 0.0  # the son edge has no sentence; the other is turned
    assert people.chain_templates(apart) == [("brother", "[B] met his brother [A].")]
