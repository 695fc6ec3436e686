"""The W3C RDF syntax test suites (N-Triples, Turtle; RDF 1.1 and 1.2) run against our readers.

`load_cases(root)` reads every `manifest.ttl` below `root` into `Case`s (each test once, by the manifest that
lists it in `mf:entries`; `mf:include` lists are not followed, the included manifests are found anyway).
`run_case(case, engine)` checks one case with one engine (`oxigraph` or `rdflib`) and `cross_check(case)`
checks that both engines give the same graph when both accept the input. Graphs are sets of key triples
(`kgreason.kg.terms`) compared up to blank-node renaming by `isomorphic`.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

from kgreason.kg.errors import ParseError
from kgreason.kg.readers import iter_chunks

ENGINES = ("oxigraph", "rdflib")
SUITES_URL = "https://w3c.github.io/rdf-tests/rdf/"
MF = "http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#"
RDFT = "http://www.w3.org/ns/rdftest#"
# rdft test type -> (kind, input format)
TEST_TYPES = {
    "TestNTriplesPositiveSyntax": ("positive", "ntriples"),
    "TestNTriplesNegativeSyntax": ("negative", "ntriples"),
    "TestNTriplesPositiveC14N": ("c14n", "ntriples"),
    "TestTurtlePositiveSyntax": ("positive", "turtle"),
    "TestTurtleNegativeSyntax": ("negative", "turtle"),
    "TestTurtleEval": ("eval", "turtle"),
    "TestTurtleNegativeEval": ("negative", "turtle"),
}

Triple = tuple[str, str, str]


@dataclass(frozen=True)
class Case:
    suite: str  # manifest folder relative to the suites root, e.g. "rdf11/rdf-turtle"
    name: str  # the test's IRI fragment, unique within its manifest
    type: str  # rdft test type, e.g. "TestTurtleEval"
    action: Path
    result: Path | None
    base_iri: str  # the IRI the action file is assumed to have

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}"

    @property
    def kind(self) -> str:
        return TEST_TYPES[self.type][0]

    @property
    def format(self) -> str:
        return TEST_TYPES[self.type][1]


@dataclass(frozen=True)
class Outcome:
    passed: bool
    reason: str = ""


def _file_path(iri: str) -> Path:
    return Path(unquote(urlparse(iri).path))


def load_cases(root: Path) -> list[Case]:
    """All test cases of the manifests below `root`, in manifest order."""
    import rdflib
    from rdflib.collection import Collection

    mf, rdft = rdflib.Namespace(MF), rdflib.Namespace(RDFT)
    cases = []
    for manifest in sorted(root.rglob("manifest.ttl")):
        suite = manifest.parent.relative_to(root).as_posix()
        graph = rdflib.Graph().parse(manifest, format="turtle", publicID=manifest.resolve().as_uri())
        base = next((str(b) for b in graph.objects(predicate=mf.assumedTestBase)), f"{SUITES_URL}{suite}/")
        for lst in graph.objects(predicate=mf.entries):
            for test in Collection(graph, lst):
                test_type = str(graph.value(test, rdflib.RDF.type)).removeprefix(str(rdft))
                if test_type not in TEST_TYPES:
                    raise ValueError(f"{manifest}: unknown test type {test_type} of {test}")
                action = _file_path(str(graph.value(test, mf.action)))
                result = graph.value(test, mf.result)
                name = str(test).rsplit("#", 1)[-1]
                cases.append(Case(suite, name, test_type, action, result and _file_path(str(result)), base + action.name))
    return cases


# --- parsing and comparing -------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def parse(path: Path, format: str, engine: str, base_iri: str | None = None, keep_labels: bool = False) -> frozenset[Triple]:
    """The graph of a file as a set of key triples (cached: every file is parsed once per engine)."""
    graph = set()
    prefix = None if keep_labels else ""
    for heads, rels, tails, _ in iter_chunks(path, format=format, engine=engine, base_iri=base_iri, bnode_prefix=prefix):
        graph.update(zip(heads, rels, tails))
    return frozenset(graph)


def try_parse(case: Case, engine: str, **kw) -> tuple[frozenset[Triple] | None, Outcome | None]:
    """`(graph, None)`, or `(None, failure)` where `failure.passed` says whether the error was a ParseError."""
    try:
        return parse(case.action, case.format, engine, case.base_iri, **kw), None
    except ParseError as err:
        if err.path != str(case.action):
            return None, Outcome(False, f"ParseError without the file's path: {err}")
        return None, Outcome(True, str(err).splitlines()[0])
    except Exception as err:  # noqa: BLE001 - any other type is a bug of ours, reported as such
        return None, Outcome(False, f"unexpected {type(err).__name__} (not a ParseError): {err}")


# A key's tokens: a literal's quoted part, an IRI, or a blank node (also inside triple terms `<<( ... )>>`).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|<[^<>]*>|_:[^\s)]+')


def _blanks(triple: Triple) -> set[str]:
    return {tok for key in triple for tok in _TOKEN.findall(key) if tok.startswith("_:")}


def _relabel(triple: Triple, rename) -> Triple:
    sub = lambda m: rename(m.group()) if m.group().startswith("_:") else m.group()  # noqa: E731
    return tuple(_TOKEN.sub(sub, key) for key in triple)  # type: ignore[return-value]


def _colours(graph: frozenset[Triple]) -> dict[str, str]:
    """Colour refinement: a blank node's colour digests the triples it occurs in, with neighbours' colours."""
    occurs = defaultdict(list)
    for triple in graph:
        for b in _blanks(triple):
            occurs[b].append(triple)
    colour = dict.fromkeys(occurs, "")

    def signature(b: str) -> str:  # the node itself is `_:@`, its neighbours are their colours
        triples = sorted(_relabel(t, lambda x: "_:@" if x == b else "_:" + colour[x]) for t in occurs[b])
        return hashlib.sha1(repr(triples).encode()).hexdigest()

    for _ in range(len(colour)):
        new = {b: signature(b) for b in occurs}
        stable = len(set(new.values())) == len(set(colour.values()))
        colour = new
        if stable:
            break
    return colour


def isomorphic(g1: frozenset[Triple], g2: frozenset[Triple]) -> bool:
    """Whether two key graphs are equal up to a renaming of blank nodes (colour refinement, then backtracking)."""
    if len(g1) != len(g2):
        return False
    c1, c2 = _colours(g1), _colours(g2)
    if sorted(c1.values()) != sorted(c2.values()):
        return False
    if not c1:
        return g1 == g2
    by_colour = defaultdict(list)
    for b, c in c2.items():
        by_colour[c].append(b)
    order = sorted(c1, key=lambda b: len(by_colour[c1[b]]))
    mapping: dict[str, str] = {}

    def search(i: int) -> bool:
        if i == len(order):
            return {_relabel(t, mapping.__getitem__) for t in g1} == g2
        for candidate in by_colour[c1[order[i]]]:
            if candidate not in mapping.values():
                mapping[order[i]] = candidate
                if search(i + 1):
                    return True
                del mapping[order[i]]
        return False

    return search(0)


def _compare(got: frozenset[Triple], expected: frozenset[Triple], what: str) -> Outcome:
    if isomorphic(got, expected):
        return Outcome(True)
    extra, missing = sorted(got - expected)[:3], sorted(expected - got)[:3]
    return Outcome(False, f"{what}: not isomorphic; only in ours {extra}, only in expected {missing}")


# --- running ---------------------------------------------------------------------------------------------


def other(engine: str) -> str:
    return ENGINES[1 - ENGINES.index(engine)]


def run_case(case: Case, engine: str) -> Outcome:
    """Check one test case with one engine."""
    graph, failure = try_parse(case, engine, keep_labels=case.kind == "c14n")
    if case.kind == "negative":
        if graph is not None:
            return Outcome(False, f"accepted invalid input ({len(graph)} triples)")
        return failure  # type: ignore[return-value]
    if graph is None:
        return Outcome(False, failure.reason)  # type: ignore[union-attr]
    if case.kind == "positive":
        return Outcome(True)
    if case.kind == "c14n":
        lines = {f"{s} {p} {o} ." for s, p, o in graph}
        text = case.result.read_text(encoding="utf-8")  # split at LF only: U+2028, U+0085 stay raw in C14N
        expected = {line for line in text.split("\n") if line.strip()}
        if lines == expected:
            return Outcome(True)
        return Outcome(False, f"c14n differs; ours {sorted(lines - expected)[:2]}, expected {sorted(expected - lines)[:2]}")
    try:
        expected = parse(case.result, "ntriples", engine)
    except ParseError as err:
        return Outcome(False, f"cannot read the expected result: {err}")
    outcome = _compare(graph, expected, "action vs result")
    if not outcome.passed:
        return outcome
    try:  # the result file read by the other engine too, so that our keys cannot hide a reader bug
        independent = parse(case.result, "ntriples", other(engine))
    except ParseError:
        return outcome  # the other engine cannot read this result (RDF 1.2 for rdflib); nothing to compare
    return _compare(independent, expected, f"result read by {other(engine)} vs {engine}")


def cross_check(case: Case) -> Outcome | None:
    """Whether both engines give the same graph for the action; None when either refuses it."""
    graphs = [try_parse(case, engine)[0] for engine in ENGINES]
    if any(g is None for g in graphs):
        return None
    return _compare(graphs[1], graphs[0], "rdflib vs oxigraph")
