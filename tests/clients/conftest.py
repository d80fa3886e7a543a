"""What the client libraries need around them. Some make HTTP clients of their own and never
close them: collecting garbage after each test makes an unclosed one fail the test that left it
(with warnings as errors), not whichever test runs when the collector happens to run."""

import gc
import os
from collections.abc import Iterator

import pytest

# Before LiteLLM is imported: its price list from its own copy (not fetched from GitHub), and
# no `load_dotenv()` in "DEV" mode, which would put a developer's `.env` (MASTER_API_KEY, ...)
# into this process's environment and so into every process a later test starts.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_MODE", "PRODUCTION")


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    yield
    gc.collect()
