"""The relation closure (`ClosureEncoder`): the relation of every node pair, composed from the edges with a learned
composition table under every bracketing; the registered encoder "closure" of `kgreason.encoders.graph`, for long
relation chains in small (story) graphs."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .graph_base import GraphEncoder


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
