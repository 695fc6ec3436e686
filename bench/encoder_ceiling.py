"""How fast can the text encoder run here? all-MiniLM-L6-v2's forward pass at batch x length, in fp32 and int8, with
PyTorch and (when installed) ONNX Runtime, against the ceiling this machine's matrix products set.

Run it from the repository root (a benchmark, not a test; about 3 minutes on 2 CPU cores):

    .venv/bin/python bench/encoder_ceiling.py --threads 2
    .venv/bin/pip install onnxruntime onnx      # optional: adds the ONNX Runtime rows (not a kgreason dependency)

Rows (each the median of `--repeats` timed passes over one batch of random token ids, after an untimed one):
- torch fp32: `TextEncoder` as the models run it;
- torch int8: a copy after `kgreason.pipelines.qa.int8_linears` (what `GraphQA(precision="int8")` runs);
- onnxruntime fp32: the encoder exported with `torch.onnx.export` and fused by ONNX Runtime's BERT optimizer
  (`onnxruntime.transformers.optimizer`: skip-layer-norm, bias-GELU, attention where its pattern matches);
- onnxruntime int8: that graph dynamically quantized (`onnxruntime.quantization.quantize_dynamic`: int8 weights
  per output channel, uint8 activations), the kernels ONNX Runtime has for CPUs without VNNI.
"cosine": the smallest cosine similarity of a token's last state to fp32 PyTorch's (how much int8 changes).

The ceiling: the encoder's matrix-product work per example (its linear layers, 24 T H^2 per layer, and the two
attention products, 4 T^2 H), at the rate of this machine's own fastest product of the feed-forward shape
[B T, H] x [H, 4 H] in that precision (fp32: `torch.matmul`; int8: torch's dynamic int8 linear). That is the
examples/s the encoder would reach if everything ran as fast as its largest product and nothing else cost time.
Issue 8's CPU target, 100 examples/s at length 128, is compared with it. Prints a table and writes
bench/results/encoder_ceiling.json.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from common import RESULTS, environment, write_json

from kgreason.encoders.text import TextEncoder
from kgreason.pipelines.qa import int8_linears

CPU_TARGET = 100  # examples/s at length 128 (issue 8)


def median_seconds(run, repeats: int) -> float:
    """The median wall time of `run()` over `repeats` calls, after one untimed call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_flops_per_example(config, length: int) -> float:
    """Multiply-add work (2 FLOPs each) of one example's pass: linear layers and the two attention products."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    linear = 2 * length * hidden * (4 * hidden + 2 * config.intermediate_size)  # Q, K, V, output; FFN in and out
    attention = 2 * 2 * length * length * hidden  # scores and the weighted sum
    return layers * (linear + attention)


def peak_rates(config, rows: int, repeats: int) -> dict[str, float]:
    """FLOP/s of the feed-forward product [rows, H] x [H, 4H] in fp32 (matmul) and in torch's dynamic int8 linear."""
    hidden, wide = config.hidden_size, config.intermediate_size
    x = torch.randn(rows, hidden)
    linear = torch.nn.Linear(hidden, wide)
    weight = linear.weight.detach().t().contiguous()
    quantized = int8_linears(torch.nn.Sequential(linear))
    flops = 2 * rows * hidden * wide
    with torch.inference_mode():
        return {"fp32": flops / median_seconds(lambda: x @ weight, repeats),
                "int8": flops / median_seconds(lambda: quantized(x), repeats)}


def onnx_sessions(encoder: TextEncoder, inputs: dict, work: Path, threads: int) -> dict:
    """ONNX Runtime sessions of the encoder's last states: {"fp32": ..., "int8": ...} and the fused operators;
    empty when onnxruntime is not installed."""
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:
        return {}
    model = encoder.base_model

    class LastStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    exported, fused, quantized = work / "encoder.onnx", work / "encoder-fused.onnx", work / "encoder-int8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(LastStates().eval(), tuple(inputs[name] for name in names), str(exported), dynamo=False,
                          input_names=names, output_names=["last_hidden_state"], opset_version=17,
                          dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]})
    optimized = optimize_model(str(exported), model_type="bert", num_heads=model.config.num_attention_heads,
                               hidden_size=model.config.hidden_size)
    optimized.save_model_to_file(str(fused))
    quantize_dynamic(str(fused), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": 1})  # 1: float, for outputs of fused (contrib) operators
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    sessions = {precision: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                for precision, path in (("fp32", fused), ("int8", quantized))}
    fused_ops = {op: n for op, n in optimized.get_fused_operator_statistics().items() if n}
    return {"sessions": sessions, "fused_operators": fused_ops, "version": ort.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=128, help="tokens per row (no padding)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--text-encoder", default=None, help="model directory (default: all-MiniLM-L6-v2)")
    parser.add_argument("--output", type=Path, default=RESULTS / "encoder_ceiling.json")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    encoder = TextEncoder.from_pretrained(args.text_encoder).eval()
    config = encoder.config
    shape = (args.batch_size, args.length)
    inputs = {"input_ids": torch.randint(1000, config.vocab_size, shape), "attention_mask": torch.ones(shape, dtype=torch.long),
              "token_type_ids": torch.zeros(shape, dtype=torch.long)}
    int8 = int8_linears(copy.deepcopy(encoder))
    with torch.inference_mode():
        reference = encoder(inputs["input_ids"], inputs["attention_mask"]).last_hidden_state

    def cosine(states) -> float:
        states = torch.as_tensor(states).reshape(-1, reference.shape[-1])
        return float(torch.nn.functional.cosine_similarity(states, reference.reshape(states.shape), dim=-1).min())

    runs = {}
    with torch.inference_mode():
        for name, model in (("torch fp32", encoder), ("torch int8", int8)):
            run = lambda model=model: model(inputs["input_ids"], inputs["attention_mask"]).last_hidden_state  # noqa: E731
            runs[name] = (median_seconds(run, args.repeats), cosine(run()))
    with tempfile.TemporaryDirectory() as work:
        onnx = onnx_sessions(encoder, inputs, Path(work), args.threads)
        feeds = {name: tensor.numpy() for name, tensor in inputs.items()}
        for precision, session in onnx.get("sessions", {}).items():
            run = lambda session=session: session.run(None, feeds)[0]  # noqa: E731
            runs[f"onnxruntime {precision}"] = (median_seconds(run, args.repeats), cosine(run()))
    flops = matmul_flops_per_example(config, args.length)
    peaks = peak_rates(config, args.batch_size * args.length, args.repeats)
    rows = [{"runtime": name, "examples_per_second": args.batch_size / seconds, "gflops": flops * args.batch_size / seconds / 1e9,
             "min_cosine": similarity} for name, (seconds, similarity) in runs.items()]
    ceilings = {precision: rate / flops for precision, rate in peaks.items()}
    print(f"{config.name_or_path or 'encoder'}: batch {args.batch_size} x {args.length} tokens, {args.threads} threads, "
          f"{flops / 1e9:.2f} GFLOP of matrix products per example")
    print(f"{'runtime':<20}{'examples/s':>12}{'GFLOP/s':>10}{'cosine':>9}")
    for row in rows:
        print(f"{row['runtime']:<20}{row['examples_per_second']:>12.1f}{row['gflops']:>10.1f}{row['min_cosine']:>9.3f}")
    for precision, ceiling in ceilings.items():
        print(f"ceiling {precision}: feed-forward product at {peaks[precision] / 1e9:.1f} GFLOP/s -> {ceiling:.1f} examples/s "
              f"(target {CPU_TARGET})")
    if onnx:
        print(f"onnxruntime {onnx['version']}, fused: {onnx['fused_operators']}")
    else:
        print("onnxruntime is not installed: no ONNX Runtime rows")
    write_json(args.output, {**environment(("kgreason", "torch", "onnxruntime")), "batch_size": args.batch_size,
                             "length": args.length, "threads": args.threads, "flops_per_example": flops, "rows": rows,
                             "peak_flops": peaks, "ceiling_examples_per_second": ceilings,
                             "fused_operators": onnx.get("fused_operators"), "target": CPU_TARGET})
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
