"""Running a model over a loader, and accuracy broken down the way each task needs.

    predictions, loss = predict_loader(model, loader, device=device)
    report = accuracy_report(predictions, task="clutrr", label_names=labels.names)
    report["accuracy"], report["groups"]["k"]["4"]      # {"accuracy": 0.93, "n": 150}

Groups: clutrr by `k` (chain length) and `noise`; proofwriter by `depth` (proof depth, "none" for Unknown
answers and unparsed theories) and `answer` (the gold label's name); ecare and copa by `ask_for` (cause or
effect) and `evidence` (which choices have a causal path in the asked direction: "right" (the right answer
only), "wrong" (a wrong one only), "both", "none") and, on COPA XML, `copa_item` ("original", or "mirrored"
for Balanced COPA's mirrored items); other tasks only overall.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from .evidence import split_by_graph

TASK_GROUPS: dict[str, tuple[str, ...]] = {"clutrr": ("k", "noise"), "proofwriter": ("depth", "answer"),
                                           "ecare": ("ask_for", "evidence", "copa_item"),
                                           "copa": ("ask_for", "evidence", "copa_item")}


@torch.no_grad()
def predict_loader(model: nn.Module, loader: DataLoader, *, device: torch.device | str = "cpu",
                   autocast: Callable[[], Any] = nullcontext,
                   edge_importance: bool = False) -> tuple[list[dict[str, Any]], float | None]:
    """One {"prediction", "label", "scores", "meta"} per example (scores: softmax over classes or choices; with
    `edge_importance`, also "edge_importance": float [E] of the example's graph, None for a model without one),
    and the mean loss over the examples with a known label (None without any)."""
    model.eval()
    loss_sum, known, predictions = 0.0, 0, []
    for batch in loader:
        batch = batch.to(device)
        with autocast():
            output = model(batch)
        labels = batch.labels
        count = int((labels >= 0).sum())
        if output.loss is not None:
            loss_sum += output.loss.item() * count
            known += count
        scores = output.logits.float().softmax(-1)
        metas = batch.meta or [{} for _ in range(len(labels))]
        rows = [{"prediction": int(row.argmax()), "label": label, "scores": row.tolist(), "meta": meta}
                for row, label, meta in zip(scores, labels.tolist(), metas)]
        if edge_importance and batch.num_choices is None:
            importances = ([None] * len(rows) if output.edge_importance is None
                           else split_by_graph(batch, output.edge_importance))
            for row, importance in zip(rows, importances):
                row["edge_importance"] = importance
        predictions += rows
    return predictions, (loss_sum / known if known else None)


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """Share of the known labels (not -1) predicted right; 0.0 without any."""
    pairs = [(p, y) for p, y in zip(predictions, labels) if y >= 0]
    return sum(p == y for p, y in pairs) / len(pairs) if pairs else 0.0


def group_value(prediction: dict[str, Any], group: str, label_names: Sequence[str] | None) -> str:
    """The prediction's value for `group` as a string ("none" when its meta lacks it)."""
    if group == "answer":
        label = prediction["label"]
        return label_names[label] if label_names is not None and 0 <= label < len(label_names) else str(label)
    if group == "evidence":
        with_path = set(prediction["meta"].get("evidence_choices", ()))
        right, wrong = prediction["label"] in with_path, bool(with_path - {prediction["label"]})
        return {(True, False): "right", (False, True): "wrong", (True, True): "both"}.get((right, wrong), "none")
    value = prediction["meta"].get(group)
    return "none" if value is None else str(value)


def accuracy_report(predictions: list[dict[str, Any]], *, task: str,
                    label_names: Sequence[str] | None = None) -> dict[str, Any]:
    """{"accuracy", "n", "groups": {group: {value: {"accuracy", "n"}}}} over the predictions with a label (a group
    that no prediction has a value for, such as `copa_item` on e-CARE files, is left out; `evidence` is kept with
    only "none" when no question has a causal path)."""
    known = [p for p in predictions if p["label"] >= 0]
    report: dict[str, Any] = {"accuracy": accuracy([p["prediction"] for p in known], [p["label"] for p in known]),
                              "n": len(known), "unlabelled": len(predictions) - len(known), "groups": {}}
    for group in TASK_GROUPS.get(task, ()):
        buckets: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in known:
            buckets[group_value(p, group, label_names)].append(p)
        if set(buckets) == {"none"} and group != "evidence":  # no causal path at all is still a finding
            continue
        report["groups"][group] = {
            value: {"accuracy": accuracy([p["prediction"] for p in items], [p["label"] for p in items]), "n": len(items)}
            for value, items in sorted(buckets.items(), key=lambda item: _sort_key(item[0]))
        }
    return report


def _sort_key(value: str) -> tuple[int, Any]:
    """Numbers in numeric order, then words."""
    return (0, int(value)) if value.lstrip("-").isdigit() else (1, value)
