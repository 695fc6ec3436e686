"""Kinship relations: their names by gender, inverses, and how two compose.

- `KINSHIP` names each gender-free base relation ("parent") for a male and a female relative and gives its
  inverse; `RELATIONS` maps each gendered name ("mother") back to (base, gender).
- `relation_name`, `inverse_relation` and `compose_relations` turn and chain them ("[A]'s son's wife" is A's
  daughter-in-law); `kinship_algebra(labels)` is the same algebra as the closure encoder's class ids.

Direction, as in CLUTRR: a relation `rel` between A and B reads "B is A's rel".
"""

from __future__ import annotations

from typing import Any

MALE, FEMALE = "male", "female"

KINSHIP = {  # base relation: (name when the relative is male, name when female, inverse base relation)
    "parent": ("father", "mother", "child"),
    "child": ("son", "daughter", "parent"),
    "sibling": ("brother", "sister", "sibling"),
    "spouse": ("husband", "wife", "spouse"),
    "grandparent": ("grandfather", "grandmother", "grandchild"),
    "grandchild": ("grandson", "granddaughter", "grandparent"),
    "pibling": ("uncle", "aunt", "nibling"),
    "nibling": ("nephew", "niece", "pibling"),
    "parent-in-law": ("father-in-law", "mother-in-law", "child-in-law"),
    "child-in-law": ("son-in-law", "daughter-in-law", "parent-in-law"),
    "sibling-in-law": ("brother-in-law", "sister-in-law", "sibling-in-law"),
}
RELATIONS = {  # gendered relation name -> (base relation, gender of the relative)
    name: (base, gender) for base, names in KINSHIP.items() for name, gender in zip(names, (MALE, FEMALE))
}

# "C is B's second and B is A's first" -> C is A's (composed): how a compound ("her daughter's son") reads
_COMPOSE = {
    ("parent", "parent"): "grandparent",
    ("parent", "sibling"): "pibling",
    ("parent", "spouse"): "parent",
    ("parent", "child"): "sibling",
    ("child", "child"): "grandchild",
    ("child", "spouse"): "child-in-law",
    ("child", "sibling"): "child",
    ("child", "parent"): "spouse",
    ("child", "grandparent"): "parent",
    ("sibling", "child"): "nibling",
    ("sibling", "sibling"): "sibling",
    ("sibling", "parent"): "parent",
    ("spouse", "parent"): "parent-in-law",
    ("spouse", "child"): "child",
    ("grandparent", "spouse"): "grandparent",
    ("grandchild", "sibling"): "grandchild",
}


def relation_name(base: str, gender: str | None) -> str:
    """The name of `base` for a relative of `gender` ("parent", "female" -> "mother"); `base` if unknown."""
    male, female, _ = KINSHIP[base]
    return {MALE: male, FEMALE: female}.get(gender, base)


def inverse_relation(relation: str, gender: str | None) -> str:
    """If B is A's `relation`, A is B's `inverse_relation(relation, gender of A)` ("son", "female" -> "mother")."""
    return relation_name(KINSHIP[base_relation(relation)[0]][2], gender)


def compose_relations(first: str, second: str) -> str | None:
    """C's relation to A when B is A's `first` and C is B's `second`; None when it has no kinship name."""
    (base1, _), (base2, gender) = base_relation(first), base_relation(second)
    composed = _COMPOSE.get((base1, base2))
    return relation_name(composed, gender) if composed else None


def kinship_algebra(labels: list[str]) -> dict[str, Any]:
    """The closure encoder's relation algebra for the kinship `labels`: `classes` (the gender-free base relations
    the labels name, in `KINSHIP` order), `inverse` (each base's inverse, as class ids) and `label_factors` (each
    label's [base id, 0 male / 1 female]): "son" is [child, 0]. Raises ValueError for a label that is not a
    gendered kinship relation, or a base whose inverse no label names."""
    unknown = [label for label in labels if label not in RELATIONS]
    if unknown:
        raise ValueError(f"kinship_algebra: {unknown} are not gendered kinship relations ({sorted(RELATIONS)})")
    named = {RELATIONS[label][0] for label in labels}
    bases = [base for base in KINSHIP if base in named]
    orphans = [base for base in bases if KINSHIP[base][2] not in named]
    if orphans:
        raise ValueError(f"kinship_algebra: no label names the inverse of {orphans}; add it to the labels")
    return {"classes": len(bases), "inverse": [bases.index(KINSHIP[base][2]) for base in bases],
            "label_factors": [[bases.index(RELATIONS[label][0]), (MALE, FEMALE).index(RELATIONS[label][1])]
                              for label in labels]}


def base_relation(relation: str) -> tuple[str, str | None]:
    """(base relation, gender of the relative) of a gendered name ("mother" -> ("parent", "female")); a base
    relation or an unknown name gives (itself, None)."""
    return RELATIONS.get(relation, (relation, None))

