"""Typed rows: a GenerationRow is the table's columns, and a misspelt field raises."""

import dataclasses
import uuid

import pytest

from shared.jobs import GenerationJob
from shared.models import Generation, GenerationStatus
from shared.records import GenerationRow
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
