"""Generation records: a typed row is the table's columns (a misspelt field raises), one bad
row of a batch fails alone, text PostgreSQL cannot hold is stored safely, and the sweep closes
records nothing can still be running."""

import asyncio
import dataclasses
import time
import uuid

import pytest

from shared.jobs import GenerationJob
from shared.models import Generation, GenerationStatus
from shared.records import GenerationRow, RecordWriter
from shared.services.generations import INSERT_QUEUED, UPSERT_OUTCOME, BatchStatement


def test_a_row_has_exactly_the_tables_columns():
    fields = {f.name for f in dataclasses.fields(GenerationRow)}
    assert fields == {c.name for c in Generation.__table__.columns}


def _job(**fields) -> GenerationJob:
    base = {
        "generation_id": str(uuid.uuid4()),
        "kind": "chat",
        "request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        "stream": True,
        "queued_at": 1_700_000_000.5,
    }
    return GenerationJob(**{**base, **fields})


def test_a_row_is_built_from_its_job():
    job = _job(api_key_id=str(uuid.uuid4()))
    row = GenerationRow.of(job, GenerationStatus.QUEUED)
    assert row.id == uuid.UUID(job.generation_id) and str(row.api_key_id) == job.api_key_id
    assert row.llm_model == "m" and row.stream is True and row.status == "queued"
    assert row.prompt == '[{"role":"user","content":"hi"}]'
    assert row.queued_at.timestamp() == 1_700_000_000.5
    assert GenerationRow.of(_job(store_content=False), GenerationStatus.QUEUED).prompt is None


def test_every_statement_parameter_is_a_field():
    row = GenerationRow.of(_job(), GenerationStatus.RUNNING)
    for statement in (INSERT_QUEUED, UPSERT_OUTCOME):
        (args,) = statement.args([row])
        assert len(args) == len(statement.params)


def test_a_misspelt_field_raises_instead_of_writing_null():
    row = GenerationRow.of(_job(), GenerationStatus.RUNNING)
    with pytest.raises(AttributeError):
        BatchStatement("SELECT 1", ("responce",)).args([row])
    with pytest.raises(AttributeError):
        row.responce = "x"  # type: ignore[attr-defined]


@pytest.fixture
async def writer(database_url):
    records = RecordWriter(database_url)
    await records.start()
    yield records
    await records.aclose()


async def test_one_bad_row_fails_alone_in_its_batch(writer, sessions):
    good = [GenerationRow.of(_job(), GenerationStatus.QUEUED) for _ in range(5)]
    bad = GenerationRow.of(_job(), GenerationStatus.QUEUED)
    bad.llm_model = "m" * 300  # longer than the column: this row cannot be written
    results = await asyncio.gather(
        *(writer.insert(row) for row in [*good[:3], bad, *good[3:]]), return_exceptions=True
    )
    assert [isinstance(r, Exception) for r in results] == [False] * 3 + [True] + [False] * 2
    async with sessions() as session:
        for row in good:
            assert await session.get(Generation, row.id) is not None
        assert await session.get(Generation, bad.id) is None


async def test_text_postgresql_cannot_hold_is_stored_with_a_replacement(writer, sessions):
    row = GenerationRow.of(_job(), GenerationStatus.SUCCEEDED, response="a\x00b\ud800c")
    await writer.outcome(row)
    async with sessions() as session:
        assert (await session.get(Generation, row.id)).response == "a\ufffdb\ufffdc"


async def test_the_sweep_closes_what_nothing_can_be_running(writer, sessions):
    old = GenerationRow.of(_job(queued_at=time.time() - 7200), GenerationStatus.RUNNING)
    fresh = GenerationRow.of(_job(queued_at=time.time()), GenerationStatus.RUNNING)
    for row in (old, fresh):
        await writer.outcome(row)
    assert await writer.sweep(older_than_s=3600) >= 1
    async with sessions() as session:
        swept = await session.get(Generation, old.id)
        kept = await session.get(Generation, fresh.id)
    assert swept.status == "failed" and swept.error_type == "abandoned"
    assert swept.finished_at is not None and kept.status == "running"
