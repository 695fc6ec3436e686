"""Length generalisation of the composition and closure graph encoders on synthetic relation chains.

Run it from the repository root (a benchmark, not a test; a few minutes on 2 CPU cores):

    .venv/bin/python bench/chain_length.py
    .venv/bin/python bench/chain_length.py --steps 100 --seeds 1     # a smoke run

Task: a chain a0 -r1-> a1 -r2-> ... -rk-> ak over 3 relations; the class is (r1 + ... + rk) mod 3 (composition
in a cyclic group, so every relation on the path matters). The encoder runs with the query at a0 and a linear
head reads the state at ak. Trained on chains of length 2-3, tested on lengths 2-10 (chance: 0.33). Compares
the composition encoder's options (message function, aggregation, one shared layer vs a layer per step) and the
closure encoder, whose relation classes are read as the labels (its states are the classes' log-probabilities,
as with `graph_readout="relation"`), with relation r starting as class r (as `run_pipeline` starts a relation
named like a label) or without that start. Prints a table
and writes bench/results/chain_length.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from common import RESULTS, environment, write_json

from kgreason.encoders.graph import build_graph_encoder

NUM_RELATIONS = 3
VARIANTS = {  # name: (encoder, its options)
    "mlp, shared (default)": ("composition", {"message": "mlp", "aggregation": "sum", "share_weights": True}),
    "mlp, pna, a layer per step": ("composition", {"message": "mlp", "aggregation": "pna", "share_weights": False}),
    "distmult, shared": ("composition", {"message": "distmult", "aggregation": "sum", "share_weights": True}),
    "closure, relation r starts as class r": ("closure", {"favour": True}),
    "closure, no start": ("closure", {"favour": False}),
}


def chains(lengths: list[int], generator: torch.Generator):
    """A batch of chains: (edge_index [2,E], edge_type [E], batch [N], query [B], end [B], label [B])."""
    edges, types, batch, query, end, labels, offset = [], [], [], [], [], [], 0
    for graph, k in enumerate(lengths):
        relations = torch.randint(0, NUM_RELATIONS, (k,), generator=generator)
        source = torch.arange(k) + offset
        edges.append(torch.stack([source, source + 1]))
        types.append(relations)
        batch.append(torch.full((k + 1,), graph))
        query.append(offset)
        end.append(offset + k)
        labels.append(int(relations.sum()) % NUM_RELATIONS)
        offset += k + 1
    return torch.cat(edges, 1), torch.cat(types), torch.cat(batch), torch.tensor(query), torch.tensor(end), torch.tensor(labels)


def run(encoder_name: str, options: dict, *, seed: int, steps: int, layers: int, test_lengths: list[int]) -> dict:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    if encoder_name == "closure":
        encoder = build_graph_encoder("closure", hidden_size=NUM_RELATIONS, num_relations=NUM_RELATIONS,
                                      num_layers=layers, dropout=0.0)
        if options["favour"]:
            encoder.favour({relation: relation for relation in range(NUM_RELATIONS)})
        head = torch.nn.Identity()
    else:
        encoder = build_graph_encoder(encoder_name, hidden_size=32, num_relations=NUM_RELATIONS, num_layers=layers,
                                      dropout=0.0, **options)
        head = torch.nn.Linear(32, NUM_RELATIONS)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=3e-3)
    started = time.perf_counter()
    for _ in range(steps):
        edge_index, edge_type, batch, query, end, labels = chains(torch.randint(2, 4, (64,), generator=generator).tolist(), generator)
        states = encoder(None, edge_index, edge_type, batch=batch, query_nodes=query)
        loss = F.cross_entropy(head(states[end]), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    encoder.eval()
    accuracy = {}
    with torch.no_grad():
        for k in test_lengths:
            edge_index, edge_type, batch, query, end, labels = chains([k] * 300, generator)
            predicted = head(encoder(None, edge_index, edge_type, batch=batch, query_nodes=query)[end]).argmax(-1)
            accuracy[k] = (predicted == labels).float().mean().item()
    return {"seed": seed, "train_loss": loss.item(), "accuracy": accuracy, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=400, help="training steps of 64 chains")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per variant (1, 2, ...)")
    parser.add_argument("--layers", type=int, default=10, help="encoder layers (>= the longest test chain)")
    parser.add_argument("--output", default=str(RESULTS / "chain_length.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    test_lengths = [2, 3, 4, 5, 6, 8, 10]
    results = {}
    for name, (encoder_name, options) in VARIANTS.items():
        results[name] = [run(encoder_name, options, seed=seed, steps=args.steps, layers=args.layers, test_lengths=test_lengths)
                         for seed in range(1, args.seeds + 1)]
        print(f"  {name}: done", flush=True)
    print(f"\naccuracy by chain length (trained on 2-3; seeds 1..{args.seeds}; chance 0.33)")
    print(f"{'variant':<30}" + "".join(f"{'k=' + str(k):>14}" for k in test_lengths))
    for name, runs in results.items():
        cells = ["/".join(f"{r['accuracy'][k]:.2f}" for r in runs) for k in test_lengths]
        print(f"{name:<30}" + "".join(f"{cell:>14}" for cell in cells))
    write_json(Path(args.output), {**environment(("kgreason", "torch", "torch_geometric")),
                                    "options": vars(args), "variants": VARIANTS, "results": results})
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
