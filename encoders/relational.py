"""R-GCN (`RGCNEncoder`, over `RelationalConv`) and GATv2 with relation embeddings (`GATv2Encoder`): the
registered encoders "rgcn" and "gatv2" of `kgreason.encoders.graph`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATv2Conv
from torch_geometric.nn.inits import glorot, zeros
from torch_geometric.utils import scatter

from .graph_base import GraphEncoder, message_share, residual_block


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
            h = residual_block(h, update, norm=norm, dropout=self.dropout)
            if with_importance:
                importance += message_share(contributions, target, num_nodes) / self.num_layers
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
            h = residual_block(h, update, norm=norm, dropout=self.dropout)
            if with_importance:
                importance += attention.detach().float().mean(dim=1) / self.num_layers
        return h, importance
