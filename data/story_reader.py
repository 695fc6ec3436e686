"""The story graph read from a kinship story's text, and its score against CLUTRR's gold graphs.

- `story_graph(text)` reads a `TextGraph` from a story: people are nodes, a sentence that names two people
  gives an edge, typed where a kinship word ties them ("[A]'s brother [B]" gives (A, brother, B));
  `story_graphs(texts)` streams them through one spaCy pipeline.
- `evaluate_story_graphs(records)` scores story graphs against CLUTRR's gold graphs; `text_chain` gives a gold
  chain as the story's text states it.

Direction, as in CLUTRR: an edge (A, rel, B) means "B is A's rel". The gold annotations are for evaluation only.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from .kinship import FEMALE, KINSHIP, MALE, RELATIONS, base_relation, compose_relations, inverse_relation, relation_name
from .text_graph import UNTYPED, TextGraph, TextGraphBuilder

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc

    from .clutrr import ClutrrGold, ClutrrRecord


# ---------------------------------------------------------------------------------------------------------------
# Story graphs
# ---------------------------------------------------------------------------------------------------------------

Mention = tuple[str, int, int]  # a person's name and its [start, end) characters in the story
_BRACKETED = re.compile(r"\[([^\[\]]+)\]")
_KIN_WORDS: dict[str, tuple[str, str | None]] = {}  # word -> (base relation, gender of the relative or None)
_PLURAL_KIN: set[str] = set()  # "brothers": a list of relatives may follow ("his brothers [A] and [B]")
for _name, (_base_rel, _gender) in RELATIONS.items():
    _head = _name.partition("-")[0]
    _plural = ("wives" if _head == "wife" else _head + "s") + _name[len(_head) :]
    _KIN_WORDS[_name] = _KIN_WORDS[_plural] = (_base_rel, _gender)
    _PLURAL_KIN.add(_plural)
_KIN_WORDS.update({word: ("parent", MALE) for word in ("dad", "daddy", "papa")})
_KIN_WORDS.update({word: ("parent", FEMALE) for word in ("mom", "mommy", "mum", "mummy", "mama", "momma")})
_KIN_WORDS.update({word: ("grandparent", MALE) for word in ("grandpa", "granddad", "grandad", "granddaddy")})
_KIN_WORDS.update({word: ("grandparent", FEMALE) for word in ("grandma", "granny", "grandmom", "grandmum")})
_KIN_WORDS.update({"aunty": ("pibling", FEMALE), "auntie": ("pibling", FEMALE)})
_KIN_WORDS.update({"grandaughter": ("grandchild", FEMALE), "grandaughters": ("grandchild", FEMALE)})  # CLUTRR typo
_PLURAL_KIN.update({"parents", "children", "kids", "siblings", "grandparents", "grandchildren", "grandkids"})
_KIN_WORDS.update({
    word: (base, None) for base, words in {
        "parent": ("parent", "parents"), "child": ("child", "children", "kid", "kids"),
        "sibling": ("sibling", "siblings"), "spouse": ("spouse",),
        "grandparent": ("grandparent", "grandparents"),
        "grandchild": ("grandchild", "grandchildren", "grandkid", "grandkids"),
    }.items() for word in words
})  # fmt: skip
_NEWBORN = {"boy": ("child", MALE), "girl": ("child", FEMALE)}  # "gave birth to a boy and named him [B]"
_POSSESSIVE = {"'s", "’s", "'", "’"}
_PRONOUNS = {"his": MALE, "her": FEMALE, "their": None}  # possessive: the owner of a kinship phrase
_GENDERED_PRONOUNS = {
    **{word: MALE for word in ("he", "him", "his", "himself")},
    **{word: FEMALE for word in ("she", "her", "hers", "herself")},
}
_NAMING = {"named", "called"}
_HAVE = {"has", "had", "have", "raised"}  # "[A] has three kids: ...", "[A] had a son, [B]", "who raised three kids:"
_MARRIAGE = {"married", "marriage", "couple", "wed", "newlyweds"}
_OWNERLESS_BEFORE = {"with", "for", "to"}  # "[A] went out with daughter [B]": the subject's daughter
_GRANDPARENT_OF_NEWBORN = {"maternal", "paternal"}  # "[A] had a baby ... the new maternal grandmother, [B]"
_LINK_WORDS = {",", "who", "is", "was", "the", "a", "an", "another", "also", "one"}
_FUNCTION_WORDS = {  # never skipped as adjectives inside a kinship phrase ("his favorite son")
    "and", "or", "but", "with", "to", "for", "of", "the", "a", "an", "is", "was", "were", "are", "be", "been",
    "that", "who", "whom", "he", "she", "they", "him", "them", "it", "at", "in", "on", "from", "by", "so",
    "because", "named", "called", "as", "if", "when", "then", "than", "not", "n't", *_HAVE,
}  # fmt: skip
_MAX_ADJECTIVES = 3  # "[A]'s brand new baby brother"


@dataclass
class _Item:
    """A token of a sentence (lower-cased `word`) or a whole person mention (`mention` >= 0)."""

    word: str
    mention: int = -1
    sentence: int = 0  # index of the spaCy sentence it came from (segments can join two)

    @property
    def kin(self) -> tuple[str, str | None] | None:
        return _KIN_WORDS.get(self.word) if self.mention < 0 else None

    @property
    def adjective(self) -> bool:
        word = self.word
        return self.mention < 0 and word.isalpha() and word not in _FUNCTION_WORDS and word not in _KIN_WORDS \
            and word not in _PRONOUNS  # fmt: skip


@dataclass
class _Segment:
    """Consecutive items read together: one sentence, or two whose pronoun ties them."""

    items: list[_Item]
    span: tuple[int, int]

    def mentions(self) -> list[int]:
        """Item indices of the mentions, in order."""
        return [i for i, item in enumerate(self.items) if item.mention >= 0]


@dataclass
class _Typed:
    owner: int  # mention index of A
    relative: int  # mention index of B
    relation: tuple[str, str | None]  # (base, gender): B is A's relation


@functools.lru_cache(maxsize=1)
def _default_nlp() -> Language:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


PAIRINGS = ("consecutive", "anchored", "all")


def story_graph(text: str, *, nlp: Language | None = None, pairing: str = "consecutive",
                inverses: bool = False) -> TextGraph:
    """The `TextGraph` of one story; see `story_graphs`."""
    return next(story_graphs([text], nlp=nlp, pairing=pairing, inverses=inverses))


def story_graphs(
    texts: Iterable[str], *, nlp: Language | None = None, pairing: str = "consecutive", inverses: bool = False,
    batch_size: int = 64,
) -> Iterator[TextGraph]:
    """Read a graph of people from each story (streams through `nlp.pipe`).

    People are the names in [brackets] (without brackets: the PERSON entities of `nlp`, which then needs
    an "ner" component); the same name is the same node (type "person"). Sentences come from `nlp`
    (parser, senter or sentencizer; default `spacy.blank("en")` + sentencizer), split again between two
    names with nothing between them (a missing full stop). A sentence that names one person and speaks of
    a relative without a name ("[A] likes his sister.") is read together with the next ("Her name is [B]."),
    and a sentence whose pronoun points back ("Then he met his son [B].") with the one before; the graph's
    `sentences` are these units.

    Edges: a kinship phrase tying two mentions gives a typed edge (A, rel, B), "B is A's rel"
    ("[A]'s brother [B]", "[A] went out with his son [B]", "[B] is the father of [A]", "[B] is [A]'s
    brother", "[A] has a son named [B]" (and "... named [B] who has a son named [C]": B's son), "[B], his son",
    "[A] and granddaughter [B]", "her daughter's son" composed to grandson; lists "his sons [B] and [C]" or
    "raised three kids: [B], [C]", who are then siblings too ("her parents, [B] and [C]": a couple); "[B] and
    [C] asked their mother": siblings; "[A], [B] and [C] were all siblings"; "[A] and [B] got married"; CLUTRR's
    possessive without "'s", "took [A] daughter [B]"; "[A] went out with daughter [B]", a kin word after "with",
    "for" or "to" with no owner: the subject's). A possessive pronoun stands for the
    nearest person named before it whose gender (read from the story's kinship words and pronouns) fits, or
    for the owner of the person it reaches if that one came in by the same pronoun ("[A] took his son [B] to
    see his sister [C]": A's sister); "their" for everybody named before it; through an unnamed relative when
    nobody named fits ("[A] wanted to buy his sister a gift but her son [B]": A's nephew). A pronoun phrase
    before a sentence's first name names a person of the sentence before ("[C] took a walk. When his wife
    never returned, [A] called": C is A's wife). Where a relative's gender never shows, the label is
    ungendered ("sibling", "spouse", "child").

    `pairing` adds an `UNTYPED` edge between other people named in one sentence: "consecutive" (each
    mention and the one before it), "anchored" (the same, except for a mention that a kinship phrase already
    tied to someone before it: fewer edges that are not stated facts) or "all" (every pair). Each edge
    records its sentence and the two mentions' character spans (source, target).

    `inverses`: each typed edge (A, rel, B) also gets its inverse (B, inv, A), "A is B's inv", read in the same
    sentence, with A's gender as the story shows it ("[A]'s son [B]" and A female: (B, "mother", A); ungendered,
    "parent", where A's gender never shows). A model then reads both directions of a stated relation from its
    name, instead of having to tell "son" from "daughter" in the backward direction of "[B]'s mother [A]".
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}, not {pairing!r}")
    nlp = nlp if nlp is not None else _default_nlp()
    prepared = (_prepare(text) for text in texts)
    for doc, (text, mentions) in nlp.pipe(prepared, as_tuples=True, batch_size=batch_size):
        yield _read_graph(text, doc, mentions, pairing=pairing, inverses=inverses)


def has_bracketed_names(text: str) -> bool:
    """Whether the story names its people in [brackets] (else `story_graphs` needs an NER pipeline)."""
    return any(m[1].strip() for m in _BRACKETED.finditer(text))


def _prepare(text: str) -> tuple[str, tuple[str, list[Mention]]]:
    """The text spaCy reads (brackets blanked to spaces, so offsets stay), the story and its bracketed names."""
    mentions = [(m[1].strip(), m.start(1) + len(m[1]) - len(m[1].lstrip()), m.start(1) + len(m[1].rstrip()))
                for m in _BRACKETED.finditer(text) if m[1].strip()]  # fmt: skip
    return (re.sub(r"[\[\]]", " ", text) if mentions else text), (text, mentions)


def _read_graph(text: str, doc: Doc, mentions: list[Mention], *, pairing: str, inverses: bool) -> TextGraph:
    if not mentions:
        if not doc.has_annotation("ENT_IOB"):
            raise ValueError(
                "the story names nobody in [brackets] and the spaCy pipeline finds no entities: bracket the "
                f"names or pass an nlp with an 'ner' component (PERSON entities); story: {text[:60]!r}"
            )
        mentions = [(ent.text, ent.start_char, ent.end_char) for ent in doc.ents if ent.label_ == "PERSON"]
    if not doc.has_annotation("SENT_START"):
        raise ValueError("the spaCy pipeline sets no sentence boundaries: add one, e.g. nlp.add_pipe('sentencizer')")
    segments = _segments(text, doc, mentions)
    people = [name for name, _, _ in mentions]
    genders = _genders(segments, people)
    builder = TextGraphBuilder(text)
    for mention in mentions:
        _node(builder, mention)
    for segment in segments:
        sentence = builder.sentence(segment.span)
        edges: dict[tuple[int, int], str] = {}  # (mention a, mention b) -> label, in the order found
        for edge in _typed_relations(segment, people, genders):
            base, gender = edge.relation
            label = relation_name(base, gender or genders.get(people[edge.relative]))
            edges.setdefault((edge.owner, edge.relative), label)
        if inverses:
            for (a, b), label in list(edges.items()):
                edges.setdefault((b, a), inverse_relation(label, genders.get(people[a])))
        connected = {frozenset((people[a], people[b])) for a, b in edges}
        anchored = {b for a, b in edges if a < b} if pairing == "anchored" else set()
        for a, b in _pairs([segment.items[i].mention for i in segment.mentions()], people, pairing=pairing):
            if b not in anchored and frozenset((people[a], people[b])) not in connected:
                connected.add(frozenset((people[a], people[b])))
                edges[a, b] = UNTYPED
        for (a, b), label in edges.items():
            builder.edge(_node(builder, mentions[a]), _node(builder, mentions[b]), label, sentence=sentence,
                         source_span=mentions[a][1:], target_span=mentions[b][1:])  # fmt: skip
    return builder.build()


def _node(builder: TextGraphBuilder, mention: Mention) -> int:
    return builder.node(mention[0], "person", mention[1:])


def _pairs(order: list[int], people: list[str], *, pairing: str) -> list[tuple[int, int]]:
    """Mention pairs (earlier, later) of different people: each with the one before it, or all pairs."""
    if pairing == "all":
        candidates = [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]
    else:
        candidates = list(zip(order, order[1:]))
    return [(a, b) for a, b in candidates if people[a] != people[b]]


def _segments(text: str, doc: Doc, mentions: list[Mention]) -> list[_Segment]:
    """The story's sentences as items, split between adjacent names, joined where a pronoun crosses them."""
    starts = {start: i for i, (_, start, _) in enumerate(mentions)}
    ends = [end for _, _, end in mentions]
    sentences: list[_Segment] = []
    items: list[_Item] = []
    span = [0, 0]

    def close() -> None:
        if items:
            sentences.append(_Segment(_join_in_law(items), _bracketed_span(text, *span)))
            items.clear()

    for sent in doc.sents:
        close()
        open_mention = -1
        for token in sent:
            if token.is_space:
                continue
            begin, finish = token.idx, token.idx + len(token.text)
            if open_mention >= 0 and begin < ends[open_mention]:
                span[1] = finish
                continue  # a later token of the same name
            open_mention = next((starts[c] for c in range(begin, finish) if c in starts), -1)
            if open_mention >= 0 and items and items[-1].mention >= 0:
                close()  # two names in a row: a sentence ended without a full stop
            if not items:
                span[0] = begin
            items.append(_Item("" if open_mention >= 0 else token.lower_, open_mention, len(sentences)))
            span[1] = finish
    close()
    return _join_pronoun_sentences(sentences)


def _bracketed_span(text: str, start: int, end: int) -> tuple[int, int]:
    """A sentence's character span, widened over a bracket that opens or closes it."""
    start = start - 1 if start > 0 and text[start - 1] == "[" else start
    end = end + 1 if end < len(text) and text[end] == "]" else end
    return start, end


def _join_in_law(items: list[_Item]) -> list[_Item]:
    """Tokens "father - in - law" as one word "father-in-law"."""
    out: list[_Item] = []
    for item in items:
        out.append(item)
        words = [x.word for x in out[-5:]]
        if len(out) >= 5 and words[1:] == ["-", "in", "-", "law"] and all(x.mention < 0 for x in out[-5:]):
            out[-5:] = [_Item(words[0] + "-in-law", -1, item.sentence)]
    return out


def _join_pronoun_sentences(sentences: list[_Segment]) -> list[_Segment]:
    segments: list[_Segment] = []
    for sentence in sentences:
        tied = segments and (_dangles(segments[-1]) or _points_back(sentence) or _owns_relative_ahead(sentence)
                             or _names_the_relative(segments[-1], sentence))
        if tied and segments[-1].mentions() and sentence.mentions():
            last = segments[-1]
            segments[-1] = _Segment(last.items + sentence.items, (last.span[0], sentence.span[1]))
        else:
            segments.append(sentence)
    return segments


def _dangling_phrases(segment: _Segment) -> list[_Phrase]:
    """Pronoun phrases like "his sister" that no name follows (and that do not follow one: "[B], his son")."""
    items = segment.items
    found = []
    for i, item in enumerate(items):
        if item.kin is None or _named_after(items, i):
            continue
        phrase = _phrase_before(items, i)
        if phrase and phrase.owner == "pronoun" and not (
            phrase.at >= 2 and items[phrase.at - 1].word in (",", "is", "was") and items[phrase.at - 2].mention >= 0
        ):
            found.append(phrase)
    return found


def _dangles(segment: _Segment) -> bool:
    """One person named, and a relative spoken of without a name: "[A] likes to visit his sister." """
    people = {segment.items[i].mention for i in segment.mentions()}
    single_sentence = segment.items[-1].sentence == segment.items[0].sentence
    return single_sentence and len(people) == 1 and bool(_dangling_phrases(segment))


def _names_the_relative(segment: _Segment, sentence: _Segment) -> bool:
    """A relative spoken of without a name after the last person a segment names, and a next sentence that
    names them: "[A] went to her father [B]'s party [C] is proud of his daughter. Her name is [D]." (two
    sentences run together without a full stop)."""
    words = [item.word for item in sentence.items[:4]]
    if len(words) < 4 or words[0] not in ("his", "her") or words[1:3] not in (["name", "is"], ["name", "was"]) \
            or sentence.items[3].mention < 0 or segment.items[-1].sentence != segment.items[0].sentence:  # fmt: skip
        return False
    last = segment.mentions()[-1] if segment.mentions() else len(segment.items)
    return any(phrase.at > last for phrase in _dangling_phrases(segment))


def _owns_relative_ahead(sentence: _Segment) -> bool:
    """A pronoun phrase with no name before the sentence's first name: "When his wife never returned, [A] called
    the police." (the wife is named in an earlier sentence)."""
    mentions = sentence.mentions()
    return bool(mentions) and any(phrase.at < mentions[0] for phrase in _dangling_phrases(sentence))


def _points_back(sentence: _Segment) -> bool:
    """The first name is tied to a pronoun with nobody named before it: "Then he met his son [B].",
    "[B], his other daughter, was napping." """
    mentions = sentence.mentions()
    if not mentions:
        return False
    first = mentions[0]
    phrase = _left_phrase(sentence.items, first)
    if phrase is not None:
        return phrase.owner == "pronoun"
    return _apposition(sentence.items, first) is not None


def _named_after(items: list[_Item], i: int) -> bool:
    """Whether the kin word at `i` is followed by a name (after an optional comma) or by "'s" (compound)."""
    j = i + 1
    if j < len(items) and items[j].word in _POSSESSIVE:
        return True
    if j < len(items) and items[j].word == ",":
        j += 1
    return j < len(items) and items[j].mention >= 0


@dataclass
class _Phrase:
    """A kinship phrase read back from its kin word, and whose relative it names (the owner).

    owner: "mention" ("[A]'s son": `mention` is A), "pronoun" ("his son": `word` is the pronoun) or
    "subject" ("has a son named", "the new maternal grandmother": the sentence's subject);
    at: item index of the owner (mention or pronoun), or of the phrase's first word for "subject"
    """

    relation: tuple[str, str | None]
    owner: str
    at: int
    word: str = ""
    mention: int = -1


def _phrase_before(items: list[_Item], i: int) -> _Phrase | None:
    """Read back from the kin word at `i`: "[A]'s older brother", "her daughter's son" (composed),
    "his son", "has three kids", "the new maternal grandmother" (of the subject's newborn: a parent)."""
    relation = items[i].kin
    j = i - 1
    while True:
        adjectives = []
        while j >= 0 and items[j].adjective and len(adjectives) < _MAX_ADJECTIVES:
            adjectives.append(items[j].word)
            j -= 1
        if j < 0:
            return None
        word = items[j].word
        if items[j].mention >= 0:  # "took [A] daughter [B]": CLUTRR's possessive without "'s"
            return _Phrase(relation, "mention", j, mention=items[j].mention)
        if word in _POSSESSIVE and j > 0:
            before = items[j - 1]
            if before.mention >= 0:
                return _Phrase(relation, "mention", j - 1, mention=before.mention)
            composed = before.kin and compose_relations(relation_name(*before.kin), relation_name(*relation))
            if not composed:
                return None
            relation, j = base_relation(composed), j - 2
            continue
        if word in _PRONOUNS:
            return _Phrase(relation, "pronoun", j, word=word)
        if word == "the" and relation[0] == "grandparent" and _GRANDPARENT_OF_NEWBORN & set(adjectives):
            return _Phrase(("parent", relation[1]), "subject", j)
        if word in _HAVE or (word in ("a", "an") and j > 0 and items[j - 1].word in _HAVE):
            return _had_by(items, relation, j)
        if word in _OWNERLESS_BEFORE and j > 0:  # "[A] spends her time with daughter [B]"
            return _Phrase(relation, "subject", j + 1)
        return None


def _had_by(items: list[_Item], relation: tuple[str, str | None], at: int) -> _Phrase:
    """ "has a son" at `at` ("has" or its "a"): the subject's son, or, after "[B] who", B's ("[A] has a daughter
    named [B] who has a son named [C]")."""
    have = at if items[at].word in _HAVE else at - 1
    if have >= 2 and items[have - 1].word == "who" and items[have - 2].mention >= 0:
        return _Phrase(relation, "mention", have - 2, mention=items[have - 2].mention)
    return _Phrase(relation, "subject", at)


def _left_phrase(items: list[_Item], i: int) -> _Phrase | None:
    """The kinship phrase that introduces the mention at `i` ("his son, [B]", "[A]'s wife is [B]"), a naming ("has a son
    named [B]", "has children named [B]", "gave birth to a boy and named him [B]") or an adoption ("they
    adopted [B]": their child)."""
    j = i - 1
    if j >= 0 and items[j].word in (",", ":"):
        j -= 1
        j -= _clause_before(items, j)
    if j > 0 and items[j].word in ("is", "was") and (items[j - 1].kin or items[j - 1].word == "who"):
        j -= 1 + (items[j - 1].word == "who")  # "[A]'s wife is [B]", "has a grandson who is [B]"
    if j < 0:
        return None
    if items[j].kin is not None:
        return _phrase_before(items, j) or _joined_by_and(items, j)
    if items[j].word == "adopted":
        return _Phrase(("child", None), "pronoun", j, word="their")
    if items[j].word in ("him", "her") and j > 0 and items[j - 1].word in _NAMING:
        j -= 1
    if items[j].word in _NAMING:
        for back in range(j - 1, max(j - 12, 0) - 1, -1):
            if items[back].mention >= 0:
                return None
            kin = items[back].kin or _NEWBORN.get(items[back].word)
            start = back  # "has a lovely granddaughter named [B]"
            while kin and start > 1 and items[start - 1].adjective and back - start < _MAX_ADJECTIVES:
                start -= 1
            if kin and start > 0 and items[start - 1].word in ("a", "an", *_HAVE):
                return _had_by(items, kin, start - 1)
    return None


def _joined_by_and(items: list[_Item], i: int) -> _Phrase | None:
    """ "[A] and granddaughter [B]": the kin word at `i` after "and" right after a name, that name its owner."""
    j = i - 1
    while j >= 0 and items[j].adjective and i - j <= _MAX_ADJECTIVES:
        j -= 1
    if j >= 1 and items[j].word == "and" and items[j - 1].mention >= 0:
        return _Phrase(items[i].kin, "mention", j - 1, mention=items[j - 1].mention)
    return None


def _clause_before(items: list[_Item], j: int) -> int:
    """The length of a relative clause "who is a male" ending at `j` after a kin word ("her husband who is a
    male, [B]"), else 0."""
    for length in range(4, 4 + _MAX_ADJECTIVES):
        start = j - length + 1
        if start < 1 or items[start].word != "who" or items[start - 1].kin is None:
            continue
        clause = items[start + 1 : j + 1]
        if clause[0].word in ("is", "was") and clause[1].word in ("a", "an") and all(x.adjective for x in clause[2:]):
            return length
    return 0


def _phrase_after(items: list[_Item], i: int) -> tuple[tuple[str, str | None], int] | None:
    """Read forward from "'s" at `i`: "'s older brother" -> (relation, index of the last kin word)."""
    relation = None
    while i < len(items) and items[i].word in _POSSESSIVE:
        j = i + 1
        while j < len(items) and items[j].adjective and j - i <= _MAX_ADJECTIVES:
            j += 1
        if j >= len(items) or items[j].kin is None:
            break
        composed = compose_relations(relation_name(*relation), relation_name(*items[j].kin)) if relation else None
        if relation and not composed:
            return None
        relation = base_relation(composed) if composed else items[j].kin
        end, i = j, j + 1
    return (relation, end) if relation else None


def _apposition(items: list[_Item], p: int) -> _Phrase | None:
    """ "[B], his son,", "[B] is his son" or "[B] his grandfather": a pronoun phrase right after the
    mention at `p`."""
    j = p + 1
    if j < len(items) and items[j].word in (",", "is", "was"):
        j += 1
    if j >= len(items) or items[j].word not in _PRONOUNS:
        return None
    k = j + 1
    while k < len(items) and items[k].adjective and k - j <= _MAX_ADJECTIVES:
        k += 1
    if k < len(items) and items[k].kin and not _named_after(items, k):
        return _Phrase(items[k].kin, "pronoun", j, word=items[j].word)
    return None


def _owners(
    items: list[_Item], phrase: _Phrase, relative: int, people: list[str], genders: dict[str, str],
    introduced: dict[int, _Introduced],
) -> list[int]:
    """The mentions whose relative `phrase` names, never the relative itself: the named owner ("[A]'s son");
    for "their" everybody named before it in the segment; otherwise the nearest person named before it whose
    gender (when known) fits the pronoun, except that a person introduced the same way ("[A] took his son
    [B] to see his sister [C]", "[A] has a son named [B] and a daughter named [C]") hands it on to their own
    owner (A)."""
    if phrase.owner == "mention":
        return [phrase.mention] if people[phrase.mention] != people[relative] else []
    candidates = [i for i, x in enumerate(items[: phrase.at]) if x.mention >= 0
                  and people[x.mention] != people[relative]]  # fmt: skip
    if phrase.word == "their":
        return list({people[items[i].mention]: items[i].mention for i in reversed(candidates)}.values())[::-1]
    gender = _PRONOUNS.get(phrase.word)
    fitting = [i for i in candidates if gender is None or genders.get(people[items[i].mention], gender) == gender]
    for i in reversed(fitting or candidates):
        earlier = introduced.get(i)
        if earlier is None or earlier.how != (phrase.owner, phrase.word):
            return [items[i].mention]
        owners = [owner for owner in earlier.owners if people[owner] != people[relative]]
        if owners:
            return owners
    return []


def _through_unnamed(items: list[_Item], phrase: _Phrase, people: list[str], genders: dict[str, str],
                     ) -> _Phrase | None:
    """ "[A] wanted to buy his sister a gift but her son [B]": nobody named before "her" is female, but the
    unnamed "his sister" is, so B is A's sister's son, A's nephew (the phrase composed through her)."""
    gender = _PRONOUNS.get(phrase.word) if phrase.owner == "pronoun" else None
    named = [people[x.mention] for x in items[: phrase.at] if x.mention >= 0]
    if gender is None or not named or any(genders.get(name, gender) == gender for name in named):
        return None
    for i in range(phrase.at - 1, -1, -1):
        kin = items[i].kin
        if kin is not None and kin[1] == gender and not _named_after(items, i):
            unnamed = _phrase_before(items, i)
            composed = unnamed and compose_relations(relation_name(*kin), relation_name(*phrase.relation))
            if not composed:
                return None
            return _Phrase(base_relation(composed), unnamed.owner, unnamed.at, unnamed.word, unnamed.mention)
    return None


@dataclass
class _Introduced:
    """How a mention was introduced: "his son [B]" -> owners [A], relation son, pronoun "his"."""

    owners: list[int]
    relation: tuple[str, str | None]
    plural: bool = False  # by a plural ("his brothers [B] and [C]"): a list may go on
    how: tuple[str, str] = ("", "")  # the phrase's (owner kind, pronoun)


def _typed_relations(segment: _Segment, people: list[str], genders: dict[str, str]) -> list[_Typed]:
    """The kinship relations a segment states between its mentions."""
    items = segment.items
    positions = segment.mentions()
    found: list[_Typed] = []
    introduced: dict[int, _Introduced] = {}  # mention position -> how it was introduced

    def add(phrase: _Phrase, p: int, *, plural: bool = False) -> None:
        phrase = _through_unnamed(items, phrase, people, genders) or phrase
        owners = _owners(items, phrase, items[p].mention, people, genders, introduced)
        found.extend(_Typed(owner, items[p].mention, phrase.relation) for owner in owners)
        if owners:
            introduced[p] = _Introduced(owners, phrase.relation, plural, (phrase.owner, phrase.word))

    dangling = _dangling_phrases(segment)
    for n, p in enumerate(positions):
        previous = positions[n - 1] if n else -1
        phrase = _left_phrase(items, p)
        listed = _listed(items, previous, p, introduced[previous].how[1]) if previous in introduced else None
        if listed is not None and (listed or introduced[previous].plural):
            # "his brothers [A] and [B]", "her son [A] and daughter [B]", "his son [A] and his daughter [B]"
            earlier = introduced[previous]
            relation = listed or earlier.relation
            found.extend(_Typed(owner, items[p].mention, relation) for owner in earlier.owners)
            plural = any(x.word in _PLURAL_KIN for x in items[previous + 1 : p]) if listed else earlier.plural
            introduced[p] = _Introduced(earlier.owners, relation, plural, earlier.how)
            if {relation[0], earlier.relation[0]} <= {"child", "sibling"}:  # two children of A: siblings
                found.append(_Typed(items[previous].mention, items[p].mention, ("sibling", relation[1])))
            elif relation[0] == earlier.relation[0] == "parent":  # "her parents, [B] and [C]": a couple
                found.append(_Typed(items[previous].mention, items[p].mention, ("spouse", relation[1])))
        elif phrase is not None:
            add(phrase, p, plural=any(x.word in _PLURAL_KIN for x in items[phrase.at : p]))
        elif n and items[p].sentence != items[previous].sentence:
            earlier = [phrase for phrase in dangling if phrase.at < p]
            if earlier and items[earlier[-1].at].sentence == items[p].sentence:
                # "[B] took a walk. When his wife never returned, [A] called the police."
                found.extend(_unnamed_relative(items, earlier[-1], p, people, genders))
            elif earlier:  # "[A] likes his sister. Her name is [B]."
                add(earlier[-1], p)
        appositive = _apposition(items, p)
        if appositive is not None:
            add(appositive, p)
        if n + 1 < len(positions):
            found.extend(_relations_between(items, p, positions[n + 1], people, genders))
    found.extend(_siblings_of_their_parent(items, people, genders))
    return found


def _unnamed_relative(items: list[_Item], phrase: _Phrase, p: int, people: list[str], genders: dict[str, str],
                      ) -> list[_Typed]:
    """A pronoun phrase before the sentence's first name, which owns it ("When his wife never returned, [A]
    called the police."), names a relative from an earlier sentence: the last person named there whose gender
    (as the story shows it) is the relative's."""
    owner = items[p].mention
    relative_gender = phrase.relation[1]
    if relative_gender is None or genders.get(people[owner], _PRONOUNS[phrase.word]) != _PRONOUNS[phrase.word]:
        return []
    for item in reversed(items[:p]):
        if item.mention >= 0 and item.sentence < items[p].sentence and people[item.mention] != people[owner] \
                and genders.get(people[item.mention]) == relative_gender:  # fmt: skip
            return [_Typed(owner, item.mention, phrase.relation)]
    return []


def _siblings_of_their_parent(items: list[_Item], people: list[str], genders: dict[str, str]) -> list[_Typed]:
    """ "[A] and [B] asked their mother": A and B, who share a parent, are siblings."""
    for i, item in enumerate(items):
        phrase = _phrase_before(items, i) if item.kin and item.kin[0] == "parent" else None
        if phrase is not None and phrase.word == "their":
            owners = list({people[x.mention]: x.mention for x in items[: phrase.at] if x.mention >= 0}.values())
            return [_Typed(a, b, ("sibling", genders.get(people[b]))) for a, b in zip(owners, owners[1:])]
    return []


def _listed(items: list[_Item], previous: int, p: int, pronoun: str) -> tuple[str, str | None] | tuple[()] | None:
    """Whether the mention at `p` continues a list after the mention at `previous` (introduced with
    `pronoun`): ", and [B]" gives (), "and son [B]" or "and his son [B]" gives son's relation; None when
    the words between are no list."""
    words = items[previous + 1 : p]
    i = 0
    while i < len(words) and words[i].word in (",", "and"):
        i += 1
    if i == 0:
        return None
    if i < len(words) and words[i].word in _PRONOUNS:  # "his son [A] and his daughter [B]"
        if words[i].word != pronoun:
            return None
        i += 1
    while i < len(words) and words[i].adjective and i < _MAX_ADJECTIVES + 2:
        i += 1
    kin = words[i].kin if i < len(words) else None
    i += kin is not None
    i += i < len(words) and words[i].word == ","
    return None if i < len(words) else (kin or ())


def _relations_between(
    items: list[_Item], p: int, q: int, people: list[str], genders: dict[str, str]
) -> list[_Typed]:
    """Relations stated from the mention at `p` (B) to the next one at `q` (A): "B is the father of A",
    "B is A's brother", "B, A's sister,", "B and A are siblings", "B and A got married"."""
    relative, owner = items[p].mention, items[q].mention
    middle = [item.word for item in items[p + 1 : q]]
    if "of" in middle:  # "[B] is the father of [A]", "[B], who is the sister of [A]"
        of = middle.index("of")
        kin = items[p + of].kin if of > 0 else None
        after = middle[of + 1 :]
        if kin and _only_links(middle[: of - 1]) and len(after) <= 3 and all(w.isalpha() for w in after):
            return [_Typed(owner, relative, kin)]
        return []
    if middle and all(w in (",", "is", "was", "who") for w in middle):  # "[B] is [A]'s brother"
        phrase = _phrase_after(items, q + 1)
        if phrase is not None and not _named_after(items, phrase[1]):
            return [_Typed(owner, relative, phrase[0])]
    if middle in (["and"], [","], [",", "and"]):
        rest = [item.word for item in items[_list_end(items, q) + 1 :]]
        if rest[:1] in (["are"], ["were"]) and rest[1:2] in (["all"], ["both"]):
            del rest[1]
        kin = _KIN_WORDS.get(rest[1]) if len(rest) > 1 and rest[0] in ("are", "were") else None
        if kin and kin[0] in ("sibling", "spouse"):  # "[B] and [A] are siblings", "[B], [A] and [C] were all siblings"
            return [_Typed(relative, owner, (kin[0], kin[1] or genders.get(people[owner])))]
        if middle == ["and"] and _MARRIAGE & set(rest):  # "[B] and [A] have a happy marriage"
            return [_Typed(relative, owner, ("spouse", genders.get(people[owner])))]
    return []


def _list_end(items: list[_Item], q: int) -> int:
    """The item index of the last name of the list of names that goes on from the one at `q` ("[A], [B], and [C]")."""
    end, i = q, q + 1
    while i < len(items) and items[i].word in (",", "and"):
        i += 1
        if i < len(items) and items[i].mention >= 0:
            end, i = i, i + 1
    return end


def _only_links(words: list[str]) -> bool:
    adjectives = [w for w in words if w not in _LINK_WORDS]
    return len(adjectives) <= _MAX_ADJECTIVES and all(w.isalpha() for w in adjectives)


def _genders(segments: list[_Segment], people: list[str]) -> dict[str, str]:
    """Each person's gender as the story shows it, from the strongest evidence there is: the kinship words
    that name them ("his son [B]": B is male), the possessive pronouns that can only point at them ("[A]
    and her son": A is female), the pronouns of sentences that name nobody else ("[A] said she ...")."""
    evidence: list[dict[str, Counter]] = [defaultdict(Counter) for _ in range(3)]
    for segment in segments:
        for edge in _typed_relations(segment, people, {}):
            if edge.relation[1]:
                evidence[0][people[edge.relative]][edge.relation[1]] += 1
        items = segment.items
        sentences: dict[int, list[_Item]] = defaultdict(list)
        for i, item in enumerate(items):
            sentences[item.sentence].append(item)
            phrase = _phrase_before(items, i) if item.kin else None
            if phrase and phrase.owner == "pronoun" and _PRONOUNS[phrase.word]:
                before = {people[x.mention] for x in items[: phrase.at] if x.mention >= 0}
                if len(before) == 1:
                    evidence[1][before.pop()][_PRONOUNS[phrase.word]] += 1
        for sentence in sentences.values():
            persons = {people[x.mention] for x in sentence if x.mention >= 0}
            if len(persons) == 1:
                evidence[2][persons.pop()].update(
                    _GENDERED_PRONOUNS[x.word] for x in sentence if x.word in _GENDERED_PRONOUNS)  # fmt: skip
    genders = {}
    for tier in reversed(evidence):
        genders.update({name: votes.most_common(1)[0][0] for name, votes in tier.items() if votes})
    return genders


# ---------------------------------------------------------------------------------------------------------------
# Evaluation against the gold graphs
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class StoryGraphMetrics:
    """Story graphs against CLUTRR's gold graphs (counts; rates as properties).

    Gold edges and graph edges are distinct unordered person pairs; a gold edge is recovered when the graph
    connects the two people (either direction). Labels are checked on the recovered chain edges (those with
    a gold type): our typed edges between the two people, turned into the gold edge's direction, must all
    equal the gold type. Turning (B, rel, A) around needs B's gender, taken from the gold genders
    (evaluation only). An untyped or ungendered label ("sibling") counts as wrong.
    """

    stories: int = 0
    gold_people: int = 0
    people_found: int = 0
    gold_edges: int = 0
    edges_recovered: int = 0
    gold_edges_person_absent: int = 0  # gold edges with a person the story never names (a CLUTRR data defect)
    typed_gold_edges: int = 0  # recovered gold edges that have a gold type
    labels_given: int = 0  # ... of which our graph typed at least one edge
    labels_correct: int = 0
    labels_reversed: int = 0  # wrong because the text states the gold relation the other way round
    graph_edges: int = 0
    extra_edges: int = 0  # graph edges that are not gold story edges

    @property
    def entity_recall(self) -> float:
        return self.people_found / max(self.gold_people, 1)

    @property
    def edge_recall(self) -> float:
        return self.edges_recovered / max(self.gold_edges, 1)

    @property
    def label_accuracy(self) -> float:
        return self.labels_correct / max(self.typed_gold_edges, 1)

    @property
    def label_accuracy_unreversed(self) -> float:
        """Label accuracy without the gold edges whose sentence states the relation the other way round."""
        return self.labels_correct / max(self.typed_gold_edges - self.labels_reversed, 1)

    @property
    def extra_edges_per_story(self) -> float:
        return self.extra_edges / max(self.stories, 1)

    def update(self, other: StoryGraphMetrics) -> None:
        """Add `other`'s counts to these."""
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def to_dict(self) -> dict[str, float]:
        rates = ("entity_recall", "edge_recall", "label_accuracy", "label_accuracy_unreversed", "extra_edges_per_story")
        return {**asdict(self), **{name: round(getattr(self, name), 6) for name in rates}}


def evaluate_story_graphs(
    records: Iterable[ClutrrRecord], *, nlp: Language | None = None, pairing: str = "consecutive",
    inverses: bool = False,
) -> StoryGraphMetrics:
    """Build each record's story graph (from its text only) and score it against the record's gold (with
    `inverses`, a label is right only when the inverse edge, with the gender the story reader found, is too)."""
    pending: deque[ClutrrRecord] = deque()

    def stories() -> Iterator[str]:
        for record in records:
            pending.append(record)
            yield record.story

    metrics = StoryGraphMetrics()
    for graph in story_graphs(stories(), nlp=nlp, pairing=pairing, inverses=inverses):
        record = pending.popleft()
        metrics.update(score_story_graph(graph, record.gold, story=record.story))
    return metrics


def text_chain(graph: TextGraph, gold: ClutrrGold) -> tuple[str, ...]:
    """The gold chain (`f_comb`) as the story's text states it: each chain edge "B is A's rel" that the story graph
    types the other way round (an edge B -> A typed rel or its ungendered base: the sentence says A is B's rel,
    "[Charles] got his son, [Frank], a car" for the gold "Charles is Frank's son") turned into what that says of B,
    inverse_relation(rel, B's gender); relations that are their own inverse (sibling, spouse) read the same either
    way. EVALUATION ONLY (reads the gold); equal to `gold.f_comb` when the text agrees with every chain edge."""
    typed = {(graph.nodes[s], graph.nodes[t]): label for (s, t), label in zip(graph.edges.tolist(), graph.edge_labels)}
    chain = []
    for person, relation, relative in gold.typed_edges():
        base = RELATIONS[relation][0]
        against = KINSHIP[base][2] != base and typed.get((relative, person)) in (relation, base)
        chain.append(inverse_relation(relation, gold.genders.get(relative)) if against else relation)
    return tuple(chain)


def score_story_graph(graph: TextGraph, gold: ClutrrGold, *, story: str | None = None) -> StoryGraphMetrics:
    """One story graph against its gold (see `StoryGraphMetrics`); `story` (the text) lets it count the gold
    edges whose people the text never names."""
    typed: dict[tuple[str, str], list[str]] = defaultdict(list)  # (A, B) -> our labels: "B is A's label"
    pairs = set()
    for (s, t), label in zip(graph.edges.tolist(), graph.edge_labels):
        a, b = graph.nodes[s], graph.nodes[t]
        if a != b:
            pairs.add(frozenset((a, b)))
            if label != UNTYPED:
                typed[a, b].append(label)
    gold_pairs = gold.edge_pairs()
    absent = {p for p in gold.people if story is not None and not re.search(rf"\b{re.escape(p)}\b", story)}
    metrics = StoryGraphMetrics(
        stories=1,
        gold_people=len(gold.people),
        people_found=len(set(gold.people) & set(graph.nodes)),
        gold_edges=len(gold_pairs),
        edges_recovered=len(gold_pairs & pairs),
        gold_edges_person_absent=sum(bool(pair & absent) for pair in gold_pairs),
        graph_edges=len(pairs),
        extra_edges=len(pairs - gold_pairs),
    )
    for a, rel, b in gold.typed_edges():
        if frozenset((a, b)) not in pairs:
            continue
        turned = [inverse_relation(label, gold.genders[b]) if label in RELATIONS else label for label in typed[b, a]]
        ours = typed[a, b] + turned
        metrics.typed_gold_edges += 1
        metrics.labels_given += bool(ours)
        correct = bool(ours) and all(label == rel for label in ours)
        metrics.labels_correct += correct
        metrics.labels_reversed += not correct and rel in typed[b, a] and rel not in turned
    return metrics
