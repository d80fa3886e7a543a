"""Embeddings, in OpenAI's shape (POST /v1/embeddings) and Ollama's (POST /api/embed and the
older POST /api/embeddings). They run through the queue like generations (the GPU is the same
GPU): one job per request, whatever the number of inputs, with the key's limits and a record
(kind `embed`, the input count, tokens and timings; never the vectors).
"""

from fastapi import APIRouter, Request
from starlette.responses import Response

from web.deps import PrincipalDep, StateDep
from web.dialects import ollama, openai, openai_embeddings
from web.generations.submit import answer

openai_router = APIRouter(prefix="/v1", tags=["openai"], route_class=openai.DIALECT.route_class)
ollama_router = APIRouter(tags=["ollama"], route_class=ollama.DIALECT.route_class)


@openai_router.post("/embeddings")
async def embeddings(
    body: openai_embeddings.EmbeddingRequest,
    request: Request,
    state: StateDep,
    principal: PrincipalDep,
) -> Response:
    """OpenAI's embeddings: `input` a text or a list of them; `encoding_format` float or
    base64; `dimensions` passed to Ollama."""
    return await answer(state, request, principal, body)


@ollama_router.post("/api/embed")
async def embed(
    body: ollama.EmbedRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """Ollama's /api/embed, on the server's queue."""
    return await answer(state, request, principal, body)


@ollama_router.post("/api/embeddings")
async def legacy_embeddings(
    body: ollama.EmbeddingsRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """Ollama's older /api/embeddings (one prompt, one `embedding`), on the server's queue."""
    return await answer(state, request, principal, body)
