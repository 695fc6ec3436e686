"""NBFNet / CompGCN-style relation composition conditioned on a query node (`CompositionEncoder`): the
registered encoder "composition" of `kgreason.encoders.graph`, for long relation chains."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from .graph_base import GraphEncoder, message_share, residual_block


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
            h = residual_block(h, update, norm=norm, dropout=self.dropout)
            if reached is not None:
                reached = reached | (scatter(reached[source].float(), target, dim_size=num_nodes) > 0)
                h = h * reached.unsqueeze(-1)
            if with_importance:
                importance += message_share(messages, target, num_nodes) / self.num_layers
        return h, importance
