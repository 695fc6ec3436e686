"""Link-prediction pre-training: filtered MRR / Hits@10 on the ConvE benchmark splits, next to ConvE's numbers.

Run it from the repository root (a benchmark, not a test):

    .venv/bin/python bench/link_prediction.py                       # Nations, Kinship, UMLS: ~2 minutes on 2 CPU cores
    .venv/bin/python bench/link_prediction.py --datasets nations --epochs 5      # a smoke run
    .venv/bin/python bench/link_prediction.py --encoder rgcn --num-bases 8 --batch-size 1024    # with a GNN
    .venv/bin/python bench/link_prediction.py --large --device cuda     # + WN18RR, FB15k-237

Each dataset's train / valid / test splits (`<datasets>/kg_link_prediction/<name>/{train,valid,test}.txt[.gz]`,
tab-separated `head relation tail`) are numbered with one vocabulary; the model trains on train (also its
message-passing graph) and is ranked on valid and test, filtered by the true triples of all three splits, in both
directions. `--large` adds WN18RR and FB15k-237: hours per dataset on CPU (FB15k-237 with a GNN needs a GPU; with
`--encoder none` it is the plain DistMult / RotatE baseline). Prints a table and writes
bench/results/link_prediction.json.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import torch
from common import DEFAULT_DATASETS, RESULTS, environment, write_json

from kgreason.encoders.graph import GRAPH_ENCODERS, build_graph_encoder
from kgreason.encoders.link_prediction import (
    DECODERS,
    LinkPredictionModel,
    filtered_ranks,
    ranking_metrics,
    train_link_prediction,
)

SMALL = ("nations", "kinship", "umls")
LARGE = ("WN18RR", "FB15k-237")
CONVE = {  # published ConvE, filtered (TimDettmers/ConvE README; see the datasets' SOURCE.md)
    "nations": {"mrr": 0.82, "hits@10": 1.00},
    "kinship": {"mrr": 0.83, "hits@10": 0.98},
    "umls": {"mrr": 0.94, "hits@10": 0.99},
    "WN18RR": {"mrr": 0.43, "hits@10": 0.51},
    "FB15k-237": {"mrr": 0.32, "hits@10": 0.49},
}
SPLITS = ("train", "valid", "test")


def read_split(folder: Path, split: str) -> list[tuple[str, str, str]]:
    """The (head, relation, tail) rows of `folder/split.txt` or `folder/split.txt.gz`."""
    path = next((p for p in (folder / f"{split}.txt", folder / f"{split}.txt.gz") if p.exists()), None)
    if path is None:
        raise FileNotFoundError(f"{folder}: no {split}.txt or {split}.txt.gz (see kg_link_prediction/SOURCE.md)")
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                raise ValueError(f"{path}:{number}: expected 'head<TAB>relation<TAB>tail', got {line!r}")
            rows.append(tuple(fields))
    return rows


def load_dataset(folder: Path) -> tuple[dict[str, torch.Tensor], int, int]:
    """({split: int64 [T, 3]}, number of entities, number of relations), ids over all splits."""
    entities: dict[str, int] = {}
    relations: dict[str, int] = {}
    splits = {}
    for split in SPLITS:
        rows = read_split(folder, split)
        splits[split] = torch.tensor([(entities.setdefault(h, len(entities)), relations.setdefault(r, len(relations)),
                                       entities.setdefault(t, len(entities))) for h, r, t in rows], dtype=torch.long)
    return splits, len(entities), len(relations)


def run(name: str, folder: Path, args: argparse.Namespace) -> dict:
    splits, num_entities, num_relations = load_dataset(folder)
    torch.manual_seed(args.seed)
    encoder = None if args.encoder == "none" else build_graph_encoder(
        args.encoder, hidden_size=args.hidden, num_relations=num_relations, num_layers=args.layers,
        dropout=args.dropout, **({"num_bases": args.num_bases} if args.encoder == "rgcn" else {}))
    model = LinkPredictionModel(encoder, args.decoder, num_entities=num_entities, num_relations=num_relations,
                                hidden_size=args.hidden).to(args.device)
    started = time.perf_counter()
    losses = train_link_prediction(
        model, splits["train"], epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, label_smoothing=args.label_smoothing, seed=args.seed,
        on_epoch=lambda epoch, loss: print(f"  {name} epoch {epoch + 1}/{args.epochs} loss {loss:.4f} "
                                           f"({time.perf_counter() - started:.0f} s)", file=sys.stderr))
    train_seconds = time.perf_counter() - started
    known = torch.cat([splits[split] for split in SPLITS])
    evaluated = {split: ranking_metrics(filtered_ranks(model, splits[split], known_triples=known,
                                                       graph=splits["train"]))
                 for split in ("valid", "test")}
    return {
        "dataset": name,
        "entities": num_entities,
        "relations": num_relations,
        "triples": {split: len(splits[split]) for split in SPLITS},
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds, 1),
        "final_loss": losses[-1],
        "valid": evaluated["valid"],
        "test": evaluated["test"],
        "conve_test": CONVE[name],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=None, choices=SMALL + LARGE,
                        help=f"default: {' '.join(SMALL)} (+ {' '.join(LARGE)} with --large)")
    parser.add_argument("--large", action="store_true", help="also WN18RR and FB15k-237 (hours on CPU)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATASETS / "kg_link_prediction")
    parser.add_argument("--encoder", default="none", choices=["none", *sorted(GRAPH_ENCODERS)],
                        help="none: the plain decoder over learned embeddings (a GNN per step is ~10x slower on CPU)")
    parser.add_argument("--decoder", default="distmult", choices=sorted(DECODERS))
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--num-bases", type=int, default=None, help="rgcn basis decomposition")
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path, default=RESULTS / "link_prediction.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.datasets or list(SMALL + (LARGE if args.large else ()))
    results = []
    for name in names:
        print(f"{name}: training", file=sys.stderr)
        results.append(run(name, args.data_dir / name, args))
    print(f"{'dataset':<10} {'MRR':>6} {'H@1':>6} {'H@10':>6} {'ConvE MRR':>10} {'ConvE H@10':>11} {'valid MRR':>10}"
          f" {'train s':>8}")
    for row in results:
        test = row["test"]
        print(f"{row['dataset']:<10} {test['mrr']:>6.3f} {test['hits@1']:>6.3f} {test['hits@10']:>6.3f} "
              f"{row['conve_test']['mrr']:>10.2f} {row['conve_test']['hits@10']:>11.2f} {row['valid']['mrr']:>10.3f} "
              f"{row['train_seconds']:>8.1f}")
    settings = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    write_json(args.output, {"environment": environment(("kgreason", "torch", "torch_geometric")),
                             "settings": settings, "results": results})
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
