"""bench/causal_results.py: each COPA training (COPA dev, Balanced COPA) gets its own row, over its seeds."""

import argparse
import json
from pathlib import Path

import pytest


@pytest.fixture
def causal(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import causal_results

    return causal_results


def _write_run(directory: Path, tests: dict, seed: int) -> None:
    directory.mkdir(parents=True)
    training = {"config": {"seed": seed, "epochs": 3, "batch_size": 16, "lr_text": 2e-5, "lr_graph": 1e-3}}
    environment = {"date": "2026-12-06T00:00:00", "cpu": "x86_64", "cpus": 2, "gpu": None}
    (directory / "results.json").write_text(json.dumps({"tests": tests, "training": training,
                                                        "environment": environment}))


def test_copa_dev_and_balanced_copa_training_are_reported_apart(causal, tmp_path):
    _write_run(tmp_path / "ecare-lm_only-s0", {"dev": {"accuracy": 0.7, "n": 10, "groups": {}}}, 0)
    for name, seed, accuracy in (("copa-lm_only-s0", 0, 0.6), ("copa-lm_only-s0-c1", 1, 0.7),
                                 ("bcopa-lm_only-s0", 0, 0.8), ("bcopa-lm_only-s0-c2", 2, 0.9)):
        _write_run(tmp_path / name, {"copa-test": {"accuracy": accuracy, "n": 500, "groups": {}}}, seed)
    args = argparse.Namespace(runs=tmp_path, evidence=None)
    found = causal.collect(args)
    row = found["lm_only"][0]
    assert row["COPA test (after COPA dev)"]["by_seed"] == {0: 0.6, 1: 0.7}
    assert row["COPA test (after Balanced COPA (dev + mirrored))"]["by_seed"] == {0: 0.8, 2: 0.9}
    table = causal.markdown(found, args)
    assert "| COPA test, after training on COPA dev | 500 | 0.650 |" in table
    assert "| COPA test, after training on Balanced COPA (dev + mirrored) | 500 | 0.850 |" in table
    assert "after Balanced COPA (dev + mirrored) by fine-tuning seed" in table and "seed 2 0.900" in table


def test_a_copa_training_without_runs_has_no_row(causal, tmp_path):
    _write_run(tmp_path / "ecare-lm_only-s0", {"dev": {"accuracy": 0.7, "n": 10, "groups": {}}}, 0)
    _write_run(tmp_path / "copa-lm_only-s0", {"copa-test": {"accuracy": 0.6, "n": 500, "groups": {}}}, 0)
    table = causal.markdown(causal.collect(argparse.Namespace(runs=tmp_path)), argparse.Namespace(runs=tmp_path, evidence=None))
    assert "after training on COPA dev" in table and "Balanced COPA (dev + mirrored)" not in table
