"""The base of the registered graph encoders (`GraphEncoder`: input checks, initial states, inverse edges,
importance folding) and the residual block and message importance that several of them share."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter


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


def residual_block(h: Tensor, update: Tensor, *, norm: nn.LayerNorm, dropout: nn.Dropout) -> Tensor:
    """h + dropout(relu(LayerNorm(update))): the block around every layer here (post-norm branch, NBFNet style)."""
    return h + dropout(F.relu(norm(update)))


def _share_of_target(weight: Tensor, target: Tensor, num_nodes: int) -> Tensor:
    """[E] each edge's part of the total `weight: [E]` arriving at its target node (0 where the total is 0)."""
    total = scatter(weight, target, dim_size=num_nodes)
    return weight / total[target].clamp_min(1e-12)


def message_share(messages: Tensor, target: Tensor, num_nodes: int) -> Tensor:
    """[E] importance of each edge in one layer: its message norm over the sum of the norms at its target."""
    with torch.no_grad():
        return _share_of_target(messages.float().norm(dim=-1), target, num_nodes)
