"""`Source`: one input file opened for streaming: gzip detected by magic bytes, progress counted in file bytes."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

from ..errors import ParseError

_GZIP_MAGIC = b"\x1f\x8b"


def is_remote(location: str | os.PathLike) -> bool:
    return str(location).split("://", 1)[0].lower() in {"http", "https", "ftp"} and "://" in str(location)


def line_breaks(data: bytes) -> int:
    """Line breaks in `data`, as the parsers count them: '\\n', '\\r\\n' and a lone '\\r'."""
    if b"\r" not in data:
        return data.count(b"\n")
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


class _CountingReader(io.RawIOBase):
    """Wraps a binary file and counts the bytes handed out (of the file on disk, before decompression)."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


class Source:
    """An input file: `path` for messages, `size` in bytes on disk, `position` bytes consumed so far."""

    def __init__(self, location: str | os.PathLike) -> None:
        self.location = str(location)
        self.path = Path(location)
        if not self.path.is_file():
            raise ParseError("no such file", path=self.location, hint="check the path; directories are not read recursively")
        self.size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            self.gzipped = f.read(2) == _GZIP_MAGIC
        self._counter: _CountingReader | None = None

    @property
    def name_without_gz(self) -> str:
        name = self.path.name
        return name[:-3] if name.lower().endswith(".gz") else name

    @property
    def position(self) -> int:
        return self._counter.count if self._counter else 0

    def open_binary(self) -> io.BufferedIOBase:
        """The decompressed byte stream of the file (a new one each call)."""
        self._counter = _CountingReader(open(self.path, "rb"))  # noqa: SIM115 - closed by the returned stream
        buffered = io.BufferedReader(self._counter, buffer_size=1 << 20)
        return gzip.GzipFile(fileobj=buffered, mode="rb") if self.gzipped else buffered

    def undecodable_position(self, encoding: str = "utf-8") -> tuple[int, int] | None:
        """(line, column) of the first bytes that are not valid `encoding`, both 1-based; None if all are.

        Decoders read ahead of the parser, so their errors do not know the line; this rescans the file.
        """
        with self.open_binary() as stream:
            for line_no, raw in enumerate(stream, 1):
                try:
                    raw.decode(encoding)
                except UnicodeDecodeError as err:
                    return line_no, len(raw[: err.start].decode(encoding, errors="replace")) + 1
        return None

    @property
    def base_iri(self) -> str:
        """Default base for relative IRIs: the file's own `file://` URI, as RDF prescribes."""
        return self.path.resolve().as_uri()
