"""`ShardCache`: examples on disk in numbered JSON-lines shards, written atomically, found again after a kill.

Layout of a cache directory (one per input file + settings, see `kgreason.data.preprocess`):

    settings.json            what made the cache: task, settings, the input's path, size and SHA-256
    shard-000000.jsonl       examples (`KGQAExample.to_dict()`, one per line)
    shard-000000.json        the shard's counts; written last, so its presence means the shard is complete
    summary.json             written when every shard is done

Each file is written under a temporary name, fsynced and renamed into place: a shard is either complete or
absent, never half-written, so a run killed at any point resumes with the shards it has not finished.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .example import KGQAExample


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a fsynced temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomically(path, (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


class ShardCache:
    """The shards of one cache directory."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def _jsonl(self, index: int) -> Path:
        return self.directory / f"shard-{index:06d}.jsonl"

    def _counts(self, index: int) -> Path:
        return self.directory / f"shard-{index:06d}.json"

    def done(self) -> set[int]:
        """Indices of the complete shards."""
        return {
            int(path.name[6:12])
            for path in self.directory.glob("shard-*.json")
            if path.name[6:12].isdigit() and self._jsonl(int(path.name[6:12])).exists()
        }

    def write(self, index: int, examples: Iterable[KGQAExample], counts: dict[str, Any]) -> None:
        """Write shard `index` (examples, then its counts: the commit point)."""
        lines = (json.dumps(example.to_dict(), ensure_ascii=False) + "\n" for example in examples)
        write_atomically(self._jsonl(index), "".join(lines).encode("utf-8"))
        write_json(self._counts(index), counts)

    def counts(self, index: int) -> dict[str, Any]:
        return json.loads(self._counts(index).read_text(encoding="utf-8"))

    def examples(self, index: int | None = None) -> Iterator[KGQAExample]:
        """The examples of shard `index`, or of every complete shard in order."""
        for i in sorted(self.done()) if index is None else [index]:
            with open(self._jsonl(i), encoding="utf-8") as f:
                for line in f:
                    yield KGQAExample.from_dict(json.loads(line))
