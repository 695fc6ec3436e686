"""A trained model as one directory: everything `GraphQA`, `kgreason evaluate` and `kgreason predict` need.

    save_bundle(directory, model=model, tokenizer=tokenizer, relations=relations, labels=labels,
                settings=Settings(task="clutrr"), max_length=128)
    bundle = load_bundle(directory)           # ModelBundle: model, tokenizer, relations, labels, settings, ...

Files (no pickle anywhere):

    bundle.json          format version, kgreason version, task, preprocessing settings, max_length, and the
                         fingerprint of the KG store the model links to (`store_fingerprint`)
    config.json, text_config.json, model.safetensors     `FusionModel.save_pretrained`
    tokenizer.json, tokenizer_config.json, ...           the tokenizer's `save_pretrained`
    relations.json       `RelationVocabulary` (the graph encoder's edge types)
    labels.json          `LabelVocabulary` (classification tasks; absent for multiple choice)

The directory is written under a temporary name and renamed into place, so it is complete or absent. Loading
checks every file first and says which one is missing or unreadable, and what to do.

The settings' KG store and event memory are saved as absolute paths, so the model loads from any directory. The
store's fingerprint (its entity, relation and triple counts and a digest of its manifest's segment checksums: cheap,
no graph is read) is saved with it; loading checks that the store is there and is the same one, and says what
differs. Bundles saved before fingerprints were recorded load without that check.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from importlib.metadata import version
from pathlib import Path
from typing import Any

from kgreason.data.batch import LabelVocabulary, RelationVocabulary
from kgreason.data.preprocess import Settings
from kgreason.kg.errors import TaskInputError
from kgreason.kg.store import Store

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = 1
RELATIONS_FILE = "relations.json"
LABELS_FILE = "labels.json"
MODEL_FILES = ("config.json", "model.safetensors")


class BundleError(TaskInputError):
    """A model directory that cannot be loaded: which file, what is wrong, what to do."""


@dataclass
class ModelBundle:
    """A loaded model directory. model: a `FusionModel` (eval mode, CPU); labels: None for multiple choice."""

    directory: Path
    model: Any
    tokenizer: Any
    relations: RelationVocabulary
    labels: LabelVocabulary | None
    settings: Settings
    max_length: int
    info: dict[str, Any]

    @property
    def task(self) -> str:
        return self.settings.task

    @property
    def preprocess_settings(self) -> dict[str, Any]:
        """The model's preprocessing settings as `preprocess` / `load_examples` take them (the task apart)."""
        return self.settings.options()


def save_bundle(directory: str | Path, *, model: Any, tokenizer: Any, relations: RelationVocabulary,
                labels: LabelVocabulary | None, settings: Settings, max_length: int,
                extra: dict[str, Any] | None = None) -> Path:
    """Write the model directory (replacing one already there) atomically; returns its path. The settings' store
    and event memory are saved as absolute paths (relative ones are read from the current directory), with the
    store's fingerprint."""
    directory = Path(directory)
    settings = settings.with_absolute_paths()
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(str(staging))
        relations.save(staging / RELATIONS_FILE)
        if labels is not None:
            labels.save(staging / LABELS_FILE)
        info = {"format": BUNDLE_FORMAT, "kgreason": version("kgreason"), "task": settings.task,
                "settings": asdict(settings), "max_length": max_length,
                **({"store_fingerprint": store_fingerprint(settings.store)} if settings.store else {}), **(extra or {})}
        (staging / BUNDLE_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def load_bundle(directory: str | Path, *, check_store: bool = True) -> ModelBundle:
    """The model directory `save_bundle` wrote (a `kgreason train` run directory holds it as `model/`).

    check_store: check that the KG store of the settings is there and, where the bundle recorded its fingerprint, is
    the one the model was trained with (`BundleError` otherwise); False for uses that read no question with it (a
    warm start, which brings its own store).
    """
    from transformers import AutoTokenizer

    from kgreason.fusion import FusionModel

    directory = _model_directory(Path(directory))
    info = _read_info(directory)
    settings = _settings(info, directory)
    for name in (*MODEL_FILES, RELATIONS_FILE):
        if not (directory / name).is_file():
            raise BundleError(f"{directory / name}: missing", hint="the model directory is incomplete; copy it again "
                              "or re-run `kgreason train`, which writes it whole")
    if check_store and settings.store:
        _check_store(settings.store, info.get("store_fingerprint"), directory / BUNDLE_FILE)
    if check_store and settings.event_memory and not Path(settings.event_memory).is_file():
        raise BundleError(f"{directory / BUNDLE_FILE}: the model reads the event memory {settings.event_memory}, and "
                          "there is no file there",
                          hint="put the memory back at that path (`kgreason event-memory` with the same training "
                               "file), or set 'settings.event_memory' in bundle.json to where it is now")
    try:
        model = FusionModel.from_pretrained(directory)
    except Exception as err:  # safetensors / config errors: name the file
        raise BundleError(f"{directory}: the model (config.json, model.safetensors) cannot be loaded: {err}",
                          hint="the files are corrupted or from an incompatible kgreason; re-run `kgreason train`") from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except Exception as err:
        raise BundleError(f"{directory}: the tokenizer files cannot be loaded: {err}",
                          hint="the directory needs tokenizer.json and tokenizer_config.json; re-run `kgreason train`") from err
    relations = _vocabulary(RelationVocabulary, directory / RELATIONS_FILE)
    labels = _vocabulary(LabelVocabulary, directory / LABELS_FILE) if (directory / LABELS_FILE).is_file() else None
    model.eval()
    return ModelBundle(directory, model, tokenizer, relations, labels, settings, int(info.get("max_length", 128)), info)


def store_fingerprint(store: str | Path) -> dict[str, Any]:
    """What identifies a KG store, read from its manifest alone: its entity, relation and triple counts and a digest
    of its segments' checksums (`StoreError` where there is no store)."""
    manifest = Store(store).manifest()
    segments = json.dumps([segment["files"] for segment in manifest["segments"]], sort_keys=True)
    return {**{name: manifest["counts"][name] for name in ("entities", "relations", "triples")},
            "digest": hashlib.sha256(segments.encode()).hexdigest()[:16]}


def _check_store(store: str, expected: dict[str, Any] | None, info_file: Path) -> None:
    """`BundleError` where the model's store is missing, or differs from its recorded fingerprint `expected`."""
    relative = not Path(store).is_absolute()  # saved by an older kgreason
    where = f"{store} (a relative path, read from {Path.cwd()})" if relative else store
    if not Store(store).exists:
        raise BundleError(f"{info_file}: the model links questions to the KG store {where}, and there is no "
                          "kgreason store there",
                          hint="put the store back at that path (`kgreason ingest` the same files), or set "
                               "'settings.store' in bundle.json to the store's absolute path"
                               + (", or run from the directory the model was trained in" if relative else ""))
    if expected is None:  # saved before fingerprints were recorded
        return
    found = store_fingerprint(store)
    if found != expected:
        raise BundleError(f"{info_file}: the KG store {where} is not the one the model was trained with: expected "
                          f"{_described(expected)}, found {_described(found)}",
                          hint="set 'settings.store' in bundle.json to the store the model was trained with, or "
                               "train the model again with this store")


def _described(fingerprint: dict[str, Any]) -> str:
    """A store fingerprint in words: "entities 78,093, relations 34, triples 100,000, digest 3f2a..."."""
    return ", ".join(f"{name} {value:,}" if isinstance(value, int) else f"{name} {value}"
                     for name, value in fingerprint.items())


def _model_directory(directory: Path) -> Path:
    """`directory` itself, or its `model/` (a run directory)."""
    if not directory.is_dir():
        raise BundleError(f"{directory}: no such model directory", hint="pass the directory `kgreason train --out` wrote")
    if not (directory / BUNDLE_FILE).is_file() and (directory / "model" / BUNDLE_FILE).is_file():
        return directory / "model"
    return directory


def _read_info(directory: Path) -> dict[str, Any]:
    path = directory / BUNDLE_FILE
    if not path.is_file():
        raise BundleError(f"{path}: missing", hint="this is not a kgreason model directory; pass the directory "
                          "`kgreason train --out` wrote (or its model/)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{path}: not valid JSON ({err})", hint="the file is corrupted; re-run `kgreason train`") from None
    if not isinstance(info, dict) or not isinstance(info.get("format"), int):
        raise BundleError(f"{path}: no 'format' field", hint="this is not a kgreason model directory")
    if info["format"] > BUNDLE_FORMAT:
        raise BundleError(f"{path}: model format {info['format']} was written by kgreason {info.get('kgreason')}; "
                          f"this kgreason ({version('kgreason')}) reads format {BUNDLE_FORMAT}",
                          hint="upgrade kgreason (pip install -U kgreason)")
    return info


def _settings(info: dict[str, Any], directory: Path) -> Settings:
    raw = info.get("settings")
    known = {f.name for f in fields(Settings)}
    if not isinstance(raw, dict) or "task" not in raw or set(raw) - known:
        raise BundleError(f"{directory / BUNDLE_FILE}: field 'settings' is not a preprocessing Settings object",
                          hint="the file is corrupted or from another kgreason version; re-run `kgreason train`")
    return Settings(**raw)


def _vocabulary(kind: type, path: Path):
    try:
        return kind.load(path)
    except (ValueError, TypeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path}: {err}", hint="the file is corrupted; re-run `kgreason train`") from None
