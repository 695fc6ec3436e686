"""Length generalisation of the composition graph encoder on synthetic relation chains.

Run it from the repository root (a benchmark, not a test; a few minutes on 2 CPU cores):

    .venv/bin/python bench/chain_length.py
    .venv/bin/python bench/chain_length.py --steps 100 --seeds 1     # a smoke run

Task: a chain a0 -r1-> a1 -r2-> ... -rk-> ak over 3 relations; the class is (r1 + ... + rk) mod 3 (composition
in a cyclic group, so every relation on the path matters). The encoder runs with the query at a0 and a linear
head reads the state at ak. Trained on chains of length 2-3, tested on lengths 2-6 (chance: 0.33). Compares
the encoder's options (message function, aggregation, one shared layer vs a layer per step). Prints a table
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
VARIANTS = {
    "mlp, shared (default)": {"message": "mlp", "aggregation": "sum", "share_weights": True},
    "mlp, pna, a layer per step": {"message": "mlp", "aggregation": "pna", "share_weights": False},
    "distmult, shared": {"message": "distmult", "aggregation": "sum", "share_weights": True},
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


def run(options: dict, *, seed: int, steps: int, layers: int, test_lengths: list[int]) -> dict:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    encoder = build_graph_encoder("composition", hidden_size=32, num_relations=NUM_RELATIONS, num_layers=layers,
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
    parser.add_argument("--layers", type=int, default=6, help="encoder layers (>= the longest test chain)")
    parser.add_argument("--output", default=str(RESULTS / "chain_length.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    test_lengths = [2, 3, 4, 5, 6]
    results = {}
    for name, options in VARIANTS.items():
        results[name] = [run(options, seed=seed, steps=args.steps, layers=args.layers, test_lengths=test_lengths)
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
