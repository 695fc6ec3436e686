"""bench/logic_results.py: the record of published runs outlives their directories; the plot's comparison."""

import json
from pathlib import Path

import pytest


@pytest.fixture
def logic(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import logic_results

    return logic_results


def _run(directory: Path, seed: int, by_k: dict[str, float]) -> dict:
    """A CLUTRR results.json trained on k = 2, 3 with one test file per k of `by_k`."""
    tests = {"dev": {"accuracy": 0.9, "n": 10, "groups": {"k": {"2": {"accuracy": 0.9, "n": 5},
                                                                "3": {"accuracy": 0.9, "n": 5}}}}}
    tests |= {f"1.{k}_test": {"accuracy": a, "n": 10, "groups": {"k": {k: {"accuracy": a, "n": 10}}}}
              for k, a in by_k.items()}
    return {"run": str(directory), "tests": tests, "training": {"config": {"seed": seed}}}


def test_recorded_runs_whose_directory_is_gone_are_kept_and_reruns_replace_them(logic, tmp_path):
    kept = tmp_path / "kept"
    kept.mkdir()
    found = {"clutrr-089907f8": {"lm_only-renamed": [_run(kept, 1, {"4": 0.2})]}}
    record = tmp_path / "logic.json"
    recorded_runs = [_run(tmp_path / "gone-s0", 0, {"4": 0.3}), _run(tmp_path / "gone-s1", 1, {"4": 0.9})]
    record.write_text(json.dumps({"runs": {"clutrr-089907f8": {"lm_only-renamed": recorded_runs,
                                                               "graph_only-closure": [recorded_runs[0]]},
                                           "no-such-experiment": {"lm_only": recorded_runs}}}))
    merged = logic.with_recorded(found, record)
    assert list(merged) == ["clutrr-089907f8"]
    runs = merged["clutrr-089907f8"]["lm_only-renamed"]
    assert [(r["training"]["config"]["seed"], r["run"]) for r in runs] == [(0, str(tmp_path / "gone-s0")), (1, str(kept))]
    assert list(merged["clutrr-089907f8"]) == ["lm_only-renamed", "graph_only-closure"]  # in VARIANTS order
    assert logic.with_recorded(found, tmp_path / "absent.json") is found


def test_the_plot_compares_lm_only_with_the_best_fused_variant_and_the_published_result(logic, tmp_path):
    by_fusion = {"lm_only-renamed": [_run(tmp_path, 0, {"4": 0.2, "5": 0.1})],
                 "graph_only-closure": [_run(tmp_path, 0, {"4": 0.6, "5": 0.5})],
                 "graph_only-closure-weak6-renamed": [_run(tmp_path, 0, {"4": 0.8, "5": 0.7}),
                                                      _run(tmp_path, 1, {"4": 0.9, "5": 0.5})]}
    assert logic.long_chain_mean(by_fusion["graph_only-closure"][0]) == pytest.approx(0.55)
    series = logic.plot_series(by_fusion, ("CTP (published)", {"5": 0.97}))
    assert list(series) == ["lm_only-renamed", "graph_only-closure-weak6-renamed (2 seeds)", "CTP (published)"]
    assert series["graph_only-closure-weak6-renamed (2 seeds)"] == pytest.approx({"4": 0.85, "5": 0.6})
    bounds = ("graph_only-closure-factored-weak6-renamed-goldstory", "lm_only-renamed-goldstory")  # read gold graphs
    assert all(map(logic.upper_bound, bounds)) and not logic.upper_bound("graph_only-closure")
    with_bound = {**by_fusion, **{bound: [_run(tmp_path, 0, {"4": 1.0, "5": 1.0})] for bound in bounds}}
    assert logic.plot_series(with_bound, None) == logic.plot_series(by_fusion, None)


def test_plots_are_drawn_in_docs_from_the_runs_given(logic, tmp_path, monkeypatch):
    monkeypatch.setattr(logic, "REPO", tmp_path)
    (tmp_path / "docs").mkdir()
    logic.draw_plots({"clutrr-089907f8": {"lm_only-renamed": [_run(tmp_path, 0, {"4": 0.2, "5": 0.1})],
                                          "graph_only-closure": [_run(tmp_path, 0, {"4": 0.6, "5": 0.5})]},
                      "proofwriter": {}})
    assert [p.name for p in (tmp_path / "docs").iterdir()] == ["clutrr_accuracy_by_k.png"]


@pytest.mark.parametrize("killed", [False, True])
def test_a_killed_run_continues_from_its_checkpoint(logic, tmp_path, monkeypatch, killed):
    """run_one resumes a run directory that has a trainer checkpoint but no results.json, and starts afresh
    otherwise (a checkpoint folder without its state file, written half, does not count)."""
    import kgreason.pipelines.run as run

    calls = []
    monkeypatch.setattr(run, "run_pipeline", lambda *args, **kwargs: calls.append(kwargs))
    args = logic.build_parser().parse_args(["--runs", str(tmp_path), "--datasets", str(tmp_path)])
    out = tmp_path / "clutrr-clean-lm_only-s0"
    (out / "training" / "checkpoint").mkdir(parents=True)
    if killed:
        (out / "training" / "checkpoint" / "trainer_state.json").write_text("{}")
    assert logic.run_one("clutrr-clean", logic.EXPERIMENTS["clutrr-clean"], "lm_only", 0, args) == out
    assert [call["resume"] for call in calls] == [killed]
    assert calls[0]["out"] == out and calls[0]["training_kwargs"]["seed"] == 0
