"""The gold story: a CLUTRR puzzle told by its gold graph, one plain sentence per story edge. AN UPPER BOUND.

Why: CLUTRR's graph-based results (GAT, CTP) read the gold story graph (`story_edges`, `edge_types`), not the
story. `gold_story(record)` gives a model the same input through the same text path: the story is replaced by
one sentence per gold story edge, in the file's order, which the story reader reads exactly:

    "[B] is [A]'s son."                      a typed edge (A, son, B) of the chain: B is A's son
    "[A] and [B] know each other."           a story edge without a type (CLUTRR's noise facts have none)

A run on gold stories reads CLUTRR's gold annotations, which are for evaluation only, so its accuracy is an
upper bound for a reader of the text (what the reasoning part gives when the graph is right), never a model's
result on the task; label it so (docs/training.md, `--gold-story`).
"""

from __future__ import annotations

from dataclasses import replace

from .clutrr import ClutrrRecord

TYPED_SENTENCE = "[{B}] is [{A}]'s {rel}."
UNTYPED_SENTENCE = "[{A}] and [{B}] know each other."


def gold_story(record: ClutrrRecord) -> ClutrrRecord:
    """The same puzzle (query, answer and gold unchanged) whose story states its gold story edges, one sentence
    each: the typed ones (the chain) as "[B] is [A]'s rel.", the others (noise facts) as an untyped acquaintance."""
    gold = record.gold
    sentences = []
    for number, (i, j) in enumerate(gold.story_edges):
        a, b = gold.people[i], gold.people[j]
        if number < len(gold.edge_types):
            sentences.append(TYPED_SENTENCE.format(A=a, B=b, rel=gold.edge_types[number]))
        else:
            sentences.append(UNTYPED_SENTENCE.format(A=a, B=b))
    typed = " ".join(sentences[: len(gold.edge_types)])
    return replace(record, story=" ".join(sentences), gold=replace(gold, clean_story=typed))
