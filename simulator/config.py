"""The simulator's settings: its models, its default pace and thinking, its queue, its records."""

from dataclasses import dataclass, field

DEFAULT_EMBED_MODEL = "all-minilm:latest"

# The settings POST /sim/config may change while the simulator runs.
RUNTIME_SETTINGS = ("tokens", "rate", "ttft", "think_tokens", "implicit_think_tokens")


@dataclass
class SimConfig:
    """What `python -m simulator` is started with (see simulator/__main__.py for the flags)."""

    models: list[str] = field(default_factory=lambda: ["qwen3:8b"])
    embed_models: list[str] = field(default_factory=lambda: [DEFAULT_EMBED_MODEL])
    embed_dim: int | None = None  # every embedding model's dimension; None: each model's own
    tokens: int = 20
    rate: float = 0.0
    ttft: float = 0.0
    # Thinking chunks for `think: true` (Ollama's "medium"); "low" halves, "high" doubles, "max"
    # quadruples it.
    think_tokens: int = 4
    # Thinking chunks when a thinking model's request leaves `think` out. Ollama turns thinking
    # on then; 0 (a model that thinks nothing) keeps such clients on the streams they always had.
    implicit_think_tokens: int = 0
    parallel: int = 0  # like OLLAMA_NUM_PARALLEL; 0 = unlimited
    max_queue: int = 512  # like OLLAMA_MAX_QUEUE
    record_limit: int = 10_000
