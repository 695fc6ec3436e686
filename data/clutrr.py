"""CLUTRR kinship stories: records, the CSV files and a generator.

- `read_clutrr(path)` streams `ClutrrRecord`s from a CLUTRR CSV (plain or gzipped); `write_clutrr` writes them.
- `generate_clutrr(n, k=, seed=, noise=)` makes CLUTRR-style stories with chain length k over `data.family`
  trees, clean or with CLUTRR's supporting / irrelevant / disconnected facts, as the same records (gold included).

The story graph read from a story's text is `data.story_reader`; the kinship relations are `data.kinship`.

Direction, as in CLUTRR's gold (`story_edges` (0, 1) with `edge_types` 'father': person 1 is person 0's
father, persons numbered in the order of `genders`): an edge (A, rel, B) means "B is A's rel".

The gold annotations (`ClutrrRecord.gold`) are for evaluation only: models read the story text.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import logging
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgreason.kg.errors import ParseError
from kgreason.kg.readers.source import Source

from .family import Family, generate_family
from .kinship import FEMALE, MALE, RELATIONS, inverse_relation, relation_name

log = logging.getLogger(__name__)

CLUTRR_RELATIONS = frozenset(RELATIONS) - {"brother-in-law", "sister-in-law"}  # the relations CLUTRR uses
NOISE_TYPES = {1: "clean", 2: "supporting", 3: "irrelevant", 4: "disconnected"}  # task_<noise>.<k>


# ---------------------------------------------------------------------------------------------------------------
# Records and files
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class ClutrrGold:
    """CLUTRR's annotations. EVALUATION ONLY: they give the reasoning away; models read `ClutrrRecord.story`.

    people: the story's people; persons are numbered in this order (CLUTRR's `genders` column)
    genders: gender of each person ("male" / "female")
    story_edges: (i, j) person pairs the story states (the chain first, then noise facts, if any)
    edge_types: relation of the first len(edge_types) story edges (the chain): person j is person i's type
    query_edge: (i, j) the pair asked about
    f_comb: the chain's relations in order
    proof_state: the derivation, as in the file: [{(A, rel, C): [(A, r1, B), (B, r2, C)]}, ...]
    clean_story: the story without its noise sentences
    """

    people: tuple[str, ...]
    genders: dict[str, str]
    story_edges: tuple[tuple[int, int], ...]
    edge_types: tuple[str, ...]
    query_edge: tuple[int, int]
    f_comb: tuple[str, ...]
    proof_state: list[dict[tuple[str, str, str], list[tuple[str, str, str]]]]
    clean_story: str = ""

    def typed_edges(self) -> list[tuple[str, str, str]]:
        """The chain as (A, rel, B) names: B is A's rel."""
        return [(self.people[i], rel, self.people[j]) for (i, j), rel in zip(self.story_edges, self.edge_types)]

    def edge_pairs(self) -> set[frozenset[str]]:
        """Every story edge as an unordered pair of names."""
        return {frozenset((self.people[i], self.people[j])) for i, j in self.story_edges}


@dataclass
class ClutrrRecord:
    """One CLUTRR puzzle: a story, a query (A, B) and the answer `target` (B is A's target).

    k: the chain length (number of relations in `gold.f_comb`); task_name: "task_<noise>.<k>"
    gold: evaluation-only annotations (`ClutrrGold`); a model must not read them.
    """

    id: str
    story: str
    query: tuple[str, str]
    target: str
    task_name: str
    k: int
    gold: ClutrrGold = field(repr=False)
    split: str = ""

    @property
    def noise(self) -> str:
        """The noise type of the task: clean, supporting, irrelevant or disconnected."""
        return NOISE_TYPES.get(int(self.task_name.split("_")[-1].split(".")[0]), "unknown")


class ClutrrFormatError(ParseError):
    """A CLUTRR CSV row could not be read; `field` names the column."""

    code = "DATA101"

    def __init__(self, message: str, *, path: str, line: int, field: str | None = None,
                 hint: str = "fix or drop that row, or read with on_error='skip' to skip malformed rows") -> None:
        self.field = field
        where = f"field {field!r}: " if field else ""
        super().__init__(where + message, path=path, line=line, hint=hint)


COLUMNS = (  # CLUTRR's header, in its order
    "", "id", "story", "query", "text_query", "target", "text_target", "clean_story", "proof_state", "f_comb",
    "task_name", "story_edges", "edge_types", "query_edge", "genders", "syn_story", "node_mapping", "task_split",
)  # fmt: skip
REQUIRED = ("id", "story", "query", "target", "proof_state", "f_comb", "task_name", "story_edges", "edge_types",
            "query_edge", "genders")  # fmt: skip
_TASK_NAME = re.compile(r"task_(\d+)\.(\d+)")
_RELATION_WORD = re.compile(r"[a-z]+(?:-in-law)?")


def read_clutrr(
    path: str | Path, *, on_error: str = "raise", skipped: list[ClutrrFormatError] | None = None
) -> Iterator[ClutrrRecord]:
    """Stream the records of a CLUTRR CSV file (plain or gzipped, detected by content).

    A malformed row raises a `ClutrrFormatError` naming the file, the line and the field; with
    `on_error="skip"` the row is left out instead and its error appended to `skipped` (when given; else
    logged as a warning). A file without CLUTRR's columns always raises.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    source = Source(path)
    with io.TextIOWrapper(source.open_binary(), encoding="utf-8-sig", newline="") as stream:
        rows = csv.reader(stream)
        header = next(rows, None)
        missing = [name for name in REQUIRED if header is None or name not in header]
        if missing:
            raise ClutrrFormatError(
                f"not a CLUTRR CSV: the header lacks the columns {missing} (found {header})",
                path=source.location,
                line=1,
                hint=f"give a CLUTRR CSV file: its first row names the columns, at least {', '.join(REQUIRED)}",
            )
        column = {name: i for i, name in enumerate(header)}
        while True:
            line = rows.line_num + 1
            row = next(rows, None)
            if row is None:
                return
            try:
                yield _parse_row(row, column, path=source.location, line=line)
            except ClutrrFormatError as err:
                if on_error == "raise":
                    raise
                if skipped is not None:
                    skipped.append(err)
                else:
                    log.warning("skipped a malformed CLUTRR row: %s", err)


def _parse_row(row: list[str], column: dict[str, int], *, path: str, line: int) -> ClutrrRecord:
    if len(row) != len(column):
        raise ClutrrFormatError(f"the row has {len(row)} cells, the header {len(column)}", path=path, line=line)

    def get(name: str, parse=str) -> Any:
        text = row[column[name]] if name in column else ""
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as err:
            raise ClutrrFormatError(f"{err} (value {text[:80]!r})", path=path, line=line, field=name) from None

    def require(ok: bool, name: str, message: str) -> None:
        if not ok:
            raise ClutrrFormatError(message, path=path, line=line, field=name)

    genders = get("genders", _parse_genders)
    people = tuple(genders)
    task_name = get("task_name")
    task = _TASK_NAME.fullmatch(task_name)
    require(task is not None, "task_name", f"expected task_<noise>.<k>, got {task_name!r}")
    f_comb = tuple(_RELATION_WORD.findall(get("f_comb")))
    k = len(f_comb)
    require(k == int(task[2]), "f_comb", f"{k} relations {f_comb}, but {task_name} says k={task[2]}")
    story_edges = get("story_edges", lambda text: tuple(_person_pair(e, people) for e in _literal(text, list, tuple)))
    edge_types = get("edge_types", lambda text: tuple(_literal(text, list, str)))
    require(len(edge_types) == k <= len(story_edges), "edge_types",
            f"{len(edge_types)} types for a chain of k={k} over {len(story_edges)} story edges")  # fmt: skip
    query = get("query", lambda text: _literal(text, tuple, str))
    require(len(query) == 2 and set(query) <= set(people), "query", f"{query} is not two of the people {people}")
    target = get("target")
    require(target in RELATIONS, "target", f"{target!r} is not a kinship relation")
    story = get("story")
    require(bool(story.strip()), "story", "the story is empty")
    return ClutrrRecord(
        id=get("id"),
        story=story,
        query=(query[0], query[1]),
        target=target,
        task_name=task_name,
        k=k,
        gold=ClutrrGold(
            people=people,
            genders=genders,
            story_edges=story_edges,
            edge_types=edge_types,
            query_edge=get("query_edge", lambda text: _person_pair(_literal(text, tuple, int), people)),
            f_comb=f_comb,
            proof_state=get("proof_state", lambda text: _literal(text, list, dict)),
            clean_story=get("clean_story"),
        ),
        split=get("task_split"),
    )


def _literal(text: str, kind: type, item: type) -> Any:
    """A Python literal of type `kind` whose items are `item`s."""
    value = ast.literal_eval(text)
    if not isinstance(value, kind) or not all(isinstance(x, item) for x in value):
        raise ValueError(f"expected a {kind.__name__} of {item.__name__}")
    return value


def _person_pair(pair: tuple, people: tuple[str, ...]) -> tuple[int, int]:
    if len(pair) != 2 or not all(isinstance(i, int) and 0 <= i < len(people) for i in pair):
        raise ValueError(f"{pair} is not a pair of person numbers below {len(people)}")
    return int(pair[0]), int(pair[1])


def _parse_genders(text: str) -> dict[str, str]:
    genders = {}
    for item in text.split(","):
        name, _, gender = item.rpartition(":")
        if not name or gender not in (MALE, FEMALE):
            raise ValueError(f"expected 'Name:male|female', got {item!r}")
        genders[name] = gender
    return genders


def write_clutrr(records: Iterable[ClutrrRecord], path: str | Path) -> int:
    """Write records as a CLUTRR CSV (gzipped when `path` ends in .gz); returns the number of rows."""
    path = Path(path)
    raw = gzip.GzipFile(path, "wb", mtime=0) if path.suffix == ".gz" else open(path, "wb")  # noqa: SIM115
    count = 0
    with io.TextIOWrapper(raw, encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for count, record in enumerate(records, 1):
            gold = record.gold
            cells = {
                "": str(count - 1),
                "id": record.id,
                "story": record.story,
                "query": repr(tuple(record.query)),
                "target": record.target,
                "clean_story": gold.clean_story,
                "proof_state": repr(gold.proof_state),
                "f_comb": "-".join(gold.f_comb),
                "task_name": record.task_name,
                "story_edges": repr(list(gold.story_edges)),
                "edge_types": repr(list(gold.edge_types)),
                "query_edge": repr(tuple(gold.query_edge)),
                "genders": ",".join(f"{name}:{gender}" for name, gender in gold.genders.items()),
                "task_split": record.split,
            }
            writer.writerow([cells.get(name, "") for name in COLUMNS])
    return count


# ---------------------------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------------------------

# One sentence per chain edge (A, rel, B), "B is A's rel". {inv} is A's relation to B; {a_his} A's possessive.
STORY_TEMPLATES = (
    "[{A}]'s {rel} [{B}] came over for dinner.",
    "[{B}] is the {rel} of [{A}].",
    "[{A}] went shopping with {a_his} {rel} [{B}].",
    "[{B}] is [{A}]'s {rel}.",
    "[{A}] has a {rel} named [{B}].",
    "[{A}] called {a_his} {rel}, [{B}], to say hello.",
    "[{A}] visited {a_his} {rel}. {B_his} name is [{B}].",
    "[{B}] and {b_his} {inv} [{A}] went to the park.",
    "[{B}], [{A}]'s {rel}, baked a cake.",
    "[{A}] met [{B}], {a_his} {rel}, at the station.",
)
_CHAIN_BASES = {"parent", "child", "sibling", "spouse", "grandparent", "grandchild", "pibling", "nibling"}
_POSSESSIVE_OF = {MALE: "his", FEMALE: "her"}
_SEARCH_STEPS = 2000  # per family: give up on families too small for a chain of k
_MAX_FAMILIES_WITHOUT_A_CHAIN = 200


def family_relations(family: Family) -> dict[tuple[str, str], str]:
    """{(A, B): rel} for every pair with a CLUTRR kinship name: B is A's rel (aunts and uncles by blood)."""
    children = defaultdict(list)
    for child, parents in family.parents.items():
        for parent in parents:
            children[parent].append(child)

    def parents(person: str) -> list[str]:
        return family.parents.get(person, [])

    def siblings(person: str) -> list[str]:  # a list, in birth order: a set's order would change with the hash seed
        return list(dict.fromkeys(c for p in parents(person) for c in children[p] if c != person))

    table: dict[tuple[str, str], str] = {}

    def add(a: str, base: str, b: str) -> None:
        table.setdefault((a, b), relation_name(base, family.gender[b]))

    for a in family.gender:
        for p in parents(a):
            add(a, "parent", p)
            for grandparent in parents(p):
                add(a, "grandparent", grandparent)
            for pibling in siblings(p):
                add(a, "pibling", pibling)
        for c in children[a]:
            add(a, "child", c)
            for grandchild in children[c]:
                add(a, "grandchild", grandchild)
            if c in family.spouse:
                add(a, "child-in-law", family.spouse[c])
        for s in siblings(a):
            add(a, "sibling", s)
            for nibling in children[s]:
                add(a, "nibling", nibling)
        if a in family.spouse:
            add(a, "spouse", family.spouse[a])
            for parent_in_law in parents(family.spouse[a]):
                add(a, "parent-in-law", parent_in_law)
    return table


def generate_clutrr(n: int, *, k: int, seed: int = 0, noise: str = "clean") -> Iterator[ClutrrRecord]:
    """`n` CLUTRR-style records with chain length `k` and `noise` facts, deterministic from `seed`.

    Each story is a chain of k people-to-people relations over a `generate_family` tree, one sentence per
    edge (templates drawn from `STORY_TEMPLATES`, sentences shuffled); every prefix of the chain has a kinship
    name, which gives the proof; the target is the true relation in the tree between the chain's ends.
    `noise` (a value of `NOISE_TYPES`; task_name "task_<its key>.<k>") adds true facts of the same tree, as in
    CLUTRR's robust-reasoning files (see `_noise_edges`), each a sentence from the same templates put at a
    random place in the story; `gold.story_edges` lists them after the chain, `gold.clean_story` is the
    story without them. A clean story draws nothing for noise: the clean records of a seed do not depend on it.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    noise_id = next((key for key, name in NOISE_TYPES.items() if name == noise), None)
    if noise_id is None:
        raise ValueError(f"noise must be one of {', '.join(NOISE_TYPES.values())}, not {noise!r}")
    rng = random.Random(seed)
    made = failures = 0
    while made < n:
        family = generate_family(4, seed=rng.randrange(2**32), children=(1, 3))
        relations = family_relations(family)
        chain = _sample_chain(relations, k, rng)
        extra = None if chain is None else _noise_edges(noise, chain, relations, rng)
        if extra is None:
            failures += 1
            if failures > _MAX_FAMILIES_WITHOUT_A_CHAIN:
                with_noise = "" if noise == "clean" else f" with {noise} facts"
                raise ValueError(f"found no chain of k={k} relations{with_noise} in {failures} generated families: "
                                 "use a smaller k")  # fmt: skip
            continue
        failures = 0
        yield _chain_record(chain, family, relations, rng, noise_edges=extra, task_name=f"task_{noise_id}.{k}",
                            id=f"generated-{seed}-{made}")  # fmt: skip
        made += 1


def _kin_neighbours(relations: dict[tuple[str, str], str]) -> defaultdict[str, list[str]]:
    """Each person's relatives by a relation a chain may use (`_CHAIN_BASES`), in the order of `relations`."""
    neighbours = defaultdict(list)
    for (a, b), rel in relations.items():
        if RELATIONS[rel][0] in _CHAIN_BASES:
            neighbours[a].append(b)
    return neighbours


def _sample_chain(relations: dict[tuple[str, str], str], k: int, rng: random.Random) -> list[str] | None:
    """k+1 distinct people, each a chain relative of the one before, all with a kinship name to the first."""
    neighbours = _kin_neighbours(relations)
    budget = _SEARCH_STEPS

    def extend(path: list[str]) -> bool:
        nonlocal budget
        if len(path) == k + 1:
            return True
        options = [b for b in neighbours[path[-1]] if b not in path and (path[0], b) in relations]
        rng.shuffle(options)
        for person in options:
            budget -= 1
            if budget < 0:
                return False
            path.append(person)
            if extend(path):
                return True
            path.pop()
        return False

    starts = sorted(neighbours)
    rng.shuffle(starts)
    for start in starts[:5]:
        path = [start]
        if extend(path):
            return path
    return None


def _noise_edges(
    noise: str, chain: list[str], relations: dict[tuple[str, str], str], rng: random.Random
) -> list[tuple[str, str]] | None:
    """The noise facts for a story over `chain`, as (A, B) pairs of the family (B is A's relations[A, B]),
    shaped as in CLUTRR's robust-reasoning files; None when the family has none. X and Y are people
    outside the chain:

    - clean: none (draws nothing from `rng`)
    - supporting: (chain[i], X), (X, chain[i + 1]): a second path between two neighbours of the chain
    - irrelevant: (chain[i], X) with i < k: a branch that leads nowhere
    - disconnected: (X, Y): a pair of relatives with no link to the chain
    """
    if noise == "clean":
        return []
    neighbours = _kin_neighbours(relations)
    if noise == "supporting":
        options = [[(a, x), (x, b)] for a, b in zip(chain, chain[1:])
                   for x in neighbours[a] if x not in chain and b in neighbours[x]]  # fmt: skip
    elif noise == "irrelevant":
        options = [[(a, x)] for a in chain[:-1] for x in neighbours[a] if x not in chain]
    else:
        outside = [x for x in neighbours if x not in chain]
        options = [[(x, y)] for x in outside for y in neighbours[x] if y not in chain]
    return rng.choice(options) if options else None


def _chain_record(
    chain: list[str], family: Family, relations: dict[tuple[str, str], str], rng: random.Random, *,
    noise_edges: list[tuple[str, str]], task_name: str, id: str,
) -> ClutrrRecord:
    edge_types = [relations[a, b] for a, b in zip(chain, chain[1:])]
    sentences = [_sentence(a, b, rel, family, rng) for (a, b), rel in zip(zip(chain, chain[1:]), edge_types)]
    rng.shuffle(sentences)
    clean_story = " ".join(sentences)
    for a, b in noise_edges:
        sentence = _sentence(a, b, relations[a, b], family, rng)
        sentences.insert(rng.randrange(len(sentences) + 1), sentence)
    people = list(dict.fromkeys(chain + [person for edge in noise_edges for person in edge]))
    number = {person: i for i, person in enumerate(people)}
    first = chain[0]
    proof = [
        {(first, relations[first, chain[i]], chain[i]): [
            (first, relations[first, chain[i - 1]], chain[i - 1]), (chain[i - 1], edge_types[i - 1], chain[i])]}
        for i in range(len(chain) - 1, 1, -1)
    ]  # fmt: skip
    k = len(edge_types)
    return ClutrrRecord(
        id=id,
        story=" ".join(sentences),
        query=(first, chain[-1]),
        target=relations[first, chain[-1]],
        task_name=task_name,
        k=k,
        gold=ClutrrGold(
            people=tuple(people),
            genders={person: family.gender[person] for person in people},
            story_edges=tuple((i, i + 1) for i in range(k)) + tuple((number[a], number[b]) for a, b in noise_edges),
            edge_types=tuple(edge_types),
            query_edge=(0, k),
            f_comb=tuple(edge_types),
            proof_state=proof,
            clean_story=clean_story,
        ),
        split="generated",
    )


def _sentence(a: str, b: str, rel: str, family: Family, rng: random.Random) -> str:
    """A sentence that says B is A's `rel`, from a template drawn from `STORY_TEMPLATES`."""
    return rng.choice(STORY_TEMPLATES).format(
        A=a, B=b, rel=rel, inv=inverse_relation(rel, family.gender[a]),
        a_his=_POSSESSIVE_OF[family.gender[a]], b_his=_POSSESSIVE_OF[family.gender[b]],
        B_his=_POSSESSIVE_OF[family.gender[b]].capitalize(),
    )  # fmt: skip

