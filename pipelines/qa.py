"""`GraphQA`: a trained model directory answers new questions, and says why.

    from kgreason.pipelines import GraphQA

    qa = GraphQA.from_pretrained("runs/clutrr-interaction")          # a run directory, or its model/
    answer = qa("[Ann] is [Bob]'s mother. [Bob]'s son is [Carl]. How is [Carl] related to [Ann]?")
    answer.label, answer.scores["grandson"], answer.evidence.top_path.text
    answer.evidence.to_html("why.html")
    for answer in qa.pipe(questions, batch_size=64, errors="return"):   # str or {"question", "context", ...}
        ...                                                               # an Answer, or a QAError
    fast = GraphQA.from_pretrained("runs/clutrr-interaction", precision="int8")  # or "bf16"; default "fp32"

A question becomes the record the model's task reads in training, and goes through the task's own
preprocessing (`kgreason.data.preprocess.tasks()[task].build`, the spaCy pipeline loaded once) and `collate`, so
a question answered here and the same example in a `run_pipeline` evaluation give the same logits.

- clutrr: text = the story, then "How is B related to A?" (or "What/Who is B to A?"), names bracketed or
  not; context = the story, when text is only the question; choices (optional): the labels to choose among;
- proofwriter: text = the theory, then the statement to judge, last (or only the statement); context = the
  theory; choices (optional): among True / False / Unknown;
- ecare, copa: text = the premise, then "What was the cause of this?" or "What happened as a result?";
  context = the premise; choices (required): the alternatives.

The answer to "How is B related to A?" is B's relation to A (the story "[Ann] is [Bob]'s mother. [Bob]'s son is
[Carl]." and "How is [Carl] related to [Ann]?" give "grandson"). A question that cannot be read (no question,
people the story does not name, no theory, no choices) raises `TaskInputError` with a hint, or, in `pipe(...,
errors="return")`, yields a `QAError` in its place.

Precision (`PRECISIONS`): "fp32" (the weights as trained); "bf16": the forward pass under `torch.autocast` in
bfloat16 (CPU and CUDA); "int8": the text encoder's `nn.Linear` layers dynamically quantized to int8 (weights per
output channel once, activations per batch as they come), the graph side and the head kept in fp32; CPU only.
bf16 pays on CUDA and on CPUs with bfloat16 instructions (AVX512-BF16 or AMX). Elsewhere the CPU emulates them,
and MiniLM's matrix products run about 30x slower than in fp32 (measured on an AVX2-only CPU). GraphQA then warns:
use fp32 or int8 on such a CPU.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgreason.data.batch import collate
from kgreason.data.example import KGQAExample
from kgreason.data.preprocess import tasks
from kgreason.kg.errors import KGError, TaskInputError

from .bundle import ModelBundle, load_bundle
from .evidence import Evidence, build_evidence, split_by_graph
from .training import warn_if_bf16_is_emulated

ERRORS = ("raise", "return")
PRECISIONS = ("fp32", "bf16", "int8")


@dataclass
class Answer:
    """The answer to one question.

    label: the class (clutrr, proofwriter) or the chosen choice's text (multiple choice)
    scores: probability of every label or choice (summing to 1), by name; a choice whose text an earlier choice
        has too is keyed "text [choice i]" (i from 1), so that every choice keeps its entry (`score_keys`)
    evidence: what it rests on (`Evidence`; its `choice` is the chosen choice's index)
    id: the input's id (its position in the stream unless given); question: the text the model read
    """

    label: str
    scores: dict[str, float]
    evidence: Evidence
    id: Any = None
    question: str = ""
    task: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: id, task, question, label, scores and the evidence (`Evidence.to_dict`)."""
        return {"id": self.id, "task": self.task, "question": self.question, "label": self.label,
                "scores": self.scores, "evidence": self.evidence.to_dict()}


@dataclass
class QAError:
    """An input `pipe(..., errors="return")` could not answer: the message says what and what to do."""

    message: str
    input: Any
    id: Any = None
    error: Exception | None = field(default=None, repr=False, compare=False)  # what was raised

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "error": self.message, "input": self.input}


@dataclass
class Query:
    """One input, normalised: `text` (question, or story/theory/premise and question), `context`, `choices`."""

    text: str
    context: str | None = None
    choices: list[str] = field(default_factory=list)
    id: Any = None


class GraphQA:
    """Answers questions with a model directory written by `run_pipeline` / `kgreason train` (see the module
    docstring). device: "auto" (CUDA when available; the CPU for int8), "cpu", "cuda", "cuda:1", ...;
    precision: "fp32", "bf16" or "int8" (see the module docstring)."""

    def __init__(self, bundle: ModelBundle, *, device: str | torch.device = "auto", precision: str = "fp32") -> None:
        registry = tasks()
        if bundle.task not in registry or bundle.task not in READERS:
            raise TaskInputError(f"{bundle.directory}: GraphQA cannot answer questions of task {bundle.task!r}",
                                 hint=f"GraphQA knows the tasks {', '.join(sorted(READERS))}")
        if precision not in PRECISIONS:
            raise TaskInputError(f"unknown precision {precision!r}", hint=f"use one of {', '.join(PRECISIONS)}")
        self.bundle = bundle
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() and precision != "int8" else "cpu"
        self.device = torch.device(device)
        if precision == "int8" and self.device.type != "cpu":
            raise TaskInputError(f"precision 'int8' runs on the CPU only, not on {self.device}",
                                 hint="use precision 'bf16' on a GPU, or device 'cpu' (or 'auto') with int8")
        if precision == "bf16":
            warn_if_bf16_is_emulated(self.device, "precision 'bf16'", instead="use precision 'fp32' or 'int8' here")
        self.precision = precision
        self.model = bundle.model.to(self.device).eval()
        if precision == "int8":
            self.model = int8_text_encoder(self.model, where=bundle.directory)
        self._spec = registry[bundle.task]
        if self._spec.needs_store and not bundle.settings.store:  # load_bundle checks a store that is named
            raise TaskInputError(f"{bundle.directory}: the {bundle.task} model names no KG store to link questions to",
                                 hint="set 'settings.store' in bundle.json to the store it was trained with")
        self.resources = self._spec.load(bundle.settings)  # the spaCy pipeline (and KG), loaded once
        self._relation_names = None
        if bundle.relations.kind == "kg":
            from kgreason.kg.terms import local_name

            self._relation_names = [local_name(name) for name in bundle.relations.names]

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | torch.device = "auto",
                        precision: str = "fp32") -> GraphQA:
        """Load a model directory (`load_bundle`: a run directory or its `model/`) and its task's spaCy pipeline;
        precision: "fp32", "bf16" or "int8" (see the module docstring)."""
        return cls(load_bundle(directory), device=device, precision=precision)

    @property
    def task(self) -> str:
        return self.bundle.task

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The class names (None: a multiple-choice model, whose answers are its choices)."""
        return None if self.bundle.labels is None else self.bundle.labels.names

    def __call__(self, text: str, choices: list[str] | None = None, context: str | None = None) -> Answer:
        """Answer one question (see the module docstring); raises `TaskInputError` when it cannot be read."""
        return next(self.pipe([{"question": text, "choices": choices, "context": context, "id": 0}], batch_size=1))

    def pipe(self, inputs: Iterable[str | dict[str, Any]], *, batch_size: int = 32, errors: str = "raise",
             sort_window: int = 8) -> Iterator[Answer | QAError]:
        """Stream one `Answer` per input, in order, `batch_size` at a time through the model.

        inputs: strings, or dicts with "question" (or "text") and optional "context", "choices", "id" (other
            keys are ignored); errors: "raise" (`TaskInputError`, after the answers of the inputs before the bad
            one) or "return" (a `QAError` in the input's place).
        sort_window: inputs are read `batch_size * sort_window` at a time (a window, preprocessed in one pass),
            sorted by length (characters of the text and its longest choice) and cut into batches, so that a
            batch's rows pad to similar lengths; the window's answers are then yielded in input order. 1: each
            batch is `batch_size` consecutive inputs.
        """
        if errors not in ERRORS:
            raise ValueError(f"errors must be one of {ERRORS}, not {errors!r}")
        if batch_size < 1 or sort_window < 1:
            raise ValueError(f"batch_size and sort_window must be at least 1, not {batch_size} and {sort_window}")
        stream = enumerate(inputs)
        while window := list(islice(stream, batch_size * sort_window)):
            prepared = self.prepare([item for _, item in window], ids=[index for index, _ in window], errors="return")
            failed = next((i for i, p in enumerate(prepared) if isinstance(p, QAError)), None)
            if errors == "raise" and failed is not None:  # answer the inputs before it, then raise
                prepared, error = prepared[:failed], prepared[failed].error
            examples = [p for p in prepared if isinstance(p, KGQAExample)]
            by_length = sorted(range(len(examples)), key=lambda i: -_approximate_length(examples[i]))
            answers: list[Answer | None] = [None] * len(examples)
            for start in range(0, len(by_length), batch_size):
                members = by_length[start:start + batch_size]
                for i, answer in zip(members, self.predict([examples[i] for i in members])):
                    answers[i] = answer
            answered = iter(answers)
            yield from (p if isinstance(p, QAError) else next(answered) for p in prepared)
            if errors == "raise" and failed is not None:
                raise error

    def prepare(self, inputs: list[str | dict[str, Any]], *, ids: list[Any] | None = None,
                errors: str = "raise") -> list[KGQAExample | QAError]:
        """The model's examples of `inputs` (preprocessing only: one `nlp.pipe` pass for them all); with
        errors="return" a `QAError` stands for each input that cannot be read. ids: default positions."""
        ids = list(range(len(inputs))) if ids is None else ids
        out: list[KGQAExample | QAError | None] = [None] * len(inputs)
        records: dict[int, tuple[Query, Any]] = {}
        for i, (item, default_id) in enumerate(zip(inputs, ids)):
            try:
                query = _query(item, default_id)
                records[i] = (query, READERS[self.task](query, self.task))
            except (KGError, ValueError) as err:
                out[i] = _failed(err, item, default_id, errors)
        for i, example in self._build(records, inputs, errors).items():
            query = records[i][0]
            try:
                out[i] = _checked(example, query, self.labels)
            except (KGError, ValueError) as err:
                out[i] = _failed(err, inputs[i], query.id, errors)
        return out  # type: ignore[return-value]

    def _build(self, records: dict[int, tuple[Query, Any]], inputs: list,
               errors: str) -> dict[int, KGQAExample | QAError]:
        """The task's own `build` over all records at once; if it fails, record by record to find the bad one."""
        settings = self.bundle.settings
        order = list(records)
        if not order:
            return {}
        try:
            return dict(zip(order, self._spec.build([records[i][1] for i in order], self.resources, settings)))
        except (KGError, ValueError):
            pass
        built: dict[int, KGQAExample | QAError] = {}
        for i in order:
            try:
                built[i] = self._spec.build([records[i][1]], self.resources, settings)[0]
            except (KGError, ValueError) as err:
                built[i] = _failed(err, inputs[i], records[i][0].id, errors)
        return built

    @torch.inference_mode()
    def predict(self, examples: list[KGQAExample]) -> list[Answer]:
        """Answers of examples made by `prepare` (one forward pass; multiple-choice examples grouped by their
        number of choices)."""
        groups: dict[int, list[int]] = {}
        for i, example in enumerate(examples):
            groups.setdefault(len(example.choices) if self.labels is None else 0, []).append(i)
        answers: list[Answer | None] = [None] * len(examples)
        for members in groups.values():
            for i, answer in zip(members, self._forward([examples[i] for i in members])):
                answers[i] = answer
        return answers  # type: ignore[return-value]

    def _forward(self, examples: list[KGQAExample]) -> list[Answer]:
        bundle = self.bundle
        batch = collate(examples, tokenizer=bundle.tokenizer, relations=bundle.relations, labels=bundle.labels,
                        max_length=bundle.max_length)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            output = self.model(batch.to(self.device))
        probabilities = output.logits.float().softmax(-1).cpu().numpy()
        copies = batch.num_choices or 1
        edges = nodes = None
        if output.edge_importance is not None:
            edges = split_by_graph(batch, output.edge_importance)
        if output.node_importance is not None:
            nodes = split_by_graph(batch, output.node_importance, per="node")
        answers = []
        for b, (example, row) in enumerate(zip(examples, probabilities)):
            names = list(example.choices) if self.labels is None else list(self.labels)
            positions = (batch.offered[b].nonzero().flatten().tolist() if batch.offered is not None
                         else list(range(len(names))))
            kept = row[positions].astype(np.float64)
            kept = kept / kept.sum()
            chosen = positions[int(kept.argmax())]  # the row (label, or choice) answered
            graph = b * copies + (chosen if copies > 1 else 0)
            scores = dict(zip(score_keys([names[i] for i in positions]), (round(float(p), 6) for p in kept)))
            evidence = build_evidence(
                example, edge_importance=None if edges is None else edges[graph],
                node_importance=None if nodes is None else nodes[graph], node_names=self._node_names(example),
                relation_names=self._relation_names, choice=chosen if copies > 1 else None,
                choice_edge_importance=None if edges is None or copies == 1 else edges[b * copies:(b + 1) * copies],
                answer=names[chosen], scores=scores,
            )
            answers.append(Answer(names[chosen], scores, evidence, id=example.meta.get("id"),
                                  question=example.meta.get("question", example.text), task=self.task))
        return answers

    def _node_names(self, example: KGQAExample) -> list[str] | None:
        """Background-KG nodes by their labels (text graphs name their own)."""
        if example.meta.get("graph") == "text":
            return None
        kg = self.resources[1]
        return [kg.label(int(n)) for n in example.node_ids.tolist()]


def score_keys(names: list[str]) -> list[str]:
    """`Answer.scores`' keys: the names, a repeated one marked with its place so that each choice keeps its entry,
    e.g. ["It rained.", "It rained."] -> ["It rained.", "It rained. [choice 2]"]."""
    seen: set[str] = set()
    keys = []
    for place, name in enumerate(names, start=1):
        keys.append(f"{name} [choice {place}]" if name in seen else name)
        seen.add(name)
    return keys


def int8_text_encoder(model: torch.nn.Module, *, where: Any = "the model") -> torch.nn.Module:
    """A copy of a `FusionModel` whose text encoder's `nn.Linear` layers are dynamically quantized to int8
    (`int8_linears`); LoRA adapters are merged first. CPU only."""
    if getattr(model, "text_encoder", None) is None:
        raise TaskInputError(f"{where}: the model reads no text, so int8 has no text encoder to quantize",
                             hint="use precision 'fp32' or 'bf16'")
    model = copy.deepcopy(model)
    encoder = model.text_encoder
    if hasattr(encoder.model, "merge_and_unload"):  # a peft model: fold the adapters into the weights
        encoder.model = encoder.model.merge_and_unload()
    int8_linears(encoder)
    return model


def int8_linears(module: torch.nn.Module) -> torch.nn.Module:
    """`module`, its `nn.Linear` submodules replaced in place by dynamically quantized int8 ones (per-output-channel
    weights; activations quantized per batch at run time); a bare `nn.Linear` is not replaced (wrap it in
    `nn.Sequential`). torch.ao's `quantize_dynamic` is deprecated in favour of torchao's `quantize_`, which is not
    a dependency: its deprecation warnings are silenced here, and only here."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"torch\.ao\.quantization is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", r"torch\.quantize_per_tensor, torch\.quantize_per_channel", UserWarning)
        quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
    return module


# --- inputs --------------------------------------------------------------------------------------------------


def _query(item: str | dict[str, Any], default_id: Any) -> Query:
    """One input as a `Query` (TaskInputError for a wrong shape)."""
    if isinstance(item, str):
        return Query(item, id=default_id)
    if not isinstance(item, dict):
        raise TaskInputError(f"an input is a {type(item).__name__}, not a question",
                             hint='pass strings, or dicts like {"question": "...", "context": "...", "choices": [...]}')
    text = item.get("question", item.get("text"))
    if not isinstance(text, str):
        raise TaskInputError("the input has no 'question' (or 'text') string", hint='give it as {"question": "..."}')
    context = item.get("context")
    if context is not None and not isinstance(context, str):
        raise TaskInputError("'context' is not a string", hint="pass the story, theory or premise as one string")
    choices = item.get("choices") or []
    if not isinstance(choices, (list, tuple)) or not all(isinstance(c, str) for c in choices):
        raise TaskInputError("'choices' is not a list of strings",
                             hint='pass e.g. "choices": ["It rained.", "It was sunny."]')
    return Query(text, context, list(choices), item.get("id", default_id))


def _failed(err: Exception, item: Any, id: Any, errors: str) -> QAError:
    if errors == "raise":
        raise err
    return QAError(str(err), item, id, error=err)


def _approximate_length(example: KGQAExample) -> int:
    """How long the example's longest row is, in characters (the order of its tokens' count)."""
    return len(example.text) + max((len(choice) for choice in example.choices), default=0)


def _joined(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


_NAME = r"\[?\s*(?P<{}>[^\[\]?.!,;:]+?)\s*\]?"
_CLUTRR_QUESTIONS = tuple(
    re.compile(pattern.format(b=_NAME.format("b"), a=_NAME.format("a")), re.IGNORECASE) for pattern in (
        r"(?:^|(?<=\s))how\s+is\s+{b}\s+related\s+to\s+{a}\s*\??\s*$",
        r"(?:^|(?<=\s))(?:what|who)\s+is\s+{b}\s+(?:to|for|of)\s+{a}\s*\??\s*$",
    )
)  # fmt: skip


@dataclass
class ClutrrQuestion:
    """The fields of a `ClutrrRecord` the clutrr task's `build` reads (a question has no gold)."""

    id: str
    story: str
    query: tuple[str, str]
    target: str = ""
    task_name: str = ""
    k: int | None = None
    noise: str | None = None


def clutrr_question(query: Query, task: str = "clutrr") -> ClutrrQuestion:
    """The story and the query (A, B) of "story ... How is B related to A?" (see the module docstring)."""
    text = query.text.strip()
    for pattern in _CLUTRR_QUESTIONS:
        match = pattern.search(text)
        if match:
            break
    else:
        raise TaskInputError(f"no question found in {text[-80:]!r}",
                             hint='end the text with a question like "How is [Carl] related to [Ann]?" '
                                  '(the story before it, or passed as context=)')
    story = _joined(query.context, text[: match.start()])
    if not story:
        raise TaskInputError("the question comes without a story",
                             hint="write the story before the question, or pass it as context=")
    return ClutrrQuestion(id=str(query.id), story=story, query=(match["a"].strip(), match["b"].strip()))


_LAST_SENTENCE = re.compile(r"(?:^|(?<=[.!?])\s+)(?P<last>[^.!?]+[.!?]?)\s*$")


def proofwriter_question(query: Query, task: str = "proofwriter"):
    """A `ProofWriterRecord` of "theory ... statement" (statement last), or of context=theory, text=statement."""
    from kgreason.data.proofwriter import ANSWERS, QUESTION_PREFIX, ProofWriterRecord

    text = query.text.strip()
    if query.context is not None:
        theory, statement = query.context.strip(), text.removeprefix(QUESTION_PREFIX.strip()).strip()
    elif QUESTION_PREFIX.strip() in text:
        theory, _, statement = (part.strip() for part in text.rpartition(QUESTION_PREFIX.strip()))
    else:
        match = _LAST_SENTENCE.search(text)
        statement = match["last"].strip() if match else text
        theory = text[: len(text) - len(statement)].strip() if match else ""
    if not statement:
        raise TaskInputError("no statement to judge", hint="end the text with the statement, e.g. 'The cat is round.'")
    if not theory:
        raise TaskInputError(f"no theory to judge {statement!r} against",
                             hint="write the facts and rules before the statement, or pass them as context=")
    return ProofWriterRecord(id=str(query.id), context=theory, statement=statement, label=-1, choices=ANSWERS)


_ASK_FOR = (("cause", re.compile(r"\b(?:cause|why|because)\b", re.I)),
            ("effect", re.compile(r"\b(?:effect|result|happened|then|consequence)\b", re.I)))


def causal_question(query: Query, task: str):
    """A `CausalRecord` of "premise. What was the cause of this?" (or "... What happened as a result?") and choices."""
    from kgreason.data.causal import CausalRecord

    if len(query.choices) < 2:
        raise TaskInputError(f"a {task} question needs at least two choices, got {len(query.choices)}",
                             hint='pass choices=["...", "..."] (--choice twice on the command line)')
    text = query.text.strip()
    question = _LAST_SENTENCE.search(text) if text.endswith("?") else None
    asked = question["last"] if question else ""
    ask_for = next((kind for kind, words in _ASK_FOR if words.search(asked)), None)
    if ask_for is None:
        raise TaskInputError(f"cannot tell whether {text[-80:]!r} asks for a cause or an effect",
                             hint='end it with "What was the cause of this?" or "What happened as a result?"')
    premise = _joined(query.context, text[: len(text) - len(asked)])
    if not premise:
        raise TaskInputError("the question has no premise",
                             hint="write the premise before the question, or pass it as context=")
    source = "question.jsonl" if task == "ecare" else "question.xml"  # the task's build names the task by it
    return CausalRecord(id=str(query.id), premise=premise, ask_for=ask_for, choices=tuple(query.choices), label=-1,
                        source=source, line=0)


READERS = {"clutrr": clutrr_question, "proofwriter": proofwriter_question, "ecare": causal_question,
           "copa": causal_question}  # task -> (Query, task) -> the record its `build` reads


def _checked(example: KGQAExample, query: Query, labels: tuple[str, ...] | None) -> KGQAExample:
    """The example, checked to be answerable, with the question's id and text in its meta and, where the question
    names choices, those labels as its `choices` (the model answers among them, `KGQABatch.offered`)."""
    meta = example.meta
    meta["id"], meta["question"] = query.id, _joined(query.context, query.text)
    if meta.get("task") == "clutrr":
        _resolve_people(example)
    if labels is not None and query.choices:
        unknown = [c for c in query.choices if c not in labels]
        if unknown:
            raise TaskInputError(f"choices {unknown} are not labels of this {meta.get('task')} model",
                                 hint=f"choose among {', '.join(labels)}")
        example.choices = list(dict.fromkeys(query.choices))  # the classes it is answered among
    return example


def _resolve_people(example: KGQAExample) -> None:
    """Both query people are story nodes (matched exactly, else ignoring case), or a TaskInputError."""
    meta = example.meta
    people = meta.get("nodes", [])
    if not people:
        raise TaskInputError("the story names nobody", hint="put the people's names in [brackets]: "
                             "\"[Ann] is [Bob]'s mother.\"")
    lowered = {}
    for i, name in enumerate(people):
        lowered.setdefault(name.lower(), i)
    for slot, (name, index) in enumerate(zip(meta["query"], meta["query_node_index"])):
        if index < 0:
            index = lowered.get(name.lower(), -1)
            if index < 0:
                raise TaskInputError(f"the question asks about {name!r}, whom the story does not name "
                                     f"(it names {', '.join(people)})",
                                     hint="ask about two people of the story, spelled as the story spells them")
            meta["query"][slot], meta["query_node_index"][slot] = people[index], index
    meta["flags"] = [flag for flag in meta.get("flags", []) if flag != "query_not_in_story"]
    if meta["query_node_index"][0] == meta["query_node_index"][1]:
        raise TaskInputError(f"the question asks how {meta['query'][0]} is related to themself",
                             hint="ask about two different people")
