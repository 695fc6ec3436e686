"""Knowledge graphs: the `KnowledgeGraph` type, readers for RDF and triple tables, an on-disk store,
views as rdflib / networkx / PyG graphs, SPARQL, and traversal helpers.

    >>> from kgreason.kg import KnowledgeGraph
    >>> kg = KnowledgeGraph.from_triples([("ann", "mother_of", "bob")])
    >>> kg.num_triples
    1
"""

from .builder import GraphBuilder, GraphDelta
from .errors import KGError, ParseError, RemoteAccessError, StoreError, TermError, UnknownFormatError
from .graph import KnowledgeGraph
from .ingest import IngestSummary, ingest
from .store import Store
from .vocab import Vocabulary

__all__ = [
    "GraphBuilder",
    "GraphDelta",
    "IngestSummary",
    "KGError",
    "KnowledgeGraph",
    "ParseError",
    "RemoteAccessError",
    "Store",
    "StoreError",
    "TermError",
    "UnknownFormatError",
    "Vocabulary",
    "ingest",
]
