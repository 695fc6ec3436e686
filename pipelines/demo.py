"""`make demo`: the main job on generated data.

Today: a generated family graph written as N-Triples and as TSV (with overlapping facts), ingested into a
store, queried with SPARQL, and one "how are these two related?" answered with a graph path.
Later issues grow this into training the fused model against the LM-only baseline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from kgreason.data.family import generate_family
from kgreason.kg import KnowledgeGraph, ingest
from kgreason.kg.terms import escape_string

EX = "http://example.org/family/"
RDFS_LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"

GRANDPARENTS = """
PREFIX ex: <http://example.org/family/>
SELECT ?grandparent ?grandchild WHERE {
  ?grandparent ?r1 ?parent . ?parent ?r2 ?child .
  FILTER(?r1 IN (ex:mother_of, ex:father_of) && ?r2 IN (ex:mother_of, ex:father_of))
  ?grandparent rdfs:label ?grandparent_name . ?child rdfs:label ?grandchild .
} ORDER BY ?grandparent_name ?grandchild
"""


def write_family_files(out: Path, *, seed: int) -> tuple[Path, Path]:
    """Write the family as N-Triples (facts + labels) and as TSV (spouses + some repeated facts)."""
    family = generate_family(4, seed=seed, children=(2, 3))
    facts = family.triples()
    nt_path, tsv_path = out / "family.nt", out / "family_extra.tsv"
    with open(nt_path, "w", encoding="utf-8") as nt:
        for head, rel, tail in facts:
            if rel != "married_to":
                nt.write(f"<{EX}{head}> <{EX}{rel}> <{EX}{tail}> .\n")
        for person in family.gender:
            nt.write(f'<{EX}{person}> {RDFS_LABEL} "{escape_string(person)}" .\n')
    with open(tsv_path, "w", encoding="utf-8") as tsv:
        tsv.write("# spouses, plus the first five parent facts again (dropped as duplicates)\n")
        rows = [f for f in facts if f[1] == "married_to"] + [f for f in facts if f[1] != "married_to"][:5]
        for head, rel, tail in rows:
            tsv.write(f"<{EX}{head}>\t<{EX}{rel}>\t<{EX}{tail}>\n")
    return nt_path, tsv_path


def run_demo(out: str | Path, *, seed: int = 0) -> None:
    console = Console()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "store"
    shutil.rmtree(store, ignore_errors=True)  # the demo starts from an empty store on every run

    console.rule("1. a generated knowledge graph")
    nt_path, tsv_path = write_family_files(out, seed=seed)
    console.print(f"wrote {nt_path} and {tsv_path}")

    console.rule("2. ingest both files into one store")
    summary = ingest([nt_path, tsv_path], store)
    console.print(
        f"{summary.files} files, {summary.read} statements read, {summary.new} new, {summary.duplicates} duplicates "
        f"dropped; {summary.entities} entities, {summary.relations} relations, {summary.seconds:.2f} s"
    )

    console.rule("3. SPARQL: who is whose grandparent?")
    kg = KnowledgeGraph.load(store)
    result = kg.query(GRANDPARENTS)
    table = Table("grandparent", "grandchild")
    for grandparent, grandchild in result.rows[:8]:
        table.add_row(kg.label(kg.entities.id(grandparent)), grandchild.strip('"'))
    console.print(table)
    console.print(f"({len(result.rows)} pairs in all)")

    console.rule("4. how are two people related? (shortest graph path)")
    parent_relations = [kg.relations.id(f"<{EX}{r}>") for r in ("mother_of", "father_of")]
    has_children = set(kg.triples[np.isin(kg.triples[:, 1], parent_relations), 0].tolist())
    youngest = [e for e in range(kg.num_entities) if e not in has_children][:12]
    candidates = [(p, a, b) for a in youngest for b in youngest if a < b for p in kg.shortest_paths([a], [b], max_length=10, limit=1)]
    path = max(candidates, key=lambda c: (len(c[0]), -c[1], -c[2]))[0]  # the two farthest apart
    console.print(f"{kg.label(path.source)} → {kg.label(path.target)} ({len(path)} steps):")
    console.print(path.describe(kg))

    console.rule("artefacts")
    for label, path in [("N-Triples", nt_path), ("TSV", tsv_path), ("store", store)]:
        console.print(f"{label:10} {path.resolve()}")
