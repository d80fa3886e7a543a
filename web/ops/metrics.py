"""The web process's Prometheus metrics (`GET /metrics`). The workers serve their own, see
worker/metrics.py; the queue's gauges are read from Redis when /metrics is scraped."""

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

HTTP_REQUESTS = Counter(
    "llm_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "llm_http_request_duration_seconds",
    "Time to the end of the response (streams: the whole stream)",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "llm_time_to_first_token_seconds",
    "From a request's arrival to its first text, as the client sees it",
    buckets=LATENCY_BUCKETS,
)
# With several uvicorn workers (PROMETHEUS_MULTIPROC_DIR set) each gauge says how the processes'
# values combine: open streams add up; the queue's gauges are the same in each process.
OPEN_STREAMS = Gauge(
    "llm_open_streams", "Requests listening to a generation", multiprocess_mode="livesum"
)
ERRORS = Counter("llm_errors_total", "Errors answered to clients, by type", ["type"])
CANCELLATIONS = Counter("llm_cancellations_total", "Generations cancelled, by reason", ["reason"])
QUEUE_DEPTH = Gauge(
    "llm_queue_depth", "Generations waiting for a worker", multiprocess_mode="mostrecent"
)
QUEUE_OLDEST = Gauge(
    "llm_queue_oldest_wait_seconds",
    "How long the oldest waiting one has waited",
    multiprocess_mode="mostrecent",
)
JOBS_RUNNING = Gauge(
    "llm_jobs_running", "Generations running, over all live workers", multiprocess_mode="mostrecent"
)
WORKER_SLOTS = Gauge(
    "llm_worker_slots",
    "Generations the live workers can run at once",
    multiprocess_mode="mostrecent",
)
WORKERS_ALIVE = Gauge(
    "llm_workers_alive", "Workers with a recent heartbeat", multiprocess_mode="mostrecent"
)
