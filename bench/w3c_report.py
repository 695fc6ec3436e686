"""W3C RDF test-suite report: every case with both engines, a table of passed / total, JSON in bench/results.

    .venv/bin/python bench/w3c_report.py [--out bench/results/w3c.json]

Rows are suite x test kind; columns the engines, then the cross-engine check (inputs both engines accept:
same graph / compared). The JSON holds the table and every failing case with its reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import defaultdict
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests"))
from conftest import datasets_dir  # noqa: E402  (the project's rule: $KGREASON_DATASETS or ../shared/datasets)
from w3c_suite import ENGINES, cross_check, load_cases, run_case  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "results" / "w3c.json")
    args = parser.parse_args()
    logging.getLogger("rdflib").setLevel(logging.ERROR)  # rdflib logs every odd IRI it meets

    root = datasets_dir() / "w3c_rdf_tests"
    if not root.is_dir():
        sys.exit(f"W3C RDF test suites not found at {root} (set KGREASON_DATASETS)")
    cases = load_cases(root)
    start = time.perf_counter()
    counts: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    failures: dict[str, list[dict]] = {engine: [] for engine in (*ENGINES, "cross")}
    for case in cases:
        row = counts[(case.suite, case.kind)]
        for engine in ENGINES:
            outcome = run_case(case, engine)
            row[engine][0] += outcome.passed
            row[engine][1] += 1
            if not outcome.passed:
                failures[engine].append({"case": case.id, "kind": case.kind, "reason": outcome.reason})
        agreement = cross_check(case)
        if agreement is not None:
            row["cross"][0] += agreement.passed
            row["cross"][1] += 1
            if not agreement.passed:
                failures["cross"].append({"case": case.id, "kind": case.kind, "reason": agreement.reason})
    seconds = time.perf_counter() - start

    columns = (*ENGINES, "cross")
    totals = {c: [sum(row[c][i] for row in counts.values()) for i in (0, 1)] for c in columns}
    header = f"{'suite':28} {'kind':9} " + " ".join(f"{c:>10}" for c in columns)
    print(header, "-" * len(header), sep="\n")
    for (suite, kind), row in counts.items():
        print(f"{suite:28} {kind:9} " + " ".join(f"{row[c][0]:>5}/{row[c][1]:<4}" for c in columns))
    print("-" * len(header))
    print(f"{'all':38} " + " ".join(f"{totals[c][0]:>5}/{totals[c][1]:<4}" for c in columns))
    print(f"({len(cases)} cases, {seconds:.1f} s; cross = inputs both engines accept: same graph / compared)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "suites": str(root),
        "cases": len(cases),
        "seconds": round(seconds, 2),
        "table": [
            {"suite": suite, "kind": kind, **{c: {"passed": row[c][0], "total": row[c][1]} for c in columns}}
            for (suite, kind), row in counts.items()
        ],
        "totals": {c: {"passed": p, "total": t} for c, (p, t) in totals.items()},
        "failures": failures,
    }
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
