"""The `kgreason` command line as a user runs it (subprocesses for --help/--version, CliRunner otherwise)."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from kgreason.pipelines.cli import main

COMMANDS = sorted(main.commands)


def test_version_comes_from_package_metadata():
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and version("kgreason") in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and "kgreason " + command in result.output


def test_help_does_not_import_torch_or_parsers():
    code = (
        "import sys; from kgreason.pipelines.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('torch', 'torch_geometric', 'rdflib', 'pyoxigraph', 'numpy', 'transformers', 'spacy') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_console_script_runs():
    from pathlib import Path

    script = Path(sys.executable).parent / "kgreason"
    out = subprocess.run([str(script), "--help"], check=True, capture_output=True, text=True).stdout
    assert "ingest" in out and "query" in out


def test_ingest_query_info(tmp_path):
    data = tmp_path / "cn.txt"
    data.write_text("IsA\thockey\tsport\t2.0\nIsA\tchess\tgame\t1.0\nIsA\thockey\tsport\t2.0\n")
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(data), "--format", "conceptnet", "--store", str(tmp_path / "s"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["read"], summary["new"], summary["duplicates"], summary["entities"]) == (3, 2, 1, 4)
    table = runner.invoke(main, ["ingest", str(data), "--format", "conceptnet", "--store", str(tmp_path / "s")])
    assert "duplicates dropped" in table.output and "statements / s" in table.output
    result = runner.invoke(main, ["query", "--store", str(tmp_path / "s"), "SELECT ?x WHERE { ?x kg:IsA kg:sport }", "--format", "json"])
    assert json.loads(result.output)["results"]["bindings"] == [{"x": {"type": "uri", "value": "urn:kgreason:hockey"}}]
    result = runner.invoke(main, ["query", "--store", str(tmp_path / "s"), "SELECT ?x ?y WHERE { ?x kg:IsA ?y } ORDER BY ?x"])
    assert "chess" in result.output and "hockey" in result.output
    result = runner.invoke(main, ["query", "--store", str(tmp_path / "s"), "-", "--format", "csv"], input="ASK { kg:chess kg:IsA kg:game }")
    assert result.output.splitlines() == ["boolean", "true"]
    info = json.loads(runner.invoke(main, ["info", "--store", str(tmp_path / "s")]).output)
    assert info["counts"]["triples"] == 2 and len(info["sources"]) == 2


def test_errors_are_one_clear_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.nt"
    bad.write_text("<http://e/a> <http://e/b> .\n")
    result = CliRunner().invoke(main, ["ingest", str(bad), "--store", str(tmp_path / "s")])
    assert result.exit_code == 2 and f"{bad}:1" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["query", "--store", str(tmp_path), "SELEC"])
    assert result.exit_code == 2 and "no store" in result.output or "not a kgreason store" in result.output


def test_demo_runs_twice(tokenizer, tmp_path):
    """The demo's whole flow on a tiny budget (tiny random transformer, spacy.blank): both models trained, accuracy
    by k printed side by side, the plot saved, a new question answered with evidence; a second run works too."""
    from test_fusion import tiny_text_encoder

    encoder = tmp_path / "tiny-bert"
    tiny_text_encoder(tokenizer).save_pretrained(encoder)
    tokenizer.save_pretrained(str(encoder))
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(main, ["demo", "--out", str(tmp_path / "demo"), "--train-size", "24", "--test-size", "3",
                                      "--epochs", "1", "--nlp", "blank", "--text-encoder", str(encoder)])
        assert result.exit_code == 0, result.output
        assert "lm_only" in result.output and "closure" in result.output and "evidence:" in result.output
        assert "How is [Dina] related to [Ann]?" in result.output
        table = [line for line in result.output.splitlines() if line.strip("│ ").startswith(("2 ", "6 "))]
        assert len(table) == 2, result.output
        assert (tmp_path / "demo" / "accuracy_by_k.png").read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / "demo" / "closure" / "model" / "bundle.json").is_file()


def test_ingest_workers_default_to_the_usable_cpus(tmp_path, monkeypatch):
    import importlib

    from kgreason.kg.readers.parallel import default_workers

    ingest_module = importlib.import_module("kgreason.kg.ingest")  # the module: `kgreason.kg.ingest` is the function

    data = tmp_path / "t.tsv"
    data.write_text("a\tr\tb\n")
    asked = []
    real = ingest_module.ingest
    monkeypatch.setattr(ingest_module, "ingest", lambda *args, **kw: asked.append(kw["workers"]) or real(*args, **kw))
    for extra in ([], ["--workers", "2"]):
        result = CliRunner().invoke(main, ["ingest", str(data), "--store", str(tmp_path / "s"), "--quiet", *extra])
        assert result.exit_code == 0, result.output
    assert asked == [default_workers(), 2]
    assert CliRunner().invoke(main, ["ingest", str(data), "--store", str(tmp_path / "s"), "--workers", "0"]).exit_code == 2


def test_progress_bars_go_to_stderr(capfd):
    from kgreason.kg.progress import progress_bar

    for unit, total in (("bytes", 100), ("records", None)):
        with progress_bar(True, description="work", total=total, unit=unit) as update:
            update(50)
    out, err = capfd.readouterr()
    assert out == "" and "work" in err


def test_the_train_options_list_what_the_library_has():
    """The CLI spells its choices out (its --help must not import torch); they must not drift from the registries."""
    from kgreason.encoders.graph import GRAPH_ENCODERS
    from kgreason.fusion import FUSION_MODELS
    from kgreason.pipelines.node_init import NODE_INITS
    from kgreason.pipelines.run import CAUSAL_TASKS, LOGIC_TASKS

    options = {param.name: param for param in main.commands["train"].params}
    assert set(options["fusion"].type.choices) == set(FUSION_MODELS)
    assert tuple(options["node_init"].type.choices) == NODE_INITS
    assert set(options["task"].type.choices) == set(LOGIC_TASKS + CAUSAL_TASKS)
    assert all(name in options["graph_encoder"].help for name in GRAPH_ENCODERS)
