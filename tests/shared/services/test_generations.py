"""Generation services: ending a generation from the web side keeps what its stream carried (text,
thinking, tool calls), but only in a record that keeps content at all."""

import uuid
from datetime import UTC, datetime

from shared.db import transaction
from shared.jobs import GenerationJob
from shared.models import Generation, GenerationStatus
from shared.records import GenerationRow, RecordWriter
from shared.services.generations import finish_open
from shared.stream import Produced


async def test_a_record_without_its_prompt_keeps_no_delivered_text(database_url, sessions):
    writer = RecordWriter(database_url)
    await writer.start()
    try:
        rows = {}
        for store in (True, False):
            job = GenerationJob(
                generation_id=str(uuid.uuid4()),
                kind="chat",
                request={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                stream=True,
                queued_at=datetime.now(UTC).timestamp(),
                store_content=store,
            )
            rows[store] = GenerationRow.of(job, GenerationStatus.RUNNING)
            await writer.outcome(rows[store])
    finally:
        await writer.aclose()
    for row in rows.values():
        async with transaction(sessions) as session:
            await finish_open(
                session,
                generation_id=row.id,
                status=GenerationStatus.FAILED,
                error_type="worker_lost",
                error_message="gone",
                finished_at=datetime.now(UTC),
                delivered=Produced(
                    text="half an answer",
                    thinking="hm",
                    tool_calls=[{"function": {"name": "f", "arguments": {}}}],
                    chunks=3,
                    thinking_chunks=1,
                ),
            )
    async with sessions() as session:
        kept = await session.get(Generation, rows[True].id)
        private = await session.get(Generation, rows[False].id)
    assert kept.response == "half an answer" and kept.chunk_count == 3
    assert kept.thinking == "hm" and kept.tool_calls == [
        {"function": {"name": "f", "arguments": {}}}
    ]
    assert kept.completion_tokens == 4
    assert private.response is None and private.chunk_count == 3 and private.prompt is None
    assert private.thinking is None and private.tool_calls is None
