"""GraphQA on a tiny CLUTRR model trained once for the module: answers, the batch path, agreement with the run's
own evaluation (same examples, same logits), evidence paths and pictures, errors, bf16 / int8 answers against fp32,
batches sorted by length, and `kgreason explain`; tiny ProofWriter and e-CARE models answer like their runs'
evaluations too."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from kgreason.data.batch import collate
from kgreason.data.clutrr import generate_clutrr, read_clutrr
from kgreason.data.example import KGQAExample
from kgreason.data.shards import ShardCache
from kgreason.kg.errors import TaskInputError
from kgreason.pipelines import GraphQA, QAError
from kgreason.pipelines.bundle import BundleError
from kgreason.pipelines.cli import main
from kgreason.pipelines.evidence import build_evidence, path_matches_gold, split_by_graph, top_path
from kgreason.pipelines.qa import Query, causal_question, clutrr_question, int8_text_encoder, proofwriter_question

STORY = "[Ann] is [Bob]'s mother. [Bob]'s son is [Carl]."
QUESTION = f"{STORY} How is [Carl] related to [Ann]?"


def tiny_run(task, data, out, tokenizer, **kwargs):
    from test_fusion import tiny_text_encoder

    from kgreason.pipelines.run import run_pipeline

    torch.manual_seed(0)
    return run_pipeline(task, data, out=out, workers=1, text_encoder=tiny_text_encoder(tokenizer), tokenizer=tokenizer,
                        training_kwargs={"epochs": 1, "batch_size": 8, "device": "cpu", "lr_text": 1e-3}, **kwargs)


def predictions(run, name):
    return [json.loads(line) for line in (run.out / "predictions" / f"{name}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tokenizer):
    return tiny_run("clutrr", "generated", tmp_path_factory.mktemp("qa") / "run", tokenizer,
                    model_kwargs={"graph_hidden_size": 16}, preprocess_kwargs={"nlp": "blank"},
                    generate_kwargs={"train_size": 32, "test_size": 8, "test_lengths": (3,)})


@pytest.fixture(scope="module")
def qa(run):
    return GraphQA.from_pretrained(run.out, device="cpu")


def test_an_answer_has_a_label_scores_and_a_path_between_the_people_asked_about(qa):
    answer = qa(QUESTION)
    assert answer.label in qa.labels and set(answer.scores) == set(qa.labels)
    assert sum(answer.scores.values()) == pytest.approx(1.0, abs=1e-4)
    assert answer.label == max(answer.scores, key=answer.scores.get)
    path = answer.evidence.top_path
    assert path.names == ["Ann", "Bob", "Carl"] and path.relations == ["mother", "son"]
    assert path.text == "Ann ←mother— Bob —son→ Carl" and 0 <= path.weight <= 1 and answer.evidence.weighted
    assert path.sentences == ["[Ann] is [Bob]'s mother.", "[Bob]'s son is [Carl]."]
    assert [(m.text, m.start, m.how) for m in answer.evidence.mentions][0] == ("Ann", 1, "bracketed name")
    assert answer.evidence.endpoints == [("Ann", "Carl")]
    # the story may come apart from the question, names unbracketed and in another case
    same = qa("what is carl to ann?", context=STORY)
    assert same.scores == answer.scores and same.label == answer.label


def test_the_batch_path_and_the_run_evaluation_give_the_same_answers(run, qa):
    records = list(read_clutrr(run.out / "data" / "test_3.csv"))
    questions = [{"question": f"{r.story} How is {r.query[1]} related to {r.query[0]}?", "id": r.id} for r in records]
    answers = list(qa.pipe(questions, batch_size=3))
    assert [a.id for a in answers] == [r.id for r in records]
    single = qa(questions[0]["question"])
    assert single.scores == pytest.approx(answers[0].scores, abs=1e-5)
    # the run's own predictions of the same examples
    predicted = predictions(run, "test_3")
    assert [p["id"] for p in predicted] == [r.id for r in records]
    for answer, prediction in zip(answers, predicted):
        assert answer.label == prediction["predicted"]
        assert list(answer.scores.values()) == pytest.approx(prediction["scores"], abs=1e-5)
    # the same examples as preprocessing made, and identical logits through collate + the model
    results = json.loads(run.results_file.read_text())
    cached = list(ShardCache(results["preprocessing"]["test_3"]["cache_dir"]).examples())
    prepared = qa.prepare([q["question"] for q in questions])
    for mine, theirs in zip(prepared, cached):
        assert mine.text == theirs.text and mine.meta["query"] == theirs.meta["query"]
        for name in KGQAExample.ARRAYS:
            np.testing.assert_array_equal(getattr(mine, name), getattr(theirs, name))
    bundle = qa.bundle
    with torch.no_grad():
        output = bundle.model(collate(cached, tokenizer=bundle.tokenizer, relations=bundle.relations,
                                      labels=bundle.labels, max_length=bundle.max_length))
    expected = output.logits.softmax(-1).numpy()
    np.testing.assert_allclose([list(a.scores.values()) for a in answers], expected, atol=1e-5)


def test_top_paths_of_evaluation_examples_follow_the_gold_chain(run, qa):
    results = json.loads(run.results_file.read_text())
    examples = list(ShardCache(results["preprocessing"]["test_3"]["cache_dir"]).examples())
    bundle = qa.bundle
    batch = collate(examples, tokenizer=bundle.tokenizer, relations=bundle.relations, labels=bundle.labels)
    with torch.no_grad():
        output = bundle.model(batch)
    importances = split_by_graph(batch, output.edge_importance)
    assert [len(i) for i in importances] == [e.num_edges for e in examples]
    matches = []
    for example, importance in zip(examples, importances):
        chain = example.meta["gold_chain"]
        assert len(chain) == 4 and chain[0] == example.meta["query"][0] and chain[-1] == example.meta["query"][1]
        path = top_path(example, importance)
        assert path.names[0] == chain[0] and path.names[-1] == chain[-1]
        matches.append(path_matches_gold(path, chain))
    assert sum(matches) >= len(matches) - 1  # generated clean stories: the story graph is the chain
    assert not path_matches_gold(None, chain) and not path_matches_gold(path, None)


def test_evidence_is_json_html_and_png(qa, tmp_path):
    answer = qa(QUESTION)
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["label"] == answer.label and data["evidence"]["paths"][0]["text"] == answer.evidence.top_path.text
    assert {n["name"] for n in data["evidence"]["subgraph"]["nodes"]} == {"Ann", "Bob", "Carl"}
    page = answer.evidence.to_html(tmp_path / "why.html").read_text(encoding="utf-8")
    assert "<svg" in page and "Ann ←mother— Bob —son→ Carl" in page and answer.label in page
    assert "<script" not in page and not re.findall(r'(?:src|href)="(?!#)', page)  # self-contained: no network
    assert {m[1] for m in re.finditer(r'(\S*)="https?://', page)} <= {"xmlns", "xmlns:xlink"}  # only namespace names
    assert answer.evidence.plot(tmp_path / "why.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_model_without_graph_gives_unweighted_evidence(qa):
    example = qa.prepare([QUESTION])[0]
    evidence = build_evidence(example)
    assert not evidence.weighted and evidence.node_importance is None
    assert evidence.top_path.text == "Ann ←mother— Bob —son→ Carl" and evidence.top_path.weight is None


def test_evidence_says_which_edges_forward_chaining_proved(tmp_path):
    """A theory-closure edge (`meta["derived_depth"]` ≥ 1) is marked in the path, the edge list and the page; it
    keeps the sentence of the rule that concluded it."""
    from kgreason.data.preprocess_tasks import text_graph_example
    from kgreason.data.theory_graph import theory_graph

    rule = "If someone chases the dog then they see the cat."
    graph = theory_graph(f"The bear chases the dog. {rule}", closure=True)
    example = text_graph_example(graph.text, graph, flags=[], meta={"statement": "The bear sees the cat.",
                                                                    "derived_depth": graph.derived_depth.tolist()})
    evidence = build_evidence(example)
    proved = [edge for edge in evidence.edges if edge.derived_depth]
    assert [(evidence.nodes[e.source], e.relation, evidence.nodes[e.target], e.derived_depth, e.sentence)
            for e in proved] == [("bear", "sees", "cat", 1, rule)]
    assert evidence.top_path.text == "bear —sees (proved, depth 1)→ cat" and evidence.top_path.sentences == [rule]
    assert "sees (proved, depth 1)" in evidence.to_html(tmp_path / "why.html").read_text(encoding="utf-8")
    stated = build_evidence(text_graph_example(graph.text, graph, flags=[], meta={"statement": "The bear sees the cat."}))
    assert all(edge.derived_depth == 0 for edge in stated.edges) and stated.top_path.text == "bear —sees→ cat"


def test_questions_that_cannot_be_read_raise_clear_errors(qa):
    with pytest.raises(TaskInputError, match="no question found") as info:
        qa(STORY)
    assert "How is [Carl] related to [Ann]?" in info.value.hint
    with pytest.raises(TaskInputError, match="'Zed', whom the story does not name"):
        qa(f"{STORY} How is [Zed] related to [Ann]?")
    with pytest.raises(TaskInputError, match="without a story"):
        qa("How is Carl related to Ann?")
    with pytest.raises(TaskInputError, match="not labels"):
        qa(QUESTION, choices=["grandson", "cousin"])
    restricted = qa(QUESTION, choices=["grandson", "son"])
    assert set(restricted.scores) == {"grandson", "son"} and sum(restricted.scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_pipe_returns_errors_in_place_and_keeps_order(qa, monkeypatch):
    inputs = [QUESTION, "Nothing to ask.", {"text": "How is Carl related to Ann?", "context": STORY, "id": "x"}, 42,
              {"question": QUESTION, "choices": "son"}]
    builds = []
    spec = qa._spec
    monkeypatch.setattr(qa, "_spec", replace(spec, build=lambda records, *a: builds.append(len(records)) or spec.build(records, *a)))
    out = list(qa.pipe(inputs, batch_size=3, errors="return"))
    assert builds == [2]  # the task's preprocessing runs once per window of batches, over its readable inputs
    assert [type(o).__name__ for o in out] == ["Answer", "QAError", "Answer", "QAError", "QAError"]
    assert out[1].input == "Nothing to ask." and "no question found" in out[1].message and out[1].id == 1
    assert out[2].id == "x" and out[3].to_dict()["error"].startswith("[DATA001]")
    with pytest.raises(TaskInputError):
        list(qa.pipe(inputs))
    with pytest.raises(ValueError, match="errors"):
        list(qa.pipe(inputs, errors="ignore"))
    assert isinstance(out[1], QAError)


def test_pipe_batches_by_length_and_answers_in_input_order(qa, monkeypatch):
    stories = [next(generate_clutrr(1, k=k, seed=k)) for k in (2, 6, 3, 5, 2, 4, 6, 3, 5, 2)]
    inputs = [{"id": f"s{i}", "question": f"{r.story} How is [{r.query[1]}] related to [{r.query[0]}]?"}
              for i, r in enumerate(stories)]
    unsorted = list(qa.pipe(inputs, batch_size=3, sort_window=1))
    batches, predict = [], qa.predict
    monkeypatch.setattr(qa, "predict", lambda examples: batches.append([e.meta["id"] for e in examples]) or predict(examples))
    answers = list(qa.pipe(inputs, batch_size=3, sort_window=2))  # windows of 6 and 4 inputs
    assert [a.id for a in answers] == [f"s{i}" for i in range(10)]
    length = {i["id"]: len(i["question"]) for i in inputs}
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    for window in (batches[:2], batches[2:]):  # longest first within each window
        order = [length[i] for batch in window for i in batch]
        assert order == sorted(order, reverse=True)
    assert {i for batch in batches[:2] for i in batch} == {f"s{i}" for i in range(6)}
    for answer, other in zip(answers, unsorted):  # other batches pad differently: the last float bits move
        assert answer.label == other.label and answer.scores == pytest.approx(other.scores, abs=1e-5)
    # errors="raise": the inputs before the bad one are answered, then it raises
    stream = qa.pipe([QUESTION, "Nothing to ask.", QUESTION], batch_size=8)
    assert next(stream).id == 0
    with pytest.raises(TaskInputError, match="no question found"):
        next(stream)
    with pytest.raises(ValueError, match="sort_window"):
        list(qa.pipe([QUESTION], sort_window=0))


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_lower_precisions_answer_like_fp32(run, qa, precision):
    records = list(read_clutrr(run.out / "data" / "test_3.csv"))
    questions = [f"{r.story} How is {r.query[1]} related to {r.query[0]}?" for r in records]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = GraphQA.from_pretrained(run.out, device="cpu", precision=precision)
        answers = list(fast.pipe(questions, batch_size=4))
    assert not [w for w in caught if "quantiz" in str(w.message)]  # torch.ao's deprecations are silenced where used
    reference = list(qa.pipe(questions, batch_size=4))
    assert sum(a.label == b.label for a, b in zip(answers, reference)) >= len(reference) - 1
    for answer, other in zip(answers, reference):
        assert answer.scores == pytest.approx(other.scores, abs=0.02)
        assert answer.evidence.top_path.text == other.evidence.top_path.text
    plain = [m for m in fast.model.text_encoder.modules() if type(m) is torch.nn.Linear]
    quantized = [m for m in fast.model.text_encoder.modules() if type(m).__module__.startswith("torch.ao.nn.quantized")]
    if precision == "int8":  # the text encoder's linear layers only, in a copy: the bundle keeps its fp32 model
        assert quantized and not plain and fast.model is not fast.bundle.model
        assert any(type(m) is torch.nn.Linear for m in fast.model.graph.modules())
        assert any(type(m) is torch.nn.Linear for m in fast.bundle.model.text_encoder.modules())
    else:
        assert plain and not quantized


def test_precision_errors_say_what_to_do(qa, monkeypatch):
    with pytest.raises(TaskInputError, match="unknown precision 'fp16'"):
        GraphQA(qa.bundle, device="cpu", precision="fp16")
    with pytest.raises(TaskInputError, match="CPU only") as info:
        GraphQA(qa.bundle, device="cuda", precision="int8")
    assert "bf16" in info.value.hint
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert GraphQA(qa.bundle, precision="int8").device.type == "cpu"  # auto: the CPU, where int8 runs
    with pytest.raises(TaskInputError, match="reads no text"):
        int8_text_encoder(torch.nn.Linear(2, 2))


def test_bf16_on_a_cpu_without_bfloat16_instructions_warns(qa, monkeypatch):
    from kgreason.pipelines import training

    def bf16_warnings(precision: str) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            GraphQA(qa.bundle, device="cpu", precision=precision)
        return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning) and "bfloat16" in str(w.message)]

    monkeypatch.setattr(training, "cpu_has_bf16_instructions", lambda: False)
    (message,) = bf16_warnings("bf16")
    assert "use precision 'fp32' or 'int8'" in message
    assert bf16_warnings("fp32") == []
    monkeypatch.setattr(training, "cpu_has_bf16_instructions", lambda: True)
    assert bf16_warnings("bf16") == []


def test_int8_merges_lora_adapters_into_a_quantized_copy():
    pytest.importorskip("peft")
    from transformers import BertConfig

    from kgreason.encoders.text import TextEncoder

    encoder = TextEncoder.from_config(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                 intermediate_size=32), lora={"r": 2, "target_modules": ["query", "value"]})
    model = torch.nn.Module()
    model.text_encoder = encoder.eval()
    with torch.no_grad():
        for name, parameter in encoder.named_parameters():
            if "lora_B" in name:
                parameter.normal_()  # a trained adapter: not a no-op
        ids = torch.randint(0, 50, (2, 6))
        expected = encoder(ids, torch.ones_like(ids)).pooled
        quantized = int8_text_encoder(model).text_encoder
        pooled = quantized(ids, torch.ones_like(ids)).pooled
    assert type(quantized.model).__name__ == "BertModel" and type(encoder.model).__name__ == "PeftModel"
    assert not [m for m in quantized.modules() if type(m) is torch.nn.Linear]
    torch.testing.assert_close(pooled, expected, atol=0.05, rtol=0)


def test_questions_become_task_records():
    record = clutrr_question(Query("[A] is [B]'s son. Who is [B] to [A]?", id=3))
    assert record.story == "[A] is [B]'s son." and record.query == ("A", "B") and record.id == "3"
    theory = "The cat is red. If something is red then it is round."
    statement = proofwriter_question(Query(f"{theory} The cat is round."))
    assert (statement.context, statement.statement, statement.label) == (theory, "The cat is round.", -1)
    assert proofwriter_question(Query("The cat is round.", context=theory)).context == theory
    with pytest.raises(TaskInputError, match="no theory"):
        proofwriter_question(Query("The cat is round."))
    causal = causal_question(Query("The glass fell. What happened as a result?", choices=["It broke.", "It sang."]), "copa")
    assert (causal.premise, causal.ask_for, causal.choices) == ("The glass fell.", "effect", ("It broke.", "It sang."))
    assert causal_question(Query("Why?", context="The man ran.", choices=["a", "b"]), "ecare").ask_for == "cause"
    with pytest.raises(TaskInputError, match="two choices"):
        causal_question(Query("The glass fell. What happened as a result?"), "ecare")


@pytest.mark.parametrize("theory_closure", [False, True])
def test_proofwriter_statements_with_or_without_context(tmp_path, tokenizer, theory_closure):
    """A question is answered as the run answered it, with the run's graph (with `theory_closure`, the proved
    literals and the statement's query nodes too)."""
    from kgreason.data.proofwriter import read_proofwriter

    run = tiny_run("proofwriter", "generated", tmp_path / "pw", tokenizer, model_kwargs={"graph_hidden_size": 16},
                   preprocess_kwargs={"nlp": "blank", "theory_closure": theory_closure},
                   generate_kwargs={"train_size": 6, "test_size": 1, "train_lengths": (1,), "test_lengths": (1,)})
    qa = GraphQA.from_pretrained(run.model_dir, device="cpu")
    assert qa.bundle.settings.theory_closure is theory_closure and qa.model.config.query_relation is theory_closure
    records = list(read_proofwriter(run.out / "data" / "test_1.jsonl"))
    apart = list(qa.pipe([{"question": r.statement, "context": r.context} for r in records]))
    joined = list(qa.pipe([f"{r.context} {r.statement}" for r in records]))
    for one, other, prediction in zip(apart, joined, predictions(run, "test_1")):
        assert one.label == other.label == prediction["predicted"] and set(one.scores) == {"True", "False", "Unknown"}
        assert list(one.scores.values()) == pytest.approx(prediction["scores"], abs=1e-5) and one.scores == other.scores
    assert all(path.names[0] != path.names[-1] for a in apart for path in a.evidence.paths)


def test_causal_questions_answer_among_their_choices(tmp_path, tokenizer):
    from test_preprocess import write_ecare

    from kgreason.data.causal import generate_causal

    generated = generate_causal(24, seed=3)
    generated.knowledge_graph().save(tmp_path / "store")
    (tmp_path / "data").mkdir()
    write_ecare(tmp_path / "data" / "train.jsonl", generated.records[:20])
    write_ecare(tmp_path / "data" / "test.jsonl", generated.records[20:])
    run = tiny_run("ecare", tmp_path / "data", tmp_path / "run", tokenizer, fusion="late", graph_encoder="rgcn",
                   model_kwargs={"graph_hidden_size": 16}, preprocess_kwargs={"nlp": "blank", "store": str(tmp_path / "store")})
    qa = GraphQA.from_pretrained(run.out, device="cpu")
    assert qa.labels is None
    records = generated.records[20:]
    answers = list(qa.pipe([{"question": r.question, "choices": list(r.choices)} for r in records]))
    for record, answer, prediction in zip(records, answers, predictions(run, "test")):
        assert answer.label == record.choices[prediction["predicted"]] and set(answer.scores) == set(record.choices)
        assert list(answer.scores.values()) == pytest.approx(prediction["scores"], abs=1e-5)
        assert {m.part for m in answer.evidence.mentions} <= {"text", "choice 1", "choice 2"}
    path = next(a.evidence.top_path for a in answers if a.evidence.paths)
    assert "—" in path.text and path.weight is not None
    with pytest.raises(TaskInputError, match="two choices"):
        qa(records[0].question)


def test_broken_model_directories_name_the_file(run, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(run.model_dir, model)
    (model / "bundle.json").write_text('{"format": 99, "kgreason": "9.0"}')
    with pytest.raises(BundleError, match=r"bundle.json: model format 99") as info:
        GraphQA.from_pretrained(model)
    assert "upgrade kgreason" in info.value.hint
    (model / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError, match="bundle.json: not valid JSON"):
        GraphQA.from_pretrained(model)
    shutil.copy(run.model_dir / "bundle.json", model / "bundle.json")
    (model / "model.safetensors").unlink()
    with pytest.raises(BundleError, match="model.safetensors: missing"):
        GraphQA.from_pretrained(model)
    with pytest.raises(BundleError, match="no such model directory"):
        GraphQA.from_pretrained(tmp_path / "nowhere")


def test_explain_command(run, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["explain", "--model", str(run.out), QUESTION, "--html", str(tmp_path / "a.html"),
                                  "--png", str(tmp_path / "a.png"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "answer:" in result.output and "Ann ←mother— Bob —son→ Carl" in result.output
    assert (tmp_path / "a.html").is_file() and (tmp_path / "a.png").is_file()
    result = runner.invoke(main, ["explain", "--model", str(run.out), "How is Carl related to Ann?", "--context", STORY,
                                  "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["evidence"]["endpoints"] == [["Ann", "Carl"]]
    result = runner.invoke(main, ["explain", "--model", str(run.out), "No question here.", "--device", "cpu"])
    assert result.exit_code == 2 and "no question found" in result.output
    result = runner.invoke(main, ["explain", "--model", str(run.out), QUESTION, "--precision", "int8", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["label"]
    result = runner.invoke(main, ["explain", "--model", str(run.out), QUESTION, "--precision", "int8", "--device", "cuda"])
    assert result.exit_code == 2 and "CPU only" in result.output


def test_importing_the_package_stays_light():
    code = "import sys, kgreason.pipelines; print(sorted({'torch', 'numpy', 'spacy'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
