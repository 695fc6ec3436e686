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
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch_geometric.nn import GATv2Conv
from torch_geometric.nn.inits import glorot, zeros
from torch_geometric.utils import scatter

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


class GraphEncoder(nn.Module):
    """Base of the registered encoders: input checks, initial states, inverse edges, importance folding.

    A subclass sets `name` and implements `encode`. `config` holds the arguments of `build_graph_encoder` that
    rebuild the same architecture (`build_graph_encoder(**encoder.config)`), JSON-safe for `config.json`.
    """

    name: ClassVar[str]
    boundary_condition: ClassVar[bool] = False  # True: with a query, every node but the source starts at zero

    def __init__(
        self,
        *,
        hidden_size: int,
        num_relations: int,
        num_layers: int = 2,
        dropout: float = 0.1,
        inverse_edges: bool = True,
        options: dict[str, Any] | None = None,
    ) -> None:
        """The arguments every encoder takes; a subclass passes its own, for `config`, as `options`."""
        super().__init__()
        if hidden_size < 1 or num_relations < 1 or num_layers < 1:
            raise ValueError(
                f"graph encoder {self.name!r}: hidden_size, num_relations and num_layers must be positive "
                f"(got {hidden_size}, {num_relations}, {num_layers})"
            )
        self.hidden_size = hidden_size
        self.num_relations = num_relations
        self.num_layers = num_layers
        self.inverse_edges = inverse_edges
        self.num_relation_types = 2 * num_relations if inverse_edges else num_relations
        self.config = {
            "name": self.name,
            "hidden_size": hidden_size,
            "num_relations": num_relations,
            "num_layers": num_layers,
            "dropout": dropout,
            "inverse_edges": inverse_edges,
            **(options or {}),
        }
        self.query = nn.Parameter(torch.randn(hidden_size))  # marks the query (source) node
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor | None,
        edge_index: Tensor,
        edge_type: Tensor,
        *,
        batch: Tensor | None = None,
        query_nodes: Tensor | None = None,
        edge_attr: Tensor | None = None,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Node states after `num_layers` rounds of relational message passing.

        x: [N, hidden] input node states, or None for zeros (then `batch` gives N)
        edge_index: int64 [2, E] (source, target) node indices into the batch
        edge_type: int64 [E] relation ids in [0, num_relations)
        batch: int64 [N] graph of each node (messages never cross graphs; used to check `query_nodes`)
        query_nodes: int64 [B] the query (source) node of each graph, a global index into the batch's nodes, -1
            for a graph without one; the learned `query` vector is added to those nodes' input states (the
            composition encoder also starts every other node at zero and keeps it there until the query reaches it)
        edge_attr: [E, hidden] optional edge features, added to the edge's relation embedding (R-GCN: projected
            and added to its message)
        return_attention: also return the per-edge importance [E] (see the module docstring)
        Returns: [N, hidden], and importance [E] when `return_attention`.
        """
        num_nodes = self._num_nodes(x, batch)
        self._check_inputs(x, edge_index, edge_type, num_nodes, batch, query_nodes, edge_attr)
        h = self._initial_states(x, num_nodes, query_nodes)
        num_edges = edge_type.numel()
        if self.inverse_edges:
            edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
            edge_type = torch.cat([edge_type, edge_type + self.num_relations])
            edge_attr = None if edge_attr is None else torch.cat([edge_attr, edge_attr])
        h, importance = self.encode(h, edge_index, edge_type, edge_attr, query_nodes=query_nodes, batch=batch,
                                     with_importance=return_attention)
        if not return_attention:
            return h
        if self.inverse_edges:
            importance = torch.maximum(importance[:num_edges], importance[num_edges:])
        return h, importance

    def encode(
        self,
        h: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
        edge_attr: Tensor | None,
        *,
        query_nodes: Tensor | None,
        batch: Tensor | None,
        with_importance: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """The layers. h: [N, hidden] initial states (the query already marked); edges include the inverse ones
        (types < num_relation_types); query_nodes: [B] and batch: [N] or None as given to `forward`.
        Returns ([N, hidden], importance [E] averaged over layers, or None when not `with_importance`)."""
        raise NotImplementedError

    def _num_nodes(self, x: Tensor | None, batch: Tensor | None) -> int:
        if x is not None:
            return x.size(0)
        if batch is not None:
            return batch.numel()
        raise ValueError(f"graph encoder {self.name!r}: x is None and batch is None; pass batch: [N] (or x) so "
                         "that the encoder knows how many nodes there are")

    def _check_inputs(self, x, edge_index, edge_type, num_nodes, batch, query_nodes, edge_attr) -> None:
        where = f"graph encoder {self.name!r}"
        if x is not None and (x.dim() != 2 or x.size(1) != self.hidden_size):
            raise ValueError(f"{where}: x must be [num_nodes, {self.hidden_size}], got {list(x.shape)}")
        if edge_index.dim() != 2 or edge_index.size(0) != 2 or edge_index.dtype != torch.long:
            raise ValueError(f"{where}: edge_index must be int64 [2, E], got {edge_index.dtype} "
                             f"{list(edge_index.shape)}")
        num_edges = edge_index.size(1)
        if edge_type.shape != (num_edges,) or edge_type.dtype != torch.long:
            raise ValueError(f"{where}: edge_type must be int64 [E={num_edges}], got {edge_type.dtype} "
                             f"{list(edge_type.shape)}")
        if edge_attr is not None and edge_attr.shape != (num_edges, self.hidden_size):
            raise ValueError(f"{where}: edge_attr must be [E={num_edges}, {self.hidden_size}], "
                             f"got {list(edge_attr.shape)}")
        if batch is not None and batch.shape != (num_nodes,):
            raise ValueError(f"{where}: batch must be [N={num_nodes}], got {list(batch.shape)}")
        if num_edges:
            if int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes:
                raise ValueError(f"{where}: edge_index refers to nodes outside [0, {num_nodes}); offset each "
                                 "graph's edge_index by the number of nodes before it in the batch")
            low, high = int(edge_type.min()), int(edge_type.max())
            if low < 0 or high >= self.num_relations:
                raise ValueError(f"{where}: edge_type holds relation id {low if low < 0 else high}, outside "
                                 f"[0, {self.num_relations}); build the encoder with the dataset's num_relations")
        if query_nodes is not None and query_nodes.numel():
            if query_nodes.dim() != 1 or int(query_nodes.min()) < -1 or int(query_nodes.max()) >= num_nodes:
                raise ValueError(f"{where}: query_nodes must be [B] global node indices in [0, {num_nodes}) or -1, "
                                 f"got {query_nodes.tolist()}")
            if batch is not None and num_nodes:  # (without nodes every query is -1, checked above)
                present = query_nodes >= 0
                graph_of_query = batch[query_nodes.clamp(min=0)]
                expected = torch.arange(query_nodes.numel(), device=batch.device)
                if bool(((graph_of_query != expected) & present).any()):
                    raise ValueError(f"{where}: query_nodes[i] must be a node of graph i (a global index into the "
                                     "batch, not a local one); got nodes of graphs "
                                     f"{graph_of_query.tolist()} for graphs 0..{query_nodes.numel() - 1}")

    def _initial_states(self, x: Tensor | None, num_nodes: int, query_nodes: Tensor | None) -> Tensor:
        """[N, hidden]: x (or zeros) with the query vector added at the query nodes; with a boundary condition,
        zeros except at the query nodes (query vector + their x)."""
        dtype = self.query.dtype if x is None else x.dtype
        states = self.query.new_zeros(num_nodes, self.hidden_size, dtype=dtype) if x is None else x
        if query_nodes is None or num_nodes == 0:
            return states
        present = (query_nodes >= 0).unsqueeze(-1)
        sources = query_nodes.clamp(min=0)  # a graph without a query adds zeros to node 0
        marks = self.query.expand(sources.numel(), -1).to(dtype)
        if not self.boundary_condition:
            return states.index_add(0, sources, marks * present)
        return torch.zeros_like(states).index_add(0, sources, (marks + states[sources]) * present)


def _residual(h: Tensor, update: Tensor, *, norm: nn.LayerNorm, dropout: nn.Dropout) -> Tensor:
    """h + dropout(relu(LayerNorm(update))): the block around every layer here (post-norm branch, NBFNet style)."""
    return h + dropout(F.relu(norm(update)))


def _share_of_target(weight: Tensor, target: Tensor, num_nodes: int) -> Tensor:
    """[E] each edge's part of the total `weight: [E]` arriving at its target node (0 where the total is 0)."""
    total = scatter(weight, target, dim_size=num_nodes)
    return weight / total[target].clamp_min(1e-12)


def _message_share(messages: Tensor, target: Tensor, num_nodes: int) -> Tensor:
    """[E] importance of each edge in one layer: its message norm over the sum of the norms at its target."""
    with torch.no_grad():
        return _share_of_target(messages.float().norm(dim=-1), target, num_nodes)


class RelationalConv(nn.Module):
    """One R-GCN layer: `out_i = x_i Θ + b + Σ_{edge e=(j, r, i)} (x_j W_r + a_e W_edge) / c_{i,r}`.

    c_{i,r} is the number of r-edges into i (mean per relation); `W_r = Σ_b comp[r, b] weight[b]` with
    `num_bases`, else `weight[r]`. Parameters `weight`, `comp`, `root`, `bias` are those of
    `torch_geometric.nn.RGCNConv(aggr="mean")`, which gives the same output without edge features.
    Memory per call: [N, R, hidden] without bases, [E, num_bases, hidden] with them (use bases for KGs with
    hundreds of relations).
    """

    def __init__(self, channels: int, num_relations: int, *, num_bases: int | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_bases or num_relations, channels, channels))
        self.comp = nn.Parameter(torch.empty(num_relations, num_bases)) if num_bases else None
        self.root = nn.Parameter(torch.empty(channels, channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.edge_lin = nn.Linear(channels, channels, bias=False)  # a_e W_edge: edge features, shared by relations
        for parameter in (self.weight, self.comp, self.root):
            if parameter is not None:
                glorot(parameter)
        zeros(self.bias)

    @staticmethod
    def mean_norm(edge_index: Tensor, edge_type: Tensor, num_relations: int) -> Tensor:
        """[E] 1 / c_{target, type}: the per-relation mean's weight of each edge (compute once for all layers)."""
        pair_key = edge_index[1] * num_relations + edge_type
        _, pair, pair_count = torch.unique(pair_key, return_inverse=True, return_counts=True)
        return 1.0 / pair_count[pair].float()

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
        *,
        edge_norm: Tensor,
        edge_attr: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """x: [N, channels], edge_index: [2, E], edge_type: [E], edge_norm: [E] from `mean_norm`,
        edge_attr: [E, channels] or None. Returns (out [N, channels], per-edge contributions [E, channels])."""
        source, target = edge_index
        if self.comp is None:
            by_relation = torch.einsum("nd,rdo->nro", x, self.weight)  # [N, R, channels]
            messages = by_relation[source, edge_type]
        else:
            by_basis = torch.einsum("nd,bdo->nbo", x, self.weight)  # [N, B, channels]
            messages = torch.einsum("eb,ebo->eo", self.comp[edge_type].to(by_basis.dtype), by_basis[source])
        if edge_attr is not None:
            messages = messages + self.edge_lin(edge_attr)
        contributions = messages * edge_norm.unsqueeze(-1)
        out = scatter(contributions, target, dim_size=x.size(0)) + x @ self.root + self.bias
        return out, contributions


class RGCNEncoder(GraphEncoder):
    """R-GCN layers (`RelationalConv`), each in a residual block with LayerNorm.

    num_bases: basis decomposition of the relation matrices (None: one full matrix per relation type).
    """

    name = "rgcn"

    def __init__(self, *, num_bases: int | None = None, **common: Any) -> None:
        """common: `GraphEncoder`'s hidden_size, num_relations, num_layers, dropout, inverse_edges."""
        super().__init__(**common, options={"num_bases": num_bases})
        self.convs = nn.ModuleList(
            RelationalConv(self.hidden_size, self.num_relation_types, num_bases=num_bases) for _ in range(self.num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(self.hidden_size) for _ in range(self.num_layers))

    def encode(self, h, edge_index, edge_type, edge_attr, *, query_nodes, batch, with_importance):
        num_nodes, target = h.size(0), edge_index[1]
        edge_norm = RelationalConv.mean_norm(edge_index, edge_type, self.num_relation_types)
        importance = h.new_zeros(edge_type.numel(), dtype=torch.float) if with_importance else None
        for conv, norm in zip(self.convs, self.norms):
            update, contributions = conv(h, edge_index, edge_type, edge_norm=edge_norm, edge_attr=edge_attr)
            h = _residual(h, update, norm=norm, dropout=self.dropout)
            if with_importance:
                importance += _message_share(contributions, target, num_nodes) / self.num_layers
        return h, importance


class GATv2Encoder(GraphEncoder):
    """`GATv2Conv` layers over learned relation embeddings as edge features, each in a residual block with
    LayerNorm. No self-loops are added (a node keeps its own state through the residual), so the attention of
    every input edge is returned in the input's order.

    heads: attention heads (hidden_size must be a multiple of it; the heads' outputs are concatenated).
    `dropout` applies to the attention weights too.
    """

    name = "gatv2"

    def __init__(self, *, heads: int = 4, **common: Any) -> None:
        """common: `GraphEncoder`'s hidden_size, num_relations, num_layers, dropout, inverse_edges."""
        super().__init__(**common, options={"heads": heads})
        hidden_size, num_layers, dropout = self.hidden_size, self.num_layers, self.dropout.p
        if hidden_size % heads:
            raise ValueError(f"graph encoder 'gatv2': hidden_size={hidden_size} is not a multiple of heads={heads}; "
                             "pick heads that divide it")
        self.relation = nn.Embedding(self.num_relation_types, hidden_size)
        self.convs = nn.ModuleList(
            GATv2Conv(hidden_size, hidden_size // heads, heads=heads, edge_dim=hidden_size, dropout=dropout,
                      add_self_loops=False)
            for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in range(num_layers))

    def encode(self, h, edge_index, edge_type, edge_attr, *, query_nodes, batch, with_importance):
        edge_features = self.relation(edge_type)
        if edge_attr is not None:
            edge_features = edge_features + edge_attr
        importance = h.new_zeros(edge_type.numel(), dtype=torch.float) if with_importance else None
        for conv, norm in zip(self.convs, self.norms):
            update, (_, attention) = conv(h, edge_index, edge_attr=edge_features, return_attention_weights=True)
            h = _residual(h, update, norm=norm, dropout=self.dropout)
            if with_importance:
                importance += attention.detach().float().mean(dim=1) / self.num_layers
        return h, importance


_AGGREGATION_WIDTH = {"sum": 1, "mean": 1, "pna": 8}  # aggregated features per message channel
_MESSAGE_FUNCTIONS = ("distmult", "mlp")


def _aggregate(messages: Tensor, target: Tensor, num_nodes: int, how: str) -> Tensor:
    """[N, width * hidden]: messages [M, hidden] reduced at their targets. "pna" (PNA-lite): mean, max, min and
    std, each also scaled by log(1 + in-degree), so that the update sees both the average and the amount."""
    if how in ("sum", "mean"):
        return scatter(messages, target, dim_size=num_nodes, reduce=how)
    mean = scatter(messages, target, dim_size=num_nodes, reduce="mean")
    mean_of_squares = scatter(messages * messages, target, dim_size=num_nodes, reduce="mean")
    std = (mean_of_squares - mean * mean).clamp_min(1e-6).sqrt()
    features = torch.cat([mean, scatter(messages, target, dim_size=num_nodes, reduce="max"),
                          scatter(messages, target, dim_size=num_nodes, reduce="min"), std], dim=-1)
    degree = scatter(torch.ones_like(target, dtype=features.dtype), target, dim_size=num_nodes)
    return torch.cat([features, features * degree.log1p().unsqueeze(-1)], dim=-1)


class CompositionLayer(nn.Module):
    """One step of relation composition: every edge (j, r, i) sends `message(h_j, relation_r + a_e)` to i; each
    node also receives its boundary state (the source's query vector, zeros elsewhere) as a self-message; the
    node's new state is `Linear([h_i, aggregate(messages)])` (the residual block is the encoder's).

    message: "distmult" (`h_j * relation`, NBFNet/CompGCN's multiplicative composition) or "mlp"
    (`MLP([h_j, relation])`, order-aware). aggregation: "sum", "mean" or "pna" (see `_aggregate`).
    """

    def __init__(self, hidden_size: int, num_relation_types: int, *, message: str, aggregation: str) -> None:
        super().__init__()
        if message not in _MESSAGE_FUNCTIONS or aggregation not in _AGGREGATION_WIDTH:
            raise ValueError(f"graph encoder 'composition': message must be one of {_MESSAGE_FUNCTIONS} and "
                             f"aggregation one of {tuple(_AGGREGATION_WIDTH)}; got {message!r}, {aggregation!r}")
        self.aggregation = aggregation
        self.relation = nn.Embedding(num_relation_types, hidden_size)
        self.message_mlp = (
            nn.Sequential(nn.Linear(2 * hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, hidden_size))
            if message == "mlp"
            else None
        )
        self.update = nn.Linear((1 + _AGGREGATION_WIDTH[aggregation]) * hidden_size, hidden_size)

    def forward(
        self,
        h: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
        *,
        boundary: Tensor,
        edge_attr: Tensor | None = None,
        senders: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """h, boundary: [N, hidden]; edge_index: [2, E]; edge_type: [E]; edge_attr: [E, hidden] or None;
        senders: [N] bool, the nodes whose edges send messages (None: all).
        Returns (update [N, hidden], messages [E, hidden])."""
        source, target = edge_index
        relation = self.relation(edge_type)
        if edge_attr is not None:
            relation = relation + edge_attr
        if self.message_mlp is None:
            messages = h[source] * relation
        else:
            messages = self.message_mlp(torch.cat([h[source], relation.to(h.dtype)], dim=-1))
        if senders is not None:
            messages = messages * senders[source].unsqueeze(-1)
        num_nodes = h.size(0)
        every_node = torch.arange(num_nodes, device=h.device)
        aggregated = _aggregate(torch.cat([messages, boundary.to(messages.dtype)]), torch.cat([target, every_node]),
                                num_nodes, self.aggregation)
        return self.update(torch.cat([h, aggregated.to(h.dtype)], dim=-1)), messages


class CompositionEncoder(GraphEncoder):
    """Relation composition along paths, conditioned on a query node (NBFNet, Zhu et al. 2021; CompGCN, Vashishth
    et al. 2020).

    With `query_nodes`, the graph is read from the query's point of view (NBFNet's boundary condition): the query
    node starts as the learned `query` vector (plus its x, if given) and every other node at zero. Layer l sends
    `message(h_j, relation)` along each edge, so after l layers a node's state is a function of the paths of length
    ≤ l from the query to it, built one relation at a time: the state at the end of a chain a →r1→ b →r2→ c is
    f(f(query, r1), r2). Nothing in a step depends on the chain's total length, so a chain longer than those seen
    in training is more of the same steps, provided `num_layers` ≥ the chain length. That holds exactly with
    `share_weights=True` (the default): one layer applied `num_layers` times, the step that was trained is the step
    that runs at every depth (with a layer per step, the layers past the training length never learned to compose).
    The state dict then does not depend on the depth: a model trained with 6 steps can be rebuilt with 10
    (`build_graph_encoder(..., num_layers=10)`, then `load_state_dict`) for longer chains. Nodes the query has not
    reached yet are held at zero (a node more than `num_layers` edges away ends at zero, a graph with query -1
    stays at zero), so only the query's paths send messages and the importance of an edge off those paths is 0.
    Every step is O(E + N) scatters and one [N, hidden] linear map, so 10 or more layers are cheap.

    Without a query it is CompGCN-like message passing over the given node features x (x is also each node's
    boundary self-message), giving query-free node states (e.g. for KG-embedding pre-training with a DistMult or
    RotatE decoder on top).

    message: "mlp" (default) or "distmult"; aggregation: "sum", "mean" or "pna"; share_weights: one layer for all
    steps (default). Trained on chains of 2-3 relations, the defaults read chains of 4-6 better than distmult
    messages or a layer per step (numbers in docs/models.md; a slow test in tests/test_graph_encoders.py checks
    the defaults on chains of 4).
    """

    name = "composition"
    boundary_condition = True

    def __init__(self, *, message: str = "mlp", aggregation: str = "sum", share_weights: bool = True,
                 **common: Any) -> None:
        """common: `GraphEncoder`'s hidden_size, num_relations, num_layers, dropout, inverse_edges."""
        super().__init__(**common, options={"message": message, "aggregation": aggregation,
                                            "share_weights": share_weights})
        steps = 1 if share_weights else self.num_layers
        self.layers = nn.ModuleList(
            CompositionLayer(self.hidden_size, self.num_relation_types, message=message, aggregation=aggregation)
            for _ in range(steps)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(self.hidden_size) for _ in range(steps))

    def encode(self, h, edge_index, edge_type, edge_attr, *, query_nodes, batch, with_importance):
        boundary, num_nodes, (source, target) = h, h.size(0), edge_index
        reached = None  # with a query: [N] bool, the nodes within `step` edges of it; the others stay at zero
        if query_nodes is not None and num_nodes:
            present = (query_nodes >= 0).float()
            reached = h.new_zeros(num_nodes, dtype=torch.float).index_add(0, query_nodes.clamp(min=0), present) > 0
        importance = h.new_zeros(edge_type.numel(), dtype=torch.float) if with_importance else None
        for step in range(self.num_layers):
            layer, norm = self.layers[step % len(self.layers)], self.norms[step % len(self.norms)]
            update, messages = layer(h, edge_index, edge_type, boundary=boundary, edge_attr=edge_attr,
                                     senders=reached)
            h = _residual(h, update, norm=norm, dropout=self.dropout)
            if reached is not None:
                reached = reached | (scatter(reached[source].float(), target, dim_size=num_nodes) > 0)
                h = h * reached.unsqueeze(-1)
            if with_importance:
                importance += _message_share(messages, target, num_nodes) / self.num_layers
        return h, importance


class ClosureEncoder(GraphEncoder):
    """Relation closure: the relation between every ordered pair of nodes, composed from the edges' relations with a
    learned composition table under every bracketing of a chain (as rule learners such as CTP do), not only left to
    right as message passing from the query does.

    State, per graph: `R: [n, n, C]`, for each ordered pair (i, j) a distribution over `classes` = C latent relation
    classes. An edge i → j reads softmax(relation embedding + Linear(edge_attr)), with separate weights for reading
    it backwards (j → i, its inverse type). Pairs at shortest distance d ≥ 2 are composed in order of d: each middle
    node m on a shortest path (d(i, m) + d(m, j) = d) offers compose(R[i, m], R[m, j]) = Σ_ab R[i, m, a] R[m, j, b]
    T[a, b, :], T the learned table (softmax over its last axis), and R[i, j] is their product, renormalised (a
    product of experts; several edges between one pair combine the same way). A table entry that training never
    reached stays near uniform and so leaves the product unchanged: a long chain is answered by the bracketings
    whose steps were learned on short chains. Nothing in a step depends on the chain's length; pairs farther apart
    than `num_layers` edges stay uniform.

    Output: node v's state `[N, hidden]` is log R[q, v], the relation from its graph's query node q (with `classes`
    set: Linear(log R[q, v])); a graph without a query gets zeros. Edge importance: how far the edge's relation is
    from uniform (1 - entropy / log C).

    The input states x are read only with `read_target`: an edge's relation logits then also get Linear(x[target])
    (zero at the start), since a relation's name depends on the relative, e.g. a person's gender shown by other
    sentences of the story (CLUTRR: "son" or "daughter" read backwards from "[A] is [B]'s mother").

    The table and the relation types' logits are `logit_scale` × their parameters, so that they can grow sharp in
    a few hundred steps at the graph learning rate.

    Two options build a relation algebra into it, for labels that name a relation and a property of the relative
    (CLUTRR: "son" = child + male):
    - `inverse`: class c's inverse class (a permutation; "parent" <-> "child"). An edge read backwards is then its
      forward reading with the classes inverted, not a separate reading: "[A] is [B]'s mother" read from B to A is
      "child" whatever A's gender, since the classes carry none.
    - `label_factors`: output l is (relation class, attribute); node v's state l is log R[q, v, class] + log
      P(v's attribute), the attribute read from the edges that touch v (`node_attributes`; CLUTRR: the relative's
      gender, from every sentence that relates them). Then the relation composes free of every middle person's
      attribute, and only the answer's own person is read for it. len(label_factors) must be hidden_size.

    - `mirrored_table` (with `inverse`, an involution): the table keeps the law (r ∘ s)⁻¹ = s⁻¹ ∘ r⁻¹. Entry (a, b)
      and entry (inverse b, inverse a), its classes inverted, share their logits (the mean of the two), so a
      composition learned one way round is known the other: "spouse ∘ child = child" gives "parent ∘ spouse =
      parent" (`composition_table`).

    `weak_relations` are relation types whose edges count as `weak_length` steps (in either direction) when pairs
    are ordered by distance: a pair is composed from the middle nodes of its shortest paths, so with CLUTRR's
    untyped "mentions" edges weak, a chain of typed edges is composed before an untyped shortcut between its ends
    (whose reading still joins that pair's product, as every pair's own edges do), and the shortcut carries
    compositions on only where it is no longer than the typed chains.

    `text_dropout` drops an edge's reading of its text (`edge_attr`) with that probability while training, the
    whole reading of that edge, so that its type alone must say its relation: the types a story reader gives are
    then trusted as far as they are right, not only as far as the training sentences' text is like the test's.

    `unnamed_classes` (only where the classes are the labels, `classes` None) adds classes that no label names, for
    the relations a chain passes through that have no label of their own: CLUTRR names no cousin or sibling-in-law,
    so without them the pair (A, A's cousin) must take some label's class ("uncle"), and every longer pair composed
    through it inherits that error. The states are then the named classes' log-probabilities (hidden_size of them).

    read_target: also read each edge's target input state (above). classes: C (None: hidden_size + unnamed_classes,
    and the states are the log-probabilities of the first hidden_size, so that a classifier can read the relation
    classes as its labels: `FusionConfig(graph_readout="relation")`). max_nodes: a larger graph is refused (the
    state is n² C per graph; a path length costs C² per (i, m, j) triple with m on a shortest i-j path of that
    length, and C³ per distinct (i, m): meant for story graphs, not retrieved background subgraphs). inverse: [C]
    class ids, a permutation. label_factors: [hidden_size] pairs (class id, attribute id); the attributes are 0 …
    max id. weak_relations: relation ids (< num_relations); weak_length: ≥ 1. unnamed_classes: ≥ 0. mirrored_table: bool.
    text_dropout: in [0, 1).
    """

    name = "closure"

    def __init__(self, *, classes: int | None = None, max_nodes: int = 64, logit_scale: float = 20.0,
                 read_target: bool = False, inverse: list[int] | None = None,
                 label_factors: list[list[int]] | None = None, weak_relations: list[int] | None = None,
                 weak_length: int = 3, unnamed_classes: int = 0, mirrored_table: bool = False,
                 text_dropout: float = 0.0, **common: Any) -> None:
        """common: `GraphEncoder`'s hidden_size, num_relations, num_layers (longest path composed), dropout,
        inverse_edges."""
        super().__init__(**common, options={"classes": classes, "max_nodes": max_nodes, "logit_scale": logit_scale,
                                            "read_target": read_target, "inverse": inverse,
                                            "label_factors": label_factors, "weak_relations": weak_relations,
                                            "weak_length": weak_length, "unnamed_classes": unnamed_classes,
                                            "mirrored_table": mirrored_table, "text_dropout": text_dropout})
        if (classes is not None and classes < 2) or max_nodes < 1 or self.hidden_size < 2:
            raise ValueError(f"graph encoder 'closure': classes (or hidden_size) must be ≥ 2 and max_nodes positive "
                             f"(got {classes}, {self.hidden_size}, {max_nodes})")
        if unnamed_classes < 0 or (unnamed_classes and (classes is not None or inverse is not None)):
            raise ValueError(f"graph encoder 'closure': unnamed_classes must be ≥ 0, and is for classes that are the "
                             f"labels (classes None) without inverse (got {unnamed_classes}, classes={classes}, "
                             f"inverse={'set' if inverse is not None else None})")
        self.classes, self.max_nodes = classes or self.hidden_size + unnamed_classes, max_nodes
        self._check_algebra(inverse, label_factors, read_target, mirrored_table)
        if weak_length < 1 or not all(0 <= r < self.num_relations for r in weak_relations or ()):
            raise ValueError(f"graph encoder 'closure': weak_relations must be relation ids in [0, {self.num_relations}) "
                             f"and weak_length ≥ 1 (got {weak_relations}, {weak_length})")
        if not 0.0 <= text_dropout < 1.0:
            raise ValueError(f"graph encoder 'closure': text_dropout must be in [0, 1), got {text_dropout}")
        self.weak_length, self.text_dropout = weak_length, text_dropout
        self.register_buffer("weak", None if not weak_relations else torch.tensor(sorted(set(weak_relations))),
                             persistent=False)
        # backwards reading = forward reading [:, inverse_order]: class inverse[c] gets what class c had
        self.register_buffer("inverse_order", None if inverse is None else torch.argsort(torch.tensor(inverse)),
                             persistent=False)
        # (a, b, c) -> (inverse b, inverse a, inverse c): the table entry each one is tied to
        self.register_buffer("mirror", torch.tensor(inverse) if mirrored_table else None, persistent=False)
        self.register_buffer("factor_class", None if label_factors is None else
                             torch.tensor([c for c, _ in label_factors]), persistent=False)
        self.register_buffer("factor_attribute", None if label_factors is None else
                             torch.tensor([a for _, a in label_factors]), persistent=False)
        self.logit_scale = logit_scale
        self.relation = nn.Parameter(torch.randn(self.num_relation_types, self.classes) / logit_scale)
        self.read_forward = nn.Linear(self.hidden_size, self.classes)
        self.read_backward = None if inverse is not None else nn.Linear(self.hidden_size, self.classes)
        self.read_target = None
        if read_target:  # starts at zero: the edges read as without it
            self.read_target = nn.Linear(self.hidden_size, self.classes)
            nn.init.zeros_(self.read_target.weight)
            nn.init.zeros_(self.read_target.bias)
        self.table = nn.Parameter(0.1 * torch.randn(self.classes, self.classes, self.classes) / logit_scale)
        self.output = None if classes is None or label_factors is not None else nn.Linear(self.classes, self.hidden_size)
        self.attributes = 0 if label_factors is None else 1 + max(a for _, a in label_factors)
        if label_factors is not None:  # what an edge says of its (source, target)'s attribute, by type and by text
            self.attribute_prior = nn.Parameter(torch.zeros(self.attributes))
            self.attribute_by_type = nn.Parameter(torch.zeros(self.num_relations, 2 * self.attributes))
            self.read_attribute = nn.Linear(self.hidden_size, 2 * self.attributes)
        del self.query  # the query node is where the relations are read from, not a vector

    def _check_algebra(self, inverse: list[int] | None, label_factors: list[list[int]] | None,
                       read_target: bool, mirrored_table: bool) -> None:
        """Raise ValueError unless `inverse` permutes the classes (and, for `mirrored_table`, is its own inverse) and
        `label_factors` has one (class, attribute ≥ 0) per output unit."""
        if inverse is not None:
            if sorted(inverse) != list(range(self.classes)):
                raise ValueError(f"graph encoder 'closure': inverse must list each of the {self.classes} classes once "
                                 f"(the inverse of class c at position c), got {inverse}")
            if read_target:
                raise ValueError("graph encoder 'closure': inverse reads a backward edge as its forward reading "
                                 "inverted, read_target reads each direction's own target; use one of them")
        if mirrored_table and (inverse is None or any(inverse[inverse[c]] != c for c in range(self.classes))):
            raise ValueError(f"graph encoder 'closure': mirrored_table needs inverse, a permutation of the {self.classes} "
                             f"classes that is its own inverse (inverse[inverse[c]] = c), got {inverse}")
        if label_factors is not None and (
                len(label_factors) != self.hidden_size
                or not all(len(f) == 2 and 0 <= f[0] < self.classes and f[1] >= 0 for f in label_factors)):
            raise ValueError(f"graph encoder 'closure': label_factors needs one (class in [0, {self.classes}), "
                             f"attribute ≥ 0) pair per output unit (hidden_size={self.hidden_size}), "
                             f"got {label_factors}")

    def _initial_states(self, x: Tensor | None, num_nodes: int, query_nodes: Tensor | None) -> Tensor:
        """x (or zeros): read only by `read_target`; otherwise only its size and dtype matter."""
        return self.table.new_zeros(num_nodes, self.hidden_size) if x is None else x

    def favour(self, relation_classes: dict[int, int], strength: float = 5.0) -> None:
        """Start each relation type r of `relation_classes` (forward reading only) with its class favoured by
        `strength` logits, e.g. a story edge read as "son" starts as the class that the answer "son" is read from."""
        with torch.no_grad():
            for relation, relation_class in relation_classes.items():
                self.relation[relation, relation_class] += strength / self.logit_scale

    def edge_relations(self, edge_type: Tensor, edge_attr: Tensor | None,
                       target_states: Tensor | None = None) -> Tensor:
        """[E, C]: each (directed) edge's relation, as log-probabilities; target_states [E, hidden]: the input
        state of each edge's target, read with `read_target`."""
        backwards = edge_type >= self.num_relations  # all False without inverse_edges
        if edge_attr is not None and self.training and self.text_dropout:  # some edges read by their type alone
            edge_attr = edge_attr * (torch.rand_like(edge_attr[:, :1]) >= self.text_dropout)
        if self.inverse_order is not None:  # a backward edge: its forward reading, inverted
            logits = self.logit_scale * self.relation[edge_type - self.num_relations * backwards.long()]
            if edge_attr is not None:
                logits = logits + self.read_forward(self.dropout(edge_attr))
            log_probs = logits.float().log_softmax(dim=-1)
            return torch.where(backwards.unsqueeze(-1), log_probs[:, self.inverse_order], log_probs)
        logits = self.logit_scale * self.relation[edge_type]
        if self.read_target is not None and target_states is not None:
            logits = logits + self.read_target(self.dropout(target_states))
        if edge_attr is not None:
            edge_attr = self.dropout(edge_attr)
            logits = logits + torch.where(backwards.unsqueeze(-1), self.read_backward(edge_attr),
                                          self.read_forward(edge_attr))
        return logits.float().log_softmax(dim=-1)

    def encode(self, h, edge_index, edge_type, edge_attr, *, query_nodes, batch, with_importance):
        if h.size(0) == 0:  # no graph has a node (so every query is -1)
            return h, (edge_type.new_zeros(0, dtype=torch.float) if with_importance else None)
        if query_nodes is None:
            raise ValueError("graph encoder 'closure' reads the relation from each graph's query node: pass "
                             "query_nodes [B] (a text graph's query source), or use 'composition' or 'rgcn'")
        num_nodes, num_graphs, classes = h.size(0), query_nodes.numel(), self.classes
        batch = h.new_zeros(num_nodes, dtype=torch.long) if batch is None else batch
        counts = torch.bincount(batch, minlength=num_graphs)
        size = int(counts.max()) if num_nodes else 0
        if size > self.max_nodes:
            raise ValueError(f"graph encoder 'closure': a graph has {size} nodes, more than max_nodes={self.max_nodes}; "
                             "raise graph_options max_nodes (memory grows as nodes³) or retrieve smaller subgraphs")
        local = torch.arange(num_nodes, device=h.device) - (torch.cumsum(counts, 0) - counts)[batch]
        source, target = edge_index
        edge_log_probs = self.edge_relations(edge_type, edge_attr, None if self.read_target is None else h[target])
        pair = (batch[source] * size + local[source]) * size + local[target]
        evidence = edge_log_probs.new_zeros(num_graphs * size * size, classes).index_add(0, pair, edge_log_probs)
        relations = evidence.view(num_graphs, size, size, classes).log_softmax(dim=-1)  # log R
        lengths = None
        if self.weak is not None:  # a weak edge counts as weak_length steps, in either direction
            weak = torch.isin(edge_type % self.num_relations, self.weak)
            lengths = torch.where(weak, self.weak_length, 1)
        distance = _path_lengths(pair, num_graphs, size, longest=self.num_layers, lengths=lengths)
        table = self.composition_table()
        farthest = int(distance.masked_fill(distance > self.num_layers, 0).max()) if size else 0
        for length in range(2, farthest + 1):
            relations = self._compose(relations, distance, length, table)
        present = query_nodes >= 0
        from_query = relations[torch.arange(num_graphs, device=h.device), local[query_nodes.clamp(min=0)]]  # [G, n, C]
        states = from_query[batch, local].to(h.dtype)
        if self.output is None and self.classes > self.hidden_size:  # the labels' classes, not the unnamed ones
            states = states[:, :self.hidden_size]
        if self.attributes:  # output l: log R[q, v, its class] + log P(v's attribute)
            attributes = self.node_attributes(num_nodes, edge_index, edge_type, edge_attr)
            states = (states[:, self.factor_class] + attributes[:, self.factor_attribute].to(states.dtype)).to(h.dtype)
        elif self.output is not None:
            states = self.output(states)
        states = states * present[batch].unsqueeze(-1).to(states.dtype)
        importance = None
        if with_importance:
            entropy = -(edge_log_probs.exp() * edge_log_probs).sum(dim=-1)
            importance = (1.0 - entropy / math.log(classes)).clamp(0.0, 1.0).detach()
        return states, importance

    def node_attributes(self, num_nodes: int, edge_index: Tensor, edge_type: Tensor,
                        edge_attr: Tensor | None) -> Tensor:
        """[N, A] log P(each node's attribute) with `label_factors`: a product of experts over the forward edges that
        touch the node, each saying something of its source and of its target (by its type, and by its text through
        a Linear layer: "[Bob] is [Ann]'s son" makes its target male), times a learned prior."""
        forward = edge_type < self.num_relations
        said = self.attribute_by_type[edge_type[forward]]
        if edge_attr is not None:
            said = said + self.read_attribute(self.dropout(edge_attr[forward]))
        said = said.float().view(-1, 2, self.attributes)  # [E, (of source, of target), A]
        ends = edge_index[:, forward].reshape(-1)  # sources, then targets
        logits = said.new_zeros(num_nodes, self.attributes).index_add(
            0, ends, said.transpose(0, 1).reshape(-1, self.attributes))
        return (logits + self.attribute_prior).log_softmax(dim=-1)

    @torch.no_grad()
    def compose_chains(self, chains: list[list[int]]) -> Tensor:
        """[B, C] log-probabilities of the relation that the table composes for each chain of known relation classes
        (class ids, the first to the last person), under every bracketing as `encode` composes a story graph's pairs:
        what the model would answer if it read each edge as that class and the story had no other edge. A chain
        longer than num_layers edges gives a uniform row."""
        if not chains or not all(chains) or not all(0 <= c < self.classes for chain in chains for c in chain):
            raise ValueError(f"compose_chains: each chain needs ≥ 1 class id in [0, {self.classes}), got {chains}")
        size = 1 + max(len(chain) for chain in chains)
        device = self.table.device
        graph = torch.tensor([g for g, chain in enumerate(chains) for _ in chain], device=device)
        step = torch.tensor([i for chain in chains for i in range(len(chain))], device=device)
        pair = (graph * size + step) * size + step + 1
        classes = torch.tensor([c for chain in chains for c in chain], device=device)
        evidence = self.table.new_zeros(len(chains) * size * size, self.classes).float()  # every other pair: uniform
        evidence[pair, classes] = self.logit_scale * 5.0  # each chain edge read as its class, near one-hot
        relations = evidence.view(len(chains), size, size, self.classes).log_softmax(dim=-1)
        distance = _path_lengths(pair, len(chains), size, longest=self.num_layers)
        table = self.composition_table()
        for length in range(2, min(size - 1, self.num_layers) + 1):
            relations = self._compose(relations, distance, length, table)
        ends = torch.tensor([len(chain) for chain in chains], device=device)
        return relations[torch.arange(len(chains), device=device), 0, ends]

    def composition_table(self) -> Tensor:
        """[C, C, C] float: row (a, b) the distribution of the class of a ∘ b (a pair's relation a, then b from its
        second person on); with `mirrored_table`, entries (a, b, c) and (inverse b, inverse a, inverse c) are equal."""
        logits = self.logit_scale * self.table.float()
        if self.mirror is not None:
            p = self.mirror
            logits = 0.5 * (logits + logits[p][:, p][:, :, p].transpose(0, 1))
        return logits.softmax(dim=-1)

    @staticmethod
    def _compose(relations: Tensor, distance: Tensor, length: int, table: Tensor) -> Tensor:
        """log R [G, n, n, C] with the pairs `length` edges apart (`distance` [G, n, n]) composed from their middle
        nodes; only those pairs' (i, m, j) triples are computed (a step costs triples × C² + (i, m) pairs × C³)."""
        size, classes = relations.size(1), relations.size(-1)
        middle = ((distance.unsqueeze(-1) + distance.unsqueeze(1) == length)  # d(i, m) + d(m, j) = length
                  & (distance.unsqueeze(-1) > 0) & (distance.unsqueeze(1) > 0)
                  & (distance == length).unsqueeze(2))  # [G, i, m, j]
        graph, i, m, j = middle.nonzero(as_tuple=True)
        flat = relations.reshape(-1, classes)
        first, which = torch.unique((graph * size + i) * size + m, return_inverse=True)
        left = (flat[first].exp() @ table.reshape(classes, -1)).view(-1, classes, classes)  # [U, b, c]
        second = flat[(graph * size + m) * size + j].exp()  # [T, b]
        candidates = torch.einsum("tb,tbc->tc", second, left[which]).float().clamp_min(1e-12).log()  # log compose
        rows, slot = torch.unique((graph * size + i) * size + j, return_inverse=True)  # pairs; each triple's row
        # the pair's own edges join the product (a weak edge as long as the chains; otherwise there are none)
        composed = flat[rows].float().index_add(0, slot, candidates).log_softmax(dim=-1)
        return flat.index_put((rows,), composed).view_as(relations)


def _path_lengths(pair: Tensor, num_graphs: int, size: int, *, longest: int, lengths: Tensor | None = None) -> Tensor:
    """[G, n, n] int64 shortest path lengths between the nodes of each graph, each edge counting its `lengths` steps
    (None: 1 each); 0 on the diagonal, a value > `longest` where there is no path of at most `longest` steps.
    pair: [E] the flat index (graph * n + source) * n + target of every edge; lengths: [E] int64 ≥ 1 or None."""
    steps = [1] if lengths is None else sorted(set(lengths.tolist()))
    adjacency = {}  # steps -> [G, n, n] the edges that count that many steps
    for step in steps:
        ends = pair if lengths is None else pair[lengths == step]
        adjacency[step] = torch.zeros(num_graphs * size * size, device=pair.device).index_fill(0, ends, 1.0).view(
            num_graphs, size, size)
    distance = torch.full((num_graphs, size, size), longest + 1, dtype=torch.long, device=pair.device)
    diagonal = torch.arange(size, device=pair.device)
    distance[:, diagonal, diagonal] = 0
    last_reached = 0
    for length in range(1, longest + 1):
        if length - last_reached > steps[-1]:  # no path end is close enough to go on from
            break
        reached = torch.zeros_like(distance, dtype=torch.bool)
        for step, edges in adjacency.items():
            if step <= length:  # a path `length - step` long, then one such edge
                reached |= ((distance == length - step).float() @ edges) > 0
        reached &= distance > length
        if bool(reached.any()):
            distance, last_reached = distance.masked_fill(reached, length), length
    return distance


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
