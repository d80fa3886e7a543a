"""Images on /api/generate and in chat messages: Go's base64 check, their sizes, what is said.

Ollama reads `images` as Go `[]byte` values, so a string that is not standard padded base64 fails
the whole request with 400 and Go's error ("illegal base64 data at input byte 4"). It does not
refuse images for a model without the "vision" capability (that is the runner's business), so
neither does the simulator: any model "sees" them, and its answer starts with one token per
image, `[image <i>: <bytes> bytes, sha256 <first 12 hex digits>] `, so a test can tell which
images arrived. Records keep the count and decoded sizes, never the data.
"""

import hashlib
from typing import Any

from simulator.wire import OllamaError, go_b64decode, json_kind


def decode_images(value: Any, field: str) -> list[bytes]:
    """The images of one request field (`GenerateRequest.images`, ...), decoded as Go does."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise OllamaError(400, _type_error(value, field, "[]api.ImageData"))
    blobs = []
    for item in value:
        if item is None:  # Go decodes a null []byte as an empty one
            blobs.append(b"")
            continue
        if not isinstance(item, str):
            raise OllamaError(400, _type_error(item, field, "api.ImageData"))
        try:
            blobs.append(go_b64decode(item))
        except ValueError as e:
            raise OllamaError(400, str(e)) from None
    return blobs


def _type_error(value: Any, field: str, go_type: str) -> str:
    return (
        f"json: cannot unmarshal {json_kind(value)} into Go struct field {field} of type {go_type}"
    )


def summary(blobs: list[bytes]) -> dict[str, Any]:
    """What a record keeps of the images: how many, and their sizes."""
    return {"count": len(blobs), "bytes": [len(b) for b in blobs]}


def image_tokens(blobs: list[bytes]) -> list[str]:
    """The tokens the model says first about the images it was shown."""
    return [
        f"[image {i}: {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()[:12]}] "
        for i, blob in enumerate(blobs, 1)
    ]
