"""The error family: every class a worker can report is rebuilt from its stream event."""

import pytest

from shared import errors
from shared.errors import AppError, ModelNotFound, UpstreamBusy, error_from_dict


def _family(cls: type[AppError]) -> list[type[AppError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _family(sub))]


@pytest.mark.parametrize("cls", [c for c in _family(AppError) if c.reported_by_workers])
def test_every_reportable_error_comes_back_as_its_class(cls):
    sent = cls.__new__(cls)
    AppError.__init__(sent, "what happened", retry_after=3)
    back = error_from_dict(sent.to_dict())
    assert type(back) is cls
    assert back.message == "what happened" and back.retry_after == 3
    assert back.status_code == cls.status_code


def test_a_workers_missing_model_is_upstreams_not_the_dialects():
    assert errors.ERROR_TYPES["model_not_found"] is ModelNotFound
    assert error_from_dict({"type": "model_not_found", "message": "m"}).status_code == 502


def test_an_unknown_type_is_a_plain_error():
    back = error_from_dict({"type": "from-a-newer-worker"})
    assert type(back) is AppError and back.message == "generation failed"
    assert error_from_dict(UpstreamBusy("busy", retry_after=1).to_dict()).retry_after == 1
