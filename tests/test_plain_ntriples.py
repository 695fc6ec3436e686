"""N-Triples blocks of plain IRI lines are read without a parser: same graph, same errors as Oxigraph's parse."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kgreason.kg import KnowledgeGraph, ParseError
from kgreason.kg.readers import oxigraph_reader
from kgreason.kg.readers.plain_ntriples import encode_plain_block

pytest.importorskip("pyoxigraph")

EX = "http://example.org/"


def read(path, *, parser_only: bool = False):
    """(entity keys, relation keys, triples) of reading `path` with Oxigraph, in id order, or the ParseError's
    (line, column, text).

    `parser_only`: with the tokenizer of plain lines turned off and the whole file in one block, as Oxigraph
    alone reads it.
    """
    with pytest.MonkeyPatch.context() as monkeypatch:
        if parser_only:
            monkeypatch.setattr(oxigraph_reader, "encode_plain_block", lambda *args: None)
            monkeypatch.setattr(oxigraph_reader, "BLOCK_BYTES", 1 << 30)
        try:
            kg = KnowledgeGraph.read(path, engine="oxigraph")
        except ParseError as err:
            return ("error", err.line, err.column, str(err))
    return list(kg.entities), list(kg.relations), kg.triples.tolist()


def test_plain_lines_take_the_tokenizer_and_give_the_parsers_graph(tmp_path):
    lines = [f"<{EX}e{i % 7}> <{EX}r{i % 3}>\t<{EX}e{(i * 5) % 11}> .\n" for i in range(50)]
    path = tmp_path / "plain.nt"
    path.write_text("".join(lines) + f"<{EX}last> <{EX}r0> <{EX}é> .")  # the last line without '\n'
    chunks = encode_plain_block(path.read_bytes(), 1000, set())
    assert chunks is not None and sum(len(chunk) for chunk in chunks) == 51
    assert read(path) == read(path, parser_only=True)
    assert len(read(path)[2]) == len(set(lines)) + 1


def test_chunks_keep_to_chunk_size_with_their_own_keys():
    block = "".join(f"<{EX}s{i}> <{EX}p> <{EX}o{i % 2}> .\n" for i in range(10)).encode()
    chunks = encode_plain_block(block, 4, set())
    assert [len(chunk) for chunk in chunks] == [4, 4, 2]
    assert [chunks[2].keys[i] for i in chunks[2].rows[1]] == [f"<{EX}s9>", f"<{EX}p>", f"<{EX}o1>"]


@pytest.mark.parametrize(
    "text",
    [
        f"<{EX}a> <{EX}b>\n<{EX}c> . <{EX}d> <{EX}e> <{EX}f> .\n",  # 8 tokens, 2 lines, '.' 4th and 8th: still not plain
        f"<{EX}a> <{EX}b> <{EX}c>.\n",  # valid N-Triples, but not split at whitespace
        f"<{EX}a> <{EX}b> <{EX}c> . # a comment\n",
        f"<{EX}a> <{EX}b> <{EX}c> .\n\n",
        f"<{EX}a> <{EX}b> <{EX}c> .\r\n",
        f"<{EX}a> <{EX}b> <{EX}c\\u00E9> .\n",  # an escape
        f"<{EX}a> <{EX}b> _:c .\n",
        f'<{EX}a> <{EX}b> "c" .\n',
        f"<{EX}a> <{EX}b> <relative> .\n",
        f"<{EX}a> <{EX}b> <{EX}c> <{EX}d> .\n",
        f"<{EX}a>\x0c<{EX}b> <{EX}c> .\n",
        f"<{EX}a> <{EX}b> <{EX}c{{}}> .\n",
        f"<{EX}a> <{EX}b> <{EX}c<d> .\n",
        f"<{EX}a> . <{EX}c> .\n",
        "\n",
    ],
)
def test_anything_but_plain_lines_is_left_to_the_parser(text):
    block = text.encode()
    assert encode_plain_block(block, 100, set()) is None


def test_non_utf8_is_left_to_the_parser():
    block = f"<{EX}a> <{EX}b> <{EX}c".encode() + b"\xe9> .\n"
    assert encode_plain_block(block, 100, set()) is None


def test_errors_in_a_later_block_carry_the_line_in_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(oxigraph_reader, "BLOCK_BYTES", 64)
    good = "".join(f"<{EX}s{i}> <{EX}p> <{EX}o> .\n" for i in range(20))
    path = tmp_path / "late.nt"
    path.write_bytes((good + "# a comment\r# another, after a lone '\\r'\r\n" + good + f'<{EX}s> <{EX}p> "open .\n').encode())
    with pytest.raises(ParseError) as info:
        KnowledgeGraph.read(path)
    assert info.value.line == 43


PLAIN = st.sampled_from([f"<{EX}a> <{EX}b> <{EX}c> .\n", f"<{EX}c> <{EX}b> <{EX}a> .\n", f"<{EX}a>\t<{EX}b>\t<{EX}d>\t.\n"])
TRICKY = st.sampled_from(
    [
        f"<{EX}d> <{EX}b> <{EX}c>.\n",
        f"<{EX}a> <{EX}b> <{EX}c> . \n",
        f'<{EX}a> <{EX}b> "x y" .\n',
        f"_:x <{EX}b> <{EX}c> .\n",
        "# comment . \n",
        "\n",
        "\r\n",
        f"<{EX}a> <{EX}b> <{EX}c> .\r\n",
        f"<{EX}a> <{EX}b> <{EX}c> .\r",
        f"<{EX}a> <{EX}b>\n",
        f"<{EX}c> .\n",
        f"<{EX}a> <{EX}b> <rel> .\n",
        f"<{EX}a> <{EX}b> <{EX}c|> .\n",
        f"<{EX}a> <{EX}b> <{EX}c> <{EX}d> .\n",
        f"<{EX}\\u0061> <{EX}b> <{EX}c> .\n",
        f"<{EX}a> . <{EX}b> .\n",
        f"<{EX}c> . <{EX}d> <{EX}b> <{EX}a> .\n",
        f"<{EX}a> <{EX}b> <{EX}c>\n",
        ".\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.one_of(PLAIN, PLAIN, TRICKY), max_size=12), block_bytes=st.integers(1, 1000), final_newline=st.booleans())
def test_same_graph_or_same_error_as_the_parser_alone(tmp_path_factory, lines, block_bytes, final_newline):
    text = "".join(lines)
    if not final_newline and text.endswith("\n"):
        text = text[:-1]
    path = tmp_path_factory.mktemp("nt") / "random.nt"
    path.write_text(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(oxigraph_reader, "BLOCK_BYTES", block_bytes)
        assert read(path) == read(path, parser_only=True)


def test_line_blocks_are_whole_lines(monkeypatch):
    monkeypatch.setattr(oxigraph_reader, "BLOCK_BYTES", 3)
    data = b"ab\r\ncd\re\n\nlonger line\r\nend"
    blocks = list(oxigraph_reader._line_blocks(io.BytesIO(data)))
    assert blocks == [b"ab\r\n", b"cd\re\n", b"\nlonger line\r\n", b"end"]
