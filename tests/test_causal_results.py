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


def test_the_plot_has_a_bar_per_variant_and_measure(causal, tmp_path, monkeypatch):
    from kgreason.pipelines import plots

    drawn = {}
    monkeypatch.setattr(plots, "plot_accuracy_bars", lambda series, path, **kw: drawn.update(series=series, **kw) or path)
    _write_run(tmp_path / "ecare-lm_only-s0", {"dev": {"accuracy": 0.7, "n": 10, "groups": {}}}, 0)
    _write_run(tmp_path / "ecare-lm_only-s1", {"dev": {"accuracy": 0.8, "n": 10, "groups": {}}}, 1)
    _write_run(tmp_path / "bcopa-lm_only-s0", {"copa-test": {"accuracy": 0.6, "n": 500, "groups": {}}}, 0)
    causal.plot(causal.collect(argparse.Namespace(runs=tmp_path)), tmp_path / "plot.png")
    assert drawn["series"] == {"lm_only (2 seeds)": {"e-CARE dev": pytest.approx(0.75),
                                                     "COPA test after\nBalanced COPA (dev + mirrored)": 0.6}}
    assert drawn["targets"]["e-CARE dev"] == 0.78


def test_the_bar_plot_draws_every_bar_and_target(tmp_path):
    from PIL import Image

    from kgreason.pipelines.plots import plot_accuracy_bars

    series = {"lm_only": {"e-CARE dev": 0.7, "COPA": 0.66}, "fused": {"e-CARE dev": 0.78}}
    path = plot_accuracy_bars(series, tmp_path / "bars.png", targets={"e-CARE dev": 0.78}, title="t")
    colours = {colour for _, colour in Image.open(path).convert("RGB").getcolors(1 << 20)}
    assert {(31, 119, 180), (255, 127, 14)} <= colours  # both models' bars (matplotlib's first two colours)
    assert (77, 77, 77) in colours  # the dashed target line, grey 0.3


def test_the_joint_training_is_its_own_row_and_its_epochs_are_not_the_copa_steps(causal, tmp_path):
    _write_run(tmp_path / "ecare-lm_only-s0", {"dev": {"accuracy": 0.7, "n": 10, "groups": {}}}, 0)
    _write_run(tmp_path / "jcopa-lm_only-s0", {"copa-test": {"accuracy": 0.66, "n": 500, "groups": {}}}, 0)
    args = argparse.Namespace(runs=tmp_path, evidence=None)
    found = causal.collect(args)
    assert "copa training" not in found["lm_only"][0]  # the joint run's epochs are an e-CARE training's
    assert "| COPA test, after training on e-CARE train + COPA dev in one run | 500 | 0.660 |" in causal.markdown(found, args)


def test_the_joint_training_starts_from_fresh_weights_and_picks_its_epoch_on_ecare_dev(causal, tmp_path, monkeypatch):
    from kgreason.pipelines import run

    datasets = tmp_path / "datasets"
    for name in ("ecare/Causal_Reasoning/train.jsonl", "ecare/Causal_Reasoning/dev.jsonl", causal.COPA_DEV,
                 causal.COPA_TEST):
        (datasets / name).parent.mkdir(parents=True, exist_ok=True)
        (datasets / name).write_text("")
    runs = tmp_path / "runs"
    _write_run(runs / "ecare-interaction-label-s0", {"dev": {"accuracy": 0.7, "n": 10, "groups": {}}}, 0)
    for name in (causal.COPA_TEST, causal.BALANCED):
        _write_run(runs / "ecare-interaction-label-s0" / "evaluations" / Path(name).stem, {}, 0)
    calls = []
    monkeypatch.setattr(run, "run_pipeline", lambda task, files, **kwargs: calls.append((task, files, kwargs)))
    monkeypatch.setattr(causal, "conceptnet_store", lambda args: tmp_path / "store")
    args = argparse.Namespace(datasets=datasets, runs=runs, limit=None, batch_size=16, lr_text=2e-5, lr_graph=1e-3,
                              epochs=2, copa_epochs=3, copa_train=["joint"], copa_seeds=[0, 1, 2])
    causal.run_variant("interaction-label", 0, args)
    (task, files, kwargs), = calls  # one run, not one per COPA seed
    assert task == "copa" and "init_from" not in kwargs
    assert kwargs["fusion"] == "interaction" and kwargs["node_init"] == "label"
    assert [p.name for p in files.train] == ["train.jsonl", "copa-dev.xml"] and files.dev.name == "dev.jsonl"
    assert list(files.tests) and kwargs["out"] == runs / "jcopa-interaction-label-s0"
    assert kwargs["training_kwargs"]["epochs"] == 2
