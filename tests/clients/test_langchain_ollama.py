"""LangChain's Ollama integration (langchain-ollama: `ChatOllama`, `OllamaEmbeddings`) against the
running stack: invoke and stream, `bind_tools`, `reasoning=True`, and embeddings."""

from collections.abc import AsyncIterator, Callable

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_ollama import ChatOllama, OllamaEmbeddings

from simulator.embed import embedding_for, float32
from simulator.script import thinking_for, tokens_for
from tests.conftest import EMBED_MODEL, MODEL
from tests.helpers import unique

pytestmark = pytest.mark.e2e


@tool
def weather(city: str, days: int) -> str:
    """The weather in a city, some days ahead."""
    return "rain"


@pytest.fixture
async def headers(new_key) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await new_key('langchain'))['key']}"}


@pytest.fixture
async def chat(stack, headers) -> AsyncIterator[Callable[..., ChatOllama]]:
    """`chat(**settings)`: a ChatOllama with the test's key (its connections closed after)."""
    made: list[ChatOllama] = []

    def make(**given: object) -> ChatOllama:
        made.append(
            ChatOllama(model=MODEL, base_url=stack.url, client_kwargs={"headers": headers}, **given)
        )
        return made[-1]

    yield make
    for llm in made:
        await llm._async_client._client.aclose()


async def test_invoke_and_stream_give_the_exact_text(chat):
    llm = chat(num_predict=5)
    question = unique("sky")
    answer = await llm.ainvoke(question)
    assert answer.content == "".join(tokens_for(question, 5))
    assert answer.usage_metadata and answer.usage_metadata["output_tokens"] == 5
    total: AIMessageChunk | None = None
    async for chunk in llm.astream(question):
        total = chunk if total is None else total + chunk
    assert total is not None and total.content == answer.content
    assert total.response_metadata["done_reason"] == "stop"


async def test_reasoning_comes_apart_from_the_answer(chat):
    llm = chat(reasoning=True, num_predict=4)
    question = unique()
    answer = await llm.ainvoke(question)
    assert answer.additional_kwargs["reasoning_content"] == "".join(thinking_for(question, 4))
    assert answer.content == "".join(tokens_for(question, 4))
    total: AIMessageChunk | None = None
    async for chunk in llm.astream(question):
        total = chunk if total is None else total + chunk
    assert total is not None
    assert (
        total.additional_kwargs["reasoning_content"]
        == answer.additional_kwargs["reasoning_content"]
    )
    assert total.content == answer.content


async def test_bind_tools_calls_and_reads_the_result(chat, sim):
    llm = chat().bind_tools([weather])
    question = HumanMessage(unique("weather"))
    called = await llm.ainvoke([question])
    (call,) = called.tool_calls
    assert (call["name"], call["args"]) == ("weather", {"city": "sim", "days": 1})
    total: AIMessageChunk | None = None
    async for chunk in llm.astream([question]):
        total = chunk if total is None else total + chunk
    assert total is not None
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("weather", call["args"])]
    result = ToolMessage(weather.invoke(call["args"]), tool_call_id=call["id"])
    final = await llm.ainvoke([question, called, result])
    # ChatOllama sends the result without its tool's name or call id: the simulated model
    # quotes it as a result of "tool".
    assert final.content == "tool returned: rain" and not final.tool_calls
    reached = (await sim.get("/sim/requests")).json()[-1]["extras"]["messages"]
    assert reached == [
        {"role": "user", "content": question.content},
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "weather", "arguments": call["args"]}}],
        },
        {"role": "tool", "content": "rain"},
    ]


async def test_ollama_embeddings_are_exact(stack, headers):
    embeddings = OllamaEmbeddings(
        model=EMBED_MODEL, base_url=stack.url, client_kwargs={"headers": headers}
    )
    texts = [unique("doc"), unique("doc")]
    vectors = await embeddings.aembed_documents(texts)
    assert [[float32(x) for x in v] for v in vectors] == [
        embedding_for(EMBED_MODEL, t, 384) for t in texts
    ]
    query = await embeddings.aembed_query(texts[0])
    assert query == vectors[0]
    await embeddings._async_client._client.aclose()
