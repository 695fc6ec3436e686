"""Plots of results (matplotlib, Agg backend: no display needed).

    plot_accuracy_by_group({"lm_only": {"2": 0.9, "4": 0.4}, "interaction": {"2": 0.95, "4": 0.9}},
                           "runs/demo/accuracy_by_k.png", xlabel="chain length k", trained_on={"2", "3"})
    plot_accuracy_bars({"lm_only": {"e-CARE dev": 0.70}, "fused": {"e-CARE dev": 0.78}}, "causal.png",
                       targets={"e-CARE dev": 0.78})
"""

from __future__ import annotations

from pathlib import Path


def accuracy_by_group(report: dict, group: str) -> dict[str, float]:
    """{value: accuracy} of one `accuracy_report` breakdown (e.g. group "k"), merged over several reports when
    `report` maps test names to reports."""
    reports = report.values() if "groups" not in report else [report]
    merged: dict[str, list[float]] = {}
    for one in reports:
        for value, cell in one["groups"].get(group, {}).items():
            merged.setdefault(value, [0.0, 0.0])
            merged[value][0] += cell["accuracy"] * cell["n"]
            merged[value][1] += cell["n"]
    return {value: right / n for value, (right, n) in merged.items() if n}


def _pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: str | Path) -> Path:
    """Write `figure` as a PNG to `path` (its folder made when missing), close it and return the path."""
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    _pyplot().close(figure)
    return path


LEGEND_INSIDE = 4  # lines whose legend still leaves the data readable inside the axes


def plot_accuracy_by_group(series: dict[str, dict[str, float]], path: str | Path, *, xlabel: str,
                           title: str = "", trained_on: set[str] | None = None) -> Path:
    """One line per model over the numeric group values (x), accuracy (y, 0..1); the values seen in training
    shaded; more than `LEGEND_INSIDE` lines get their legend beside the plot. Writes a PNG to `path` and returns it."""
    plt = _pyplot()
    values = sorted({v for accuracies in series.values() for v in accuracies if v.lstrip("-").isdigit()}, key=int)
    beside = len(series) > LEGEND_INSIDE
    figure, axes = plt.subplots(figsize=(9 if beside else 6, 4), dpi=120)
    for value in trained_on or ():
        if value in values:
            axes.axvspan(int(value) - 0.5, int(value) + 0.5, color="0.92", zorder=0)
    for name, accuracies in series.items():
        xs = [int(v) for v in values if v in accuracies]
        axes.plot(xs, [accuracies[str(x)] for x in xs], marker="o", label=name)
    axes.set(xlabel=xlabel, ylabel="accuracy", ylim=(0, 1.02), title=title)
    axes.set_xticks([int(v) for v in values])
    axes.grid(alpha=0.3)
    if beside:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    else:
        axes.legend()
    if trained_on:
        axes.text(0.01, 0.02, "shaded: seen in training", transform=axes.transAxes, fontsize=8, color="0.4")
    return _save(figure, path)


def plot_accuracy_bars(series: dict[str, dict[str, float]], path: str | Path, *, title: str = "",
                       targets: dict[str, float] | None = None) -> Path:
    """Grouped bars: one group per measure (the keys of the models' dicts, in first-seen order), one bar per model
    within it, accuracy (y, 0..1) written above each bar; a measure's target level, where given, drawn as a dashed
    line across its group. Writes a PNG to `path` and returns it."""
    plt = _pyplot()
    measures = list(dict.fromkeys(m for accuracies in series.values() for m in accuracies))
    width = 0.8 / max(len(series), 1)
    figure, axes = plt.subplots(figsize=(max(6, 2 * len(measures) + 2), 4), dpi=120)
    for number, (name, accuracies) in enumerate(series.items()):
        xs = [i + (number - (len(series) - 1) / 2) * width for i, m in enumerate(measures) if m in accuracies]
        heights = [accuracies[m] for m in measures if m in accuracies]
        bars = axes.bar(xs, heights, width=width * 0.95, label=name)
        axes.bar_label(bars, labels=[f"{h:.3f}" for h in heights], fontsize=7, padding=1)
    targeted = [i for i, measure in enumerate(measures) if measure in (targets or {})]
    for i in targeted:  # one legend entry for all the target lines
        axes.hlines(targets[measures[i]], i - 0.45, i + 0.45, colors="0.3", linestyles="dashed", linewidth=1,
                    label="target" if i == targeted[0] else None)
    axes.set_xticks(range(len(measures)), measures, fontsize=8)
    axes.set(ylabel="accuracy", ylim=(0, 1.05), title=title)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return _save(figure, path)
