"""A JSON response rendered by orjson (FastAPI's ORJSONResponse is deprecated)."""

from typing import Any

import orjson
from starlette.responses import Response


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
