"""LangChain's `ChatOpenAI` and `OpenAIEmbeddings` (langchain-openai) pointed at the server: the
way most agent frameworks reach it. Tool binding, streaming with tools, structured output by
function calling, and embeddings for a vector store."""

import httpx
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel, Field

from simulator.embed import embedding_for
from simulator.script import tokens_for
from simulator.tools import call_id
from tests.conftest import EMBED_MODEL, MASTER_KEY, MODEL
from tests.helpers import sim_records, unique

pytestmark = pytest.mark.e2e


class Weather(BaseModel):
    """The weather in a city."""

    city: str = Field(description="The city")


@pytest.fixture
def chat(stack) -> ChatOpenAI:
    return ChatOpenAI(
        model=MODEL, base_url=f"{stack.url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=30
    )


async def test_invoke_and_stream_plain_text(chat):
    question = unique("hello")
    answer = await chat.ainvoke(question)
    assert answer.content == "".join(tokens_for(question, 12))
    assert answer.response_metadata["finish_reason"] == "stop"
    other = unique("stream")
    parts = [chunk.content async for chunk in chat.astream(other)]
    assert "".join(parts) == "".join(tokens_for(other, 12)) and len(parts) > 2


async def test_bind_tools_answers_a_tool_call_and_takes_its_result(chat, sim):
    question = unique("weather?")
    bound = chat.bind_tools([Weather])
    answer = await bound.ainvoke(question)
    (call,) = answer.tool_calls
    assert call == {
        "name": "Weather",
        "args": {"city": "sim"},
        "id": call_id(question, 0, "Weather"),
        "type": "tool_call",
    }
    followed = await bound.ainvoke(
        [
            HumanMessage(question),
            answer,
            ToolMessage("rain", tool_call_id=call["id"]),
        ]
    )
    assert followed.content == "Weather returned: rain" and not followed.tool_calls
    first, second = await sim_records(sim, question)
    assert first["tools"][0]["function"]["name"] == "Weather"
    assert second["extras"]["messages"][-1]["tool_name"] == "Weather"


async def test_streamed_tool_calls_merge_into_one_call(chat):
    question = unique("stream a call")
    merged = None
    async for chunk in chat.bind_tools([Weather]).astream(question):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    assert [(c["name"], c["args"], c["id"]) for c in merged.tool_calls] == [
        ("Weather", {"city": "sim"}, call_id(question, 0, "Weather"))
    ]


async def test_structured_output_by_function_calling(chat):
    structured = chat.with_structured_output(Weather, method="function_calling")
    assert await structured.ainvoke(unique("structured")) == Weather(city="sim")


async def test_embeddings_for_documents_and_a_query(stack):
    # check_embedding_ctx_length=False: LangChain would otherwise tokenize with tiktoken (whose
    # encodings it downloads) and send token arrays, which a server without OpenAI's tokenizer
    # cannot read (refused with 400).
    async with httpx.AsyncClient(timeout=30) as http:  # closed here, unlike its own
        embeddings = OpenAIEmbeddings(
            model=EMBED_MODEL,
            base_url=f"{stack.url}/v1",
            api_key=MASTER_KEY,
            check_embedding_ctx_length=False,
            max_retries=0,
            http_async_client=http,
        )
        texts = [unique("doc one"), unique("doc two")]
        vectors = await embeddings.aembed_documents(texts)
        for vector, text in zip(vectors, texts, strict=True):
            assert vector == pytest.approx(embedding_for(EMBED_MODEL, text, 384))
        query = unique("query")
        assert await embeddings.aembed_query(query) == pytest.approx(
            embedding_for(EMBED_MODEL, query, 384)
        )
