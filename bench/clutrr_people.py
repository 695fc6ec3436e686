"""What CLUTRR's official test files measure besides reasoning: people reused from training, and gold labels that
kinship composition does not give (analysis of the files and their gold annotations; models never read those).

Run it from the repository root (a few seconds per folder):

    .venv/bin/python bench/clutrr_people.py
    .venv/bin/python bench/clutrr_people.py --folders data_7c5b0e70 data_089907f8

For every folder and test file:
- "pair in train": share of the questions whose query pair (A, B) is also a query pair of a training story;
- "name lookup": share answered right by the most frequent training label of that (A, B) pair, with no story read
  (what a model that remembers who is whose relative can score);
- "known people": share of the stories all of whose people occur in the training file;
- "kinship differs": share whose gold label differs from the chain's relations (`f_comb`) composed left to right
  by kinship (`kgreason.data.kinship.compose_relations`), among the chains where every step has one kinship answer
  ("[A]'s son's mother's mother" is A's mother-in-law; CLUTRR may say "mother"); for the training file too;
- "chain ceiling": the most any answer that is a function of the chain's relations and its people's genders can
  score on the file: each (relations, genders) group answered with its most frequent gold label in the file. Below
  1 when CLUTRR gives one chain different labels (its derivation brackets the chain differently, story by story).
- "text against gold": share of the questions whose chain has an edge that the story's text states the other way
  round from its gold edge, as the story reader (`story_graphs`, blank spaCy) reads it: the gold says "B is A's
  son" and the sentence says "A is B's son" ("[Charles] got his son, [Frank], a car" for the gold "Charles is
  Frank's son"), for a relation that is not its own inverse. The label follows the gold, so a reader faithful to
  the text composes another answer (unless the chain's other relations happen to give the same one).
- "templates seen": share of the file's chain edges (those whose two names share a sentence) whose sentence, with
  the pair's names masked, is also a chain-edge sentence of the training file, for the same relation. CLUTRR
  writes its test stories from templates its training stories do not use (config.json: `test_split`), so a
  template that states a relation the other way round (above) is never seen in training as such; similar
  training sentences can still teach it.

Prints a table and writes bench/results/clutrr_people.json. `kgreason train --rename-people` (per-story names)
takes names out of the question.

With `--runs RUN ...` (run directories of `kgreason train` on a CLUTRR folder), it also splits each test file's
predictions by whether the gold label agrees with the kinship composition, differs from it, or the chain has
none, with the model's right answers in each group and how often it answered "differs" questions with the kinship
composition, and by whether the text states the chain as its gold does ("text consistent") or not ("text
against"):

    .venv/bin/python bench/clutrr_people.py --folders data_06b8f2a1 --runs ../runs/clutrr-supporting-graph_only-closure-renamed-s0

A `kgreason evaluate` output directory (`<run>/evaluations/<data>`) is read as a run too: a trained model's
predictions with the story reader of today, e.g. after a change to it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from common import DEFAULT_DATASETS, RESULTS, clutrr_files, environment, score_clutrr_folders, write_json

from kgreason.data.clutrr import read_clutrr
from kgreason.data.kinship import compose_relations
from kgreason.data.preprocess import Settings
from kgreason.data.preprocess_tasks import load_nlp
from kgreason.data.story_reader import story_graphs, text_chain

FOLDERS = ("data_089907f8", "data_db9b8f04", "data_7c5b0e70", "data_06b8f2a1", "data_523348e6", "data_d83ecc3e")


def kinship_answer(chain: tuple[str, ...]) -> str | None:
    """The chain composed left to right by kinship; None when a step has no single kinship name."""
    composed: str | None = chain[0]
    for relation in chain[1:]:
        composed = compose_relations(composed, relation)
        if composed is None:
            return None
    return composed


def score_folder(folder: Path) -> dict:
    train, tests = clutrr_files(folder)
    labels: defaultdict[tuple[str, str], Counter] = defaultdict(Counter)
    people: set[str] = set()
    training = list(read_clutrr(train))
    for record in training:
        labels[record.query][record.target] += 1
        people.update(record.gold.people)
    training_templates = {template for record in training for template in chain_templates(record)}
    rows = {"train": {**_kinship(training),
                      "text_against_gold": sum(text_against_gold(training).values()) / len(training)}}
    for path in tests:
        records = list(read_clutrr(path))
        rows[path.stem] = {
            "n": len(records),
            "pair_in_train": sum(record.query in labels for record in records) / len(records),
            "name_lookup": sum(record.query in labels and labels[record.query].most_common(1)[0][0] == record.target
                               for record in records) / len(records),
            "known_people": sum(set(record.gold.people) <= people for record in records) / len(records),
            **_kinship(records),
            "chain_ceiling": chain_ceiling(records),
            "text_against_gold": sum(text_against_gold(records).values()) / len(records),
            "templates_seen": templates_seen(records, training_templates),
        }
    return {"train": train.name, "training_people": len(people), "tests": rows}


def chain_templates(record) -> list[tuple[str, str]]:
    """(relation, sentence with the pair's names as [A] and [B] and other names as [X]) of each chain edge "B is A's
    rel" whose two names share a sentence of the story (an edge told across sentences has none)."""
    templates, sentences = [], re.split(r"(?<=[.!?])\s+", record.story)
    for person, relation, relative in record.gold.typed_edges():
        for sentence in sentences:
            if f"[{person}]" in sentence and f"[{relative}]" in sentence:
                masked = sentence.replace(f"[{person}]", "[A]").replace(f"[{relative}]", "[B]")
                templates.append((relation, re.sub(r"\[(?![AB]\])[^\]]+\]", "[X]", masked).strip()))
                break
    return templates


def templates_seen(records: list, training: set[tuple[str, str]]) -> float:
    """Share of the chain edges of `records` (those told in one sentence) whose template is in `training`."""
    templates = [template for record in records for template in chain_templates(record)]
    return sum(template in training for template in templates) / max(len(templates), 1)


def chain_ceiling(records: list) -> float:
    """The accuracy of the best function of (chain relations, chain people's genders): each group answered with its
    most frequent gold label."""
    groups: defaultdict[tuple, Counter] = defaultdict(Counter)
    for record in records:
        chain = record.gold.typed_edges()  # (A, rel, B) names along the chain
        people = [chain[0][0], *(relative for _, _, relative in chain)]
        groups[record.gold.f_comb, tuple(record.gold.genders[person] for person in people)][record.target] += 1
    return sum(labels.most_common(1)[0][1] for labels in groups.values()) / len(records)


def text_chains(records: list) -> list[tuple[str, ...]]:
    """Each record's gold chain as its story's text states it (`kgreason.data.story_reader.text_chain`, over the blank
    pipeline's story graphs)."""
    nlp = load_nlp(Settings(task="clutrr", nlp="blank"))
    graphs = story_graphs([record.story for record in records], nlp=nlp)
    return [text_chain(graph, record.gold) for record, graph in zip(records, graphs)]


def text_against_gold(records: list) -> dict[str, bool]:
    """{record id: whether the story reader reads some chain edge the other way round from its gold edge}
    (`text_chains`: "[B] has a few children, [A], ..." for the gold "B is A's son")."""
    return {record.id: chain != record.gold.f_comb for record, chain in zip(records, text_chains(records))}


def _kinship(records: list) -> dict:
    """How many chains compose by kinship ("kinship_defined"), and the share of those whose gold label differs."""
    composed = [(record.target, kinship_answer(record.gold.f_comb)) for record in records]
    defined = [(target, answer) for target, answer in composed if answer is not None]
    differs = sum(target != answer for target, answer in defined) / len(defined) if defined else None
    return {"kinship_defined": len(defined), "kinship_differs": differs}


def score_run(run: Path) -> dict:
    """{test file: counts} of a run's predictions: n and right, overall and for each group of questions: the gold
    label agrees with the kinship composition ("agrees"), differs from it ("differs"), or the chain has none
    ("no_kinship"); for "differs" also how many got the kinship composition ("differs_kinship_answered")."""
    results = json.loads((run / "results.json").read_text())
    tests = results["files"] if "files" in results else results["data"]["tests"]  # an evaluation, or a run
    scored = {}
    for test, path in tests.items():
        records = {record.id: record for record in read_clutrr(Path(path))}
        against = text_against_gold(list(records.values()))
        counts: Counter = Counter()
        with open(run / "predictions" / f"{test}.jsonl", encoding="utf-8") as lines:
            for line in lines:
                prediction = json.loads(line)
                kinship = kinship_answer(records[prediction["id"]].gold.f_comb)
                group = "no_kinship" if kinship is None else "agrees" if kinship == prediction["gold"] else "differs"
                right = prediction["correct"]
                text = "text_against" if against[prediction["id"]] else "text_consistent"
                counts.update({"n": 1, "right": right, group: 1, f"{group}_right": right, text: 1, f"{text}_right": right,
                               "differs_kinship_answered": group == "differs" and prediction["predicted"] == kinship})
        scored[test] = dict(counts)
    return scored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument("--folders", nargs="*", default=list(FOLDERS), help="CLUTRR folders")
    parser.add_argument("--runs", type=Path, nargs="*", default=[],
                        help="run directories of CLUTRR models: their predictions split by kinship consistency")
    parser.add_argument("--output", type=Path, default=RESULTS / "clutrr_people.json")
    args = parser.parse_args(argv)
    unfinished = [str(run) for run in args.runs if not (run / "results.json").is_file()]
    if unfinished:  # before the folders are scored
        print(f"--runs: no results.json in {', '.join(unfinished)} (not a finished `kgreason train` run or "
              "`kgreason evaluate` output)", file=sys.stderr)
        return 1
    folders = score_clutrr_folders(args.datasets, args.folders, score_folder)
    if folders is None:
        return 1
    for name, result in folders.items():
        print(f"\n{name} ({result['train']}: {result['training_people']} people)")
        print(f"{'file':<10}{'n':>5}{'pair in train':>15}{'name lookup':>13}{'known people':>14}{'kinship differs':>19}"
              f"{'chain ceiling':>15}{'text against gold':>19}{'templates seen':>16}")
        for test, row in result["tests"].items():
            differs = "–" if row["kinship_differs"] is None else f"{row['kinship_differs']:.3f} of {row['kinship_defined']}"
            shares = [f"{row[key]:.3f}" if key in row else "" for key in (
                "pair_in_train", "name_lookup", "known_people", "chain_ceiling", "text_against_gold", "templates_seen")]
            print(f"{test:<10}{row.get('n', ''):>5}{shares[0]:>15}{shares[1]:>13}{shares[2]:>14}{differs:>19}{shares[3]:>15}"
                  f"{shares[4]:>19}{shares[5]:>16}")
    runs = {str(run): score_run(run) for run in args.runs}
    for run, tests in runs.items():
        print(f"\n{run}")
        print(f"{'file':<10}{'n':>5}{'accuracy':>10}{'agrees':>10}{'differs':>10}{'no kinship':>12}{'differs, kinship answer':>25}"
              f"{'text consistent':>17}{'text against':>14}")
        for test, c in tests.items():
            groups = [f"{c.get(g + '_right', 0)}/{c.get(g, 0)}"
                      for g in ("agrees", "differs", "no_kinship", "text_consistent", "text_against")]
            print(f"{test:<10}{c['n']:>5}{c['right'] / c['n']:>10.3f}{groups[0]:>10}{groups[1]:>10}{groups[2]:>12}"
                  f"{c.get('differs_kinship_answered', 0):>25}{groups[3]:>17}{groups[4]:>14}")
    write_json(args.output, {**environment(), "folders": folders, "runs": runs})
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
