"""`kgreason predict`: reading JSONL / CSV questions, errors to a side file, exactly-once output after a kill
(SIGKILL in a subprocess), the local and Ray engines giving the same output, and the command line."""

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from kgreason.kg.errors import TaskInputError
from kgreason.pipelines import predict as predict_module
from kgreason.pipelines.cli import main
from kgreason.pipelines.predict import Malformed, Question, predict, read_questions, run_files


@dataclass
class FakeAnswer:
    label: str
    scores: dict

    def to_dict(self) -> dict:
        return {"label": self.label, "scores": self.scores}


@dataclass
class FakeError:
    message: str
    input: dict


class FakeQA:
    """The `GraphQA.pipe` contract without a model: reads ahead a batch at a time like the real one; answers
    by the question's length (choices: the longest); fails on questions containing FAIL."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def pipe(self, inputs, *, batch_size=32, errors="raise"):
        batch = []
        for record in inputs:
            batch.append(record)
            if len(batch) == batch_size:
                yield from map(self._answer, batch)
                batch = []
        yield from map(self._answer, batch)

    def _answer(self, record):
        time.sleep(self.delay)
        if "FAIL" in record["question"]:
            return FakeError("cannot answer this", record)
        labels = record.get("choices") or ["even", "odd"]
        label = max(labels, key=len) if "choices" in record else labels[len(record["question"]) % 2]
        return FakeAnswer(label, {name: float(name == label) for name in labels})


def write_jsonl(path: Path, records: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def questions(n: int, *, fail_every: int = 0) -> list[dict]:
    return [{"id": f"q{i}", "question": f"How is [P{i}] related to [Q{'x' * (i % 3)}]?"
             + (" FAIL" if fail_every and i % fail_every == 0 else "")} for i in range(n)]


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


MIXED = [
    {"question": "no id here"},                                   # line 1: id 1
    "{not json",                                                  # line 2
    "",                                                           # line 3: blank, not a record
    {"id": "a", "text": "asked as text", "choices": ["x", "yy"]},  # line 4
    {"id": "b"},                                                  # line 5: no question
    {"id": "a", "question": "again"},                             # line 6: duplicate id
    {"id": "c", "question": "q", "choices": "x|y"},               # line 7: choices not a list
    [1, 2],                                                       # line 8: not an object
    {"id": 7, "question": "with context", "context": "Ann is Bob's mother."},  # line 9
]


def test_read_questions_reports_each_bad_record_with_its_line(tmp_path):
    items = list(read_questions(write_jsonl(tmp_path / "in.jsonl", MIXED)))
    assert [type(item).__name__[0] for item in items] == list("QMQMMMMQ")
    assert [item.index for item in items] == list(range(8))
    good = [item for item in items if isinstance(item, Question)]
    assert [(q.line, q.id) for q in good] == [(1, 1), (4, "a"), (9, 7)]
    assert good[1].record == {"id": "a", "question": "asked as text", "choices": ["x", "yy"]}
    assert good[2].record["context"] == "Ann is Bob's mother."
    bad = {item.line: (item.id, item.reason) for item in items if isinstance(item, Malformed)}
    assert bad[2][0] == 2 and "not valid JSON" in bad[2][1]
    assert bad[5] == ("b", "no question: give a non-empty 'question' (or 'text') string")
    assert bad[6] == ("a", "duplicate id 'a' (first on line 4)")
    assert "choices" in bad[7][1] and "not an object" in bad[8][1]
    (tmp_path / "latin1.jsonl").write_bytes(b'{"question": "caf\xe9?"}\n{"question": "ok?"}\n')
    first, second = read_questions(tmp_path / "latin1.jsonl")
    assert "not UTF-8" in first.reason and second.record == {"id": 2, "question": "ok?"}


@pytest.mark.parametrize("name", ["in.csv", "in.csv.gz"])
def test_csv_questions_with_json_or_bar_separated_choices(tmp_path, name):
    text = ('id,question,choices,context\n'
            'x1,"Is it ""big""?","[""yes"", ""no""]",\n'
            ',Which one?,red | green,"two\nlines"\n'
            'x3,,,\n'
            'x4,too,many,fields,here\n')
    path = tmp_path / name
    (gzip.open if name.endswith(".gz") else open)(path, "wt", encoding="utf-8").write(text)
    items = list(read_questions(path))
    assert items[0].record == {"id": "x1", "question": 'Is it "big"?', "choices": ["yes", "no"]}
    assert items[1].record == {"id": 3, "question": "Which one?", "choices": ["red", "green"], "context": "two\nlines"}
    assert isinstance(items[2], Malformed) and items[2].line == 5 and "no question" in items[2].reason
    assert isinstance(items[3], Malformed) and items[3].line == 6 and "5 fields" in items[3].reason


def test_bad_input_files_are_refused_with_what_to_do(tmp_path):
    (tmp_path / "in.txt").write_text("{}\n")
    (tmp_path / "array.json").write_text('[\n{"question": "q"}\n]\n')
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    for name, words in (("in.txt", ".jsonl"), ("array.json", "JSON array"), ("in.csv", "no 'question'")):
        with pytest.raises(TaskInputError, match=words):
            list(read_questions(tmp_path / name))


def test_predict_writes_every_input_once_to_output_or_errors(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl.gz", MIXED + questions(10, fail_every=4))
    summary = predict(source, tmp_path / "out.jsonl", predictor=FakeQA(), batch_size=3, chunk_size=4)
    answers, errors = read_lines(tmp_path / "out.jsonl"), read_lines(tmp_path / "out.errors.jsonl")
    assert run_files(tmp_path / "out.jsonl")[0] == tmp_path / "out.errors.jsonl"
    assert [a["id"] for a in answers] == [1, "a", 7] + [f"q{i}" for i in range(10) if i % 4]
    assert answers[1] == {"id": "a", "label": "yy", "scores": {"x": 0.0, "yy": 1.0}}
    assert [(e["line"], e["reason"]) for e in errors][-3:] == [(10 + i, "cannot answer this") for i in (0, 4, 8)]
    assert len(errors) == 5 + 3 and {e["line"] for e in errors[:5]} == {2, 5, 6, 7, 8}
    assert (summary.inputs, summary.answered, summary.malformed, summary.failed, summary.errors) == (18, 10, 5, 3, 8)
    assert summary.resumed == 0 and summary.examples_per_second > 0
    again = predict(source, tmp_path / "out.jsonl", predictor=FakeQA(), batch_size=3, progress=True)  # done already
    assert again.resumed == 18 and read_lines(tmp_path / "out.jsonl") == answers


def crash_on_commit(monkeypatch, number: int) -> None:
    """Make commit `number` (1, 2, ...) raise after its lines are written, before the state file is replaced."""
    real_write_json, states = predict_module.write_json, []

    def write_json(path, value):
        states.append(value)
        if len(states) == number + 1:  # the first state file is written at the start
            raise KeyboardInterrupt
        real_write_json(path, value)

    monkeypatch.setattr(predict_module, "write_json", write_json)


def test_a_crash_between_writing_and_committing_redoes_only_the_uncommitted_chunk(tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "in.jsonl", MIXED + questions(30, fail_every=7))
    predict(source, tmp_path / "fresh.jsonl", predictor=FakeQA(), batch_size=4)
    crash_on_commit(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        predict(source, tmp_path / "out.jsonl", predictor=FakeQA(), batch_size=4, chunk_size=5)
    monkeypatch.undo()
    assert len(read_lines(tmp_path / "out.jsonl")) + len(read_lines(tmp_path / "out.errors.jsonl")) == 15  # 3 chunks on disk
    resumed = predict(source, tmp_path / "out.jsonl", predictor=FakeQA(), batch_size=4, chunk_size=5)
    assert resumed.resumed == 10
    for name in ("out.jsonl", "out.errors.jsonl"):
        assert read_lines(tmp_path / name) == read_lines(tmp_path / name.replace("out", "fresh"))


def test_another_input_or_model_or_a_foreign_output_is_refused(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", questions(5))
    predict(source, tmp_path / "out.jsonl", predictor=FakeQA(), model="m1")
    write_jsonl(source, questions(6))
    with pytest.raises(TaskInputError, match="another input") as err:
        predict(source, tmp_path / "out.jsonl", predictor=FakeQA(), model="m1")
    assert "--overwrite" in str(err.value)
    write_jsonl(source, questions(5))
    with pytest.raises(TaskInputError, match="model"):
        predict(source, tmp_path / "out.jsonl", predictor=FakeQA(), model="m2")
    assert predict(source, tmp_path / "out.jsonl", predictor=FakeQA(), model="m2", overwrite=True).resumed == 0
    (tmp_path / "mine.jsonl").write_text("precious\n")
    with pytest.raises(TaskInputError, match="without the state file"):
        predict(source, tmp_path / "mine.jsonl", predictor=FakeQA())
    assert (tmp_path / "mine.jsonl").read_text() == "precious\n"


KILLABLE = """
import sys
sys.path.insert(0, {tests!r})
from test_predict import FakeQA
from kgreason.pipelines.predict import predict
predict(sys.argv[1], sys.argv[2], predictor=FakeQA(delay=float(sys.argv[3])), batch_size=4, chunk_size=3)
"""


def run_and_kill(command: list[str], output: Path, *, after_lines: int, env: dict | None = None) -> None:
    """Start `command`, SIGKILL it once `output` has `after_lines` lines (or it ends)."""
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if output.exists() and output.read_bytes().count(b"\n") >= after_lines:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait()


def test_sigkilled_runs_resume_to_each_input_exactly_once(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", MIXED + questions(40, fail_every=9))
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILLABLE.format(tests=str(Path(__file__).parent))))
    command = [sys.executable, str(script), str(source), str(tmp_path / "out.jsonl"), "0.01"]
    for lines in (5, 17, 30):
        run_and_kill(command, tmp_path / "out.jsonl", after_lines=lines)
    state = json.loads(run_files(tmp_path / "out.jsonl")[1].read_text())
    assert 0 < state["records"] < 48  # the kills left work to do
    subprocess.run(command[:-1] + ["0"], check=True)
    predict(source, tmp_path / "fresh.jsonl", predictor=FakeQA())
    for name in ("out.jsonl", "out.errors.jsonl"):
        assert read_lines(tmp_path / name) == read_lines(tmp_path / name.replace("out", "fresh"))
    assert len(read_lines(tmp_path / "out.jsonl")) + len(read_lines(tmp_path / "out.errors.jsonl")) == 48


def test_precision_reaches_the_model_and_names_it_in_the_state_file(tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "in.jsonl", questions(5))
    (tmp_path / "model").mkdir()
    loaded = []
    monkeypatch.setattr(predict_module, "load_predictor", lambda model, device, precision: loaded.append(precision) or FakeQA())
    predict(source, tmp_path / "out.jsonl", model=tmp_path / "model", precision="int8")
    assert loaded == ["int8"] and json.loads(run_files(tmp_path / "out.jsonl")[1].read_text())["model"]["precision"] == "int8"
    with pytest.raises(TaskInputError, match="was started with model"):  # one output, one precision
        predict(source, tmp_path / "out.jsonl", model=tmp_path / "model", precision="bf16")
    with pytest.raises(TaskInputError, match="given predictor"):
        predict(source, tmp_path / "other.jsonl", predictor=FakeQA(), precision="int8")
    args = ["predict", "--model", str(tmp_path / "model"), "--input", str(source), "--output", str(tmp_path / "cli.jsonl")]
    result = CliRunner().invoke(main, [*args, "--precision", "bf16", "--json"])
    assert result.exit_code == 0, result.output
    assert loaded == ["int8", "bf16"]


def test_cli_predict(tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "in.jsonl", MIXED)
    (tmp_path / "model").mkdir()
    monkeypatch.setattr(predict_module, "load_predictor", lambda model, device, precision: FakeQA())
    args = ["predict", "--model", str(tmp_path / "model"), "--input", str(source), "--output", str(tmp_path / "out.jsonl")]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["answered"] == 3 and len(read_lines(tmp_path / "out.jsonl")) == 3
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and "examples / s" in result.output and "errors in" in result.output
    result = CliRunner().invoke(main, [*args, "--workers", "2"])
    assert result.exit_code == 2 and "ray" in result.output


# -- with a trained model (tiny random transformer, spacy.blank) through GraphQA -----------------------------


@pytest.fixture(scope="module")
def clutrr_model(tokenizer, tmp_path_factory):
    from test_run import tiny_run

    return tiny_run("clutrr", "generated", tmp_path_factory.mktemp("clutrr"), tokenizer).model_dir


def kinship_questions(n: int) -> list[dict]:
    """Two-hop questions; every 7th asks about someone the story does not name (the model returns an error)."""
    names = ["Ann", "Bob", "Carl", "Dora", "Emil", "Fay", "Gus", "Hana"]
    out = []
    for i in range(n):
        a, b, c = names[i % 8], names[(i + 3) % 8], names[(i + 5) % 8]
        asked = "Zed" if i % 7 == 3 else c
        out.append({"id": f"k{i}", "question": f"[{a}] is [{b}]'s mother. [{b}]'s son is [{c}]. How is [{asked}] related to [{a}]?"})
    return out


def assert_same_answers(tmp_path, first: str, second: str) -> None:
    """The same lines with the same ids, labels and errors; scores equal up to the last rounded digit (batches
    cut at other places pad differently, which moves float sums in the last bits)."""
    answers, others = read_lines(tmp_path / f"{first}.jsonl"), read_lines(tmp_path / f"{second}.jsonl")
    assert [(a["id"], a["label"]) for a in answers] == [(a["id"], a["label"]) for a in others]
    for answer, other in zip(answers, others):
        assert answer["scores"] == pytest.approx(other["scores"], abs=1e-5)
    assert read_lines(tmp_path / f"{first}.errors.jsonl") == read_lines(tmp_path / f"{second}.errors.jsonl")


def test_graphqa_answers_every_question_as_its_pipe_does(tmp_path, clutrr_model):
    from kgreason.pipelines.qa import GraphQA

    records = kinship_questions(20)
    source = write_jsonl(tmp_path / "in.jsonl", records + ["{oops"])
    summary = predict(source, tmp_path / "out.jsonl", model=clutrr_model, device="cpu", batch_size=8)
    assert (summary.answered, summary.failed, summary.malformed) == (17, 3, 1)
    expected = list(GraphQA.from_pretrained(clutrr_model, device="cpu").pipe(records, batch_size=8, errors="return"))
    answers = read_lines(tmp_path / "out.jsonl")
    assert answers == [answer.to_dict() for answer in expected if not hasattr(answer, "message")]
    assert answers[0]["id"] == "k0" and answers[0]["label"] in answers[0]["scores"] and answers[0]["evidence"]
    errors = read_lines(tmp_path / "out.errors.jsonl")
    assert [(e["line"], e["id"]) for e in errors] == [(4, "k3"), (11, "k10"), (18, "k17"), (21, 21)]
    assert "'Zed', whom the story does not name" in errors[0]["reason"]


def test_a_ray_actor_loads_the_model_at_the_precision_asked(clutrr_model):
    import numpy as np

    actor = predict_module.RayPredictor(model=str(clutrr_model), predictor=None, device="cpu", precision="int8",
                                        batch_size=8)
    assert actor.predictor.precision == "int8"
    out = actor({"index": np.arange(2), "record": [json.dumps(q) for q in kinship_questions(2)]})
    assert [json.loads(o)["id"] for o in out["outcome"]] == ["k0", "k1"]


@pytest.mark.slow
def test_killed_command_resumes_to_the_uninterrupted_output(tmp_path, clutrr_model):
    source = write_jsonl(tmp_path / "in.jsonl", kinship_questions(300))
    command = [str(Path(sys.executable).parent / "kgreason"), "predict", "--model", str(clutrr_model), "--input",
               str(source), "--device", "cpu", "--batch-size", "8", "--chunk-size", "3", "-q", "--output"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models: one thread is fastest on shared cores
    for lines in (20, 120):
        run_and_kill(command + [str(tmp_path / "out.jsonl")], tmp_path / "out.jsonl", after_lines=lines, env=env)
    state = json.loads(run_files(tmp_path / "out.jsonl")[1].read_text())
    assert 100 < state["records"] < 300  # killed mid-run, output lines past the last commit included
    subprocess.run(command + [str(tmp_path / "out.jsonl")], check=True, capture_output=True, env=env)
    subprocess.run(command + [str(tmp_path / "fresh.jsonl")], check=True, capture_output=True, env=env)
    assert_same_answers(tmp_path, "out", "fresh")


@pytest.fixture(scope="module")
def ray_two_cpus():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_engine_gives_the_local_output_and_resumes(tmp_path, clutrr_model, ray_two_cpus, monkeypatch):
    source = write_jsonl(tmp_path / "in.jsonl", MIXED + kinship_questions(60))
    local = predict(source, tmp_path / "local.jsonl", model=clutrr_model, device="cpu", batch_size=8)
    assert (local.answered, local.failed, local.malformed) == (51, 12, 5)
    crash_on_commit(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        predict(source, tmp_path / "ray.jsonl", model=clutrr_model, device="cpu", batch_size=8, engine="ray", workers=2,
                chunk_size=16)
    monkeypatch.undo()
    on_ray = predict(source, tmp_path / "ray.jsonl", model=clutrr_model, device="cpu", batch_size=8, engine="ray",
                     workers=2, chunk_size=16)
    assert on_ray.resumed == 16 and (on_ray.answered, on_ray.failed, on_ray.malformed) == (51, 12, 5)
    assert_same_answers(tmp_path, "local", "ray")
