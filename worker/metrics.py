"""A worker's Prometheus metrics, served on WORKER_METRICS_PORT (one endpoint per worker: the
usual Prometheus model is to scrape each process; histograms do not add up across processes
by hand)."""

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
CHUNK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

QUEUE_WAIT = Histogram(
    "llm_queue_wait_seconds", "From queued to picked up by a worker", buckets=LATENCY_BUCKETS
)
FIRST_TOKEN = Histogram(
    "llm_ollama_time_to_first_token_seconds",
    "From pick-up to Ollama's first text (its own queue, model load, prompt evaluation)",
    buckets=LATENCY_BUCKETS,
)
BETWEEN_CHUNKS = Histogram(
    "llm_time_between_chunks_seconds", "Between two chunks from Ollama", buckets=CHUNK_BUCKETS
)
DURATION = Histogram(
    "llm_generation_duration_seconds",
    "From pick-up to the end, by outcome",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)
GENERATIONS = Counter("llm_generations_total", "Generations ended, by outcome", ["outcome"])
TOKENS = Counter("llm_tokens_total", "Tokens, as Ollama counts them", ["kind"])
TOOL_CALLS = Counter("llm_tool_calls_total", "Tool calls models answered")
EMBEDDING_INPUTS = Counter(
    "llm_embedding_inputs_total", "Inputs embedded by jobs that succeeded (texts, not jobs)"
)
WORKER_ERRORS = Counter("llm_worker_errors_total", "Generations failed, by error type", ["type"])
KEY_TOKENS = Counter(
    "llm_key_tokens_total",
    "Tokens (prompt and completion), by API key name (the first LABELS_KEPT names; then other)",
    ["key"],
)
END_USER_GENERATIONS = Counter(
    "llm_end_user_generations_total",
    "Generations ended, by end user (the first LABELS_KEPT seen; then other; none: no end user)",
    ["end_user"],
)
RUNNING = Gauge("llm_worker_jobs_running", "Generations this worker runs now")

# A label's distinct values per process: beyond them, `other` (a key per user, a user per
# request, would otherwise grow the metrics without end).
LABELS_KEPT = 100


class BoundedLabel:
    """The first `limit` distinct values of a label as they are; the rest as `other`."""

    def __init__(self, limit: int = LABELS_KEPT) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return "other"
        self._seen.add(value)
        return value


KEY_NAMES = BoundedLabel()
END_USERS = BoundedLabel()
OLLAMA_UP = Gauge("llm_ollama_up", "1 if Ollama answered the last check and has the model")


def serve(port: int, host: str) -> None:
    if not port:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as e:  # several workers on one host: only the first gets the port
        log.warning("metrics port %d is taken (%s); this worker serves no metrics", port, e)
