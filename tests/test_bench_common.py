"""bench/common.py: a results section rewritten from the runs found keeps the subsections it has no runs for."""

from pathlib import Path
from types import SimpleNamespace

import pytest

START, END = "<!-- x:start -->", "<!-- x:end -->"


@pytest.fixture
def common(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import common

    monkeypatch.setattr(common, "REPO", tmp_path)
    (tmp_path / "docs").mkdir()
    return common


def test_rerun_keeps_the_experiments_it_has_no_runs_for(common, tmp_path):
    results = tmp_path / "docs" / "results.md"
    results.write_text(
        f"# Results\n\ntext before\n\n{START}\n\nold preamble\n\n### a: first\n\nold a\n\n### b: second\n\n| old b |\n\n"
        f"### c: third\n\nold c\n{END}\n\ntext after\n"
    )

    def render(found, args):
        return f"{START}\n\nnew preamble\n\n" + "".join(f"### {name}: again\n\nnew {name}\n\n" for name in found) + END

    assert common.publish_section({"b": 1, "d": 1}, render, SimpleNamespace(runs="runs"), START, END)
    assert results.read_text() == (
        f"# Results\n\ntext before\n\n{START}\n\nnew preamble\n\n### a: first\n\nold a\n\n### b: again\n\nnew b\n\n"
        f"### c: third\n\nold c\n\n### d: again\n\nnew d\n\n{END}\n\ntext after\n"
    )


def test_no_runs_writes_nothing(common, tmp_path):
    results = tmp_path / "docs" / "results.md"
    results.write_text(f"{START}\n### a: x\n{END}\n")
    assert not common.publish_section({}, lambda found, args: "", SimpleNamespace(runs="runs"), START, END)
    assert results.read_text() == f"{START}\n### a: x\n{END}\n"


def test_a_first_section_goes_at_the_end(common, tmp_path):
    results = tmp_path / "docs" / "results.md"
    results.write_text("# Results\n")
    common.publish_section({"a": 1}, lambda found, args: f"{START}\n### a: y\n{END}", SimpleNamespace(runs="runs"), START, END)
    assert results.read_text() == f"# Results\n\n{START}\n### a: y\n{END}\n"


def test_a_table_that_would_lose_published_runs_is_not_rewritten(common, tmp_path, capsys):
    results = tmp_path / "docs" / "results.md"
    before = (f"{START}\nSeeds: {{'lm_only': [0]}}.\n\n### a: x\n\nSeeds: {{'lm_only': [0, 1], 'fused': [0]}}.\n\n"
              f"### b: y\n\nSeeds: {{'fused': [2]}}.\n{END}\n")
    results.write_text(before)

    def render(found, args):  # experiment a found again with lm_only seed 1 only; b not found (kept as it is)
        return f"{START}\nSeeds: {{'lm_only': [0]}}.\n\n### a: x\n\nSeeds: {found}.\n{END}"

    args = SimpleNamespace(runs="runs")
    assert not common.publish_section({"lm_only": [1]}, render, args, START, END)
    assert results.read_text() == before
    assert "a: lm_only seed 0; a: fused seed 0" in capsys.readouterr().err
    assert common.publish_section({"lm_only": [0, 1], "fused": [0, 3]}, render, args, START, END)  # more is fine
    assert "Seeds: {'lm_only': [0, 1], 'fused': [0, 3]}" in results.read_text()
    assert common.publish_section({"lm_only": [1]}, render, args, START, END, drop_missing=True)
    assert "a: x\n\nSeeds: {'lm_only': [1]}." in results.read_text() and "Seeds: {'fused': [2]}" in results.read_text()
