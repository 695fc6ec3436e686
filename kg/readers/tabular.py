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

from ..errors import ParseError, TermError
from ..terms import BlankNodeScope, cell_key
from .source import Source

Chunk = tuple[list[str], list[str], list[str], list[float] | None]

# (head, relation, tail) column positions per layout.
LAYOUTS = {"tsv": (0, 1, 2), "csv": (0, 1, 2), "conceptnet": (1, 0, 2)}
HEADER = {"head", "relation", "tail", "weight", "subject", "predicate", "object"}


def _rows(source: Source, layout: str, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of the non-empty, non-comment rows."""
    text = io.TextIOWrapper(source.open_binary(), encoding=encoding, errors="strict", newline="")
    line_no = 0
    try:
        if layout == "csv":
            csv.field_size_limit(sys.maxsize)
            reader = csv.reader(text)
            for cells in reader:
                line_no = reader.line_num
                if cells and not (len(cells) == 1 and not cells[0].strip()) and not cells[0].startswith("#"):
                    yield line_no, cells
        else:
            for line_no, line in enumerate(text, 1):
                line = line.rstrip("\r\n")
                if line.strip() and not line.startswith("#"):
                    yield line_no, line.split("\t")
    except UnicodeDecodeError as err:
        line, column = source.undecodable_position(encoding) or (None, None)
        raise ParseError(
            f"bytes are not valid {encoding} ({err.reason})",
            path=source.location,
            line=line,
            column=column,
            hint="convert the file to UTF-8 (iconv -f latin1 -t utf-8), or pass the file's encoding (encoding='latin-1')",
        ) from None
    except csv.Error as err:
        raise ParseError(f"malformed CSV: {err}", path=source.location, line=line_no + 1) from None
    finally:
        text.close()


def read_table(
    source: Source, *, layout: str, bnodes: BlankNodeScope, chunk_size: int = 100_000, encoding: str = "utf-8"
) -> Iterator[Chunk]:
    """Yield chunks of `(heads, relations, tails, weights or None)` from a triple table."""
    hi, ri, ti = LAYOUTS[layout]
    heads: list[str] = []
    rels: list[str] = []
    tails: list[str] = []
    weights: list[float] = []
    width: int | None = None
    first = True
    for line_no, cells in _rows(source, layout, encoding):
        if first and layout == "csv" and {c.strip().lower() for c in cells} <= HEADER:
            first = False
            continue
        first = False
        if width is None:
            width = len(cells)
        if len(cells) != width or width not in (3, 4):
            raise ParseError(
                f"expected {width if width in (3, 4) else '3 or 4'} columns ({_describe(layout)}), found {len(cells)}",
                path=source.location,
                line=line_no,
                hint="every row needs the same columns; a tab inside a name must be removed",
            )
        try:
            h, r, t = _key(cells[hi], bnodes), _key(cells[ri], bnodes), _key(cells[ti], bnodes)
        except (TermError, ValueError) as err:
            raise ParseError(str(err), path=source.location, line=line_no) from None
        heads.append(h)
        rels.append(r)
        tails.append(t)
        if width == 4:
            try:
                weights.append(float(cells[3]))
            except ValueError:
                raise ParseError(f"weight {cells[3][:40]!r} is not a number", path=source.location, line=line_no) from None
        if len(heads) >= chunk_size:
            yield heads, rels, tails, weights or None
            heads, rels, tails, weights = [], [], [], []
    if heads:
        yield heads, rels, tails, weights or None


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
