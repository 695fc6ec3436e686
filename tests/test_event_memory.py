"""The causal event memory: training pairs linked in the asked direction, never to themselves, never grown from dev
or test data; saved and loaded whole; read by the model after each choice, in training, evaluation and GraphQA."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_fusion import tiny_text_encoder
from test_run import TRAINING

from kgreason.data.batch import collate
from kgreason.data.causal import CausalRecord
from kgreason.data.event_memory import CONTEXT_PREFIX, EventLink, EventMemory, read_explanations
from kgreason.data.preprocess import Settings, cache_key
from kgreason.data.shards import ShardCache
from kgreason.kg.errors import TaskInputError
from kgreason.pipelines.cli import main
from kgreason.pipelines.qa import GraphQA
from kgreason.pipelines.run import generate_task_files, run_pipeline

WORDS = ["rain", "wet", "sun", "dry", "fire", "smoke"]


def encode(texts: list[str]) -> np.ndarray:
    """A toy sentence encoder: one dimension per word of WORDS (and a small constant one)."""
    vectors = np.array([[float(word in text.lower()) for word in WORDS] + [0.05] for text in texts])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def record(id_, premise, ask_for, choices, label=0, source="train.jsonl"):
    return CausalRecord(id_, premise, ask_for, tuple(choices), label, source, 1)


TRAIN = [record("t1", "It rained.", "effect", ("The grass got wet.", "Nothing.")),
         record("t2", "There was smoke.", "cause", ("Nothing.", "A fire started."), label=1),
         record("t3", "The sun shone.", "effect", ("The ground was dry.", "Nothing."))]


def memory() -> EventMemory:
    return EventMemory.from_records(TRAIN, encode, encoder="toy", explanations={"t2": "Fire makes smoke."})


def links(question: CausalRecord, exclude=None, kept=None):
    premise, *choices = encode([question.premise, *question.choices])
    together = encode([f"{question.premise} {choice}" for choice in question.choices])
    return (kept or memory()).link([premise], [np.stack(choices)], [together], ask_for=[question.ask_for],
                                   exclude=[exclude])[0]


def test_memory_keeps_each_right_pair_cause_first_with_its_explanation():
    kept = memory()
    assert kept.ids == ["t1", "t2", "t3"] and kept.source == "train.jsonl" and len(kept) == 3
    assert kept.causes[1] == "A fire started." and kept.effects[1] == "There was smoke."  # a cause question's pair
    assert kept.explanations == ["", "Fire makes smoke.", ""]
    assert kept.cause_vectors.shape == (3, len(WORDS) + 1) and kept.cause_vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(kept.effect_vectors, axis=1), 1)
    assert np.allclose(np.linalg.norm(kept.explanation_vectors, axis=1), [0, 1, 0])  # zero rows: no explanation
    assert np.allclose(kept.explanation_vectors[1], encode(["Fire makes smoke."])[0])


def test_a_choice_links_to_the_pair_that_matches_both_sides_in_the_asked_direction():
    effect = links(record("q", "Rain fell.", "effect", ("The road was wet.", "The road was dry.")))
    assert effect[0].pair_id == "t1" and effect[0].match > 0.9 > effect[1].match
    assert effect[0].text == "It rained. —CausesEvent→ The grass got wet."
    cause = links(record("q", "Smoke rose.", "cause", ("Fire broke out.", "It rained."), label=0))
    assert cause[0].pair_id == "t2" and cause[0].match > 0.9 > cause[1].match
    assert cause[0].text == "A fire started. —CausesEvent→ There was smoke. (because: Fire makes smoke.)"
    assert cause[0].because > 0.9 and cause[0].score == cause[0].match + cause[0].because
    assert cause[0].context == f"{CONTEXT_PREFIX} (close match): A fire started. There was smoke. Fire makes smoke."
    assert effect[0].because == 0 and effect[0].context.startswith(f"{CONTEXT_PREFIX} (fair match): It rained.")
    backwards = links(record("q", "Smoke rose.", "effect", ("Fire broke out.", "It rained.")))
    assert max(link.match for link in backwards) < 0.9  # smoke → fire is not in the memory: no strong link


def test_the_explanation_decides_between_pairs_whose_sides_match_alike():
    twins = [record("a", "It rained.", "effect", ("The grass was wet.", "x")),
             record("b", "It rained.", "effect", ("The grass was wet.", "x"))]
    kept = EventMemory.from_records(twins, encode, encoder="toy", explanations={"b": "Rain makes things wet."})
    [link, _] = links(record("q", "Rain fell.", "effect", ("The road was wet.", "The road was dry.")), kept=kept)
    assert link.pair_id == "b" and link.explanation == "Rain makes things wet." and link.because > 0.9


def test_strength_words_follow_the_score():
    def strength(score):
        return EventLink(0, score, 0.0, "c", "e", "", "id").strength

    assert [strength(s) for s in (1.9, 1.2, 1.1, 1.0, 0.9, 0.85, 0.5, -1.0)] == [
        "close", "close", "fair", "fair", "loose", "loose", "faint", "faint"]


def test_a_training_question_never_links_to_its_own_pair():
    question = TRAIN[0]
    assert links(question)[0].pair_id == "t1"
    assert links(question, exclude=("train.jsonl", "t1"))[0].pair_id != "t1"
    assert links(question, exclude=("other.jsonl", "t1"))[0].pair_id == "t1"  # the same id in another file


def test_memory_grows_from_one_training_file_only():
    with pytest.raises(ValueError, match="dev.jsonl:1: the event memory grows from training records only"):
        EventMemory.from_records([record("d", "x", "effect", ("a", "b"), source="data/dev.jsonl")], encode, encoder="t")
    with pytest.raises(ValueError, match="from one training file"):
        EventMemory.from_records([TRAIN[0], record("o", "x", "effect", ("a", "b"), source="more.jsonl")], encode,
                                 encoder="t")
    with pytest.raises(ValueError, match="no labelled training record"):
        EventMemory.from_records([record("u", "x", "effect", ("a", "b"), label=-1)], encode, encoder="t")


def test_memory_saves_and_loads_whole(tmp_path):
    kept = memory()
    path = kept.save(tmp_path / "memory.npz")
    loaded = EventMemory.load(path)
    assert loaded.ids == kept.ids and loaded.explanations == kept.explanations and loaded.encoder == "toy"
    assert np.array_equal(loaded.cause_vectors, kept.cause_vectors) and not list(tmp_path.glob("*.tmp*"))
    assert np.array_equal(loaded.explanation_vectors, kept.explanation_vectors)
    (tmp_path / "bad.npz").write_text("not a memory")
    with pytest.raises(ValueError, match="bad.npz: not an event memory"):
        EventMemory.load(tmp_path / "bad.npz")
    with np.load(path) as arrays:  # a memory saved before explanations were embedded
        np.savez(tmp_path / "old.npz", **{name: arrays[name] for name in arrays if name != "explanation_vectors"})
    with pytest.raises(ValueError, match="old.npz: .*no explanation vectors: build it again"):
        EventMemory.load(tmp_path / "old.npz")


def test_explanations_file_errors_name_file_and_line(tmp_path):
    good = tmp_path / "explanations.jsonl"
    good.write_text(json.dumps({"index": "t1", "conceptual_explanation": " Rain wets. "}) + "\n\n")
    assert read_explanations(good) == {"t1": "Rain wets."}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"index": "t1", "conceptual_explanation": "x"}) + "\n" + json.dumps({"id": 2}) + "\n")
    with pytest.raises(ValueError, match="bad.jsonl:2: expected a JSON object with 'index'"):
        read_explanations(bad)


def test_settings_refuse_a_memory_for_other_tasks_and_key_it_by_content(tmp_path):
    with pytest.raises(ValueError, match="event_memory links causal questions"):
        Settings(task="clutrr", event_memory="m.npz")
    path = memory().save(tmp_path / "m.npz")
    settings = Settings(task="ecare", event_memory=str(path))
    first = cache_key(settings, "input", 16)
    EventMemory.from_records(TRAIN[:2], encode, encoder="toy").save(path)
    assert cache_key(settings, "input", 16) != first


def test_a_run_with_the_memory_reads_each_choices_link_and_graphqa_links_new_questions(tokenizer, tiny_encoder_dir,
                                                                                       tmp_path):
    files = generate_task_files("ecare", tmp_path / "data", train_size=40, test_size=12)
    runner = CliRunner()
    made = runner.invoke(main, ["event-memory", "--train", str(files.train[0]), "--output", str(tmp_path / "m.npz"),
                                "--encoder", str(tiny_encoder_dir)])
    assert made.exit_code == 0, made.output
    assert "40 training pairs (0 with an explanation)" in made.output
    refused = runner.invoke(main, ["event-memory", "--train", str(files.tests["test"]), "--output",
                                   str(tmp_path / "t.npz"), "--encoder", str(tiny_encoder_dir)])
    assert refused.exit_code == 2 and "never from dev or test data" in refused.output
    assert not (tmp_path / "t.npz").exists()

    result = run_pipeline("ecare", files, out=tmp_path / "run", text_encoder=tiny_text_encoder(tokenizer),
                          tokenizer=tokenizer, fusion="lm_only", workers=1, training_kwargs=TRAINING,
                          preprocess_kwargs={"nlp": "blank", "store": str(files.store),
                                             "event_memory": str(tmp_path / "m.npz")})
    train = list(ShardCache(result.preprocessing["train"]["cache_dir"]).examples())
    own = {example.meta["id"]: example.meta["event_links"] for example in train}
    assert all(link["pair_id"] != question for question, links in own.items() for link in links)  # never itself
    example = train[0]
    assert [link["choice"] for link in example.meta["event_links"]] == [0, 1]
    assert all(context.startswith(CONTEXT_PREFIX) for context in example.meta["choice_context"])
    qa = GraphQA.from_pretrained(tmp_path / "run", device="cpu")
    batch = collate([example], tokenizer=tokenizer, relations=qa.bundle.relations, max_length=128)
    row = tokenizer.decode(batch.input_ids[1], skip_special_tokens=True)
    assert example.meta["choice_context"][1].split()[-1].lower().strip(".") in row.lower()
    test = list(ShardCache(result.preprocessing["test"]["cache_dir"]).examples())[0]
    prepared = qa.prepare([{"question": test.text, "choices": test.choices}])[0]
    assert prepared.meta["event_links"] == test.meta["event_links"]  # a test question links as in the run
    answer = qa(test.text, choices=test.choices)
    chosen = test.choices.index(answer.label)
    assert answer.evidence.known_case == test.meta["event_links"][chosen]
    assert answer.evidence.to_dict()["known_case"]["text"].count("—CausesEvent→") == 1
    assert "Known case" in answer.evidence.to_html(tmp_path / "why.html").read_text()
    explained = runner.invoke(main, ["explain", "--model", str(tmp_path / "run"), "--device", "cpu", test.text,
                                     "--choice", test.choices[0], "--choice", test.choices[1]])
    assert explained.exit_code == 0, explained.output
    assert "known case (training question" in explained.output
    (tmp_path / "m.npz").rename(tmp_path / "moved.npz")  # the model names its memory: a clear error, no traceback
    moved = runner.invoke(main, ["explain", "--model", str(tmp_path / "run"), "--device", "cpu", test.text,
                                 "--choice", test.choices[0], "--choice", test.choices[1]])
    assert moved.exit_code == 2 and "event memory" in moved.output and "settings.event_memory" in moved.output


def test_worker_processes_link_to_the_memory(tiny_encoder_dir, tmp_path):
    from kgreason.data.preprocess import preprocess

    files = generate_task_files("ecare", tmp_path / "data", train_size=20, test_size=2)
    CliRunner().invoke(main, ["event-memory", "--train", str(files.train[0]), "--output", str(tmp_path / "m.npz"),
                              "--encoder", str(tiny_encoder_dir)])
    summary = preprocess(files.train[0], tmp_path / "cache", task="ecare", nlp="blank", store=str(files.store),
                         event_memory=str(tmp_path / "m.npz"), workers=2, shard_size=10)
    examples = list(ShardCache(summary.cache_dir).examples())
    assert summary.shards == 2 and len(examples) == 20
    assert all(len(example.meta["event_links"]) == 2 for example in examples)


def test_a_missing_memory_file_is_a_clear_error(tmp_path):
    from kgreason.data.preprocess import preprocess

    files = generate_task_files("ecare", tmp_path / "data", train_size=4, test_size=2)
    with pytest.raises(TaskInputError, match="event memory .*missing.npz is not a file"):
        preprocess(files.train[0], tmp_path / "cache", task="ecare", nlp="blank", store=str(files.store),
                   event_memory=str(tmp_path / "missing.npz"))
