"""What every fusion model shares: `FusionConfig`, `ModelOutput`, the heads, the graph side and save / load.

A model (`lm_only`, `graph_only`, `late`, `interaction`) subclasses `FusionModel` and implements `features`:
one vector per text row (`[R, D]`), from which the head makes the logits. Saved like Hugging Face:

    model.save_pretrained("out/model")      # config.json, text_config.json, model.safetensors (never pickle)
    model = FusionModel.from_pretrained("out/model")

`text_config.json` is the text encoder's own Hugging Face config: the loaded model rebuilds its transformer from
it (`TextEncoder.from_config`), so the directory is all it needs; every weight is in the one safetensors file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch_geometric.utils import scatter, softmax
from transformers import AutoConfig

from kgreason.data.batch import NUM_NODE_TYPES, KGQABatch
from kgreason.encoders.graph import NodeFeatures, build_graph_encoder
from kgreason.encoders.text import TextEncoder, pool_spans, span_segments

CONFIG_FILE = "config.json"
TEXT_CONFIG_FILE = "text_config.json"
WEIGHTS_FILE = "model.safetensors"
NODE_FEATURE_MODES = ("learned", "type")
GRAPH_READOUTS = ("pool_target", "target", "relation")
EDGE_TEXT_MODES = ("story", "sentence")


@dataclass
class FusionConfig:
    """Everything that rebuilds a fusion model's architecture (saved as `config.json`).

    fusion: "lm_only", "graph_only", "late" or "interaction" (see `kgreason.fusion.FUSION_MODELS`)
    graph_encoder: a `kgreason.encoders.graph.GRAPH_ENCODERS` name; graph_options: its own options
    num_relations: edge types (`len(RelationVocabulary)`)
    num_labels: classes of the classification head; multiple_choice: one score per row instead, `[B, C]`
    node_features: "learned" (an embedding per global node id, `num_nodes` of them, plus the node type: background
        KGs) or "type" (node type embedding plus the pooled text states of the sentences the node's edges were read
        from: text graphs, whose node ids mean nothing across examples)
    graph_hidden_size, graph_layers: the graph encoder's width and message-passing rounds
    fusion_hidden_size: the width of the late-fusion MLP and the interaction MLPs (None: the text hidden size)
    interaction_layers: N, the top transformer layers that exchange with the graph (interaction fusion)
    graph_readout: the graph vector the head reads: "pool_target" (attention pool over the nodes ⊕ the
        query-target state) or "target" (the query-target state alone: the answer must be carried to the target
        along the graph's paths, which is what lets a composition encoder read chains longer than in training) or
        "relation" (`graph_only` classifiers: the query-target state *is* the answer's scores, with no head, so the
        graph's relation classes are the labels; graph_hidden_size is set to num_labels; meant for the "closure"
        encoder, whose states there are the log-probabilities of the relation it composed)
    factored_labels: with the "relation" readout and the "closure" encoder, each label is a relation class and an
        attribute of the answer's person (CLUTRR: "son" = child + male): the closure composes the classes, inverts
        a backward edge by the classes' inverse, and reads the attribute from the story edges that touch the answer's
        person (the closure's `inverse` and `label_factors`, which `run_pipeline` fills from the task's label algebra)
    untyped_edge_length: with the "closure" encoder, the steps an untyped text-graph edge ("mentions": two people
        named in one sentence with no relation word read between them) counts for when pairs are composed in order
        of distance: above 1, a chain of typed edges between two people is composed before an untyped shortcut
        between them; the untyped edge's reading still joins its own pair's product, but it carries compositions
        on to farther pairs only where it is no longer than the typed chains (the closure's `weak_relations` and
        `weak_length`, which `run_pipeline` fills from the relation vocabulary)
    edge_text: where text-graph edge and node inputs come from: "story" (the transformer's states of the edge's
        sentence in the whole text) or "sentence" (a pass in which each sentence attends only to itself, so an
        edge's input says what its sentence says and nothing the rest of the story or the question could add;
        `late` and `graph_only` only, and for `late` it is a second transformer pass)
    edge_endpoints: text-graph edge inputs also read the states of the edge's two mentions in its sentence
        (`batch.edge_endpoint_token_spans`), so that two edges read from one sentence differ ("[Ann] took her son
        [Bob] and his sister [Cat]": Ann-Bob is "son", Bob-Cat "sister")
    query_relation: the query node's input also embeds the relation asked about (`batch.query_relations`, as
        NBFNet conditions on the query relation), so that the graph side can tell the fact asked about from the
        other facts between the same two nodes; `run_pipeline` sets it when the training examples name one
    query_conditioned_edges: each edge's input also embeds the pair (relation asked about, the edge's relation), as
        NBFNet makes its relation vectors a function of the query relation: an edge is read for what it says about
        the question ("chases" asked, a "chases" edge: it answers; a "sees" edge: it does not), not only through
        the product of two separate embeddings; a graph that asks about no relation adds nothing
    shared_negation: a negated relation, as an edge or as the relation asked about, is read as its base relation
        plus a learned negation vector shared by every relation, so that what is learned of "not_is" (common)
        carries to "not_chases" (rare); needs `relation_bases`
    relation_bases: for each relation id, the id of the relation it negates, or its own (`RelationVocabulary.
        negation_bases()`: "not_chases" -> "chases"); `run_pipeline` fills it from the vocabulary
    text_encoder: the pretrained text encoder `build_model` loads when given none (None: all-MiniLM-L6-v2);
        text_freeze, text_lora: its `freeze` and `lora` options (`TextEncoder`)
    """

    fusion: str = "late"
    graph_encoder: str = "rgcn"
    num_relations: int = 1
    num_labels: int = 2
    multiple_choice: bool = False
    node_features: str = "type"
    num_nodes: int | None = None
    graph_hidden_size: int = 64
    graph_layers: int = 2
    graph_options: dict[str, Any] = field(default_factory=dict)
    fusion_hidden_size: int | None = None
    interaction_layers: int = 1
    graph_readout: str = "pool_target"
    factored_labels: bool = False
    untyped_edge_length: int = 1
    edge_text: str = "story"
    edge_endpoints: bool = False
    dropout: float = 0.1
    query_relation: bool = False
    query_conditioned_edges: bool = False
    shared_negation: bool = False
    relation_bases: list[int] | None = None
    text_encoder: str | None = None
    text_freeze: str | int | None = None
    text_lora: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.node_features not in NODE_FEATURE_MODES:
            raise ValueError(f"FusionConfig.node_features={self.node_features!r}: use one of {NODE_FEATURE_MODES}")
        if self.graph_readout not in GRAPH_READOUTS:
            raise ValueError(f"FusionConfig.graph_readout={self.graph_readout!r}: use one of {GRAPH_READOUTS}")
        if self.graph_readout == "relation":
            if self.fusion != "graph_only" or self.multiple_choice:
                raise ValueError("FusionConfig.graph_readout='relation' reads the graph's relation classes as the labels: "
                                 f"it needs fusion 'graph_only' and a classification task (got {self.fusion!r}, "
                                 f"multiple_choice={self.multiple_choice})")
            self.graph_hidden_size = self.num_labels
        if self.factored_labels and (self.graph_readout != "relation" or self.graph_encoder != "closure"
                                     or "label_factors" not in self.graph_options):
            raise ValueError("FusionConfig.factored_labels needs graph_readout='relation', graph_encoder='closure' and "
                             "graph_options with the task's 'inverse' and 'label_factors' (run_pipeline fills them "
                             "for clutrr)")
        if self.untyped_edge_length != 1 and (self.graph_encoder != "closure" or self.untyped_edge_length < 1
                                              or "weak_relations" not in self.graph_options):
            raise ValueError(f"FusionConfig.untyped_edge_length={self.untyped_edge_length}: an integer ≥ 1 for the "
                             "'closure' encoder, with graph_options 'weak_relations' (run_pipeline fills them)")
        if self.edge_text not in EDGE_TEXT_MODES:
            raise ValueError(f"FusionConfig.edge_text={self.edge_text!r}: use one of {EDGE_TEXT_MODES}")
        if self.edge_text == "sentence" and self.fusion not in ("late", "graph_only"):
            raise ValueError(f"FusionConfig.edge_text='sentence' works with fusion 'late' or 'graph_only', not "
                             f"{self.fusion!r}")
        if self.node_features == "learned" and not self.num_nodes:
            raise ValueError("FusionConfig.node_features='learned' needs num_nodes (the KG's entity count); "
                             "use node_features='type' for text graphs")
        if self.shared_negation and self.relation_bases is None:
            raise ValueError("FusionConfig.shared_negation needs relation_bases, the id each relation negates (or its "
                             "own): RelationVocabulary.negation_bases() (run_pipeline fills it)")
        if self.relation_bases is not None and (
                len(self.relation_bases) != self.num_relations
                or not all(0 <= base < self.num_relations for base in self.relation_bases)):
            raise ValueError(f"FusionConfig.relation_bases: one id in [0, {self.num_relations}) per relation "
                             f"(num_relations={self.num_relations}), got {len(self.relation_bases)} values; make it "
                             "with RelationVocabulary.negation_bases()")
        if not self.multiple_choice and self.num_labels < 2:
            raise ValueError(f"FusionConfig.num_labels={self.num_labels}: a classifier needs at least 2 classes "
                             "(or set multiple_choice=True)")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> FusionConfig:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{path}: unknown FusionConfig fields {unknown}; was it written by a newer kgreason?")
        return cls(**data)


@dataclass
class ModelOutput:
    """logits: [B, K] classes (-inf for a class the example does not offer, `KGQABatch.offered`) or [B, C] choices;
    loss: cross-entropy over the known labels (-1 ignored), None without any; edge_importance: [E] in [0, 1] (the
    graph encoder's, mean over its calls), node_importance: [N] (the attention-pooling weights, summing to 1 per
    graph); both None for a model without a graph."""

    logits: Tensor
    loss: Tensor | None = None
    edge_importance: Tensor | None = None
    node_importance: Tensor | None = None


@dataclass
class Features:
    """What a model's `features` returns: vector [R, D] per text row, and the graph's importances."""

    vector: Tensor
    edge_importance: Tensor | None = None
    node_importance: Tensor | None = None


class ClassificationHead(nn.Module):
    """features: [B, D] -> logits [B, num_labels]."""

    def __init__(self, in_features: int, num_labels: int, *, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(in_features, num_labels)

    def forward(self, features: Tensor, num_choices: int | None) -> Tensor:
        if num_choices is not None:
            raise ValueError(f"a multiple-choice batch ({num_choices} choices) reached a classification head: build "
                             "the model with FusionConfig(multiple_choice=True)")
        return self.out(self.dropout(features))


class MultipleChoiceHead(nn.Module):
    """features: [B * C, D] (C rows per example) -> logits [B, C], one score per row."""

    def __init__(self, in_features: int, *, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(in_features, 1)

    def forward(self, features: Tensor, num_choices: int | None) -> Tensor:
        if num_choices is None:
            raise ValueError("a classification batch reached a multiple-choice head: build the model with "
                             "FusionConfig(multiple_choice=False, num_labels=...)")
        return self.out(self.dropout(features)).view(-1, num_choices)


class GraphSide(nn.Module):
    """The graph half of a model: node and edge inputs, the graph encoder, and one vector per graph.

    Node inputs `x: [N, Hg]`: `NodeFeatures` (learned ids and node types, or node types only) plus, in "type" mode
    with text states, the mean of the projected sentence states of the node's edges. Edge inputs `edge_attr:
    [E, Hg]`: the projected `pool_spans` of each text-graph edge's sentence (`batch.edge_token_spans`), None for
    background-KG batches. With `query_relation`, the query node's input adds an embedding of the relation asked
    about; with `query_conditioned_edges`, each edge's input adds an embedding of (asked relation, its relation);
    with `shared_negation`, a negated relation (edge or asked) is its base relation plus a shared negation vector.
    The encoder gets `query_nodes` (CLUTRR's query source; every registered encoder takes
    it) and the readout is [attention pool ⊕ the state at `query_targets`] (zeros where a graph has no target), or
    the target state alone (`graph_readout="target"`).
    A graph without nodes pools to a learned `no_graph` vector, so its row still gets an answer.
    """

    def __init__(self, config: FusionConfig, *, text_hidden_size: int | None) -> None:
        super().__init__()
        hidden = config.graph_hidden_size
        self.mode = config.node_features
        self.node_features = NodeFeatures(hidden, num_nodes=config.num_nodes if self.mode == "learned" else None,
                                          num_node_types=NUM_NODE_TYPES)
        self.text_projection = None if text_hidden_size is None else nn.Linear(text_hidden_size, hidden)
        self.endpoint_projection = (nn.Linear(2 * text_hidden_size, hidden)
                                    if config.edge_endpoints and text_hidden_size is not None else None)
        self.encoder = build_graph_encoder(config.graph_encoder, hidden_size=hidden, num_relations=config.num_relations,
                                           num_layers=config.graph_layers, dropout=config.dropout,
                                           **config.graph_options)
        self.query_relation = nn.Embedding(config.num_relations, hidden) if config.query_relation else None
        self.num_relations = config.num_relations
        self.negations = Negations(config.relation_bases, hidden) if config.shared_negation else None
        self.query_edge_pairs = (nn.Embedding(config.num_relations ** 2, hidden) if config.query_conditioned_edges
                                 else None)  # row asked * num_relations + edge relation
        self.pool_score = nn.Linear(hidden, 1)
        self.no_graph = nn.Parameter(torch.zeros(hidden))
        self.readout_target_only = config.graph_readout in ("target", "relation")
        self.output_size = graph_vector_size(config)

    def edge_inputs(self, batch: KGQABatch, text_states: Tensor | None) -> Tensor | None:
        """text_states: [R, T, Ht] or None -> [E, Hg] sentence states of text-graph edges (plus, with
        `edge_endpoints`, the states of the source's and the target's mention there), or None."""
        if text_states is None or self.text_projection is None or batch.edge_token_spans is None:
            return None
        edge_attr = self.text_projection(pool_spans(text_states, batch.edge_token_spans.clamp(min=0)))
        if self.endpoint_projection is not None and batch.edge_endpoint_token_spans is not None:
            ends = pool_spans(text_states, batch.edge_endpoint_token_spans.reshape(-1, 3).clamp(min=0))  # [2E, Ht]
            edge_attr = edge_attr + self.endpoint_projection(ends.reshape(-1, 2 * ends.size(-1)))
        return edge_attr

    def node_inputs(self, batch: KGQABatch, edge_attr: Tensor | None) -> Tensor:
        """edge_attr: [E, Hg] or None -> x: [N, Hg]."""
        node_ids = batch.node_ids if self.mode == "learned" else None
        x = self.node_features(node_ids, node_type=batch.node_type)
        if self.mode == "type" and edge_attr is not None:
            ends = batch.edge_index.reshape(-1)  # both endpoints of every edge
            x = x + scatter(edge_attr.repeat(2, 1), ends, dim_size=batch.num_nodes, reduce="mean")
        asked, sources = batch.query_relations, batch.query_nodes
        if self.query_relation is not None and asked is not None and sources is not None:
            present = (asked >= 0) & (sources >= 0)
            asked = asked[present]
            if self.negations is None:
                embedded = self.query_relation(asked)
            else:  # the base relation's embedding, plus the query negation vector
                bases, negated = self.negations.split(asked)
                embedded = self.query_relation(bases) + negated * self.negations.query
            x = x.index_add(0, sources[present], embedded.to(x.dtype))
        return x

    def query_edge_inputs(self, batch: KGQABatch) -> Tensor | None:
        """[E, Hg]: the embedding of (the relation its graph asks about, the edge's relation) for each edge, zeros
        where the graph asks about none; None without `query_conditioned_edges` or `batch.query_relations`."""
        asked = batch.query_relations
        if self.query_edge_pairs is None or asked is None:
            return None
        edge_asks = asked[batch.batch[batch.edge_index[0]]]  # [E]
        pairs = edge_asks.clamp(min=0) * self.num_relations + batch.edge_type
        return self.query_edge_pairs(pairs) * (edge_asks >= 0).unsqueeze(-1)

    def encode(self, batch: KGQABatch, x: Tensor, edge_attr: Tensor | None) -> tuple[Tensor, Tensor]:
        """x: [N, Hg]; edge_attr: [E, Hg] or None -> (node states [N, Hg], edge importance [E]). The encoder's
        edge inputs are edge_attr plus `query_edge_inputs` (and, with `shared_negation`, the negation vector on
        negated edges, whose type is then their base relation's)."""
        edge_type, added = batch.edge_type, [self.query_edge_inputs(batch)]
        if self.negations is not None:  # the base relation's type, plus the edge negation vector
            edge_type, negated = self.negations.split(edge_type)
            added.append(negated * self.negations.edge)
        for extra in added:
            if extra is not None:
                edge_attr = extra if edge_attr is None else edge_attr + extra.to(edge_attr.dtype)
        return self.encoder(x, batch.edge_index, edge_type, batch=batch.batch, query_nodes=batch.query_nodes,
                            edge_attr=edge_attr, return_attention=True)

    def pool(self, batch: KGQABatch, h: Tensor) -> tuple[Tensor, Tensor]:
        """h: [N, Hg] -> (attention pool [G, Hg], the `no_graph` vector for empty graphs; weights [N])."""
        weights = softmax(self.pool_score(h).squeeze(-1), batch.batch, num_nodes=batch.num_graphs)
        pooled = scatter(weights.unsqueeze(-1) * h, batch.batch, dim_size=batch.num_graphs, reduce="sum")
        has_nodes = batch.graph_has_nodes.unsqueeze(-1)
        return torch.where(has_nodes, pooled, self.no_graph.to(pooled.dtype)), weights

    def readout(self, batch: KGQABatch, h: Tensor) -> tuple[Tensor, Tensor]:
        """h: [N, Hg] -> (graph vector [G, 2 Hg] = pool ⊕ target state, or [G, Hg] = target state; node
        importance [N])."""
        pooled, weights = self.pool(batch, h)
        targets = batch.query_targets
        if targets is None or h.numel() == 0:
            target_states = torch.zeros_like(pooled)
        else:
            target_states = h[targets.clamp(min=0)] * (targets >= 0).unsqueeze(-1).to(h.dtype)
        if self.readout_target_only:
            return target_states, weights.detach()
        return torch.cat([pooled, target_states], dim=-1), weights.detach()

    def forward(self, batch: KGQABatch, text_states: Tensor | None = None) -> Features:
        """text_states: [R, T, Ht] or None -> Features(graph vector [G, `output_size`], importances)."""
        edge_attr = self.edge_inputs(batch, text_states)
        h, edge_importance = self.encode(batch, self.node_inputs(batch, edge_attr), edge_attr)
        vector, node_importance = self.readout(batch, h)
        return Features(vector, edge_importance, node_importance)


class Negations(nn.Module):
    """`FusionConfig.relation_bases` as tensors: `bases: int64 [R]`, `negated: float [R]` (1 where a relation
    negates another), and the learned negation vectors `edge`, `query`: [hidden] shared by every relation."""

    def __init__(self, relation_bases: list[int], hidden: int) -> None:
        super().__init__()
        bases = torch.tensor(relation_bases, dtype=torch.long)
        self.register_buffer("bases", bases, persistent=False)
        self.register_buffer("negated", (bases != torch.arange(len(bases))).float(), persistent=False)
        self.edge = nn.Parameter(torch.randn(hidden))
        self.query = nn.Parameter(torch.randn(hidden))

    def split(self, relations: Tensor) -> tuple[Tensor, Tensor]:
        """relations: int64 [K] -> (their base relations int64 [K], float [K, 1]: 1 where negated)."""
        return self.bases[relations], self.negated[relations].unsqueeze(-1)


def graph_vector_size(config: FusionConfig) -> int:
    """The width of `GraphSide`'s graph vector: Hg for the "target" and "relation" readouts, 2 Hg for "pool_target"."""
    return config.graph_hidden_size * (2 if config.graph_readout == "pool_target" else 1)


def mlp(in_features: int, hidden: int, out_features: int, *, dropout: float) -> nn.Sequential:
    """Linear -> GELU -> dropout -> Linear."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_features))


class FusionModel(nn.Module):
    """Base of the registered models: builds the text encoder, the graph side and the head; `forward` = head over
    `features` + loss. A subclass sets `name`, `uses_graph`, whether it `needs_text`, and `features_size`."""

    name: ClassVar[str]
    uses_graph: ClassVar[bool] = True

    def __init__(self, config: FusionConfig, *, text_encoder: TextEncoder | None = None) -> None:
        super().__init__()
        if config.fusion != self.name:
            raise ValueError(f"FusionConfig.fusion={config.fusion!r} given to the {self.name!r} model; build it with "
                             "kgreason.fusion.build_model(config)")
        self.config = config
        if self.needs_text(config) and text_encoder is None:
            raise ValueError(f"the {self.name!r} model needs a text encoder: use kgreason.fusion.build_model(config), "
                             "which loads config.text_encoder, or pass text_encoder=")
        self.text_encoder = text_encoder if self.needs_text(config) else None
        text_hidden = None if self.text_encoder is None else self.text_encoder.hidden_size
        self.graph = GraphSide(config, text_hidden_size=text_hidden) if self.uses_graph else None
        size = self.features_size(config, text_hidden_size=text_hidden)
        self.head = (None if config.graph_readout == "relation"  # the graph's relation classes are the labels
                     else MultipleChoiceHead(size, dropout=config.dropout) if config.multiple_choice
                     else ClassificationHead(size, config.num_labels, dropout=config.dropout))

    @classmethod
    def needs_text(cls, config: FusionConfig) -> bool:
        return True

    @classmethod
    def features_size(cls, config: FusionConfig, *, text_hidden_size: int | None) -> int:
        """D, the width of the vectors `features` returns."""
        raise NotImplementedError

    def features(self, batch: KGQABatch) -> Features:
        """One vector [R, D] per text row (and the graph's importances)."""
        raise NotImplementedError

    def sentence_states(self, batch: KGQABatch) -> Tensor:
        """[R, T, Ht]: the text encoder's last states with each text-graph sentence read on its own
        (`edge_text="sentence"`; tokens outside every edge's sentence attend among themselves)."""
        segments = torch.zeros_like(batch.input_ids)
        if batch.edge_token_spans is not None:
            segments = span_segments(batch.edge_token_spans, *batch.input_ids.shape)
        return self.text_encoder.encode_segments(batch.input_ids, batch.attention_mask, segments,
                                                 token_type_ids=batch.token_type_ids)

    def forward(self, batch: KGQABatch) -> ModelOutput:
        features = self.features(batch)
        logits = features.vector if self.head is None else self.head(features.vector, batch.num_choices)
        if batch.offered is not None:
            logits = logits.masked_fill(~offered_classes(batch.offered.to(logits.device), logits.shape[-1]),
                                        float("-inf"))
        labels = batch.labels.to(logits.device)
        loss = None
        if bool((labels >= 0).any()):
            # the relation readout's scores are log-probabilities already, of classes that may go beyond the labels
            # (the closure's `unnamed_classes`): their NLL counts the mass left on those; the same as cross-entropy
            # where the labels are all the classes
            loss = (F.cross_entropy if self.head is not None else F.nll_loss)(logits, labels, ignore_index=-1)
        return ModelOutput(logits, loss, features.edge_importance, features.node_importance)

    def save_pretrained(self, save_directory: str | Path) -> None:
        """Write `config.json`, the text encoder's `text_config.json` and `model.safetensors` (every weight)."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / CONFIG_FILE)
        if self.text_encoder is not None:
            self.text_encoder.config.to_json_file(str(directory / TEXT_CONFIG_FILE))
        tensors, aliases = _unshared(self.state_dict())
        save_file(tensors, str(directory / WEIGHTS_FILE), metadata={"aliases": json.dumps(aliases)})

    @classmethod
    def from_pretrained(cls, save_directory: str | Path) -> FusionModel:
        """The model `save_pretrained` wrote to `save_directory`, built from its configs and loaded from its
        safetensors file (no pickle, no other file needed)."""
        from . import model_class

        directory = Path(save_directory)
        if not (directory / CONFIG_FILE).is_file() or not (directory / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(f"{directory}: needs {CONFIG_FILE} and {WEIGHTS_FILE} written by "
                                    "FusionModel.save_pretrained")
        config = FusionConfig.load(directory / CONFIG_FILE)
        model_type = model_class(config.fusion)
        if not issubclass(model_type, cls):
            raise ValueError(f"{directory} holds a {config.fusion!r} model, not a {cls.name!r} one; load it with "
                             "FusionModel.from_pretrained")
        text_encoder = None
        if model_type.needs_text(config):
            text_config = json.loads((directory / TEXT_CONFIG_FILE).read_text(encoding="utf-8"))
            text_encoder = TextEncoder.from_config(AutoConfig.for_model(**text_config), freeze=config.text_freeze,
                                                   lora=config.text_lora)
        model = model_type(config, text_encoder=text_encoder)
        model.load_state_dict(_with_aliases(directory / WEIGHTS_FILE))
        return model


def offered_classes(offered: Tensor, num_classes: int) -> Tensor:
    """offered: bool [B, K] -> [B, num_classes]: classes past the K labels (the closure's `unnamed_classes`) are
    offered only to the rows that offer every label."""
    extra = num_classes - offered.shape[-1]
    return torch.cat([offered, offered.all(-1, keepdim=True).expand(-1, extra)], -1) if extra else offered


def _unshared(state_dict: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """safetensors refuses tensors that share memory: keep the first name of each, and map the others to it."""
    tensors, aliases, first_name = {}, {}, {}
    for name, tensor in state_dict.items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.dtype)
        if tensor.numel() and key in first_name:
            aliases[name] = first_name[key]
            continue
        first_name[key] = name
        tensors[name] = tensor.detach().contiguous()
    return tensors, aliases


def _with_aliases(path: Path) -> dict[str, Tensor]:
    """The state dict of a file written with `_unshared`: shared tensors under every name again."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        aliases = json.loads((handle.metadata() or {}).get("aliases", "{}"))
    tensors = load_file(str(path))
    tensors.update({name: tensors[source] for name, source in aliases.items()})
    return tensors
