"""`rename_people`: each CLUTRR story's people renamed, consistently, deterministically, genders kept."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from kgreason.data.clutrr import generate_clutrr, write_clutrr
from kgreason.data.kinship import FEMALE, MALE
from kgreason.data.preprocess import Settings, preprocess
from kgreason.data.preprocess_tasks import load_nlp
from kgreason.data.renaming import NAME_POOL, rename_people
from kgreason.data.story_reader import story_graph
from kgreason.data.shards import ShardCache


def _bracketed(text: str) -> list[str]:
    return re.findall(r"\[([^\]]+)\]", text)


@pytest.mark.parametrize("noise", ["clean", "supporting", "irrelevant", "disconnected"])
def test_a_renamed_story_is_the_same_puzzle_with_new_names(noise):
    for record in generate_clutrr(5, k=3, seed=4, noise=noise):
        renamed = rename_people(record)
        mapping = dict(zip(record.gold.people, renamed.gold.people))
        assert len(set(mapping.values())) == len(mapping)  # distinct people stay distinct
        for old, new in mapping.items():
            assert new in NAME_POOL[record.gold.genders[old]] and renamed.gold.genders[new] == record.gold.genders[old]
        assert _bracketed(renamed.story) == [mapping[name] for name in _bracketed(record.story)]
        assert re.sub(r"\[[^\]]+\]", "[]", renamed.story) == re.sub(r"\[[^\]]+\]", "[]", record.story)  # only names
        assert renamed.query == (mapping[record.query[0]], mapping[record.query[1]])
        assert _bracketed(renamed.gold.clean_story) == [mapping[name] for name in _bracketed(record.gold.clean_story)]
        assert renamed.gold.typed_edges() == [(mapping[a], rel, mapping[b]) for a, rel, b in record.gold.typed_edges()]
        head, steps = next(iter(renamed.gold.proof_state[0].items()))
        old_head, old_steps = next(iter(record.gold.proof_state[0].items()))
        assert head == (mapping[old_head[0]], old_head[1], mapping[old_head[2]]) and len(steps) == len(old_steps)
        assert (renamed.id, renamed.target, renamed.k, renamed.gold.story_edges) == (
            record.id, record.target, record.k, record.gold.story_edges)


def test_the_story_graph_of_a_renamed_story_has_the_same_edges_under_the_new_names():
    nlp = load_nlp(Settings(task="clutrr", nlp="blank"))
    for record in generate_clutrr(3, k=4, seed=1):
        renamed = rename_people(record)
        mapping = dict(zip(record.gold.people, renamed.gold.people))
        old, new = story_graph(record.story, nlp=nlp), story_graph(renamed.story, nlp=nlp)
        assert [mapping[node] for node in old.nodes] == new.nodes
        assert old.edges.tolist() == new.edges.tolist() and old.edge_labels == new.edge_labels


def test_renaming_is_keyed_by_the_record_id_not_by_the_process():
    record = next(generate_clutrr(1, k=2, seed=3))
    here = rename_people(record).story
    code = ("from kgreason.data.clutrr import generate_clutrr; from kgreason.data.renaming import rename_people; "
            "print(rename_people(next(generate_clutrr(1, k=2, seed=3))).story)")
    for hash_seed in ("1", "2"):
        there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               env={"PYTHONHASHSEED": hash_seed, "PATH": ""}).stdout.strip()
        assert there == here
    other = next(generate_clutrr(1, k=2, seed=3))
    other.id = other.id + "x"
    assert rename_people(other).gold.people != rename_people(record).gold.people  # another id, another draw


def test_a_pool_too_small_for_the_story_is_refused():
    record = next(generate_clutrr(1, k=4, seed=0))
    with pytest.raises(ValueError, match="pool"):
        rename_people(record, pool={FEMALE: ("Ann",), MALE: ("Bob",)})


def test_rename_people_is_a_preprocessing_setting_with_its_own_cache(tmp_path):
    records = list(generate_clutrr(4, k=3, seed=2))
    write_clutrr(records, tmp_path / "c.csv")
    plain = preprocess(tmp_path / "c.csv", tmp_path / "cache", task="clutrr", workers=1, nlp="blank")
    renamed = preprocess(tmp_path / "c.csv", tmp_path / "cache", task="clutrr", workers=1, nlp="blank",
                         rename_people=True)
    assert renamed.cache_dir != plain.cache_dir and renamed.made == 4
    for record, one, two in zip(records, ShardCache(plain.cache_dir).examples(), ShardCache(renamed.cache_dir).examples()):
        expected = rename_people(record)
        assert two.meta["query"] == list(expected.query) and one.meta["query"] == list(record.query)
        assert (two.label, two.num_edges) == (one.label, one.num_edges)
        assert two.meta["gold_chain"] == [dict(zip(record.gold.people, expected.gold.people))[p]
                                          for p in one.meta["gold_chain"]]
    with pytest.raises(ValueError, match="rename_people"):
        preprocess(tmp_path / "c.csv", tmp_path / "cache", task="proofwriter", rename_people=True)


def test_the_pool_names_are_distinct_and_no_kinship_word():
    from kgreason.data.kinship import RELATIONS

    names = NAME_POOL[FEMALE] + NAME_POOL[MALE]
    assert len(set(names)) == len(names) and not {name.lower() for name in names} & set(RELATIONS)
