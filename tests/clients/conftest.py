"""The client libraries make HTTP clients of their own, and some never close them: collecting
garbage after each test makes an unclosed one fail the test that left it (with warnings as
errors), not whichever test runs when the collector happens to run."""

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    yield
    gc.collect()
