"""Link-prediction pre-training of a graph encoder: entity embeddings → optional GNN → DistMult / RotatE decoder.

    model = LinkPredictionModel(build_graph_encoder("rgcn", hidden_size=64, num_relations=R), "distmult",
                                num_entities=N, num_relations=R)
    train_link_prediction(model, train, epochs=50)                    # train: int64 [T, 3] (head, relation, tail)
    ranks = filtered_ranks(model, test, known_triples=all_splits, graph=train)          # [2 * T_test]
    ranking_metrics(ranks)                                            # {"mrr": .., "hits@1": .., "hits@10": .., ..}
    model.save("runs/umls-lp"); LinkPredictionModel.load("runs/umls-lp")

Triples are int64 `[T, 3]` rows (head, relation, tail) with ids in [0, num_entities) and [0, num_relations); this
module never reads files (`encoders` imports nothing else of ours): build the ids with `kgreason.kg` or a reader
of your own (see bench/link_prediction.py).

Both directions are trained and ranked: the query (h, r, ?) uses relation r and the query (?, r, t) is asked as
(t, r + num_relations, ?) with a learned inverse relation, so the decoders hold `2 * num_relations` relations.
Training is 1-N: every query is scored against all entities and the loss is the cross-entropy of the true answer
(with label smoothing). The GNN, when given, runs once per step over the whole training graph (`graph`),
which suits graphs of up to a few hundred thousand edges (FB15k-237 fits on one GPU; on CPU use `encoder=None`,
the plain DistMult / RotatE baseline).

Reuse in a fusion model (same `build_graph_encoder` config and, for learned node features, the same entity ids):

    fusion.graph.encoder.load_state_dict(pretrained.encoder.state_dict())
    fusion.graph.node_features.embedding.load_state_dict(pretrained.node_features.embedding.state_dict())
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from kgreason.encoders.graph import GraphEncoder, NodeFeatures, build_graph_encoder

__all__ = [
    "DECODERS",
    "DistMult",
    "LinkPredictionDecoder",
    "LinkPredictionModel",
    "RotatE",
    "filtered_ranks",
    "ranking_metrics",
    "train_link_prediction",
]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class LinkPredictionDecoder(nn.Module):
    """Scores (head, relation, tail) from entity states; `num_relations` here counts the inverse relations too."""

    name: ClassVar[str]

    def __init__(self, num_relations: int, hidden_size: int) -> None:
        super().__init__()
        self.num_relations = num_relations
        self.hidden_size = hidden_size

    def score(self, heads: Tensor, relations: Tensor, tails: Tensor) -> Tensor:
        """heads, tails: [B, hidden] entity states; relations: int64 [B]. Returns [B]."""
        raise NotImplementedError

    def score_all_tails(self, heads: Tensor, relations: Tensor, *, candidates: Tensor) -> Tensor:
        """heads: [B, hidden]; relations: int64 [B]; candidates: [N, hidden] every entity's state. Returns [B, N]."""
        raise NotImplementedError


class DistMult(LinkPredictionDecoder):
    """DistMult (Yang et al., 2015): `<h, w_r, t>`, a diagonal bilinear score. Symmetric in h and t for one
    relation; the learned inverse relations still let (?, r, t) differ from (t, r, ?)."""

    name = "distmult"

    def __init__(self, num_relations: int, hidden_size: int) -> None:
        super().__init__(num_relations, hidden_size)
        self.relation = nn.Parameter(torch.empty(num_relations, hidden_size))
        nn.init.xavier_uniform_(self.relation)

    def score(self, heads, relations, tails):
        return (heads * self.relation[relations] * tails).sum(-1)

    def score_all_tails(self, heads, relations, *, candidates):
        return (heads * self.relation[relations]) @ candidates.T


class RotatE(LinkPredictionDecoder):
    """RotatE (Sun et al., 2019): `-Σ_k |h_k e^{iθ_{r,k}} - t_k|`, states read as hidden/2 complex numbers
    (first half real, second half imaginary). The margin γ of the paper is left out: the 1-N cross-entropy does not
    change when every score moves by the same constant."""

    name = "rotate"
    CANDIDATE_ELEMENTS: ClassVar[int] = 1 << 24  # score_all_tails: [B, chunk, hidden/2] stays below this many

    def __init__(self, num_relations: int, hidden_size: int) -> None:
        if hidden_size % 2:
            raise ValueError(f"RotatE needs an even hidden_size (complex states of hidden/2), got {hidden_size}")
        super().__init__(num_relations, hidden_size)
        self.phase = nn.Parameter(torch.empty(num_relations, hidden_size // 2).uniform_(-math.pi, math.pi))

    def _rotate(self, heads: Tensor, relations: Tensor) -> tuple[Tensor, Tensor]:
        real, imag = heads.chunk(2, dim=-1)
        phase = self.phase[relations]
        cos, sin = phase.cos(), phase.sin()
        return real * cos - imag * sin, real * sin + imag * cos

    def score(self, heads, relations, tails):
        real, imag = self._rotate(heads, relations)
        tail_real, tail_imag = tails.chunk(2, dim=-1)
        return -torch.sqrt((real - tail_real) ** 2 + (imag - tail_imag) ** 2 + 1e-9).sum(-1)

    def score_all_tails(self, heads, relations, *, candidates):
        real, imag = (part.unsqueeze(1) for part in self._rotate(heads, relations))  # [B, 1, hidden/2]
        tail_real, tail_imag = candidates.chunk(2, dim=-1)
        chunk = max(1, self.CANDIDATE_ELEMENTS // max(1, heads.size(0) * tail_real.size(1)))
        scores = []
        for start in range(0, candidates.size(0), chunk):
            distance = torch.sqrt((real - tail_real[start : start + chunk]) ** 2
                                  + (imag - tail_imag[start : start + chunk]) ** 2 + 1e-9)
            scores.append(-distance.sum(-1))
        return torch.cat(scores, dim=1)


DECODERS: dict[str, type[LinkPredictionDecoder]] = {decoder.name: decoder for decoder in (DistMult, RotatE)}


class LinkPredictionModel(nn.Module):
    """Learned entity embeddings (`NodeFeatures`) → optional graph encoder over the training graph → decoder.

    encoder: a `build_graph_encoder` encoder with `hidden_size` and `num_relations` equal to this model's, or
        None for the plain decoder (the embeddings are the entity states)
    decoder: a `DECODERS` name ("distmult", "rotate")
    """

    def __init__(
        self,
        encoder: GraphEncoder | None,
        decoder: str = "distmult",
        *,
        num_entities: int,
        num_relations: int,
        hidden_size: int | None = None,
    ) -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"unknown link-prediction decoder {decoder!r}; choose one of {sorted(DECODERS)}")
        hidden_size = hidden_size or (encoder.hidden_size if encoder is not None else None)
        if hidden_size is None:
            raise ValueError("LinkPredictionModel: pass hidden_size when encoder is None")
        if encoder is not None and (encoder.hidden_size, encoder.num_relations) != (hidden_size, num_relations):
            raise ValueError(f"LinkPredictionModel: the encoder has hidden_size={encoder.hidden_size}, "
                             f"num_relations={encoder.num_relations} but the model has {hidden_size}, {num_relations}; "
                             "build the encoder with the same values")
        self.num_entities = num_entities
        self.num_relations = num_relations
        self.hidden_size = hidden_size
        self.node_features = NodeFeatures(hidden_size, num_nodes=num_entities)
        self.encoder = encoder
        self.decoder = DECODERS[decoder](2 * num_relations, hidden_size)

    @property
    def config(self) -> dict:
        """JSON-safe arguments that rebuild this architecture (see `load`)."""
        return {
            "encoder": None if self.encoder is None else self.encoder.config,
            "decoder": self.decoder.name,
            "num_entities": self.num_entities,
            "num_relations": self.num_relations,
            "hidden_size": self.hidden_size,
        }

    def entity_states(self, graph: Tensor | None) -> Tensor:
        """graph: int64 [E, 3] the triples messages run over (the training triples), ignored without an encoder.
        Returns [num_entities, hidden]."""
        device = self.node_features.embedding.weight.device
        x = self.node_features(torch.arange(self.num_entities, device=device))
        if self.encoder is None:
            return x
        if graph is None:
            raise ValueError("LinkPredictionModel has a graph encoder: pass graph=<int64 [E, 3] training triples>")
        graph = check_triples(graph, num_entities=self.num_entities, num_relations=self.num_relations,
                              where="graph").to(device)
        return self.encoder(x, graph[:, [0, 2]].T.contiguous(), graph[:, 1].contiguous())

    def forward(self, heads: Tensor, relations: Tensor, *, states: Tensor) -> Tensor:
        """heads: int64 [B] entity ids; relations: int64 [B] in [0, 2 * num_relations) (≥ num_relations: the
        inverse of relation - num_relations); states: [num_entities, hidden] from `entity_states`.
        Returns [B, num_entities] scores of every entity as the answer."""
        return self.decoder.score_all_tails(states[heads], relations, candidates=states)

    def save(self, directory: str | os.PathLike) -> None:
        """`directory/config.json` + `directory/model.safetensors`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps(self.config, indent=2) + "\n")
        tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in self.state_dict().items()}
        save_file(tensors, directory / WEIGHTS_FILE, metadata={"format": "pt"})

    @classmethod
    def load(cls, directory: str | os.PathLike, *, device: str | torch.device = "cpu") -> LinkPredictionModel:
        """The model saved by `save` in `directory`."""
        directory = Path(directory)
        config_file = directory / CONFIG_FILE
        if not config_file.exists():
            raise FileNotFoundError(f"{config_file}: no link-prediction model here; write one with "
                                    "LinkPredictionModel.save(directory)")
        config = json.loads(config_file.read_text())
        encoder = None if config["encoder"] is None else build_graph_encoder(**config["encoder"])
        model = cls(encoder, config["decoder"], num_entities=config["num_entities"],
                    num_relations=config["num_relations"], hidden_size=config["hidden_size"])
        model.load_state_dict(load_file(directory / WEIGHTS_FILE, device=str(device)))
        return model.to(device)


def check_triples(triples: Tensor, *, num_entities: int, num_relations: int, where: str) -> Tensor:
    """triples as int64 [T, 3] with ids in range, else a ValueError naming `where`."""
    triples = torch.as_tensor(triples)
    if triples.dim() != 2 or triples.size(1) != 3 or triples.dtype != torch.long:
        raise ValueError(f"{where}: triples must be int64 [T, 3] (head, relation, tail), got {triples.dtype} "
                         f"{list(triples.shape)}")
    if triples.numel():
        entities, relations = triples[:, [0, 2]], triples[:, 1]
        if int(entities.min()) < 0 or int(entities.max()) >= num_entities:
            raise ValueError(f"{where}: entity id {int(entities.max())} or {int(entities.min())} outside "
                             f"[0, {num_entities}); number the entities of every split with one vocabulary")
        if int(relations.min()) < 0 or int(relations.max()) >= num_relations:
            raise ValueError(f"{where}: relation id {int(relations.max())} or {int(relations.min())} outside "
                             f"[0, {num_relations})")
    return triples


def both_directions(triples: Tensor, num_relations: int) -> Tensor:
    """[T, 3] → [2T, 3] queries (head, relation, answer): the triples, then (tail, relation + R, head)."""
    inverse = torch.stack([triples[:, 2], triples[:, 1] + num_relations, triples[:, 0]], dim=1)
    return torch.cat([triples, inverse])


def train_link_prediction(
    model: LinkPredictionModel,
    triples: Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    label_smoothing: float = 0.1,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train on `triples` (int64 [T, 3], also the message-passing graph) with 1-N cross-entropy in both directions
    and AdamW. on_epoch(epoch, mean loss) is called after each epoch. Returns the mean loss of every epoch."""
    triples = check_triples(triples, num_entities=model.num_entities, num_relations=model.num_relations,
                            where="train_link_prediction")
    device = model.node_features.embedding.weight.device
    queries = both_directions(triples, model.num_relations).to(device)
    graph = triples.to(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    losses = []
    for epoch in range(epochs):
        order = torch.randperm(queries.size(0), generator=generator).to(device)
        total = 0.0
        for start in range(0, queries.size(0), batch_size):
            batch = queries[order[start : start + batch_size]]
            scores = model(batch[:, 0], batch[:, 1], states=model.entity_states(graph))
            loss = F.cross_entropy(scores, batch[:, 2], label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.size(0)
        losses.append(total / queries.size(0))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return losses


class _KnownAnswers:
    """Every true answer of every query (head, relation) over the known triples, for the filtered setting."""

    def __init__(self, queries: Tensor, num_relation_ids: int) -> None:
        self.num_relation_ids = num_relation_ids
        keys = queries[:, 0] * num_relation_ids + queries[:, 1]
        self.keys, order = torch.sort(keys)
        self.answers = queries[order, 2]

    def mask(self, batch: Tensor, num_entities: int) -> Tensor:
        """batch: [B, 3] queries → bool [B, num_entities], True at every known answer of each query."""
        keys = batch[:, 0] * self.num_relation_ids + batch[:, 1]
        low = torch.searchsorted(self.keys, keys)
        counts = torch.searchsorted(self.keys, keys, right=True) - low
        rows = torch.repeat_interleave(torch.arange(batch.size(0), device=batch.device), counts)
        offsets = torch.arange(rows.numel(), device=batch.device) - torch.repeat_interleave(counts.cumsum(0) - counts,
                                                                                             counts)
        mask = torch.zeros(batch.size(0), num_entities, dtype=torch.bool, device=batch.device)
        mask[rows, self.answers[torch.repeat_interleave(low, counts) + offsets]] = True
        return mask


@torch.no_grad()
def filtered_ranks(
    model: LinkPredictionModel,
    triples: Tensor,
    *,
    known_triples: Tensor,
    graph: Tensor | None = None,
    batch_size: int = 512,
) -> Tensor:
    """Filtered rank of the true answer of every query: [2T] float, tails of `triples` first, then heads.

    known_triples: int64 [K, 3] all true triples (train + valid + test): the other true answers of a query are
    left out of its ranking (Bordes et al., 2013). graph: the message-passing triples (training triples), needed
    when the model has an encoder. A rank is 1 + (entities scored higher) + (entities scored equal) / 2, so a
    model scoring every entity the same gets the middle rank, not the first.
    """
    where = "filtered_ranks"
    triples = check_triples(triples, num_entities=model.num_entities, num_relations=model.num_relations, where=where)
    known_triples = check_triples(known_triples, num_entities=model.num_entities,
                                  num_relations=model.num_relations, where=f"{where} known_triples")
    was_training = model.training
    model.eval()
    device = model.node_features.embedding.weight.device
    states = model.entity_states(graph)
    known = _KnownAnswers(both_directions(known_triples, model.num_relations).to(device), 2 * model.num_relations)
    queries = both_directions(triples, model.num_relations).to(device)
    ranks = []
    for start in range(0, queries.size(0), batch_size):
        batch = queries[start : start + batch_size]
        scores = model(batch[:, 0], batch[:, 1], states=states).float()
        answers = batch[:, 2].unsqueeze(1)
        target = scores.gather(1, answers)
        mask = known.mask(batch, model.num_entities)
        mask.scatter_(1, answers, True)  # the answer itself never counts against itself
        scores = scores.masked_fill(mask, float("-inf"))
        higher = (scores > target).sum(1)
        equal = (scores == target).sum(1)
        ranks.append(1.0 + higher + equal / 2)
    model.train(was_training)
    return torch.cat(ranks).cpu()


def ranking_metrics(ranks: Tensor, *, hits_at: tuple[int, ...] = (1, 3, 10)) -> dict[str, float]:
    """ranks: [Q] → {"mrr", "mr", "hits@k" for k in hits_at} (means over the queries)."""
    if ranks.numel() == 0:
        raise ValueError("ranking_metrics: no ranks (no test triples?)")
    ranks = ranks.double()
    metrics = {"mrr": float((1 / ranks).mean()), "mr": float(ranks.mean())}
    metrics.update({f"hits@{k}": float((ranks <= k).double().mean()) for k in hits_at})
    return metrics
