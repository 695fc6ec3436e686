"""The trainer on a tiny late-fusion model and a few generated kinship stories, on CPU: the loss falls, checkpoints
hold no pickle, a resumed run equals an uninterrupted one, early stopping, learning-rate groups and schedule,
FGM / PGD, bf16 autocast and seeding."""

from __future__ import annotations

import json

import pytest
import torch
from test_fusion import KINSHIP, kinship_examples, make_model

from kgreason.data.batch import ExampleDataset, RelationVocabulary, make_loader
from kgreason.fusion import FusionModel
from kgreason.pipelines import training
from kgreason.pipelines.training import (
    CHECKPOINT_DIR,
    EmbeddingAttack,
    Trainer,
    TrainingConfig,
    set_seed,
    word_embedding_weight,
)

RELATIONS = RelationVocabulary("text", ("<unk>", *sorted(KINSHIP)))


@pytest.fixture(scope="module")
def loaders(tokenizer):
    """train: 16 stories in batches of 4 (shuffled), dev: 8 others."""
    def loader(examples, shuffle):
        return make_loader(ExampleDataset(examples), batch_size=4, shuffle=shuffle, seed=0, tokenizer=tokenizer,
                           relations=RELATIONS)

    return loader(kinship_examples(16, seed=3), True), loader(kinship_examples(8, seed=4), False)


def settings(**overrides) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 2, "lr_text": 1e-3, "lr_graph": 3e-3, "warmup_ratio": 0.0, "device": "cpu",
                             "logging_steps": 2, **overrides})


def trainer(tokenizer, loaders, tmp_path, *, model_seed=0, **overrides) -> Trainer:
    train, dev = loaders
    model = make_model("late", "rgcn", tokenizer, seed=model_seed)
    return Trainer(model, settings(**overrides), train_loader=train, dev_loader=dev, output_dir=tmp_path)


def final_logits(model: torch.nn.Module, loader) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(batch).logits for batch in loader])


def test_loss_falls_and_metrics_are_written(tokenizer, loaders, tmp_path):
    run = trainer(tokenizer, loaders, tmp_path, epochs=4)
    before = run.evaluate(loaders[0])["loss"]
    result = run.fit()
    assert run.evaluate(loaders[0])["loss"] < 0.8 * before
    assert [record["epoch"] for record in result.epochs] == [1, 2, 3, 4] and result.stopped == "epochs"
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [line for line in lines if line["type"] == "step"]
    assert [line["step"] for line in steps] == list(range(2, 17, 2))
    assert {"loss", "lr", "examples_per_second", "seconds", "epoch"} <= set(steps[0])
    epochs = [line for line in lines if line["type"] == "epoch"]
    assert all(line["dev_metric"] is not None and line["examples_per_second"] > 0 for line in epochs)
    assert result.best_epoch in {1, 2, 3, 4}
    assert result.best_metric == max(line["dev_metric"] for line in epochs)


def test_evaluate_gives_predictions_with_meta(tokenizer, loaders, tmp_path):
    evaluation = trainer(tokenizer, loaders, tmp_path).evaluate(loaders[1])
    assert len(evaluation["predictions"]) == 8
    first = evaluation["predictions"][0]
    assert first["meta"]["id"] == "k0" and first["label"] in range(len(KINSHIP))
    right = sum(p["prediction"] == p["label"] for p in evaluation["predictions"])
    assert evaluation["accuracy"] == evaluation["metric"] == right / 8


def test_checkpoint_and_best_model_hold_no_pickle(tokenizer, loaders, tmp_path):
    result = trainer(tokenizer, loaders, tmp_path, epochs=1).fit()
    checkpoint = tmp_path / CHECKPOINT_DIR
    assert {p.name for p in checkpoint.iterdir()} == {"config.json", "text_config.json", "model.safetensors",
                                                       "optimizer.safetensors", "trainer_state.json"}
    every_file = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not [p for p in every_file if p.suffix in {".pt", ".bin", ".pkl", ".pickle"}]
    for path in every_file:  # pickles start with the protocol opcode 0x80
        assert not path.read_bytes().startswith(b"\x80"), path
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["epoch"] == 1 and state["step"] == 4 and "torch" in state["rng"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary directory left
    best, last = FusionModel.from_pretrained(result.best_model_dir), FusionModel.from_pretrained(checkpoint)
    assert torch.equal(final_logits(best, loaders[1]), final_logits(last, loaders[1]))  # one epoch: the best


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tokenizer, loaders, tmp_path):
    straight = trainer(tokenizer, loaders, tmp_path / "straight")
    expected = straight.fit()

    calls = []

    def crash_in_second_epoch(predictions, labels):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return sum(p == y for p, y in zip(predictions, labels)) / len(labels)

    interrupted = trainer(tokenizer, loaders, tmp_path / "resumed")
    interrupted.metric_fn = crash_in_second_epoch
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    torch.manual_seed(123)  # the resumed run must not depend on the state it starts in
    resumed = trainer(tokenizer, loaders, tmp_path / "resumed", model_seed=1)
    result = resumed.fit(resume=True)
    assert torch.equal(final_logits(resumed.model, loaders[1]), final_logits(straight.model, loaders[1]))
    for mine, theirs in zip(result.epochs, expected.epochs, strict=True):
        assert mine["loss"] == theirs["loss"] and mine["dev_metric"] == theirs["dev_metric"]
    assert (result.best_epoch, result.best_metric) == (expected.best_epoch, expected.best_metric)


def test_a_kill_inside_an_epoch_loses_only_the_steps_after_the_last_checkpoint(tokenizer, loaders, tmp_path):
    """4 batches an epoch, a checkpoint every 3 steps (steps 3 and 6 fall inside epochs 1 and 2): killed at step
    8, the run resumes from step 6, skips the 2 batches epoch 2 had done, and ends as the uninterrupted run does,
    metrics.jsonl included (less its timings; step 7's line, written before the kill, is not there twice)."""
    every = {"checkpoint_steps": 3, "logging_steps": 1}
    straight = trainer(tokenizer, loaders, tmp_path / "straight", **every)
    expected = straight.fit()

    interrupted = trainer(tokenizer, loaders, tmp_path / "resumed", **every)
    steps, step = [], interrupted.train_step

    def killed_at_step_8(batch):
        steps.append(1)
        if len(steps) == 8:
            raise KeyboardInterrupt
        return step(batch)

    interrupted.train_step = killed_at_step_8
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    state = json.loads((tmp_path / "resumed" / CHECKPOINT_DIR / "trainer_state.json").read_text())
    assert (state["epoch"], state["step"], state["in_epoch"]["batches"]) == (1, 6, 2)
    torch.manual_seed(123)
    resumed = trainer(tokenizer, loaders, tmp_path / "resumed", model_seed=1, **every)
    taken = []
    resumed.train_step = lambda batch: taken.append(1) or Trainer.train_step(resumed, batch)
    result = resumed.fit(resume=True)
    assert len(taken) == 2  # steps 7 and 8
    assert torch.equal(final_logits(resumed.model, loaders[1]), final_logits(straight.model, loaders[1]))
    for mine, theirs in zip(result.epochs, expected.epochs, strict=True):
        assert mine["loss"] == theirs["loss"] and mine["dev_metric"] == theirs["dev_metric"]

    def lines(run):
        timings = {"seconds", "examples_per_second"}
        return [{k: v for k, v in json.loads(line).items() if k not in timings}
                for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]

    assert lines("resumed") == lines("straight")


def test_resume_without_checkpoint_says_so(tokenizer, loaders, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        trainer(tokenizer, loaders, tmp_path).fit(resume=True)


def test_same_seed_same_result(tokenizer, loaders, tmp_path):
    logits = []
    for run in ("a", "b"):
        set_seed(7)
        one = trainer(tokenizer, loaders, tmp_path / run, max_steps=3, seed=5)
        one.fit()
        logits.append(final_logits(one.model, loaders[1]))
    assert torch.equal(*logits)


def test_early_stopping_stops(tokenizer, loaders, tmp_path):
    never_better = iter([0.5, 0.4, 0.4, 0.3, 0.9, 0.9])
    run = trainer(tokenizer, loaders, tmp_path, epochs=6, early_stopping_patience=2)
    run.metric_fn = lambda predictions, labels: next(never_better)
    result = run.fit()
    assert result.stopped == "early_stopping" and len(result.epochs) == 3
    assert (result.best_epoch, result.best_metric) == (1, 0.5)


def test_max_steps_stops_mid_epoch(tokenizer, loaders, tmp_path):
    result = trainer(tokenizer, loaders, tmp_path, max_steps=3).fit()
    assert result.stopped == "max_steps" and [r["step"] for r in result.epochs] == [3]


def test_learning_rate_groups_and_linear_warmup(tokenizer, loaders, tmp_path):
    run = trainer(tokenizer, loaders, tmp_path, epochs=5, warmup_ratio=0.2, lr_text=1e-3, lr_graph=1e-2,
                  weight_decay=0.1)  # 20 steps: 4 of warm-up, 16 of decay
    groups = {group["name"]: group for group in run.optimizer.param_groups}
    assert set(groups) == {"text", "text-no-decay", "graph", "graph-no-decay"}
    text_ids = {id(p) for p in run.model.text_encoder.parameters()}
    assert all(id(p) in text_ids for p in groups["text"]["params"] + groups["text-no-decay"]["params"])
    assert not any(id(p) in text_ids for p in groups["graph"]["params"] + groups["graph-no-decay"]["params"])
    assert groups["text"]["weight_decay"] == 0.1 and groups["graph-no-decay"]["weight_decay"] == 0.0
    rates = []
    for _ in range(20):
        rates.append({name: group["lr"] for name, group in zip(groups, run.optimizer.param_groups)})
        run.optimizer.step()  # no gradients: nothing moves
        run.scheduler.step()
    factors = [0, 0.25, 0.5, 0.75, 1.0, 15 / 16, 14 / 16]
    for step, factor in enumerate(factors):
        assert rates[step]["text"] == pytest.approx(1e-3 * factor)
        assert rates[step]["graph"] == pytest.approx(1e-2 * factor)
    assert rates[19]["graph"] == pytest.approx(1e-2 / 16)


@pytest.mark.parametrize("method", ["fgm", "pgd"])
def test_adversarial_step_adds_a_gradient_and_restores_embeddings(method, tokenizer, loaders):
    model = make_model("late", "rgcn", tokenizer).eval()  # no dropout: the gradients differ by the attack alone
    batch = next(iter(loaders[1]))
    weight = word_embedding_weight(model)
    before = weight.detach().clone()
    model(batch).loss.backward()
    clean = weight.grad.clone()
    attack = EmbeddingAttack(weight, method=method, epsilon=1.0, steps=3)
    adversarial_loss = attack.backward(lambda: model(batch).loss, list(model.parameters()))
    assert adversarial_loss is not None and torch.isfinite(adversarial_loss)
    assert torch.equal(weight.detach(), before)
    assert not torch.allclose(weight.grad, clean)  # the perturbed loss's gradient was added


@pytest.mark.parametrize("method", ["fgm", "pgd"])
def test_adversarial_training_changes_the_result(method, tokenizer, loaders, tmp_path):
    plain = trainer(tokenizer, loaders, tmp_path / "plain", max_steps=2)
    plain.fit()
    attacked = trainer(tokenizer, loaders, tmp_path / method, max_steps=2, adversarial=method, adversarial_steps=2)
    attacked.fit()
    assert not torch.allclose(final_logits(plain.model, loaders[1]), final_logits(attacked.model, loaders[1]))


def test_adversarial_needs_trainable_embeddings(tokenizer, loaders, tmp_path):
    run = trainer(tokenizer, loaders, tmp_path)
    word_embedding_weight(run.model).requires_grad_(False)
    with pytest.raises(ValueError, match="frozen"):
        Trainer(run.model, settings(adversarial="fgm"), train_loader=loaders[0], output_dir=tmp_path)


def test_bf16_autocast_on_cpu_trains(tokenizer, loaders, tmp_path, monkeypatch):
    """It trains, and on a CPU without bfloat16 instructions (emulated: many times slower) it says so."""
    monkeypatch.setattr(training, "cpu_has_bf16_instructions", lambda: False)
    with pytest.warns(RuntimeWarning, match="no bfloat16 instructions.*mixed_precision 'no'"):
        run = trainer(tokenizer, loaders, tmp_path, mixed_precision="bf16", max_steps=3)
    result = run.fit()
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in result.epochs)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="mixed_precision"):
        TrainingConfig(mixed_precision="fp16")
    with pytest.raises(ValueError, match="adversarial"):
        TrainingConfig(adversarial="awp")
