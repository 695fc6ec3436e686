"""Shard cache and text cleaning of the preprocessing pipeline."""

import json

import numpy as np

from kgreason.data.example import KGQAExample
from kgreason.data.preprocess import Settings, cache_key, clean_text
from kgreason.data.shards import ShardCache


def example(i: int) -> KGQAExample:
    return KGQAExample(
        f"text {i}", choices=["a", "b"], label=i % 2, node_ids=np.array([5, 7]), edge_index=np.array([[0], [1]]),
        edge_type=np.array([3]), mention_node_index=np.array([0]), mention_char_spans=np.array([[0, 4]]), meta={"id": i},
    )


def test_examples_round_trip_through_json():
    original = example(3)
    back = KGQAExample.from_dict(json.loads(json.dumps(original.to_dict())))
    assert back.text == original.text and back.meta == original.meta and back.label == 1
    for name in KGQAExample.ARRAYS:
        assert np.array_equal(getattr(back, name), getattr(original, name)) and getattr(back, name).dtype == np.int64
    empty = KGQAExample.from_dict({"text": ""})
    assert empty.edge_index.shape == (2, 0) and empty.mention_char_spans.shape == (0, 2)


def test_a_shard_is_complete_only_once_its_counts_are_written(tmp_path):
    cache = ShardCache(tmp_path)
    cache.write(1, [example(1), example(2)], {"examples": 2})
    (tmp_path / "shard-000000.jsonl").write_text("half written")  # no counts file: not done
    assert cache.done() == {1}
    assert [e.meta["id"] for e in cache.examples()] == [1, 2]
    assert cache.counts(1) == {"examples": 2}
    assert not list(tmp_path.glob("*.tmp"))


def test_clean_text_flags_what_it_changes():
    assert clean_text("  \n", max_chars=100) == ("", ["empty_text"])
    assert clean_text("Tom 🙂 ist müde.", max_chars=100) == ("Tom 🙂 ist müde.", [])
    assert clean_text("a\x00b\tc\nd", max_chars=100) == ("a b\tc\nd", ["control_characters"])
    text, flags = clean_text("One two. Three four. Five six seven.", max_chars=25)
    assert (text, flags) == ("One two. Three four.", ["truncated"])
    text, flags = clean_text("word " * 10, max_chars=12)
    assert (text, flags) == ("word word", ["truncated"])


def test_cache_key_changes_with_input_settings_and_shard_size():
    base = cache_key(Settings(task="clutrr"), "00", 256)
    assert base == cache_key(Settings(task="clutrr"), "00", 256)
    assert len({base, cache_key(Settings(task="clutrr"), "01", 256), cache_key(Settings(task="clutrr", nlp="blank"), "00", 256),
                cache_key(Settings(task="clutrr"), "00", 128)}) == 4


def test_cache_key_changes_with_the_code_that_makes_examples(monkeypatch):
    import kgreason.data.preprocess as preprocess_module

    digest = preprocess_module.example_code_digest()
    assert len(digest) == 16 and digest == preprocess_module.example_code_digest()
    base = cache_key(Settings(task="proofwriter"), "00", 256)
    monkeypatch.setattr(preprocess_module, "example_code_digest", lambda: "edited")
    assert cache_key(Settings(task="proofwriter"), "00", 256) != base
