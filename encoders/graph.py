"""Relation-aware graph encoders (PyTorch Geometric), resolved by name, and the node features they start from.

    encoder = build_graph_encoder("composition", hidden_size=64, num_relations=12, num_layers=6)
    h = encoder(x, edge_index, edge_type, batch=batch, query_nodes=sources)          # h: [N, 64]
    h, importance = encoder(x, edge_index, edge_type, return_attention=True)        # importance: [E]

Every encoder in `GRAPH_ENCODERS` has the same `forward` (see `GraphEncoder.forward`): node states in,
node states out, on a PyG-style batch (the disjoint union of the examples' graphs with a `batch` vector).

- `"rgcn"`: R-GCN (Schlichtkrull et al., 2018), one weight matrix per relation or a basis decomposition
  (`num_bases`); `RelationalConv` is `torch_geometric.nn.RGCNConv` (mean aggregation, same parameters and output,
  tested) computed in one pass instead of RGCNConv's Python loop over relations (pyg-lib's segment matmul is not
  installed), and with edge features and per-edge messages.
- `"gatv2"`: `torch_geometric.nn.GATv2Conv` whose edge features are learned relation embeddings (`edge_dim`).
- `"composition"`: NBFNet / CompGCN-style relation composition, conditioned on a query node
  (see `CompositionEncoder`), for long relation chains.
- `"closure"`: the relation of every node pair, composed from the edges with a learned composition table under
  every bracketing (see `ClosureEncoder`), for long relation chains in small (story) graphs.

Edges flow source → target (`edge_index[0]` → `edge_index[1]`); with `inverse_edges=True` (the default) each
edge is also read backwards with its own inverse relation type, so a path can be followed either way.

Evidence: `return_attention=True` also returns a per-edge *importance* `[E]` in [0, 1]: the edge's share of
what its target node received, averaged over the layers (GATv2: its attention, mean over heads; the others: the
norm of its message over the sum of the norms arriving at that target, a gradient-free proxy). With inverse
edges, an edge counts as much as its more important direction. Used to rank evidence paths.

`NodeFeatures` makes the input states `x` (learned node embeddings, cached label embeddings, node types);
`cache_label_embeddings` computes label embeddings once and keeps them in a `.safetensors` file.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .closure import ClosureEncoder
from .composition import CompositionEncoder
from .graph_base import GraphEncoder
from .relational import GATv2Encoder, RelationalConv, RGCNEncoder

__all__ = [
    "GRAPH_ENCODERS",
    "ClosureEncoder",
    "CompositionEncoder",
    "GATv2Encoder",
    "GraphEncoder",
    "NodeFeatures",
    "RGCNEncoder",
    "RelationalConv",
    "build_graph_encoder",
    "cache_label_embeddings",
]

GRAPH_ENCODERS: dict[str, type[GraphEncoder]] = {
    encoder.name: encoder for encoder in (RGCNEncoder, GATv2Encoder, CompositionEncoder, ClosureEncoder)
}


def build_graph_encoder(
    name: str,
    *,
    hidden_size: int,
    num_relations: int,
    num_layers: int = 2,
    dropout: float = 0.1,
    **kwargs,
) -> GraphEncoder:
    """The registered encoder `name` ("rgcn", "gatv2", "composition", "closure"); `kwargs` are its own options
    (`inverse_edges`; rgcn: `num_bases`; gatv2: `heads`; composition: `message`, `aggregation`, `share_weights`;
    closure: `classes`, `max_nodes`, `logit_scale`, `read_target`, `inverse`, `label_factors`, `weak_relations`,
    `weak_length`, `unnamed_classes`).
    `build_graph_encoder(**encoder.config)` rebuilds the same architecture."""
    if name not in GRAPH_ENCODERS:
        raise ValueError(f"unknown graph encoder {name!r}; choose one of {sorted(GRAPH_ENCODERS)}")
    encoder = GRAPH_ENCODERS[name]
    options = {parameter.name for cls in (encoder, GraphEncoder)
               for parameter in inspect.signature(cls).parameters.values()
               if parameter.kind is parameter.KEYWORD_ONLY and parameter.name != "options"}
    if unknown := sorted(set(kwargs) - options):
        raise ValueError(f"graph encoder {name!r} has no option {', '.join(unknown)}; its options are "
                         f"{sorted(options)}")
    return encoder(hidden_size=hidden_size, num_relations=num_relations, num_layers=num_layers, dropout=dropout,
                   **kwargs)


class NodeFeatures(nn.Module):
    """Input states `x: [N, hidden]` for a graph encoder: the sum of the sources it was built with.

    num_nodes: (a) a learned embedding per global node id (a KG's entities), looked up by `node_ids`;
    node_vectors: (b) [num_nodes, d] fixed vectors per global node id (e.g. label embeddings from the text
        encoder, see `cache_label_embeddings`), projected to hidden by a learned linear map; a buffer, saved with
        the state dict (a saved model does not depend on the cache file);
    num_node_types: (c) a learned embedding per node type id (text graphs, whose nodes have no global id),
        looked up by `node_type`.
    With none of them, zeros (then the encoder's query vector and relations carry everything).
    """

    def __init__(
        self,
        hidden_size: int,
        *,
        num_nodes: int | None = None,
        node_vectors: Tensor | None = None,
        num_node_types: int | None = None,
    ) -> None:
        super().__init__()
        if node_vectors is not None and num_nodes is not None and node_vectors.size(0) != num_nodes:
            raise ValueError(f"NodeFeatures: node_vectors has {node_vectors.size(0)} rows but num_nodes={num_nodes}; "
                             "compute the vectors for the same node vocabulary")
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(num_nodes, hidden_size) if num_nodes else None
        self.register_buffer("node_vectors", None if node_vectors is None else node_vectors.detach().float())
        self.vector_projection = None if node_vectors is None else nn.Linear(node_vectors.size(1), hidden_size)
        self.type_embedding = nn.Embedding(num_node_types, hidden_size) if num_node_types else None

    def forward(self, node_ids: Tensor | None = None, *, node_type: Tensor | None = None) -> Tensor:
        """node_ids: int64 [N] global node ids; node_type: int64 [N] node type ids. Returns [N, hidden]."""
        by_id = self.embedding is not None or self.node_vectors is not None
        if (by_id and node_ids is None) or (self.type_embedding is not None and node_type is None):
            raise ValueError("NodeFeatures: pass node_ids (built with num_nodes or node_vectors) and node_type "
                             "(built with num_node_types) for the sources it was built with")
        given = node_ids if node_ids is not None else node_type
        if given is None:
            raise ValueError("NodeFeatures: pass node_ids or node_type so that the number of nodes is known")
        x = torch.zeros(given.numel(), self.hidden_size, device=given.device)
        if self.embedding is not None:
            x = x + self.embedding(node_ids)
        if self.node_vectors is not None:
            x = x + self.vector_projection(self.node_vectors[node_ids])
        if self.type_embedding is not None:
            x = x + self.type_embedding(node_type)
        return x


def cache_label_embeddings(
    labels: Sequence[str],
    encode_fn: Callable[[list[str]], Tensor],
    path: str | os.PathLike,
    *,
    encoder_name: str,
    batch_size: int = 256,
) -> Tensor:
    """Label embeddings [len(labels), d] (float32, CPU), computed once and kept in the folder `path`.

    The file `path/label-embeddings-<sha256 of encoder_name and labels>.safetensors` is loaded when it exists;
    otherwise `encode_fn(list of ≤ batch_size labels) -> [n, d]` is called without gradients, batch by batch, and
    the result is written atomically. Another encoder or another label list gets another file.
    """
    key = hashlib.sha256(json.dumps([encoder_name, list(labels)]).encode()).hexdigest()
    file = Path(path) / f"label-embeddings-{key}.safetensors"
    if file.exists():
        return load_file(file)["embeddings"]
    parts = []
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            chunk = list(labels[start : start + batch_size])
            vectors = encode_fn(chunk)
            if vectors.dim() != 2 or vectors.size(0) != len(chunk):
                raise ValueError(f"cache_label_embeddings: encode_fn returned {list(vectors.shape)} for "
                                 f"{len(chunk)} labels; it must return [number of labels, dim]")
            parts.append(vectors.detach().float().cpu())
    if not parts:
        raise ValueError("cache_label_embeddings: no labels given")
    embeddings = torch.cat(parts).contiguous()
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_suffix(f".{os.getpid()}.partial")
    save_file({"embeddings": embeddings}, partial,
              metadata={"encoder": encoder_name, "num_labels": str(len(labels))})
    os.replace(partial, file)
    return embeddings
