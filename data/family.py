"""A generated family: people with genders, parent and spouse links, deterministic from a seed.

The same family trees underlie CLUTRR-style kinship stories; here they also give the demo and the tests a
knowledge graph with a known structure (every grandparent is a parent's parent, and so on).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FIRST_NAMES = {
    "female": ["Ann", "Beth", "Cora", "Dina", "Eva", "Fay", "Gina", "Hana", "Iris", "Jade", "Kara", "Lena", "Mia", "Nora", "Olga", "Pia"],
    "male": ["Adam", "Ben", "Carl", "Dan", "Eric", "Finn", "Gus", "Hugo", "Ivan", "Jack", "Karl", "Leo", "Max", "Ned", "Otto", "Paul"],
}


@dataclass
class Family:
    """People (`gender[name]`), `parents[child] = [mother, father]` and `spouse[name]`."""

    gender: dict[str, str] = field(default_factory=dict)
    parents: dict[str, list[str]] = field(default_factory=dict)
    spouse: dict[str, str] = field(default_factory=dict)

    def triples(self) -> list[tuple[str, str, str]]:
        """Base facts as (head, relation, tail) names: `mother_of`, `father_of`, `married_to`, `has_gender`."""
        facts = []
        for child, parents in self.parents.items():
            for parent in parents:
                facts.append((parent, "mother_of" if self.gender[parent] == "female" else "father_of", child))
        facts += [(a, "married_to", b) for a, b in self.spouse.items()]
        return facts


def generate_family(generations: int = 4, *, seed: int = 0, children: tuple[int, int] = (1, 3)) -> Family:
    """A family tree of `generations` levels that starts from one couple; names are unique (suffixed)."""
    rng = random.Random(seed)
    family = Family()
    used: dict[str, int] = {}

    def new_person(gender: str) -> str:
        base = rng.choice(FIRST_NAMES[gender])
        used[base] = used.get(base, 0) + 1
        name = base if used[base] == 1 else f"{base}{used[base]}"
        family.gender[name] = gender
        return name

    def marry(person: str) -> str:
        partner = new_person("male" if family.gender[person] == "female" else "female")
        family.spouse[person], family.spouse[partner] = partner, person
        return partner

    couples = [(new_person("female"), None)]
    couples = [(couples[0][0], marry(couples[0][0]))]
    for _ in range(generations - 1):
        next_couples = []
        for a, b in couples:
            mother, father = (a, b) if family.gender[a] == "female" else (b, a)
            for _ in range(rng.randint(*children)):
                child = new_person(rng.choice(["female", "male"]))
                family.parents[child] = [mother, father]
                next_couples.append((child, marry(child)))
        couples = next_couples
    return family
