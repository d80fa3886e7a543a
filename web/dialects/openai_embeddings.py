"""OpenAI's embeddings (POST /v1/embeddings): a text or a list of them, one job for all; the
vectors back as float numbers or, for `encoding_format: "base64"`, their little-endian float32
bytes, as OpenAI sends them."""

import struct
from base64 import b64encode
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.config import Settings
from shared.errors import InvalidRequest
from web.dialects import OllamaCall, Whole, WholeReply
from web.dialects.openai import DIALECT
from web.dialects.openai_messages import without_nulls


class EmbeddingRequest(BaseModel):
    """POST /v1/embeddings: one job for all the inputs (the GPU is the same GPU)."""

    model_config = ConfigDict(extra="allow")
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    # The end user behind the key (see END_USER_HEADER).
    user: str | None = None

    _nulls = model_validator(mode="before")(without_nulls)

    @property
    def stream(self) -> bool:
        return False

    def to_ollama(self, settings: Settings) -> OllamaCall:
        model = DIALECT.resolve_model(settings, self.model)
        inputs = [self.input] if isinstance(self.input, str) else self.input
        if not inputs:
            raise InvalidRequest("input: at least one text", details=[{"loc": ["input"]}])
        if not all(isinstance(i, str) for i in inputs):
            raise InvalidRequest(
                "input: token arrays are not supported; send the text",
                details=[{"loc": ["input"]}],
            )
        request: dict[str, Any] = {"model": model, "input": inputs}
        if self.dimensions is not None:
            request["dimensions"] = self.dimensions
        return OllamaCall("embed", request)

    def reply(self, generation_id: str) -> "EmbeddingList":
        return EmbeddingList(self.model, base64=self.encoding_format == "base64")


class EmbeddingList(WholeReply):
    """OpenAI's list of embeddings, whole (an embedding is never streamed): float numbers, or
    for `encoding_format: "base64"` their little-endian float32 bytes, as OpenAI sends them."""

    def __init__(self, model: str, *, base64: bool) -> None:
        self.model = model
        self.base64 = base64

    def whole(self, result: Whole) -> dict[str, Any]:
        vectors = (result.result or {}).get("embeddings") or []
        tokens = int(result.stats.get("prompt_eval_count") or 0)
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "embedding": self._vector(v), "index": i}
                for i, v in enumerate(vectors)
            ],
            "model": self.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _vector(self, vector: list[float]) -> list[float] | str:
        if not self.base64:
            return vector
        return b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
