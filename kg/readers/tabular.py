"""Readers for triple tables: TSV (FB15k-237 / WN18RR layout), CSV, and ConceptNet-100K.

Layouts (one statement per row, no header unless it names the columns):
- `tsv`: `head \\t relation \\t tail [\\t weight]`
- `csv`: `head,relation,tail[,weight]` with RFC 4180 quoting; a first row `head,relation,tail` is a header
- `conceptnet`: `relation \\t head \\t tail \\t weight` (weight = confidence)

Cells are keys (`kgreason.kg.terms.cell_key`): `<iri>`, `_:label`, `"literal"` are read as RDF terms,
anything else is a plain name. Empty lines and lines starting with `#` are skipped. Any bad row stops the
read with its file and line: a half-read table would be a wrong graph.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from itertools import chain, islice
from operator import itemgetter

import numpy as np

from ..builder import EncodedChunk
from ..errors import ParseError, TermError
from ..terms import BlankNodeScope, cell_key
from .source import Source

# (head, relation, tail) column positions per layout.
LAYOUTS = {"tsv": (0, 1, 2), "csv": (0, 1, 2), "conceptnet": (1, 0, 2)}
HEADER = {"head", "relation", "tail", "weight", "subject", "predicate", "object"}
Row = tuple[int, list[str]]  # (line number, cells)


def _rows(source: Source, layout: str, encoding: str, first_line: int = 1) -> Iterator[Row]:
    """(line number, cells) of the non-empty, non-comment rows."""
    text = io.TextIOWrapper(source.open_binary(), encoding=encoding, errors="strict", newline="")
    line_no = first_line - 1
    try:
        if layout == "csv":
            csv.field_size_limit(sys.maxsize)
            reader = csv.reader(text)
            for cells in reader:
                line_no = first_line - 1 + reader.line_num
                if cells and not (len(cells) == 1 and not cells[0].strip()) and not cells[0].startswith("#"):
                    yield line_no, cells
        else:
            for line_no, line in enumerate(text, first_line):
                if not (line.isspace() or line.startswith("#")):
                    yield line_no, line.rstrip("\r\n").split("\t")
    except UnicodeDecodeError as err:
        line, column = source.undecodable_position(encoding) or (None, None)
        raise ParseError(
            f"bytes are not valid {encoding} ({err.reason})",
            path=source.location,
            line=None if line is None else line + first_line - 1,
            column=column,
            hint="convert the file to UTF-8 (iconv -f latin1 -t utf-8), or pass the file's encoding (encoding='latin-1')",
        ) from None
    except csv.Error as err:
        raise ParseError(f"malformed CSV: {err}", path=source.location, line=line_no + 1) from None
    finally:
        text.close()


def read_table(
    source: Source,
    *,
    layout: str,
    bnodes: BlankNodeScope,
    chunk_size: int = 100_000,
    encoding: str = "utf-8",
    first_line: int = 1,
    width: int | None = None,
) -> Iterator[EncodedChunk]:
    """Yield the statements of a triple table as chunks of at most `chunk_size` rows.

    `first_line` is the line number of the source's first line (not 1 when it starts inside a file). Every row
    must have `width` cells (3, or 4 with a weight; None: as many as the first row).

    Cells are interned as they come and turned into keys once per chunk. When anything in a chunk is wrong,
    its rows are read again one by one (`_check_row`) to report the first error, as a row-by-row read would.
    """
    rows = _data_rows(source, layout, encoding, first_line)
    pick = itemgetter(*LAYOUTS[layout])
    line_no = first_line - 1  # the line of the last row read
    while True:
        done = line_no
        index: dict[str, int] = {}
        intern = index.setdefault
        ids: list[int] = []
        add = ids.extend
        weights: list[float] = []
        try:
            for line_no, cells in islice(rows, chunk_size):
                width = width or len(cells)
                if len(cells) != width or width not in (3, 4):
                    raise ValueError("a row of another width")
                head, relation, tail = pick(cells)
                add((intern(head, len(index)), intern(relation, len(index)), intern(tail, len(index))))
                if width == 4:
                    weights.append(float(cells[3]))
            keys = [_key(cell, bnodes) for cell in index]
        except (ParseError, TermError, ValueError):
            for line, cells in _data_rows(source, layout, encoding, first_line):
                if line > line_no:
                    break
                if line > done:
                    _check_row(source, layout, width or len(cells), line, cells, bnodes)
            raise
        if not ids:
            return
        rows_array = np.array(ids, dtype=np.int32).reshape(-1, 3)
        yield EncodedChunk(keys, rows_array, np.array(weights, np.float32) if width == 4 else None)


def _data_rows(source: Source, layout: str, encoding: str, first_line: int) -> Iterator[Row]:
    """`_rows` without the header row of a CSV file."""
    rows = _rows(source, layout, encoding, first_line)
    if layout == "csv":
        first = next(rows, None)
        rows = chain([] if first is None or {c.strip().lower() for c in first[1]} <= HEADER else [first], rows)
    return rows


def _check_row(source: Source, layout: str, width: int, line_no: int, cells: list[str], bnodes: BlankNodeScope) -> None:
    """Raise the ParseError of one row, if it has one."""
    if len(cells) != width or width not in (3, 4):
        raise ParseError(
            f"expected {width if width in (3, 4) else '3 or 4'} columns ({_describe(layout)}), found {len(cells)}",
            path=source.location,
            line=line_no,
            hint="every row needs the same columns; a tab inside a name must be removed",
        )
    for i in LAYOUTS[layout]:
        try:
            _key(cells[i], bnodes)
        except (TermError, ValueError) as err:
            raise ParseError(str(err), path=source.location, line=line_no) from None
    if width == 4:
        try:
            float(cells[3])
        except ValueError:
            raise ParseError(f"weight {cells[3][:40]!r} is not a number", path=source.location, line=line_no) from None


def _key(cell: str, bnodes: BlankNodeScope) -> str:
    if not cell:
        raise ValueError("empty cell: every head, relation and tail needs a value")
    key = cell_key(cell)
    return bnodes.key(key[2:]) if key.startswith("_:") else key


def _describe(layout: str) -> str:
    return {
        "tsv": "head, relation, tail[, weight] separated by tabs",
        "csv": "head, relation, tail[, weight] separated by commas",
        "conceptnet": "relation, head, tail, weight separated by tabs",
    }[layout]
