"""Every format and engine, gzip, and the defined outcome of each kind of bad input."""

import gzip
import json

import pytest

from kgreason.kg import KnowledgeGraph, ParseError, RemoteAccessError, UnknownFormatError
from kgreason.kg.readers import FORMATS, resolve_format

from conftest import FAMILY_TTL

EX = "http://example.org/"


def write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.fixture
def family_canonical(tmp_path):
    """The family graph with canonical literals only: rdflib's Turtle and JSON-LD parsers rewrite a bare
    `01` as `"1"`, whatever NORMALIZE_LITERALS says (a documented limitation of the rdflib path)."""
    path = write(tmp_path / "canonical.ttl", FAMILY_TTL.replace('"01"', '"1"'))
    return KnowledgeGraph.read(path)


@pytest.fixture
def family_files(tmp_path, family_canonical):
    """The family graph written in every RDF syntax by rdflib, plus N-Quads with a named graph."""
    graph = family_canonical.to_rdflib()
    files = {}
    for fmt, ext, rdflib_name in [("ntriples", "nt", "nt"), ("turtle", "ttl", "turtle"), ("rdfxml", "rdf", "xml"), ("jsonld", "jsonld", "json-ld"), ("trig", "trig", "trig")]:
        files[fmt] = tmp_path / f"family.{ext}"
        graph.serialize(files[fmt], format=rdflib_name, encoding="utf-8")
    nt = files["ntriples"].read_text()
    files["nquads"] = write(tmp_path / "family.nq", "".join(line[:-2] + f" <{EX}graph1> .\n" for line in nt.splitlines(True) if line.strip()))
    return files


@pytest.mark.parametrize("fmt", ["ntriples", "nquads", "turtle", "trig", "rdfxml", "jsonld"])
def test_every_rdf_format_and_engine_gives_the_same_graph(fmt, family_files, family_canonical):
    for engine in FORMATS[fmt].engines:
        kg = KnowledgeGraph.read(family_files[fmt], engine=engine)
        assert _iso(kg, family_canonical), (fmt, engine)


def _iso(a: KnowledgeGraph, b: KnowledgeGraph) -> bool:
    from rdflib.compare import isomorphic

    return isomorphic(a.to_rdflib(), b.to_rdflib())


def test_gzip_is_detected_by_content_and_extension(tmp_path, family_kg):
    path = tmp_path / "family.ttl.gz"
    path.write_bytes(gzip.compress(FAMILY_TTL.encode()))
    assert _iso(KnowledgeGraph.read(path), family_kg)


def test_format_resolution():
    assert resolve_format("x/train.txt.gz").name == "tsv"
    assert resolve_format("a.NT").name == "ntriples"
    assert resolve_format("anything", "n-triples").name == "ntriples"
    with pytest.raises(UnknownFormatError, match="cannot tell the format"):
        resolve_format("data.parquet")
    with pytest.raises(UnknownFormatError, match="unknown format 'owl2'"):
        resolve_format("a.ttl", "owl2")
    with pytest.raises(UnknownFormatError, match="engine 'oxigraph' cannot read rdfxml"):
        KnowledgeGraph.read(__file__, format="rdfxml", engine="oxigraph")


def test_tsv_csv_and_conceptnet_layouts(tmp_path):
    tsv = write(tmp_path / "t.tsv", "# comment\n/m/01\t/film/genre\t/m/02\n\n/m/02\t/film/genre\t/m/03\n")
    csv = write(tmp_path / "t.csv", 'head,relation,tail,weight\n"play, on ice",IsA,sport,2.5\nhockey,IsA,"""quoted""",1\n')
    cn = write(tmp_path / "cn.txt", "ReceivesAction\thockey\tplay on ice\t3.459\n")
    assert list(KnowledgeGraph.read(tsv).triple_keys()) == [("/m/01", "/film/genre", "/m/02"), ("/m/02", "/film/genre", "/m/03")]
    kg = KnowledgeGraph.read(csv)
    assert list(kg.triple_keys())[0] == ("play, on ice", "IsA", "sport") and kg.weights.tolist() == [2.5]
    assert list(kg.attribute_keys()) == [("hockey", "IsA", '"quoted"')]  # a "..." cell is a literal
    kg = KnowledgeGraph.read(cn, format="conceptnet")
    assert list(kg.triple_keys()) == [("hockey", "ReceivesAction", "play on ice")]
    assert kg.weights[0] == pytest.approx(3.459)


def test_tsv_cells_may_be_rdf_terms(tmp_path):
    tsv = write(tmp_path / "t.tsv", f'<{EX}a>\t<{EX}p>\t_:x\n_:x\t<{EX}p>\t"v"@en\n')
    kg = KnowledgeGraph.read(tsv)
    assert [k for k in kg.entities] == [f"<{EX}a>", "_:f0_b0"]
    assert list(kg.attribute_keys()) == [("_:f0_b0", f"<{EX}p>", '"v"@en')]


# --- bad input: each case has a defined outcome ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "fmt", "line", "message"),
    [
        ("bad.nt", f"<{EX}a> <{EX}b> <{EX}c> .\n<{EX}a> <{EX}b c> <{EX}d> .\n", None, 2, "IRI"),
        ("bad.ttl", "@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\nex:a ex:b .\n", None, 3, "."),
        ("bad.tsv", "a\tr\tb\na\tr\n", None, 2, "expected 3 columns"),
        ("bad.csv", "a,r,b\na,r,\n", None, 2, "empty cell"),
        ("bad_weight.tsv", "a\tr\tb\t0.5\na\tr\tc\theavy\n", None, 2, "not a number"),
        ("bad_iri.tsv", "<no scheme>\tr\tb\n", None, 1, "looks like an IRI"),
        ("bad.nq", f"<{EX}a> <{EX}b> <{EX}c> <{EX}g> <{EX}h> .\n", None, 1, "."),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, name, content, fmt, line, message):
    path = write(tmp_path / name, content)
    with pytest.raises(ParseError, match=message) as info:
        KnowledgeGraph.read(path, format=fmt)
    assert info.value.path == str(path) and info.value.line == line
    assert f"{path}:{line}" in str(info.value)


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_malformed_ntriples_position_for_both_engines(tmp_path, engine):
    path = write(tmp_path / "bad.nt", f"<{EX}a> <{EX}b> <{EX}c> .\n\n<{EX}a> <{EX}b> \"open .\n")
    with pytest.raises(ParseError) as info:
        KnowledgeGraph.read(path, engine=engine)
    assert info.value.line == 3


def test_rdfxml_and_jsonld_errors_have_positions(tmp_path):
    xml = write(tmp_path / "bad.rdf", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n<rdf:Description>\n</rdf:RDF>\n')
    with pytest.raises(ParseError) as info:
        KnowledgeGraph.read(xml)
    assert info.value.line == 4
    js = write(tmp_path / "bad.jsonld", '{"@id": "http://example.org/a",\n "http://example.org/p": }\n')
    with pytest.raises(ParseError) as info:
        KnowledgeGraph.read(js)
    assert info.value.line == 2


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
@pytest.mark.parametrize("content", ["", "# only a comment\n# and another\n", "\n\n   \n"])
def test_empty_and_comment_only_files_give_empty_graphs(tmp_path, engine, content):
    assert KnowledgeGraph.read(write(tmp_path / "e.nt", content), engine=engine).num_triples == 0
    assert KnowledgeGraph.read(write(tmp_path / "e.tsv", content)).num_triples == 0


def test_duplicate_triples_are_dropped(tmp_path):
    path = write(tmp_path / "d.nt", f"<{EX}a> <{EX}b> <{EX}c> .\n" * 3 + f'<{EX}a> <{EX}l> "x" .\n' * 2)
    kg = KnowledgeGraph.read(path)
    assert kg.num_triples == 1 and len(kg.attributes) == 1


def test_blank_nodes_of_different_files_stay_distinct(tmp_path):
    one = write(tmp_path / "1.nt", f"_:b <{EX}p> <{EX}o> .\n")
    two = write(tmp_path / "2.nt", f"_:b <{EX}p> <{EX}o> .\n")
    kg = KnowledgeGraph.read(one, two)
    assert kg.num_triples == 2 and sum(k.startswith("_:") for k in kg.entities) == 2
    assert KnowledgeGraph.read(one, one).num_triples == 2  # the same file twice is two documents


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_non_utf8_bytes_are_reported_with_line(tmp_path, engine):
    path = write(tmp_path / "latin.nt", f"<{EX}a> <{EX}b> <{EX}c> .\n".encode() + f'<{EX}a> <{EX}b> "caf'.encode() + b'\xe9" .\n')
    with pytest.raises(ParseError, match="UTF-8") as info:
        KnowledgeGraph.read(path, engine=engine)
    assert info.value.line == 2


def test_non_utf8_table_names_the_fix(tmp_path):
    path = write(tmp_path / "latin.tsv", b"a\tr\tb\ncaf\xe9\tr\tb\n")
    with pytest.raises(ParseError, match="latin") as info:
        KnowledgeGraph.read(path)
    assert info.value.line == 2
    from kgreason.kg.builder import GraphBuilder
    from kgreason.kg.readers import read_into

    builder = GraphBuilder()
    read_into(builder, path, encoding="latin-1")
    assert "café" in builder.build().entities


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_ten_megabyte_single_line_literal_is_kept_whole(tmp_path, engine):
    big = "x" * 10_000_000
    path = write(tmp_path / "big.nt", f'<{EX}a> <{EX}text> "{big}" .\n<{EX}a> <{EX}b> <{EX}c> .\n')
    kg = KnowledgeGraph.read(path, engine=engine)
    assert kg.num_triples == 1 and len(kg.literals[0]) == len(big) + 2


def test_ten_megabyte_cell_in_csv(tmp_path):
    big = "y" * 10_000_000
    path = write(tmp_path / "big.csv", f'a,r,"{big}"\n')
    assert len(KnowledgeGraph.read(path).entities[1]) == len(big)


def test_missing_file(tmp_path):
    with pytest.raises(ParseError, match="no such file"):
        KnowledgeGraph.read(tmp_path / "absent.nt")


# --- no network -----------------------------------------------------------------------------------------


def test_urls_are_refused_without_allow_remote():
    with pytest.raises(RemoteAccessError, match="remote access is off"):
        KnowledgeGraph.read("https://example.org/data.ttl")


def test_remote_jsonld_context_is_not_fetched(tmp_path):
    doc = {"@context": "https://schema.org/", "@id": "http://example.org/a", "name": "A"}
    path = write(tmp_path / "remote.jsonld", json.dumps(doc))
    with pytest.raises(RemoteAccessError, match="tried to reach the network"):
        KnowledgeGraph.read(path)


def test_external_xml_entities_are_not_fetched(tmp_path):
    xml = (
        '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY ext SYSTEM "http://example.org/secret.txt">]>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">\n'
        '<rdf:Description rdf:about="http://example.org/a"><ex:p>&ext;</ex:p></rdf:Description>\n</rdf:RDF>\n'
    )
    path = write(tmp_path / "xxe.rdf", xml)
    try:
        kg = KnowledgeGraph.read(path)
    except (RemoteAccessError, ParseError):
        return  # refused: fine
    assert all("secret" not in k for k in kg.literals)  # or the entity was left unresolved


def test_owl_imports_are_not_followed(tmp_path):
    path = write(tmp_path / "onto.ttl", "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n<http://example.org/o> owl:imports <http://example.org/other.ttl> .\n")
    for engine in ("oxigraph", "rdflib"):
        assert KnowledgeGraph.read(path, engine=engine).num_triples == 1
