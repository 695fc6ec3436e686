"""`Store`: a knowledge graph on disk, appended to in place, never seen half-written.

Layout of a store directory:

    CURRENT                   name of the current manifest (the one commit point: replaced atomically)
    manifest-000003.json      format version, segment list, counts, bnode scope counter, ingestion log
    seg-000001/ ...           one segment per commit: the keys it added (entities/relations/literals.json,
                              in id order) and its rows (triples.npy int64[n,3], weights.npy float32[n],
                              attributes.npy int64[m,3]); never changed once written
    LOCK                      held (flock) by the one writer; readers do not lock

A commit writes a new segment and a new manifest under temporary names, fsyncs them, renames them into place
and then replaces CURRENT. A process killed at any point leaves CURRENT naming either the old or the new
manifest; leftovers of an unfinished commit are removed by the next writer. Segments are checked against the
sizes and SHA-256 digests in the manifest when loaded, and arrays are read with `allow_pickle=False`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import numpy as np

from .builder import GraphDelta
from .errors import StoreError
from .graph import KnowledgeGraph
from .vocab import Vocabulary

FORMAT_NAME = "kgreason-store"
FORMAT_VERSION = 1
_ARRAYS = {"triples": (np.int64, 3), "weights": (np.float32, 0), "attributes": (np.int64, 3)}
_VOCABS = ("entities", "relations", "literals")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _write_segment(directory: Path, delta: GraphDelta) -> dict[str, dict]:
    """Write a segment's files into `directory` (fsynced); return {file name: {bytes, sha256}}."""
    files = {}
    for name in _VOCABS:
        keys = {"entities": delta.entity_keys, "relations": delta.relation_keys, "literals": delta.literal_keys}[name]
        _write_file(directory / f"{name}.json", json.dumps(keys, ensure_ascii=False).encode("utf-8"))
    for name in _ARRAYS:
        array = getattr(delta, name)
        with open(directory / f"{name}.npy", "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
    for path in sorted(directory.iterdir()):
        files[path.name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    _fsync_dir(directory)
    return files


class Store:
    """A store directory (see the module docstring). `Store(dir).load()` reads; `append()` commits."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    # --- reading -------------------------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return (self.directory / "CURRENT").is_file()

    def manifest(self) -> dict:
        """The current manifest (format version checked)."""
        if not self.exists:
            hint = "create it with `kgreason ingest FILE --store DIR` or KnowledgeGraph.save(DIR)"
            if self.directory.is_dir() and any(self.directory.iterdir()):
                raise StoreError(f"{self.directory} is not a kgreason store (no CURRENT file)", hint=hint)
            raise StoreError(f"no store at {self.directory}", hint=hint)
        for _attempt in range(3):  # a writer may remove an old manifest between the two reads
            name = (self.directory / "CURRENT").read_text().strip()
            try:
                manifest = json.loads((self.directory / name).read_text())
                break
            except FileNotFoundError:
                time.sleep(0.05)
        else:
            raise StoreError(f"{self.directory}/CURRENT names {name}, which is missing", hint="the store is damaged; re-ingest it")
        if manifest.get("format") != FORMAT_NAME or manifest.get("format_version") != FORMAT_VERSION:
            raise StoreError(
                f"{self.directory / name} is store format {manifest.get('format')!r} version "
                f"{manifest.get('format_version')!r}; this kgreason reads version {FORMAT_VERSION}",
                hint="re-ingest the source files with this version, or use the kgreason version named in the manifest "
                f"({manifest.get('kgreason_version', 'unknown')})",
            )
        return manifest

    def load(self) -> KnowledgeGraph:
        """The stored graph, with every segment's files checked against the manifest."""
        manifest = self.manifest()
        keys: dict[str, list[str]] = {name: [] for name in _VOCABS}
        arrays: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAYS}
        for segment in manifest["segments"]:
            seg_dir = self.directory / segment["name"]
            for file_name, expected in segment["files"].items():
                path = seg_dir / file_name
                if not path.is_file() or path.stat().st_size != expected["bytes"] or file_sha256(path) != expected["sha256"]:
                    raise StoreError(
                        f"{path} is missing or does not match its checksum in the manifest",
                        hint="the store is damaged (disk error or a file edited by hand); re-ingest the sources listed in the manifest",
                    )
            for name in _VOCABS:
                keys[name].extend(json.loads((seg_dir / f"{name}.json").read_text(encoding="utf-8")))
            for name in _ARRAYS:
                arrays[name].append(np.load(seg_dir / f"{name}.npy", allow_pickle=False))
        def cat(name: str) -> np.ndarray:
            dtype, width = _ARRAYS[name]
            empty = np.zeros((0, width) if width else 0, dtype)
            return np.concatenate(arrays[name]) if arrays[name] else empty

        return KnowledgeGraph(
            Vocabulary(keys["entities"]),
            Vocabulary(keys["relations"]),
            Vocabulary(keys["literals"]),
            cat("triples"),
            cat("weights"),
            cat("attributes"),
        )

    # --- writing -------------------------------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[Store]:
        """Hold the store's write lock (one writer at a time); creates the directory when missing."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "LOCK", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(
                    f"{self.directory} is being written by another process", hint="wait for the other ingest to finish"
                ) from None
            try:
                self._remove_leftovers()
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, delta: GraphDelta, *, sources: list[dict] | None = None, bnode_scopes_used: int = 0) -> dict:
        """Commit `delta` on top of the current content (call inside `writer()`). Returns the new manifest."""
        return self._commit(delta, sources or [], bnode_scopes_used, keep_current=True)

    def replace(self, graph: KnowledgeGraph) -> dict:
        """Make `graph` the whole content of the store in one commit (call inside `writer()`)."""
        return self._commit(_delta_of(graph), [{"source": "KnowledgeGraph.save"}], 0, keep_current=False)

    def _commit(self, delta: GraphDelta, sources: list[dict], bnode_scopes_used: int, *, keep_current: bool) -> dict:
        old = self.manifest() if self.exists else None
        base = old if keep_current else None
        segments = list(base["segments"]) if base else []
        number = (old["sequence"] if old else 0) + 1
        if not delta.is_empty:
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-seg-", dir=self.directory))
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; a store is shared like any data directory
            files = _write_segment(tmp, delta)
            name = f"seg-{number:06d}"
            os.rename(tmp, self.directory / name)
            segments.append({"name": name, "files": files})
        added = {
            "entities": len(delta.entity_keys),
            "relations": len(delta.relation_keys),
            "literals": len(delta.literal_keys),
            "triples": len(delta.triples),
            "attributes": len(delta.attributes),
        }
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "kgreason_version": version("kgreason"),
            "sequence": number,
            "segments": segments,
            "counts": {k: (base["counts"][k] if base else 0) + n for k, n in added.items()},
            "bnode_scopes": (old["bnode_scopes"] if old else 0) + bnode_scopes_used,
            "sources": (base["sources"] if base else []) + sources,
        }
        self._commit_manifest(manifest)
        return manifest

    @classmethod
    def create(cls, directory: str | os.PathLike, graph: KnowledgeGraph) -> Store:
        """Write `graph` as the store at `directory`; an existing store there is replaced atomically."""
        store = cls(directory)
        if store.directory.exists() and not store.exists and any(store.directory.iterdir()):
            raise StoreError(
                f"{store.directory} exists and is not a kgreason store; refusing to write into it",
                hint="choose an empty or new directory",
            )
        with store.writer():
            store.replace(graph)
        return store

    def _commit_manifest(self, manifest: dict) -> None:
        name = f"manifest-{manifest['sequence']:06d}.json"
        tmp_manifest = self.directory / f".tmp-{name}"
        _write_file(tmp_manifest, json.dumps(manifest, indent=1).encode())
        os.replace(tmp_manifest, self.directory / name)
        tmp_current = self.directory / ".tmp-CURRENT"
        _write_file(tmp_current, (name + "\n").encode())
        os.replace(tmp_current, self.directory / "CURRENT")  # the commit point
        _fsync_dir(self.directory)
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Delete temporary files, old manifests and segments no longer named by the current manifest."""
        if not self.exists:
            keep = {"LOCK"}
        else:
            current = (self.directory / "CURRENT").read_text().strip()
            keep = {"LOCK", "CURRENT", current} | {s["name"] for s in json.loads((self.directory / current).read_text())["segments"]}
        for path in self.directory.iterdir():
            if path.name in keep or not (path.name.startswith((".tmp-", "manifest-", "seg-"))):
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _delta_of(graph: KnowledgeGraph) -> GraphDelta:
    return GraphDelta(
        entity_keys=list(graph.entities.keys),
        relation_keys=list(graph.relations.keys),
        literal_keys=list(graph.literals.keys),
        triples=graph.triples,
        weights=graph.weights,
        attributes=graph.attributes,
        read=graph.num_triples + len(graph.attributes),
    )
