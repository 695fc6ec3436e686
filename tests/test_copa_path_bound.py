"""bench/copa_path_bound.py: what ConceptNet's causal paths could add, from a run's evidence groups."""

import json
from pathlib import Path

import pytest


@pytest.fixture
def bound(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import copa_path_bound

    return copa_path_bound


def write_run(path: Path, groups: dict[str, tuple[int, int]]) -> Path:
    """A run directory whose copa-test report has these evidence groups {group: (right, n)}."""
    right, n = sum(r for r, _ in groups.values()), sum(n for _, n in groups.values())
    evidence = {group: {"accuracy": r / count, "n": count} for group, (r, count) in groups.items()}
    path.mkdir(parents=True)
    (path / "results.json").write_text(json.dumps({"tests": {"copa-test": {
        "accuracy": right / n, "n": n, "groups": {"evidence": evidence}}}}))
    return path


def test_the_bounds_follow_the_groups(bound, tmp_path):
    # 10 questions: "right" 4 (3 answered right), "wrong" 2 (1 right), "both" 2 (1 right), "none" 2 (1 right)
    run = write_run(tmp_path / "copa-lm_only-s1", {"right": (3, 4), "wrong": (1, 2), "both": (1, 2), "none": (1, 2)})
    counts = bound.group_counts(run, "copa-test")
    assert counts["all"] == (6, 10)
    assert bound.bounds(counts) == pytest.approx({"accuracy": 0.6, "follow the path": 0.6, "path oracle": 0.7,
                                                  "path oracle, both told apart": 0.8})


def test_a_group_no_question_falls_in_counts_zero(bound, tmp_path):
    counts = bound.group_counts(write_run(tmp_path / "run", {"none": (3, 5)}), "copa-test")
    assert counts["right"] == (0, 0) and bound.bounds(counts)["path oracle"] == pytest.approx(0.6)
