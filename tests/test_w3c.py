"""W3C RDF 1.1 / 1.2 N-Triples and Turtle test suites, run against both reader engines.

The fast path (oxigraph) must pass every test. The rdflib path fails the tests listed in `RDFLIB_KNOWN`
(rdflib 7.6 limits that term checks cannot repair); they are strict xfails, so a case that starts to pass,
or a new failure, turns the run red. `CROSS_KNOWN` lists inputs both engines accept with different graphs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import datasets_dir  # noqa: E402
from w3c_suite import ENGINES, cross_check, load_cases, run_case  # noqa: E402

ROOT = datasets_dir() / "w3c_rdf_tests"
if not (ROOT / "rdf11").is_dir():
    pytest.skip(f"W3C RDF test suites not found at {ROOT} (set KGREASON_DATASETS to the datasets folder)", allow_module_level=True)

CASES = load_cases(ROOT)


def _ids(text: str) -> list[str]:
    """`suite: name name ... suite: name ...` (any spacing) into case ids."""
    ids, suite = [], ""
    for word in text.split():
        if word.endswith(":"):
            suite = word[:-1]
        else:
            ids.append(f"{suite}/{word}")
    return ids


_RDF12 = """
    rdf12/rdf-n-triples/c14n: dirlangtagged_string triple-term-01 triple-term-02 triple-term-03 triple-term-04
    rdf12/rdf-n-triples/syntax: ntriples12-01 ntriples12-02 ntriples12-03 ntriples12-bnode-1 ntriples12-nested-1
        ntriples-langdir-1 ntriples-langdir-2
    rdf12/rdf-turtle/eval: turtle12-rt-01 turtle12-rt-02 turtle12-rt-03 turtle12-rt-04 turtle12-rt-05 turtle12-rt-06
        turtle12-rt-07 turtle12-rt-08 turtle12-bnode-01 turtle12-bnode-02 turtle12-tt-01 turtle12-tt-02 turtle12-tt-03
        turtle12-tt-04 turtle12-annotation-01 turtle12-annotation-02 turtle12-annotation-03 turtle12-annotation-04
        turtle12-annotation-05 turtle12-annotation-06 turtle12-annotation-07 turtle12-annotation-08
        turtle12-annotation-09 turtle12-annotation-10 turtle12-annotation-11 turtle12-annotation-12
        turtle12-reified-triples-annotation-01 turtle12-reified-triples-annotation-02
        turtle12-reified-triples-annotation-03
    rdf12/rdf-turtle/syntax: turtle12-1 turtle12-2 turtle12-3 turtle12-4 turtle12-5 turtle12-6 turtle12-7 turtle12-8
        turtle12-inside-1 turtle12-inside-2 turtle12-inside-3 turtle12-inside-4 turtle12-nested-1 turtle12-nested-2
        turtle12-compound-1 turtle12-bnode-1 turtle12-bnode-2 turtle12-bnode-3 turtle12-ann-1 turtle12-ann-2
        turtle12-ann-3 turtle12-ann-4 turtle12-ann-5 turtle12-ann-6 turtle12-ann-7 turtle12-ann-8 nt-ttl12-1
        nt-ttl12-2 nt-ttl12-3 nt-ttl12-bnode-1 nt-ttl12-nested-1 nt-ttl12-langdir-1 nt-ttl12-langdir-2
        turtle12-version-01 turtle12-version-02 turtle12-version-03 turtle12-version-04 turtle12-version-05
        turtle12-version-06 turtle12-version-07 turtle12-version-08
"""
_NUMBERS = "rdf11/rdf-turtle: positive_numeric numeric_with_leading_0 turtle-subm-11"
_IRI_RESOLUTION = "rdf11/rdf-turtle: IRI-resolution-01 IRI-resolution-02 IRI-resolution-07 IRI-resolution-08"

# reason -> case ids where the rdflib path fails
RDFLIB_KNOWN = {
    "rdflib 7.6 has no RDF 1.2 syntax (triple terms, reifiers, annotations, VERSION, --ltr/--rtl)": _ids(_RDF12),
    "rdflib's N-Triples parser wants no blank between a literal and its @lang / ^^datatype": _ids(
        "rdf12/rdf-n-triples/c14n: extra_whitespace-03 extra_whitespace-04"
    ),
    "rdflib's Turtle parser turns numbers into Python values: lexical form lost (+1 -> 1, 01 -> 1)": _ids(_NUMBERS),
    "rdflib resolves relative IRIs without RFC 3986 dot-segment removal": _ids(_IRI_RESOLUTION),
    "rdflib's Turtle parser is the N3 parser: N3 paths (x.p, x^p) are accepted": _ids(
        "rdf11/rdf-turtle: turtle-syntax-bad-n3-extras-03 turtle-syntax-bad-n3-extras-04 turtle-syntax-bad-n3-extras-06"
    ),
    "rdflib's Turtle parser keeps a malformed \\u / \\U escape as text (then no different from an escaped backslash)": _ids(
        "rdf11/rdf-turtle: turtle-syntax-bad-esc-02 turtle-syntax-bad-esc-03 turtle-syntax-bad-esc-04"
    ),
    "rdflib's Turtle grammar is lax: drops @lang before ^^, 4 closing quotes, local name starting with '-'": _ids(
        "rdf11/rdf-turtle: turtle-syntax-bad-LITERAL2_with_langtag_and_datatype turtle-syntax-bad-string-06"
        " turtle-syntax-bad-string-07 turtle-syntax-bad-ln-dash-start"
    ),
}
# reason -> case ids where both engines accept the input but give different graphs
CROSS_KNOWN = {
    "rdflib's Turtle parser normalises numeric literals (+1, 01, .1, 123.E+1)": _ids(
        _NUMBERS + " turtle-syntax-number-03 turtle-syntax-number-05 turtle-syntax-number-07 turtle-syntax-number-13"
    ),
    "rdflib resolves relative IRIs without RFC 3986 dot-segment removal": _ids(_IRI_RESOLUTION),
}


def _params(known: dict[str, list[str]], engine: str | None = None, cases=CASES) -> list:
    reasons = {case_id: reason for reason, ids in known.items() for case_id in ids}
    return [
        pytest.param(
            *([engine] if engine else []), case,
            id=f"{engine}:{case.id}" if engine else case.id,
            marks=[pytest.mark.xfail(strict=True, reason=reasons[case.id])] if case.id in reasons else [],
        )
        for case in cases
    ]


@pytest.mark.parametrize(
    ("engine", "case"), [p for engine in ENGINES for p in _params(RDFLIB_KNOWN if engine == "rdflib" else {}, engine)]
)
def test_conformance(engine, case):
    outcome = run_case(case, engine)
    assert outcome.passed, f"{case.kind} test {case.id} ({case.action.name}): {outcome.reason}"


# Inputs both engines should accept: no negative tests, none of rdflib's known refusals (RDF 1.2, ...).
_RDFLIB_REFUSES = {i for reason, ids in RDFLIB_KNOWN.items() if reason not in CROSS_KNOWN for i in ids}
_BOTH_ACCEPT = [c for c in CASES if c.kind != "negative" and (c.id not in _RDFLIB_REFUSES or any(c.id in v for v in CROSS_KNOWN.values()))]


@pytest.mark.parametrize("case", _params(CROSS_KNOWN, cases=_BOTH_ACCEPT))
def test_engines_agree(case):
    outcome = cross_check(case)
    if outcome is None:
        pytest.fail("one engine refused an input both should accept")
    assert outcome.passed, outcome.reason


def test_known_failures_are_cases():
    """Every id in the xfail lists names a test of the suites (no typo, no test dropped by an update)."""
    ids = {case.id for case in CASES}
    assert [i for known in (RDFLIB_KNOWN, CROSS_KNOWN) for ids_ in known.values() for i in ids_ if i not in ids] == []


def test_suite_counts():
    """Each test counted once, by the manifest that lists it (the RDF 1.2 manifests include the 1.1 ones)."""
    assert len(CASES) == len({case.id for case in CASES}) == 556
