"""`ingest()`: read files into a store as one transaction, with progress and a summary.

All files of one call are read, de-duplicated against the store and committed together: if any file is
malformed nothing is committed and the store stays exactly as it was.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .builder import GraphBuilder
from .progress import progress_bar
from .readers import read_into, resolve_format
from .readers.source import is_remote
from .store import Store


@dataclass
class IngestSummary:
    """What one ingest did. Counts of statements include literal-valued ones (attributes)."""

    store: str
    files: int
    read: int  # statements read from the files
    new: int  # statements added to the store
    duplicates: int  # statements already in the store or repeated in the input
    new_entities: int
    entities: int  # in the store after the ingest
    relations: int
    triples: int
    attributes: int
    seconds: float
    per_file: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def statements_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0


def _total_bytes(paths: Sequence[str | os.PathLike]) -> int:
    return sum(Path(p).stat().st_size for p in paths if not is_remote(p) and Path(p).is_file())


def ingest(
    paths: Sequence[str | os.PathLike],
    store: str | os.PathLike,
    *,
    format: str | None = None,
    engine: str = "auto",
    allow_remote: bool = False,
    base_iri: str | None = None,
    encoding: str = "utf-8",
    progress: bool = False,
    workers: int = 1,
) -> IngestSummary:
    """Append the statements of `paths` to the store at `store` (created when missing).

    Existing ids stay as they are; new entities and relations get the next ids; duplicates are dropped.
    `progress=True` shows a progress bar (bytes of the input files) on stderr. `workers` > 1: processes that parse
    a big uncompressed N-Triples/N-Quads/TSV file together, with the same result as one (call it from a
    script's `if __name__ == "__main__":` block, as for any use of `multiprocessing`; the CLI uses every CPU).
    """
    started = time.perf_counter()
    for path in paths:  # fail fast on a bad format name or extension, before any work
        resolve_format(path, format)
    target = Store(store)
    with target.writer():
        manifest = target.manifest() if target.exists else None
        base = target.load() if manifest else None
        builder = GraphBuilder(base)
        scope = manifest["bnode_scopes"] if manifest else 0
        per_file = []
        with progress_bar(progress, description="ingest", total=_total_bytes(paths), unit="bytes") as advance:
            done = 0
            for i, path in enumerate(paths):
                stats = read_into(
                    builder,
                    path,
                    format=format,
                    engine=engine,
                    allow_remote=allow_remote,
                    bnode_prefix=f"s{scope + i}_",
                    base_iri=base_iri,
                    encoding=encoding,
                    workers=workers,
                    on_progress=lambda n, done=done: advance(done + n),
                )
                done += stats.bytes
                per_file.append({"source": str(path), "format": stats.format, "engine": stats.engine, "statements": stats.statements})
        delta = builder.delta()
        manifest = target.append(delta, sources=per_file, bnode_scopes_used=len(paths))
    counts = manifest["counts"]
    return IngestSummary(
        store=str(store),
        files=len(paths),
        read=delta.read,
        new=len(delta.triples) + len(delta.attributes),
        duplicates=delta.duplicates,
        new_entities=len(delta.entity_keys),
        entities=counts["entities"],
        relations=counts["relations"],
        triples=counts["triples"],
        attributes=counts["attributes"],
        seconds=time.perf_counter() - started,
        per_file=per_file,
    )
