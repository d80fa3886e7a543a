"""The models the simulator has (`/api/tags`) and has loaded (`/api/ps`), and their names.

Names are read as Ollama reads them: `qwen3` is `qwen3:latest`, `registry.ollama.ai/library/x:t`
is `x:t`, and a lookup ignores case. Sizes and digests are deterministic: a digest is the SHA-256
of the model's name (and of what `/api/create` gave it), so two runs list the same models.
"""

import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

from simulator.config import SimConfig
from simulator.families import (
    BITS_PER_PARAMETER,
    Family,
    family_of,
    human_number,
)
from simulator.wire import FOREVER, go_time

HOST, NAMESPACE = "registry.ollama.ai", "library"
MODELS_DIR = "/root/.ollama/models"
# Models present from the start share one modification time, so listings are reproducible.
BASE_TIME_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z
DEFAULT_KEEP_ALIVE = 300.0
DEFAULT_NUM_CTX = 4096
MAX_DURATION_NS = 2**63 - 1  # Go's time.Duration(math.MaxInt64): "forever"
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,79}$")
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-:]{0,349}$")  # a host may have a :port


@dataclass(frozen=True)
class Name:
    """A model name in its parts: host/namespace/model:tag."""

    host: str
    namespace: str
    model: str
    tag: str

    @classmethod
    def parse(cls, raw: str) -> "Name":
        parts = raw.strip().split("/")
        last = parts[-1]
        model, _, tag = last.rpartition(":") if ":" in last else (last, "", "latest")
        host = "/".join(parts[:-2]) if len(parts) >= 3 else HOST  # more than 3 parts: invalid
        namespace = parts[-2] if len(parts) >= 2 else NAMESPACE
        return cls(host, namespace, model, tag)

    @property
    def valid(self) -> bool:
        parts = (self.namespace, self.model, self.tag)
        return bool(_HOST.match(self.host)) and all(_PART.match(p) for p in parts)

    @property
    def display(self) -> str:
        """Ollama's DisplayShortest: the host and namespace only when they are not the default."""
        if self.host.lower() != HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    @property
    def full(self) -> str:
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def manifest_path(self) -> str:
        parts = (self.host, self.namespace, self.model, self.tag)
        return f"{MODELS_DIR}/manifests/" + "/".join(parts)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Model:
    """One installed model: its name, family, and what `/api/create` gave it."""

    name: Name
    family: Family
    embed_dim: int
    modified_ns: int = BASE_TIME_NS
    system: str = ""
    template: str | None = None
    parameters: dict[str, Any] | None = None
    license: str | None = None
    parent: str = ""
    salt: str = ""  # what makes a created model's digest its own
    origin: str = ""  # whose manifest this is: a copy's digest is its source's

    @property
    def display(self) -> str:
        return self.name.display

    @property
    def capabilities(self) -> list[str]:
        return list(self.family.capabilities)

    @property
    def parameter_count(self) -> int:
        """The family's count for its default size, else the size the tag names (`qwen3:14b`)."""
        default = self.family.parameters
        size = re.search(r"(\d+(?:\.\d+)?)([bm])\b", self.name.tag.lower())
        if size is None:
            return default
        named = float(size[1]) * (1e9 if size[2] == "b" else 1e6)
        return default if abs(named - default) < 0.15 * default else int(named)

    @property
    def size(self) -> int:
        bits = BITS_PER_PARAMETER.get(self.family.quantization, 8.0)
        return int(self.parameter_count * bits / 8) + 1_048_576

    @property
    def digest(self) -> str:
        return sha256(f"simulated model {self.origin or self.name.full} {self.salt}")

    def details(self) -> dict[str, Any]:
        family = self.family
        return {
            "parent_model": self.parent,
            "format": "gguf",
            "family": family.name,
            "families": list(family.families or (family.name,)),
            "parameter_size": human_number(self.parameter_count),
            "quantization_level": family.quantization,
        }

    def can(self, capability: str) -> bool:
        return capability in self.family.capabilities


@dataclass
class Loaded:
    """A model in memory: until when, and with which context length."""

    expires_ns: int
    context_length: int


@dataclass
class Catalog:
    """The installed models, the loaded ones, and the blobs pushed to /api/blobs."""

    config: SimConfig
    models: dict[str, Model] = field(default_factory=dict)
    loaded: dict[str, Loaded] = field(default_factory=dict)
    blobs: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.config.models:
            self.add(name)
        for name in self.config.embed_models:
            self.add(name, embedding=True)

    def get(self, raw: str) -> Model | None:
        return self.models.get(Name.parse(raw).display.lower())

    def add(
        self, raw: str, *, embedding: bool = False, like: Model | None = None, **given: Any
    ) -> Model:
        """Install `raw` (replacing a model of that name), in `like`'s family or its own."""
        name = Name.parse(raw)
        family = like.family if like is not None else family_of(name.model, embedding=embedding)
        dim = self.config.embed_dim or family.embedding_length
        model = Model(name, family, like.embed_dim if like is not None else dim, **given)
        self.models[name.display.lower()] = model
        return model

    def remove(self, model: Model) -> None:
        self.models.pop(model.display.lower(), None)
        self.loaded.pop(model.display.lower(), None)

    def load(self, model: Model, keep_alive: float | None, num_ctx: Any = None) -> None:
        """Keep `model` in memory for `keep_alive` seconds (0 unloads it, as Ollama does)."""
        seconds = DEFAULT_KEEP_ALIVE if keep_alive is None else keep_alive
        if seconds == 0:
            self.unload(model)
            return
        now = time.time_ns()
        expires = now + MAX_DURATION_NS if seconds == FOREVER else now + int(seconds * 1e9)
        context = num_ctx if isinstance(num_ctx, int) and num_ctx > 0 else DEFAULT_NUM_CTX
        self.loaded[model.display.lower()] = Loaded(expires, context)

    def unload(self, model: Model) -> None:
        self.loaded.pop(model.display.lower(), None)

    def running(self) -> list[tuple[Model, Loaded]]:
        """The loaded models, the one with the longest time left first (as `ollama ps`)."""
        now = time.time_ns()
        for key in [k for k, v in self.loaded.items() if v.expires_ns <= now]:
            del self.loaded[key]
        pairs = [(self.models[k], v) for k, v in self.loaded.items() if k in self.models]
        return sorted(pairs, key=lambda pair: -pair[1].expires_ns)

    def listed(self) -> list[Model]:
        """The installed models, the most recently modified first (as `ollama list`)."""
        return sorted(self.models.values(), key=lambda m: (-m.modified_ns, m.display))


def tag_entry(model: Model) -> dict[str, Any]:
    """One model of /api/tags."""
    return {
        "name": model.display,
        "model": model.display,
        "modified_at": go_time(model.modified_ns),
        "size": model.size,
        "digest": model.digest,
        "details": model.details(),
        "capabilities": model.capabilities,
    }


def ps_entry(model: Model, loaded: Loaded) -> dict[str, Any]:
    """One model of /api/ps."""
    return {
        "name": model.display,
        "model": model.display,
        "size": model.size,
        "digest": model.digest,
        "details": model.details(),
        "expires_at": go_time(loaded.expires_ns),
        "size_vram": model.size,
        "context_length": loaded.context_length,
    }
