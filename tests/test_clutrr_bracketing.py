"""bench/clutrr_bracketing.py: a closure model's composition table scored on kinship chains, with plain and with
factored labels."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from kgreason.data.clutrr import CLUTRR_RELATIONS
from kgreason.data.kinship import compose_relations, kinship_algebra
from kgreason.encoders.graph import ClosureEncoder

LABELS = sorted(CLUTRR_RELATIONS)


@pytest.fixture
def bracketing(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import clutrr_bracketing

    return clutrr_bracketing


def _kinship_table(factored: bool, bracketing):
    """A closure whose table is the kinship composition (one-hot where it is defined, uniform elsewhere)."""
    algebra = kinship_algebra(LABELS) if factored else {}
    encoder = ClosureEncoder(hidden_size=len(LABELS), num_relations=2, num_layers=6, **algebra)
    model = bracketing.closure_table(Path("model"), encoder, LABELS, algebra.get("label_factors"))
    class_of = dict(zip(LABELS, model.label_class))
    with torch.no_grad():
        encoder.table.zero_()
        for first in LABELS:
            for second in LABELS:
                composed = compose_relations(first, second)
                if composed in class_of:
                    encoder.table[class_of[first], class_of[second], class_of[composed]] = 1.0
    return model


def _chains():
    """(chain, answer) pairs whose every left-to-right step has a kinship name."""
    chains = [("son", "brother"), ("father", "wife", "brother"), ("brother", "father", "sister"),
              ("wife", "son", "son", "sister", "brother")]
    answers = []
    for chain in chains:
        answer = chain[0]
        for relation in chain[1:]:
            answer = compose_relations(answer, relation)
        answers.append(SimpleNamespace(target=answer))
    return chains, answers


@pytest.mark.parametrize("factored", [False, True])
def test_a_kinship_table_composes_kinship_chains_and_its_wrong_entry_is_reported(bracketing, factored):
    model = _kinship_table(factored, bracketing)
    chains, records = _chains()
    assert all(record.target for record in records)
    assert bracketing.chains_by_model(model, chains, records) == 1.0
    checked = bracketing.score_model_table(model, training_pairs={})
    assert checked["wrong"] == [] and checked["right"] == checked["compositions"] > 0
    if factored:  # one entry per pair of base relations: "son ∘ brother" and "daughter ∘ sister" are child ∘ sibling
        assert checked["compositions"] < len(LABELS) ** 2 / 4
        assert model.class_names[model.label_class[LABELS.index("son")]] == "child"
    class_of = dict(zip(LABELS, model.label_class))
    son, brother, sister = class_of["son"], class_of["brother"], class_of["sister"]
    with torch.no_grad():  # son ∘ brother learned as sister (plain) or sibling (factored)
        model.encoder.table[son, brother] = 0.0
        model.encoder.table[son, brother, sister] = 1.0
    wrong = bracketing.score_model_table(model, training_pairs={("son", "brother"): "son"})["wrong"]
    assert [(row["pair"], row["expected"], row["got"], row["in_training_chains"]) for row in wrong] == [
        (["child", "sibling"] if factored else ["son", "brother"], "child" if factored else "son",
         "sibling" if factored else "sister", True)]
    assert bracketing.chains_by_model(model, chains, records) < 1.0
    assert bracketing.chains_by_model(model, [("son", "cousin")], records[:1]) is None  # not a label
