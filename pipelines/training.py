"""Training a fusion model: AdamW with separate text / graph learning rates, linear warm-up and decay, clipping,
bf16 autocast, FGM / PGD adversarial training, early stopping, JSONL metrics and resumable checkpoints.

    set_seed(0)
    model = build_model(config)
    trainer = Trainer(model, TrainingConfig(epochs=3), train_loader=train, dev_loader=dev, output_dir="out/run")
    result = trainer.fit()                     # fit(resume=True) continues from out/run/checkpoint/
    result.best_model_dir                      # out/run/best/: FusionModel.from_pretrained(...) loads it

`output_dir` gets `metrics.jsonl` (one line per logging step and per epoch), `checkpoint/` (the model's
`save_pretrained` files, `optimizer.safetensors` and `trainer_state.json`: nothing is pickled) and `best/`. Both
directories are written to a temporary directory first and then renamed into place.

The checkpoint is written at the end of every epoch and every `checkpoint_steps` optimizer steps inside one, so a
kill loses at most that many steps. A resumed run gives the same weights and metrics as an uninterrupted one: each
epoch's data order comes from the train loader's sampler generator seeded with `seed + epoch` (a run resumed
inside an epoch skips the batches that epoch had done), the checkpoint holds the Python, NumPy and torch random
states as they were when it was written, and `metrics.jsonl` is cut back to the lines written before it.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.utils.data import DataLoader
from transformers import get_linear_schedule_with_warmup

from kgreason.data.batch import KGQABatch

from .evaluation import accuracy, predict_loader

METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoint"
BEST_DIR = "best"
STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"
MIXED_PRECISION = ("no", "bf16")
ADVERSARIAL = (None, "fgm", "pgd")


@dataclass
class TrainingConfig:
    """How to train.

    lr_text: the text encoder's parameters; lr_graph: every other parameter (graph side, fusion, head). Biases and
        normalisation weights (1-d parameters) get no weight decay.
    warmup_ratio: share of the steps with a linear warm-up from 0; then linear decay to 0 at the last step
    max_grad_norm: clip the gradients' global norm (None: no clipping)
    mixed_precision: "no" or "bf16" (`torch.autocast` with bfloat16, on CUDA or CPU)
    early_stopping_patience: stop after this many epochs without a better dev metric (None: never)
    adversarial: None, "fgm" or "pgd": perturb the text encoder's word-embedding weights along the gradient by
        `adversarial_epsilon` (PGD: `adversarial_steps` steps of `adversarial_alpha`, None: epsilon / steps,
        projected on the epsilon ball) and add the perturbed loss's gradient
    device: "auto" (CUDA when available, else CPU), or a torch device name
    max_steps: stop after this many optimizer steps (None: `epochs` full passes)
    logging_steps: write a `metrics.jsonl` line every this many steps
    checkpoint_steps: also write the checkpoint every this many optimizer steps inside an epoch (None: at the end
        of each epoch only)
    """

    epochs: int = 3
    batch_size: int = 32
    lr_text: float = 2e-5
    lr_graph: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float | None = 1.0
    seed: int = 0
    mixed_precision: str = "no"
    early_stopping_patience: int | None = None
    adversarial: str | None = None
    adversarial_epsilon: float = 1.0
    adversarial_steps: int = 3
    adversarial_alpha: float | None = None
    device: str = "auto"
    max_steps: int | None = None
    logging_steps: int = 50
    checkpoint_steps: int | None = 500

    def __post_init__(self) -> None:
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"TrainingConfig.mixed_precision={self.mixed_precision!r}: use one of {MIXED_PRECISION}")
        if self.adversarial not in ADVERSARIAL:
            raise ValueError(f"TrainingConfig.adversarial={self.adversarial!r}: use one of {ADVERSARIAL}")
        if self.epochs < 1 or self.logging_steps < 1 or any(
                steps is not None and steps < 1 for steps in (self.max_steps, self.checkpoint_steps)):
            raise ValueError(f"TrainingConfig: epochs ({self.epochs}), max_steps ({self.max_steps}), logging_steps "
                             f"({self.logging_steps}) and checkpoint_steps ({self.checkpoint_steps}) must be at "
                             "least 1")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"TrainingConfig.warmup_ratio={self.warmup_ratio}: use a share in [0, 1)")


@dataclass
class TrainingResult:
    """epochs: one dict per epoch (as in `metrics.jsonl`); best_metric / best_epoch: the best dev metric (None
    without a dev loader: then `best/` holds the last epoch's model); stopped: "epochs", "max_steps" or
    "early_stopping"."""

    epochs: list[dict[str, Any]]
    best_metric: float | None
    best_epoch: int
    best_model_dir: Path
    stopped: str


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when available, else cpu; anything else as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cpu_has_bf16_instructions() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (AVX512-BF16 or AMX tiles); True when torch
    cannot tell."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    checks = [check for check in checks if check is not None]
    return not checks or any(check() for check in checks)


def warn_if_bf16_is_emulated(device: torch.device, setting: str, *, instead: str) -> None:
    """A RuntimeWarning when bf16 on `device` is emulated (a CPU without bfloat16 instructions), which makes it
    many times slower than fp32 (MiniLM's matrix products 30x on an AVX2-only CPU)."""
    if device.type == "cpu" and not cpu_has_bf16_instructions():
        warnings.warn(f"{setting}: this CPU has no bfloat16 instructions (AVX512-BF16 or AMX), so the matrix "
                      f"products are emulated, many times slower than fp32; {instead}", RuntimeWarning, stacklevel=3)


def parameter_groups(model: nn.Module, config: TrainingConfig) -> list[dict[str, Any]]:
    """The trainable parameters in AdamW groups named "text" / "graph" (learning rate) and "...-no-decay" (1-d
    parameters: biases, norms), empty groups left out."""
    text_encoder = getattr(model, "text_encoder", None)
    text_ids = {id(p) for p in text_encoder.parameters()} if text_encoder is not None else set()
    groups: dict[str, dict[str, Any]] = {}
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        part = "text" if id(parameter) in text_ids else "graph"
        decays = parameter.ndim > 1
        name = part if decays else f"{part}-no-decay"
        group = groups.setdefault(name, {
            "name": name, "params": [], "lr": config.lr_text if part == "text" else config.lr_graph,
            "weight_decay": config.weight_decay if decays else 0.0,
        })
        group["params"].append(parameter)
    if not groups:
        raise ValueError("the model has no trainable parameters (is everything frozen?)")
    return list(groups.values())


class EmbeddingAttack:
    """FGM (one step) or PGD (`steps` steps) on the word-embedding weights `weight: [V, H]`.

    `backward(loss_fn, parameters)` is called after the clean loss's backward: it perturbs the weights along their gradient
    (r = alpha * g / ||g||, projected on the ball of radius epsilon), backpropagates `loss_fn()` at the perturbed
    weights (its gradient is added to the clean one), and restores the weights exactly.
    """

    def __init__(self, weight: nn.Parameter, *, method: str, epsilon: float, steps: int = 1,
                 alpha: float | None = None) -> None:
        if method not in ("fgm", "pgd") or steps < 1:
            raise ValueError(f"EmbeddingAttack(method={method!r}, steps={steps}): use method 'fgm' or 'pgd' and "
                             "at least 1 step")
        if not weight.requires_grad:
            raise ValueError("adversarial training perturbs the text encoder's word embeddings, which are frozen: "
                             "train them (TextEncoder freeze=None) or set TrainingConfig.adversarial=None")
        self.weight = weight
        self.epsilon = epsilon
        self.steps = 1 if method == "fgm" else steps
        self.alpha = epsilon if method == "fgm" else (alpha if alpha is not None else epsilon / steps)

    @torch.no_grad()
    def _move(self, start: Tensor) -> bool:
        """One step along the current gradient from the current weights, projected around `start`."""
        gradient = self.weight.grad
        norm = gradient.norm() if gradient is not None else None
        if norm is None or norm == 0 or not torch.isfinite(norm):
            return False
        self.weight.add_(self.alpha * gradient / norm)
        shift = self.weight - start
        shift_norm = shift.norm()
        if shift_norm > self.epsilon:
            self.weight.copy_(start + shift * (self.epsilon / shift_norm))
        return True

    def backward(self, loss_fn: Callable[[], Tensor], parameters: Sequence[nn.Parameter]) -> Tensor | None:
        """Add the adversarial loss's gradient to `parameters`' gradients (those of the clean loss); returns that
        loss, or None when the embeddings got no gradient to follow (then the gradients are the clean ones)."""
        start = self.weight.detach().clone()
        clean = [None if p.grad is None else p.grad.clone() for p in parameters]
        loss = None
        try:
            for step in range(self.steps):
                if not self._move(start):
                    _set_gradients(parameters, clean)
                    return None
                last = step == self.steps - 1
                _set_gradients(parameters, clean if last else [None] * len(parameters))
                loss = loss_fn()
                loss.backward()
        finally:
            with torch.no_grad():
                self.weight.copy_(start)
        return loss


def _set_gradients(parameters: Sequence[nn.Parameter], gradients: Sequence[Tensor | None]) -> None:
    for parameter, gradient in zip(parameters, gradients):
        parameter.grad = None if gradient is None else gradient.clone()


def word_embedding_weight(model: nn.Module) -> nn.Parameter:
    """The text encoder's word-embedding matrix [V, H]."""
    text_encoder = getattr(model, "text_encoder", None)
    if text_encoder is None:
        raise ValueError("adversarial training perturbs text embeddings, but the model reads no text; set "
                         "TrainingConfig.adversarial=None")
    return text_encoder.base_model.get_input_embeddings().weight


class Trainer:
    """Trains `model` (forward(batch) -> output with `.logits [B, K]` and `.loss`, `save_pretrained(dir)`,
    `from_pretrained(dir)`) on `train_loader`, evaluating `dev_loader` with `metric_fn(predictions, labels)` (higher
    is better) after each epoch."""

    def __init__(self, model: nn.Module, config: TrainingConfig, *, train_loader: DataLoader,
                 dev_loader: DataLoader | None = None, output_dir: str | Path,
                 metric_fn: Callable[[Sequence[int], Sequence[int]], float] = accuracy) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        if config.mixed_precision == "bf16":
            warn_if_bf16_is_emulated(self.device, "mixed_precision 'bf16'", instead="train with mixed_precision 'no' here")
        self.model = model.to(self.device)
        self.train_loader = train_loader
        self.dev_loader = dev_loader
        self.output_dir = Path(output_dir)
        self.metric_fn = metric_fn
        self.steps_per_epoch = len(train_loader)
        if self.steps_per_epoch == 0:
            raise ValueError("train_loader yields no batches: is the training set empty?")
        self.total_steps = config.epochs * self.steps_per_epoch
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)
        self.optimizer = torch.optim.AdamW(parameter_groups(model, config))
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, num_warmup_steps=round(config.warmup_ratio * self.total_steps),
            num_training_steps=self.total_steps)
        self.attack = None if config.adversarial is None else EmbeddingAttack(
            word_embedding_weight(model), method=config.adversarial, epsilon=config.adversarial_epsilon,
            steps=config.adversarial_steps, alpha=config.adversarial_alpha)
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self._resumed_rng: dict[str, Any] | None = None  # a checkpoint's random states, for inside its epoch

    # -- running the model -------------------------------------------------------------------------------------
    def _autocast(self):
        if self.config.mixed_precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _forward(self, batch: KGQABatch):
        with self._autocast():
            return self.model(batch)

    def _loss(self, batch: KGQABatch) -> Tensor:
        return self._forward(batch).loss

    def train_step(self, batch: KGQABatch) -> float | None:
        """One optimizer step on `batch`; returns its loss (None, and no step, for a batch without known labels)."""
        self.model.train()
        batch = batch.to(self.device)
        loss = self._loss(batch)
        if loss is None:
            return None
        loss.backward()
        if self.attack is not None:
            self.attack.backward(lambda: self._loss(batch), self.trainable)
        if self.config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.trainable, self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def evaluate(self, loader: DataLoader) -> dict[str, Any]:
        """loss (mean over the examples with a known label), accuracy, metric (`metric_fn`) and predictions: one
        {"prediction", "label", "scores", "meta"} per example, to break the accuracy down by the meta's k / depth."""
        predictions, loss = predict_loader(self.model, loader, device=self.device, autocast=self._autocast)
        guesses, answers = [p["prediction"] for p in predictions], [p["label"] for p in predictions]
        return {"loss": loss, "accuracy": accuracy(guesses, answers), "metric": self.metric_fn(guesses, answers),
                "predictions": predictions}

    # -- the loop ----------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainingResult:
        """Train for `config.epochs` (or `max_steps`, or until early stopping); with `resume`, continue from
        `output_dir/checkpoint/` (an error when there is none)."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        state = self._load_checkpoint() if resume else _fresh_state(self.config.seed)
        if not resume:
            (self.output_dir / METRICS_FILE).unlink(missing_ok=True)
        while state["stopped"] is None:
            epoch = state["epoch"] + 1
            record = self._train_epoch(epoch, state)
            if self.dev_loader is not None:
                evaluation = self.evaluate(self.dev_loader)
                record.update(dev_loss=evaluation["loss"], dev_accuracy=evaluation["accuracy"],
                              dev_metric=evaluation["metric"])
            self._log(record)
            state["history"].append(record)
            state["epoch"] = epoch
            improved = self.dev_loader is None or state["best_metric"] is None or \
                record["dev_metric"] > state["best_metric"]
            if improved:
                state["best_metric"], state["best_epoch"] = record.get("dev_metric"), epoch
                state["epochs_without_improvement"] = 0
                self._write_atomically(BEST_DIR, self.model.save_pretrained)
            else:
                state["epochs_without_improvement"] += 1
            state["stopped"] = self._stop_reason(state)
            self._save_checkpoint(state)
        return TrainingResult(state["history"], state["best_metric"], state["best_epoch"],
                              self.output_dir / BEST_DIR, state["stopped"])

    def _stop_reason(self, state: dict[str, Any]) -> str | None:
        patience = self.config.early_stopping_patience
        if patience is not None and self.dev_loader is not None and state["epochs_without_improvement"] >= patience:
            return "early_stopping"
        if self.config.max_steps is not None and state["step"] >= self.config.max_steps:
            return "max_steps"
        return "epochs" if state["epoch"] >= self.config.epochs else None

    def _train_epoch(self, epoch: int, state: dict[str, Any]) -> dict[str, Any]:
        """One pass over the train loader (cut at `max_steps`), from where `state["in_epoch"]` left it when the run
        resumed inside the epoch; returns the epoch's metrics record."""
        generator = getattr(getattr(self.train_loader, "sampler", None), "generator", None)
        if generator is not None:
            generator.manual_seed(self.config.seed + epoch)
        done = state["in_epoch"] or _fresh_epoch()
        started = window_start = time.perf_counter() - done["seconds"]
        batches = iter(self.train_loader)  # draws from the global torch generator: before its state is restored
        with _progress(self.steps_per_epoch, f"epoch {epoch}") as advance:
            for _ in range(done["batches"]):
                next(batches)
                advance()
            if self._resumed_rng is not None:
                _set_rng_states(self._resumed_rng)
                self._resumed_rng = None
            for batch in batches:
                loss = self.train_step(batch)
                advance()
                done["batches"] += 1
                if loss is None:
                    continue
                state["step"] += 1
                done["loss"], done["steps"] = done["loss"] + loss, done["steps"] + 1
                done["examples"] += batch.batch_size
                done["window_losses"].append(loss)
                done["window_examples"] += batch.batch_size
                if state["step"] % self.config.logging_steps == 0:
                    now = time.perf_counter()
                    self._log({"type": "step", "epoch": epoch, "step": state["step"],
                               "loss": sum(done["window_losses"]) / len(done["window_losses"]),
                               "lr": self._learning_rates(),
                               "examples_per_second": done["window_examples"] / max(now - window_start, 1e-9),
                               "seconds": now - started})
                    window_start, done["window_losses"], done["window_examples"] = now, [], 0
                if self.config.max_steps is not None and state["step"] >= self.config.max_steps:
                    break
                every = self.config.checkpoint_steps
                if every is not None and state["step"] % every == 0 and done["batches"] < self.steps_per_epoch:
                    state["in_epoch"] = {**done, "seconds": time.perf_counter() - started}
                    self._save_checkpoint(state)
        state["in_epoch"] = None
        seconds = time.perf_counter() - started
        return {"type": "epoch", "epoch": epoch, "step": state["step"],
                "loss": done["loss"] / done["steps"] if done["steps"] else None, "lr": self._learning_rates(),
                "examples_per_second": done["examples"] / max(seconds, 1e-9), "seconds": seconds}

    def _learning_rates(self) -> dict[str, float]:
        return {group["name"]: group["lr"] for group in self.optimizer.param_groups}

    def _log(self, record: dict[str, Any]) -> None:
        with (self.output_dir / METRICS_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _write_atomically(self, name: str, write: Callable[[Path], None]) -> None:
        """Run `write(temporary dir)`, then put that dir at `output_dir/name` (replacing the old one)."""
        target = self.output_dir / name
        temporary = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.output_dir))
        try:
            write(temporary)
            if target.exists():
                stale = Path(tempfile.mkdtemp(prefix=f".{name}-old-", dir=self.output_dir))
                target.rename(stale / name)
                temporary.rename(target)
                shutil.rmtree(stale)
            else:
                temporary.rename(target)
        finally:
            if temporary.exists():
                shutil.rmtree(temporary)

    def _save_checkpoint(self, state: dict[str, Any]) -> None:
        def write(directory: Path) -> None:
            self.model.save_pretrained(directory)
            tensors, optimizer_json = _flatten_optimizer(self.optimizer.state_dict())
            save_file(tensors, str(directory / OPTIMIZER_FILE))
            metrics = self.output_dir / METRICS_FILE
            full = {**state, "config": asdict(self.config), "optimizer": optimizer_json,
                    "scheduler": self.scheduler.state_dict(), "rng": _rng_states(),
                    "metrics_bytes": metrics.stat().st_size if metrics.exists() else 0}
            (directory / STATE_FILE).write_text(json.dumps(full) + "\n", encoding="utf-8")

        self._write_atomically(CHECKPOINT_DIR, write)

    def _load_checkpoint(self) -> dict[str, Any]:
        """Restore the model, optimizer, scheduler and random states from the checkpoint; returns the loop state."""
        directory = self.output_dir / CHECKPOINT_DIR
        if not (directory / STATE_FILE).is_file():
            raise FileNotFoundError(f"{directory}/{STATE_FILE} not found: nothing to resume; run fit(resume=False)")
        full = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        loaded = type(self.model).from_pretrained(directory)
        self.model.load_state_dict(loaded.state_dict())
        del loaded
        self.optimizer.load_state_dict(_unflatten_optimizer(load_file(str(directory / OPTIMIZER_FILE)),
                                                            full["optimizer"], self.optimizer))
        self.scheduler.load_state_dict(full["scheduler"])
        metrics = self.output_dir / METRICS_FILE
        if metrics.exists():  # the lines written after the checkpoint are written again
            with metrics.open("r+b") as handle:
                handle.truncate(full.get("metrics_bytes", metrics.stat().st_size))
        if full.get("in_epoch"):  # restored once the epoch's iterator is made (`_train_epoch`)
            self._resumed_rng = full["rng"]
        else:
            _set_rng_states(full["rng"])  # last: building the loaded model above drew random numbers
        return {key: full.get(key, value) for key, value in FRESH_STATE.items()}


FRESH_STATE = {"epoch": 0, "step": 0, "best_metric": None, "best_epoch": 0, "epochs_without_improvement": 0,
               "stopped": None, "history": [], "in_epoch": None}  # the loop state a checkpoint keeps, before the first epoch


def _fresh_epoch() -> dict[str, Any]:
    """What an epoch has done so far (kept in a checkpoint written inside it): batches read, the sum and count of
    its losses, examples, seconds, and the logging window's losses and examples."""
    return {"batches": 0, "loss": 0.0, "steps": 0, "examples": 0, "seconds": 0.0, "window_losses": [],
            "window_examples": 0}


def _fresh_state(seed: int) -> dict[str, Any]:
    """`FRESH_STATE`, after `set_seed(seed)`: a new run's random numbers depend on the seed alone."""
    set_seed(seed)
    return json.loads(json.dumps(FRESH_STATE))


def _progress(total: int, description: str):
    """A context giving `advance()`: a rich progress bar on an interactive terminal, nothing otherwise."""
    if not sys.stderr.isatty():
        return nullcontext(lambda: None)
    from rich.progress import Progress

    @contextmanager
    def bar():
        with Progress(transient=True) as progress:
            task = progress.add_task(description, total=total)
            yield lambda: progress.advance(task)

    return bar()


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """An optimizer state dict -> (tensors "<param index>.<key>" for safetensors, the rest for JSON)."""
    tensors, scalars = {}, {}
    for index, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, Tensor], saved: dict[str, Any],
                         optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The inverse of `_flatten_optimizer`; JSON lists go back to tuples where `optimizer`'s groups hold tuples."""
    state: dict[int, dict[str, Any]] = {int(index): dict(values) for index, values in saved["scalars"].items()}
    for name, tensor in tensors.items():
        index, _, key = name.partition(".")
        state.setdefault(int(index), {})[key] = tensor
    groups = []
    for group, current in zip(saved["param_groups"], optimizer.param_groups):
        groups.append({key: tuple(value) if isinstance(current.get(key), tuple) else value
                       for key, value in group.items()})
    return {"state": state, "param_groups": groups}


def _rng_states() -> dict[str, Any]:
    """Python's, NumPy's and torch's (CPU, every CUDA device) random states, JSON-safe."""
    numpy_state = np.random.get_state()
    return {
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "torch": torch.get_rng_state().tolist(),
        "cuda": [state.tolist() for state in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
    }


def _set_rng_states(states: dict[str, Any]) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(torch.tensor(states["torch"], dtype=torch.uint8))
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(state, dtype=torch.uint8) for state in states["cuda"]])
