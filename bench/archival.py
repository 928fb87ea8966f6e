"""Archival search: latency and recall@10 of the product's search at 10,000 and 100,000
passages (issue 7, item 5; target at 100,000: p95 under 20 ms with recall at least 0.95).

The data is synthetic prose embedded with the local embedder (`local/hashing-bow`), the
one every offline install uses, rather than random unit vectors: the index then sees the
vectors Reverie really stores. Those vectors are lexical: a few hundred non-zero
coordinates out of 1536, and texts that share no word are nearly orthogonal. That is a
hard case for an HNSW graph (many almost equidistant neighbours), so recall measured here
is, if anything, lower than with a dense embedding model, whose vectors have far fewer
effective dimensions. Clustered random vectors would make recall whatever the chosen
cluster spread makes it. Each passage mixes common words with the words of one or two of
400 topics of uneven popularity; a query is a short keyword question, two to four words
of a stored passage (what a person types when recalling something they told the agent)
or of a topic, sometimes after a question word.

The table is shared, as in any deployment with several agents: the searched agent sees
90% of the passages (its own and those of a source attached to it), another agent 1%
(the selective-filter case, reported apart), a third agent the rest.

Latency is the product's service, `memory.services.search_passages`, which the
`archival_memory_search` tool and the API both call: the query's embedding (measured
apart on the same text), the SQL (every statement the call runs) and the whole call.

The search is hybrid (issue 18): the vector ranking (HNSW, approximate) fused with a
full-text ranking by Reciprocal Rank Fusion. Recall@10 compares its top 10 with the exact
hybrid top 10 of the same rows, computed once per query: the exact vector ranking by a
sequential scan (index scans off), fused by the same rule with the full-text ranking (exact
by nature: every matching row is ranked), both as deep as the product's. It is the same
definition as before with the product's new ranking in it; `vector_recall_at_10` is the
old figure, the product's vector ranking alone (`full_text=False`) against the exact vector
top 10, on the same queries, so the two can be compared. Rows load by binary COPY with the
HNSW and full-text indexes dropped (the trigger still fills every row's search vector), and
the indexes are built afterwards, as after a bulk import.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import statistics
import struct
import sys
import time
import uuid
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import Context, percentile, summary

SIZES = (10_000, 100_000)
TOP_K = 10
QUERIES = 200  # on the searched agent, at each size
SELECTIVE_QUERIES = 100  # on the agent that owns 1% of the table
WARMUP = 20
HANDLE = "local/hashing-bow"
INDEX_NAME = "passage_embedding_hnsw"
TEXT_INDEX_NAME = "passage_search_vector_gin"
# Who owns what share of the table (the rest belongs to a third agent).
OWN_SHARE = 0.65
SOURCE_SHARE = 0.25
SELECTIVE_SHARE = 0.01
# ef_search values tried through the product's search, for the recall/latency trade-off.
EF_SWEEP = (40, 100, 150)
SWEEP_QUERIES = 100
# Stored passages used as queries: they look like the rest of the table, unlike short
# questions, which tells the index's quality apart from the queries' difficulty.
PASSAGE_QUERIES = 30


# --- Synthetic prose -----------------------------------------------------------------------

FUNCTION_WORDS = (
    "the a of to and in is was for on that with it as at by from we he she they i you my "
    "our this be have had not but or an about after before when will would can said told "
    "her his their there then so if all one do did has been more what which who up out"
).split()
ONSETS = "b c d f g h k l m n p r s t v w br cl dr fl gr pl st tr sh ch th".split()
VOWELS = "a e i o u a e i o ea ai ou".split()
CODAS = ["", "", "", "", "n", "r", "s", "l", "m", "t", "nd", "st", "rk"]
SUFFIXES = ("s", "ed", "ing", "er")
# The question words among FUNCTION_WORDS (a query's words must be in the vocabulary).
QUESTION_WORDS = ("what", "when", "who", "which")


def zipf_weights(count: int, exponent: float) -> list[float]:
    """Cumulative weights (what `random.choices` wants to draw fast) of Zipf's law."""
    return list(itertools.accumulate(1 / (rank + 1) ** exponent for rank in range(count)))


@dataclass
class Corpus:
    """A deterministic generator of passages and queries shaped like language: function
    words, a content vocabulary of English-like word lengths used with Zipf's law, topics
    that favour some of its words, and inflected forms (which the embedder's trigrams
    partly match)."""

    seed: int = 7
    vocabulary_size: int = 20_000
    topics: int = 400
    words_per_topic: int = 40
    rng: random.Random = field(init=False)
    vocabulary: list[str] = field(init=False)
    vocabulary_weights: list[float] = field(init=False)
    topic_words: list[list[str]] = field(init=False)
    topic_weights: list[float] = field(init=False)
    function_weights: list[float] = field(init=False)
    in_topic_weights: list[float] = field(init=False)
    # Queries draw from their own generator, so that changing how queries are made never
    # changes the passages stored.
    query_rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.query_rng = random.Random(self.seed + 1)
        words: set[str] = set()
        while len(words) < self.vocabulary_size:
            syllables = self.rng.choice((1, 2, 2, 2, 3, 3))
            words.add(
                "".join(
                    self.rng.choice(ONSETS) + self.rng.choice(VOWELS) + self.rng.choice(CODAS)
                    for _ in range(syllables)
                )
            )
        self.vocabulary = sorted(words)
        self.rng.shuffle(self.vocabulary)
        self.vocabulary_weights = zipf_weights(self.vocabulary_size, 1.0)
        # A topic's characteristic words are rarer than the commonest ones overall.
        self.topic_words = [
            self.rng.sample(self.vocabulary[200:], self.words_per_topic) for _ in range(self.topics)
        ]
        self.topic_weights = zipf_weights(self.topics, 0.7)
        self.function_weights = zipf_weights(len(FUNCTION_WORDS), 1.0)
        self.in_topic_weights = zipf_weights(self.words_per_topic, 0.8)

    def inflect(self, word: str) -> str:
        return word + self.rng.choice(SUFFIXES) if self.rng.random() < 0.2 else word

    def passage(self) -> list[str]:
        """15 to 60 words: 45% function words, 30% from its main topic, 10% from a second
        topic, 15% from the whole vocabulary."""
        rng = self.rng
        main, second = rng.choices(self.topic_words, cum_weights=self.topic_weights, k=2)
        words: list[str] = []
        for draw in rng.choices((0, 1, 2, 3), cum_weights=(45, 75, 85, 100), k=rng.randint(15, 60)):
            if draw == 0:
                words.append(rng.choices(FUNCTION_WORDS, cum_weights=self.function_weights)[0])
                continue
            if draw == 3:
                word = rng.choices(self.vocabulary, cum_weights=self.vocabulary_weights)[0]
            else:
                topic = main if draw == 1 else second
                word = rng.choices(topic, cum_weights=self.in_topic_weights)[0]
            words.append(self.inflect(word))
        return words

    def query(self, stored: list[list[str]]) -> str:
        """A short keyword question, as a person types one: most recall one stored
        passage by two to four of its content words (as it has them: inflected or not);
        some ask about a topic in general by its words. Three in ten start with a
        question word."""
        rng = self.query_rng
        if rng.random() < 0.7:
            content = sorted({word for word in rng.choice(stored) if word not in FUNCTION_WORDS})
            words = rng.sample(content, min(len(content), rng.randint(2, 4)))
        else:
            topic = rng.choices(self.topic_words, cum_weights=self.topic_weights)[0]
            words = rng.sample(topic, rng.randint(2, 4))
        if rng.random() < 0.3:
            words.insert(0, rng.choice(QUESTION_WORDS))
        return " ".join(words)


def as_text(words: list[str]) -> str:
    return " ".join(words).capitalize() + "."


class Embedder:
    """The local embedder's vectors, fast enough for 100,000 passages.

    `embed_text` hashes every word and trigram of every text; here each distinct word's
    hashed features are computed once and summed in text order, which performs the same
    additions in the same order. `check` compares the two on sample texts.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.features: dict[str, list[tuple[int, float]]] = {}

    def _word(self, word: str) -> list[tuple[int, float]]:
        # The product's hashing of one feature; private, but the point is to use exactly it.
        from llm.local_embedder import _bucket

        index, sign = _bucket("w:" + word, self.dim)
        features = [(index, sign)]
        padded = f"#{word}#"
        for start in range(len(padded) - 2):
            index, sign = _bucket("t:" + padded[start : start + 3], self.dim)
            features.append((index, 0.5 * sign))
        return features

    def sparse(self, words: list[str]) -> dict[int, float]:
        total: dict[int, float] = {}
        for word in words:
            features = self.features.get(word)
            if features is None:
                features = self.features[word] = self._word(word)
            for index, value in features:
                total[index] = total.get(index, 0.0) + value
        norm = math.sqrt(sum(total[index] ** 2 for index in sorted(total)))
        return {index: value / norm for index, value in total.items()}

    def binary(self, words: list[str]) -> bytes:
        """pgvector's binary wire format: dimensions, a reserved word, big-endian floats."""
        values = array("f", bytes(4 * self.dim))
        for index, value in self.sparse(words).items():
            values[index] = value
        if sys.byteorder == "little":
            values.byteswap()
        return struct.pack(">HH", self.dim, 0) + values.tobytes()

    def check(self, samples: list[list[str]]) -> None:
        from llm.local_embedder import embed_text

        for words in samples:
            expected = embed_text(as_text(words), self.dim)
            got = self.sparse(words)
            assert all(abs(expected[i] - got.get(i, 0.0)) < 1e-9 for i in range(self.dim))


# --- Loading -------------------------------------------------------------------------------


@dataclass
class Owners:
    user_id: int
    agent_id: str  # the searched agent
    source_id: str  # attached to it
    selective_agent_id: str  # owns 1% of the table
    other_agent_id: str  # owns the rest


def copy_passages(rows: Iterator[tuple[Any, ...]]) -> None:
    """Binary COPY into memory_passage; the vector travels as raw bytes in pgvector's
    binary format (a binary COPY field carries no type, the column's receive function
    reads it)."""
    from django.db import connection
    from psycopg.types.json import Jsonb

    columns = (
        "id owner_id agent_id source_id page chunk_index text embedding embedding_handle "
        "tags metadata created_at updated_at"
    ).split()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute "
            "WHERE attrelid = 'memory_passage'::regclass AND attnum > 0 AND NOT attisdropped"
        )
        oids = dict(cursor.fetchall())
        oids["embedding"] = 17  # bytea: passed through untouched
        raw = cursor.cursor
        statement = f"COPY memory_passage ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        with raw.copy(statement) as copy:
            copy.set_types([oids[column] for column in columns])
            for row in rows:
                *head, tags, metadata, created, updated = row
                copy.write_row((*head, Jsonb(tags), Jsonb(metadata), created, updated))


def passage_rows(
    corpus: Corpus,
    embedder: Embedder,
    owners: Owners,
    count: int,
    start: int,
    stored: list[list[str]],
) -> Iterator[tuple[Any, ...]]:
    """`count` rows, numbered from `start`; the searched agent's texts go to `stored`
    (queries are drawn from them)."""
    rng = corpus.rng
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(start, start + count):
        share = rng.random()
        agent_id: str | None = None
        source_id: str | None = None
        page = chunk = None
        if share < OWN_SHARE:
            agent_id = owners.agent_id
        elif share < OWN_SHARE + SOURCE_SHARE:
            source_id = owners.source_id
            page, chunk = number // 4, number
        elif share < OWN_SHARE + SOURCE_SHARE + SELECTIVE_SHARE:
            agent_id = owners.selective_agent_id
        else:
            agent_id = owners.other_agent_id
        words = corpus.passage()
        if agent_id == owners.agent_id or source_id:
            stored.append(words)
        created = epoch + timedelta(minutes=number)
        tags = [f"topic-{rng.randrange(20)}"] if rng.random() < 0.2 else []
        yield (
            f"passage-{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            owners.user_id,
            agent_id,
            source_id,
            page,
            chunk,
            as_text(words),
            embedder.binary(words),
            HANDLE,
            tags,
            {},
            created,
            created,
        )


def model_index(name: str) -> Any:
    from memory.models import Passage

    return next(index for index in Passage._meta.indexes if index.name == name)


def hnsw_index() -> Any:
    return model_index(INDEX_NAME)


def drop_index(name: str = INDEX_NAME) -> None:
    from django.db import connection

    from memory.models import Passage

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_class WHERE relname = %s", [name])
        exists = cursor.fetchone()
    if exists:
        with connection.schema_editor() as editor:
            editor.remove_index(Passage, model_index(name))


def build_index(name: str = INDEX_NAME) -> float:
    """The model's own index definition (so a migration that retunes it is measured),
    built with enough memory for the whole graph: pgvector builds far faster when the
    graph fits in maintenance_work_mem (and GIN when its entries do)."""
    from django.db import connection

    from memory.models import Passage

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '2GB'")
        try:
            with connection.schema_editor() as editor:
                editor.add_index(Passage, model_index(name))
        finally:
            cursor.execute("RESET maintenance_work_mem")
        cursor.execute("ANALYZE memory_passage")
    return time.perf_counter() - started


# --- Measuring -----------------------------------------------------------------------------


@dataclass
class Statements:
    """Every statement run on the connection while active, with its duration."""

    seconds: float = 0.0
    log: list[tuple[str, Any]] = field(default_factory=list)

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.log.append((sql, params))


@contextmanager
def statements() -> Iterator[Statements]:
    from django.db import connection

    recorder = Statements()
    with connection.execute_wrapper(recorder):
        yield recorder


@dataclass
class Answer:
    """The exact answers to one query."""

    # The exact hybrid top 10, best first, and the fused score of every passage either
    # ranking holds (a passage in neither scores 0).
    hybrid: list[str]
    scores: dict[str, float]
    # The exact vector top 10: (id, distance), nearest first.
    vector: list[tuple[str, float]]


class Exact:
    """The exact answers of an agent's archival memory, computed once per query: the rows
    `agent_passages` defines (not the search's own filter, so a filter that lost or added
    rows would show as lost recall); every distance computed by a sequential scan; the
    full-text ranking as the product makes it; both as deep as the product's rankings
    (`fusion_depth`), fused by the product's rule (`fuse`)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Answer] = {}

    def top(self, agent: Any, query: str) -> Answer:
        key = (agent.id, query)
        if key not in self.answers:
            self.answers[key] = self._compute(agent, query)
        return self.answers[key]

    @staticmethod
    def _compute(agent: Any, query: str) -> Answer:
        from django.contrib.postgres.search import SearchRank
        from django.db import connection, transaction
        from django.db.models import F
        from pgvector.django import CosineDistance

        from llm import embed
        from memory.models import EMBEDDING_DIM
        from memory.services import agent_passages, full_text_query, fusion_depth

        depth = fusion_depth(TOP_K)
        (vector,) = embed(HANDLE, [query], EMBEDDING_DIM)
        rows = agent_passages(agent)
        nearest = (
            rows.annotate(distance=CosineDistance("embedding", vector))
            .order_by("distance", "id")
            .values_list("id", "distance")
        )
        words = full_text_query(query, rows)
        matching = (
            rows.filter(search_vector=words)
            .annotate(text_rank=SearchRank(F("search_vector"), words, cover_density=True))
            .order_by("-text_rank", "id")
            .values_list("id", flat=True)
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            by_distance = list(nearest[:depth])
            by_words = list(matching[:depth])
            distances = dict(by_distance)
            missing = [passage_id for passage_id in by_words if passage_id not in distances]
            distances.update(
                rows.filter(pk__in=missing)
                .annotate(distance=CosineDistance("embedding", vector))
                .values_list("id", "distance")
            )
        hybrid, scores = fuse([pid for pid, _ in by_distance], by_words, distances)
        return Answer(hybrid=hybrid[:TOP_K], scores=scores, vector=by_distance[:TOP_K])


def fuse(
    by_distance: list[str], by_words: list[str], distances: dict[str, float]
) -> tuple[list[str], dict[str, float]]:
    """Reciprocal Rank Fusion as the product does it: each ranking adds 1 / (RRF_K + rank);
    best score first, ties to the nearer passage, then to the smaller id."""
    from memory.services import RRF_K

    scores: dict[str, float] = defaultdict(float)
    for ranking in (by_distance, by_words):
        for rank, passage_id in enumerate(ranking, start=1):
            scores[passage_id] += 1 / (RRF_K + rank)
    order = sorted(scores, key=lambda pid: (-scores[pid], distances[pid], pid))
    return order, dict(scores)


def recall(found: list[tuple[str, float]], exact: list[tuple[str, float]]) -> tuple[float, float]:
    """Vector ranking: share of the exact top 10 found, by id; and counting as found a
    result as near as the exact 10th (a tie, which any correct search may return instead)."""
    if not exact:
        return 1.0, 1.0
    exact_ids = {passage_id for passage_id, _ in exact}
    by_id = len(exact_ids & {passage_id for passage_id, _ in found}) / len(exact)
    bound = exact[-1][1] + 1e-7
    by_distance = min(len(exact), sum(1 for _, distance in found if distance <= bound))
    return by_id, by_distance / len(exact)


def hybrid_recall(found: list[tuple[str, float]], exact: Answer) -> tuple[float, float]:
    """Hybrid ranking: share of the exact hybrid top 10 found, by id; and counting as
    found a result whose exact fused score equals the exact 10th's (a tie)."""
    if not exact.hybrid:
        return 1.0, 1.0
    found_ids = [passage_id for passage_id, _ in found]
    by_id = len(set(exact.hybrid) & set(found_ids)) / len(exact.hybrid)
    bound = exact.scores[exact.hybrid[-1]] - 1e-12
    as_good = sum(1 for passage_id in found_ids if exact.scores.get(passage_id, 0.0) >= bound)
    return by_id, min(len(exact.hybrid), as_good) / len(exact.hybrid)


VECTOR_LITERAL = re.compile(r"'\[[^\]]{100,}\]'")


def explain(log: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN ANALYZE of the ranking statement of one recorded search, replayed in a
    transaction after the statements that preceded it (its settings)."""
    from django.db import connection, transaction

    plan: list[str] = []
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in log:
            if "<=>" in sql:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
                plan = [VECTOR_LITERAL.sub("'[...]'", line) for (line,) in cursor.fetchall()]
                break
            cursor.execute(sql, params)
    return plan


def search(agent: Any, queries: list[str], *, full_text: bool = True) -> dict[str, Any]:
    """The product's search on each query after a warm-up: its time, the time of the
    embedding of the query (measured apart, on the same text) and of its SQL. Hybrid, or
    with `full_text=False` the vector ranking alone (as before issue 18)."""
    from llm import embed
    from memory.models import EMBEDDING_DIM
    from memory.services import search_passages

    for query in queries[:WARMUP]:
        search_passages(agent, query, top_k=TOP_K, full_text=full_text)
    totals, embeds, sqls, found = [], [], [], []
    log: list[tuple[str, Any]] = []
    for query in queries:
        started = time.perf_counter()
        embed(HANDLE, [query], EMBEDDING_DIM)
        embeds.append(time.perf_counter() - started)
        with statements() as recorder:
            started = time.perf_counter()
            passages = search_passages(agent, query, top_k=TOP_K, full_text=full_text)
            totals.append(time.perf_counter() - started)
        sqls.append(recorder.seconds)
        log = recorder.log
        found.append([(passage.id, float(passage.distance)) for passage in passages])  # type: ignore[attr-defined]
    return {"totals": totals, "embeds": embeds, "sqls": sqls, "found": found, "log": log}


def recalls(
    exact: Exact,
    agent: Any,
    queries: list[str],
    found: list[list[tuple[str, float]]],
    vector_found: list[list[tuple[str, float]]] | None = None,
) -> dict[str, float]:
    """Recall@10 of the product's (hybrid) results; and of its vector ranking alone, when
    `vector_found` holds those results for the same queries."""
    pairs = [
        hybrid_recall(result, exact.top(agent, query))
        for query, result in zip(queries, found, strict=True)
    ]
    by_id = [one for one, _ in pairs]
    figures = {
        "recall_at_10": round(statistics.fmean(by_id), 4),
        "recall_at_10_ties_counted": round(statistics.fmean(two for _, two in pairs), 4),
        "recall_at_10_p5": round(percentile(by_id, 0.05), 2),
    }
    if vector_found is not None:
        vector_pairs = [
            recall(result, exact.top(agent, query).vector)
            for query, result in zip(queries, vector_found, strict=True)
        ]
        figures["vector_recall_at_10"] = round(statistics.fmean(one for one, _ in vector_pairs), 4)
        figures["vector_recall_at_10_ties_counted"] = round(
            statistics.fmean(two for _, two in vector_pairs), 4
        )
    return figures


def measure(exact: Exact, agent: Any, queries: list[str]) -> dict[str, Any]:
    run = search(agent, queries)
    # Before the exact scans, which leave other pages in the cache.
    plan = explain(run["log"])
    vector_run = search(agent, queries, full_text=False)
    return {
        "queries": len(queries),
        "search": summary(run["totals"]),
        "embed_query": summary(run["embeds"]),
        "sql": summary(run["sqls"]),
        # The vector ranking alone, as the product searched before issue 18.
        "vector_search": summary(vector_run["totals"]),
        **recalls(exact, agent, queries, run["found"], vector_run["found"]),
        "plan": plan,
    }


def sweep(exact: Exact, agent: Any, queries: list[str]) -> list[dict[str, Any]]:
    """The product's search again at other ef_search values."""
    from memory import services

    chosen = services.ARCHIVAL_EF_SEARCH
    rows = []
    try:
        for ef_search in EF_SWEEP:
            services.ARCHIVAL_EF_SEARCH = ef_search
            run = search(agent, queries)
            rows.append(
                {
                    "ef_search": ef_search,
                    "search": summary(run["totals"]),
                    **recalls(exact, agent, queries, run["found"]),
                }
            )
    finally:
        services.ARCHIVAL_EF_SEARCH = chosen
    return rows


def make_owners() -> tuple[Owners, Any, Any]:
    from sources.services import attach_source, create_source
    from tests.factories import make_agent, make_user

    user = make_user(f"bench-archival-{time.time_ns()}")
    agent = make_agent(user, name="archivist", embedding=HANDLE)
    selective = make_agent(user, name="newcomer", embedding=HANDLE)
    other = make_agent(user, name="neighbour", embedding=HANDLE)
    source = create_source(user, name="handbook", embedding=HANDLE)
    attach_source(agent, source)
    owners = Owners(
        user_id=user.pk,
        agent_id=agent.id,
        source_id=source.id,
        selective_agent_id=selective.id,
        other_agent_id=other.id,
    )
    return owners, agent, selective


def progress(message: str, started: float) -> None:
    print(f"archival: {message} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


def run(ctx: Context) -> dict[str, Any]:
    from memory.models import EMBEDDING_DIM

    began = time.perf_counter()

    corpus = Corpus()
    embedder = Embedder(EMBEDDING_DIM)
    owners, agent, selective = make_owners()
    stored: list[list[str]] = []
    exact = Exact()
    figures: dict[str, Any] = {"sizes": {}}
    loaded = 0
    for size in SIZES:
        # Inserting into a live HNSW index costs a graph search per row; building it
        # afterwards is several times faster (and a GIN index, too).
        drop_index()
        drop_index(TEXT_INDEX_NAME)
        started = time.perf_counter()
        copy_passages(passage_rows(corpus, embedder, owners, size - loaded, loaded, stored))
        load_seconds = time.perf_counter() - started
        loaded = size
        if size == SIZES[0]:
            embedder.check(stored[:20])
        progress(f"loaded {size} passages", began)
        build_seconds = build_index()
        text_build_seconds = build_index(TEXT_INDEX_NAME)
        progress("built the indexes", began)
        queries = [corpus.query(stored) for _ in range(QUERIES)]
        searched = measure(exact, agent, queries)
        progress("measured the searched agent", began)
        selected = measure(exact, selective, queries[:SELECTIVE_QUERIES])
        progress("measured the selective agent", began)
        swept = sweep(exact, agent, queries[:SWEEP_QUERIES])
        progress("swept ef_search", began)
        like_passages = [as_text(words) for words in stored[-PASSAGE_QUERIES:]]
        passage_queries = recalls(
            exact, agent, like_passages, search(agent, like_passages)["found"]
        )
        progress("searched with stored passages", began)
        figures["sizes"][str(size)] = {
            "passages": size,
            "searched_agent_passages": len(stored),
            "load_seconds": round(load_seconds, 1),
            "index_build_seconds": round(build_seconds, 1),
            "text_index_build_seconds": round(text_build_seconds, 1),
            "searched_agent": searched,
            "selective_agent": selected,
            "ef_search_sweep": swept,
            "passages_as_queries": passage_queries,
        }
    return figures
