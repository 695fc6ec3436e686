"""Encoded chunks and parallel reading: the same graph, ids and errors as a sequential read."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import numpy as np
import pytest

from kgreason.kg import GraphBuilder, KnowledgeGraph, ParseError, Store, ingest
from kgreason.kg.builder import EncodedChunk
from kgreason.kg.readers import iter_chunks, parallel, read_into
from kgreason.kg.readers.source import Source

from conftest import datasets_dir

EX = "http://example.org/"
XSD = "http://www.w3.org/2001/XMLSchema#"


def ntriples(n: int, seed: int = 0) -> str:
    """N-Triples with IRIs, blank nodes (also inside triple terms), literals and repeated statements."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        s = f"_:b{rng.randrange(40)}" if rng.random() < 0.2 else f"<{EX}e{rng.randrange(300)}>"
        p = f"<{EX}p{rng.randrange(12)}>"
        r = rng.random()
        if r < 0.15:
            o = rng.choice(['"chat"@FR', f'"1"^^<{XSD}integer>', f'"text {rng.randrange(50)}"'])
        elif r < 0.2:
            o = f"<<( _:b{rng.randrange(40)} <{EX}p0> <{EX}e{rng.randrange(300)}> )>>"
        elif r < 0.35:
            o = f"_:b{rng.randrange(40)}"
        else:
            o = f"<{EX}e{rng.randrange(300)}>"
        lines.append(f"{s} {p} {o} .\n")
        if i % 97 == 0:
            lines.append("# a comment\n\n")
        if i % 13 == 0 and lines:
            lines.append(rng.choice(lines))  # a repeated statement, often in another piece
    return "".join(lines)


def read(path: Path, workers: int, **options) -> KnowledgeGraph:
    builder = GraphBuilder()
    read_into(builder, path, bnode_prefix="f0_", workers=workers, parallel_min_bytes=0, **options)
    return builder.build()


def assert_same_graph(a: KnowledgeGraph, b: KnowledgeGraph) -> None:
    assert list(a.entities) == list(b.entities)
    assert list(a.relations) == list(b.relations)
    assert list(a.literals) == list(b.literals)
    np.testing.assert_array_equal(a.triples, b.triples)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.attributes, b.attributes)


@pytest.fixture
def spy(monkeypatch):
    """Counts the calls of `parallel.read_parallel` (in this process)."""
    calls = []
    original = parallel.read_parallel

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(parallel, "read_parallel", counted)
    return calls


# --- encoded chunks and the builder ---------------------------------------------------------------------


def reference_graph(rows: list[tuple[str, str, str]]) -> tuple[list[str], list[str], list[str], list, list]:
    """Ids by first appearance, row by row (entities: head then tail), the obvious way."""
    entities: dict[str, int] = {}
    relations: dict[str, int] = {}
    literals: dict[str, int] = {}
    triples, attributes = [], []
    for h, r, t in rows:
        hid = entities.setdefault(h, len(entities))
        rid = relations.setdefault(r, len(relations))
        if t.startswith('"'):
            attributes.append((hid, rid, literals.setdefault(t, len(literals))))
        else:
            triples.append((hid, rid, entities.setdefault(t, len(entities))))
    return list(entities), list(relations), list(literals), triples, attributes


def test_builder_ids_follow_first_appearance_even_when_keys_play_several_roles():
    rows = [
        ("a", "r", '"x"'),
        ("r", "s", "b"),  # a relation used as an entity
        ('"x"', "r", "a"),  # a literal used as a head: an entity there
        ("b", "a", '"y"'),  # an entity used as a relation
        ("c", "s", "r"),
        ("a", "r", '"x"'),
    ]
    builder = GraphBuilder()
    builder.add(*map(list, zip(*rows)))
    kg = builder.build()
    entities, relations, literals, triples, attributes = reference_graph(rows)
    assert (list(kg.entities), list(kg.relations), list(kg.literals)) == (entities, relations, literals)
    assert kg.triples.tolist() == [list(t) for t in triples]
    assert kg.attributes.tolist() == [list(a) for a in dict.fromkeys(attributes)]


def test_encoded_chunk_round_trips_columns():
    heads, rels, tails = ["a", "b", "a"], ["r", "r", "s"], ["b", '"1"', "a"]
    chunk = EncodedChunk.from_columns(heads, rels, tails, [0.5, 1.0, 2.0])
    assert chunk.keys == ["a", "r", "b", '"1"', "s"]
    assert chunk.rows.dtype == np.int32 and chunk.rows.shape == (3, 3)
    assert chunk.columns() == (heads, rels, tails, [0.5, 1.0, 2.0])


def test_builder_add_matches_reference_on_random_rows():
    rng = random.Random(1)
    names = [f"n{i}" for i in range(30)] + ['"lit1"', '"lit2"@en']
    rows = [(rng.choice(names[:30]), rng.choice(names[:35]), rng.choice(names)) for _ in range(500)]
    builder = GraphBuilder()
    for start in range(0, len(rows), 64):  # several chunks
        builder.add(*map(list, zip(*rows[start : start + 64])))
    kg = builder.build()
    entities, relations, literals, _, _ = reference_graph(rows)
    assert (list(kg.entities), list(kg.relations), list(kg.literals)) == (entities, relations, literals)


# --- parallel reading -----------------------------------------------------------------------------------


def test_parallel_ntriples_give_the_sequential_graph(tmp_path, spy):
    path = tmp_path / "data.nt"
    path.write_text(ntriples(3000), encoding="utf-8")
    sequential = read(path, workers=1)
    assert not spy
    parallel_kg = read(path, workers=3)
    assert len(spy) == 1
    assert_same_graph(parallel_kg, sequential)
    assert any(k.startswith("_:f0_b") for k in sequential.entities) and any("<<(" in k for k in sequential.entities)
    assert len(sequential.literals) and len(sequential.attributes)


def test_parallel_chunks_equal_sequential_chunks(tmp_path):
    path = tmp_path / "data.nt"
    path.write_text(ntriples(1500, seed=2), encoding="utf-8")
    rows = [list(zip(*chunk[:3])) for chunk in iter_chunks(path, workers=1, chunk_size=100)]
    chunks = iter_chunks(path, workers=2, parallel_min_bytes=0, chunk_size=100)
    parallel_rows = [list(zip(*chunk[:3])) for chunk in chunks]
    assert sum(rows, []) == sum(parallel_rows, [])


@pytest.mark.parametrize("fmt", ["tsv", "conceptnet"])
def test_parallel_tables_give_the_sequential_graph(tmp_path, spy, fmt):
    rng = random.Random(3)
    lines = [f"r{rng.randrange(9)}\te{rng.randrange(200)}\te{rng.randrange(200)}\t{rng.random():.3f}\n"
             for _ in range(4000)]
    lines[100:100] = ["# comment\n", "\n", " \t \n"]
    path = tmp_path / "data.txt"
    path.write_text("".join(lines), encoding="utf-8")
    sequential = read(path, workers=1, format=fmt)
    parallel_kg = read(path, workers=2, format=fmt)
    assert len(spy) == 1
    assert_same_graph(parallel_kg, sequential)
    assert sequential.num_triples > 1000


def test_failed_workers_leave_their_pieces_to_this_process(tmp_path, monkeypatch):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    submitted = []

    def broken(pool, fn, *args):
        submitted.append(args[1])
        future = Future()
        future.set_exception(BrokenProcessPool("a worker died"))
        return future

    path = tmp_path / "data.nt"
    path.write_text(ntriples(2000, seed=6), encoding="utf-8")
    sequential = read(path, workers=1)
    monkeypatch.setattr(parallel, "_submit", broken)
    assert_same_graph(read(path, workers=3), sequential)
    assert 0 < len(submitted) <= 4  # the first round (a piece each for 2 workers, one waiting): then no more


def test_fork_start_method_gives_the_same_graph(tmp_path, monkeypatch):
    path = tmp_path / "data.nt"
    path.write_text(ntriples(2000, seed=7), encoding="utf-8")
    monkeypatch.setattr(parallel, "START_METHOD", "fork")
    assert_same_graph(read(path, workers=2), read(path, workers=1))


def errors(path: Path, **options) -> tuple[ParseError, ParseError]:
    with pytest.raises(ParseError) as sequential:
        read(path, workers=1, **options)
    with pytest.raises(ParseError) as parallel_error:
        read(path, workers=3, **options)
    return sequential.value, parallel_error.value


@pytest.mark.parametrize(
    "bad",
    [
        f'<{EX}a> <{EX}b> "open .\n',  # the error message depends on what follows
        f"<{EX}a> <{EX}b> <not an absolute IRI> .\n",  # found by the check of a lenient parse
        f'<{EX}a> <{EX}b> "x"@en-a_b .\n',
        f'<{EX}a> <{EX}b> "x"^^<http://www.w3.org/1999/02/22-rdf-syntax-ns#langString> .\n',
        f"<{EX}a> <{EX}b> <{EX}c>\n",
    ],
)
def test_error_in_a_later_piece_names_the_absolute_line(tmp_path, bad):
    good = ntriples(2000, seed=4).splitlines(keepends=True)
    at = len(good) * 2 // 3  # in a later piece
    path = tmp_path / "bad.nt"
    path.write_text("".join(good[:at] + [bad] + good[at:]), encoding="utf-8")
    sequential, parallel_error = errors(path)
    assert at + 1 <= sequential.line <= at + 3  # a missing dot shows at the next statement
    assert parallel_error.path == str(path)
    assert (parallel_error.line, parallel_error.column) == (sequential.line, sequential.column)
    assert str(parallel_error) == str(sequential)


def test_error_in_a_later_piece_of_a_table(tmp_path):
    rows = [f"e{i}\tr\te{i + 1}\n" for i in range(3000)]
    rows[2500] = "e1\tr\n"
    path = tmp_path / "bad.tsv"
    path.write_text("".join(rows), encoding="utf-8")
    sequential, parallel_error = errors(path)
    assert sequential.line == parallel_error.line == 2501
    assert str(parallel_error) == str(sequential)


def test_a_later_piece_of_another_width_is_an_error(tmp_path):
    """A piece on its own would take its first row's width; the file's first row decides."""
    rows = [f"e{i}\tr\te{i + 1}\n" for i in range(1000)] + [f"e{i}\tr\te{i + 1}\t0.5\n" for i in range(3000)]
    path = tmp_path / "widths.tsv"
    path.write_text("".join(rows), encoding="utf-8")
    sequential, parallel_error = errors(path)
    assert sequential.line == parallel_error.line == 1001
    assert "expected 3 columns" in str(parallel_error)


def test_bad_cells_are_reported_at_their_first_row(tmp_path):
    rows = [f"e{i}\tr\te{i + 1}\n" for i in range(300)]
    rows[120] = "e1\tr\t<no scheme>\n"  # a bad cell first ...
    rows[200] = "e1\tr\n"  # ... and a bad row later in the same chunk
    path = tmp_path / "bad.tsv"
    path.write_text("".join(rows), encoding="utf-8")
    with pytest.raises(ParseError, match="looks like an IRI") as info:
        read(path, workers=1)
    assert info.value.line == 121


def test_small_files_and_gzip_stay_sequential(tmp_path, spy):
    text = ntriples(500)
    path = tmp_path / "small.nt"
    path.write_text(text, encoding="utf-8")
    builder = GraphBuilder()
    read_into(builder, path, workers=4, parallel_min_bytes=path.stat().st_size + 1)
    gz = tmp_path / "data.nt.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    assert not parallel.splittable(Source(gz), parallel.Reader("ntriples", "oxigraph"))
    assert_same_graph(read(gz, workers=4), read(path, workers=1))
    turtle = tmp_path / "data.ttl"
    turtle.write_text(text, encoding="utf-8")
    read(turtle, workers=4)
    assert not spy


def test_ingest_with_workers_gives_the_same_store(tmp_path, monkeypatch):
    path = tmp_path / "data.nt"
    path.write_text(ntriples(2000, seed=5), encoding="utf-8")
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    one = ingest([path], tmp_path / "one", workers=1)
    two = ingest([path], tmp_path / "two", workers=2)
    assert one.read == two.read and one.new == two.new
    assert_same_graph(Store(tmp_path / "one").load(), Store(tmp_path / "two").load())


# --- helpers --------------------------------------------------------------------------------------------


def test_pieces_start_at_line_starts_and_cover_the_file(tmp_path):
    path = tmp_path / "lines.nt"
    rng = random.Random(0)
    data = b"".join(b"x" * rng.randrange(1, 300) + b"\n" for _ in range(500)) + b"last line without newline"
    path.write_bytes(data)
    pieces = parallel.cut(Source(path), 7)
    assert 2 <= len(pieces) <= 7 and pieces[0].start == 0 and pieces[-1].end == len(data)
    for before, after in zip(pieces, pieces[1:]):
        assert before.end == after.start and data[after.start - 1 : after.start] == b"\n"


def test_lines_before_counts_every_kind_of_line_break(tmp_path):
    path = tmp_path / "breaks.txt"
    data = b"a\nb\r\nc\rd\n" * 1000
    path.write_bytes(data)
    assert parallel.lines_before(path, len(data)) == 4000
    assert parallel.lines_before(path, 0) == 0


def test_lenient_parse_reports_the_strict_errors_of_the_w3c_suite():
    """N-Triples are parsed leniently and checked per term; every negative test must fail as a strict parse does."""
    pyoxigraph = pytest.importorskip("pyoxigraph")
    files = sorted(datasets_dir().glob("w3c_rdf_tests/**/*n-triples*/**/*bad*.nt"))
    if not files:
        pytest.skip("W3C test suite not available")
    for path in files:
        try:
            list(pyoxigraph.parse(path=path, format=pyoxigraph.RdfFormat.N_TRIPLES))
            continue  # not a syntax error for Oxigraph either (tests/test_w3c.py covers what is expected)
        except SyntaxError as err:
            expected = err
        with pytest.raises(ParseError) as info:
            KnowledgeGraph.read(path)
        assert (info.value.line, info.value.column) == (expected.lineno, expected.offset), path.name
