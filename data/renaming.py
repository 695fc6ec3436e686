"""People renamed: each CLUTRR story's people get new first names, drawn per story, so that names carry nothing.

Why: in every official CLUTRR folder, the test files of the training task reuse the training stories' people
(`data_089907f8`'s 1.2 and 1.3 tests: every query pair is a training query pair, and the label that pair has
most often in training is the gold label for 135 of 143), while every story of the other test files (longer
chains, other noise) has people that never occur in training. A model can so score on the first kind by remembering
who is whose father, and meet unknown names on the second. `rename_people` makes a story's names a fresh draw
from `NAME_POOL`, keyed by the record's id (deterministic, the same in every process), genders kept.

    renamed = rename_people(record)       # story, clean story, query, gold people and proof, all renamed
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import replace

from .clutrr import ClutrrRecord
from .kinship import FEMALE, MALE

NAME_POOL = {  # common English first names; none is a kinship word or a CLUTRR relation
    FEMALE: (
        "Abigail", "Alice", "Amber", "Andrea", "Angela", "Audrey", "Bianca", "Brenda", "Camila", "Carmen",
        "Caroline", "Celia", "Chloe", "Clara", "Daisy", "Deborah", "Diana", "Edith", "Elena", "Eliza", "Emma",
        "Esther", "Faith", "Fiona", "Gemma", "Gloria", "Grace", "Hannah", "Harriet", "Hazel", "Helen", "Ingrid",
        "Irene", "Isabel", "Jane", "Janet", "Joan", "Julia", "Karen", "Laura", "Leah", "Lilian", "Linda",
        "Lucy", "Lydia", "Mabel", "Maria", "Martha", "Maya", "Megan", "Miriam", "Monica", "Naomi", "Natalie",
        "Nina", "Olivia", "Paula", "Phoebe", "Rachel", "Rebecca", "Rita", "Rosa", "Ruth", "Sandra", "Sarah",
        "Sophie", "Stella", "Susan", "Tara", "Teresa", "Ursula", "Vera", "Victoria", "Wendy", "Yvonne", "Zoe",
    ),
    MALE: (
        "Aaron", "Albert", "Alan", "Andrew", "Arthur", "Bernard", "Bruce", "Caleb", "Charles", "Colin", "Daniel",
        "David", "Dennis", "Derek", "Edgar", "Edward", "Elliot", "Ernest", "Felix", "Frank", "Gavin", "George",
        "Gordon", "Harold", "Henry", "Howard", "Isaac", "Jacob", "James", "Jerome", "Joel", "Jonah", "Joseph",
        "Kevin", "Lewis", "Lionel", "Louis", "Lucas", "Malcolm", "Martin", "Michael", "Milo", "Nathan", "Neil",
        "Nigel", "Oliver", "Oscar", "Patrick", "Peter", "Philip", "Quentin", "Ralph", "Raymond", "Robert",
        "Roger", "Rufus", "Samuel", "Simon", "Stanley", "Stephen", "Theo", "Thomas", "Timothy", "Trevor",
        "Victor", "Vincent", "Walter", "Warren", "Wesley", "Xavier", "Yusuf", "Zachary",
    ),
}  # fmt: skip
_BRACKETED = re.compile(r"\[([^\[\]]+)\]")


def rename_people(record: ClutrrRecord, *, pool: dict[str, tuple[str, ...]] = NAME_POOL) -> ClutrrRecord:
    """The same puzzle with each of `record.gold.people` renamed (its bracketed mentions in the story and the
    clean story, the query, the gold people, genders and proof): distinct names of the person's gender from
    `pool`, drawn with a random generator seeded by the record's id. Words outside brackets are left as they
    are. Raises ValueError when the pool has too few names of a gender for the story."""
    gold = record.gold
    rng = random.Random(hashlib.sha256(record.id.encode()).digest())
    mapping: dict[str, str] = {}
    for gender in (FEMALE, MALE):
        people = [person for person in gold.people if gold.genders.get(person) == gender]
        if len(people) > len(pool[gender]):
            raise ValueError(f"record {record.id}: {len(people)} {gender} people, the pool has "
                             f"{len(pool[gender])} {gender} names; pass a larger pool")
        mapping.update(zip(people, rng.sample(pool[gender], len(people))))
    unused = sorted(set(pool[FEMALE] + pool[MALE]) - set(mapping.values()))
    for person in gold.people:  # a person without a known gender: any name left
        if person not in mapping:
            mapping[person] = unused.pop(rng.randrange(len(unused)))

    def name(person: str) -> str:
        return mapping.get(person, person)

    def text(story: str) -> str:
        return _BRACKETED.sub(lambda match: f"[{name(match.group(1))}]", story)

    proof = [{_renamed_triple(head, name): [_renamed_triple(step, name) for step in steps]
              for head, steps in state.items()} for state in gold.proof_state]
    renamed_gold = replace(gold, people=tuple(map(name, gold.people)),
                           genders={name(person): gender for person, gender in gold.genders.items()},
                           proof_state=proof, clean_story=text(gold.clean_story))
    return replace(record, story=text(record.story), query=(name(record.query[0]), name(record.query[1])),
                   gold=renamed_gold)


def _renamed_triple(triple: tuple, name) -> tuple:
    """(A, relation, B) with A and B renamed."""
    head, relation, tail = triple
    return name(head), relation, name(tail)
