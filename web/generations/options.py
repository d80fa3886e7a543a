"""What a request may ask of Ollama, the same in every dialect.

Sampling options are the request's own: they pass. What changes Ollama for everyone is the
operator's: `keep_alive` (how long the model stays loaded), the runner's options (`num_gpu`,
`num_thread`, `use_mmap`, ...; any change reloads the model for every user) and `raw`/`template`
(which bypass the model's own prompt template). For a key that is neither the master key nor
marked admin these are dropped, not refused (clients such as Open WebUI send `keep_alive` on
their own), and the answer names what was dropped in `X-Ignored-Fields`. `num_ctx` is capped at
OLLAMA_MAX_NUM_CTX (0: the request's is dropped, Ollama's own context length stays). Unknown
options are dropped too: only what is known to be request-scoped passes.
"""

from typing import Any

from shared.config import Settings
from web.auth import Principal

# Ollama's per-request sampling options (api/types.go, Options without the Runner part).
SAMPLING_OPTIONS = frozenset(
    {
        "num_keep",
        "seed",
        "num_predict",
        "top_k",
        "top_p",
        "min_p",
        "typical_p",
        "repeat_last_n",
        "temperature",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
        "penalize_newline",
        "stop",
        "tfs_z",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
    }
)
OPERATOR_FIELDS = ("keep_alive", "raw", "template")
HEADER = "X-Ignored-Fields"


def restrict(request: dict[str, Any], principal: Principal, settings: Settings) -> list[str]:
    """Drop (or cap) in `request`, in place, what this caller may not set; what was dropped."""
    if principal.may_configure_ollama:
        return []
    dropped = [name for name in OPERATOR_FIELDS if request.pop(name, None) is not None]
    options = request.get("options")
    if not isinstance(options, dict):
        return dropped
    for name in list(options):
        if name == "num_ctx":
            cap = settings.OLLAMA_MAX_NUM_CTX
            if not cap:
                del options[name]
                dropped.append("options.num_ctx")
            elif isinstance(options[name], int) and options[name] > cap:
                options[name] = cap
                dropped.append(f"options.num_ctx (capped at {cap})")
        elif name not in SAMPLING_OPTIONS:
            del options[name]
            dropped.append(f"options.{name}")
    return dropped
