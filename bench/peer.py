"""The peer: TensorZero's Rust gateway in front of the simulator's OpenAI-compatible API.

`python -m bench.peer CONFIG` starts the gateway that the `tensorzero` wheel embeds
(`tensorzero._start_http_gateway`: a Rust HTTP server on its own threads, on a free loopback
port), prints `BENCH_PEER_URL=<its OpenAI base URL>` and serves until SIGTERM or SIGINT, then
closes it. It runs as a process of its own so that its CPU and memory are measured apart from
the load process's, as the API's and the worker's are.

The configuration (`write_config`) names one model, `sim`, whose one provider is the simulator's
`/v1/` as an OpenAI-compatible API (no key), with observability off (no ClickHouse, no
PostgreSQL) and no usage analytics. Clients call `<base>/chat/completions` with the model
`tensorzero::model_name::sim`.
"""

import signal
import sys
from pathlib import Path
from typing import cast

from tests import processes

MODEL = "tensorzero::model_name::sim"
URL_MARK = "BENCH_PEER_URL="
# Checked against tensorzero 2026.6's schema (it rejects unknown keys at start).
CONFIG = """\
[gateway]
observability.enabled = false
disable_pseudonymous_usage_analytics = true

[models.sim]
routing = ["simulator"]

[models.sim.providers.simulator]
type = "openai"
model_name = "{sim_model}"
api_base = "{sim_url}/v1/"
api_key_location = "none"
"""
ENV = {
    "TENSORZERO_DISABLE_PSEUDONYMOUS_USAGE_ANALYTICS": "1",
    # The API runs at WARNING without access logs in the benchmark; the peer likewise.
    "RUST_LOG": "warn",
}


def write_config(directory: Path, sim_url: str, sim_model: str) -> Path:
    """The gateway's tensorzero.toml in `directory`, for the simulator at `sim_url`."""
    path = directory / "tensorzero.toml"
    path.write_text(CONFIG.format(sim_url=sim_url.rstrip("/"), sim_model=sim_model))
    return path


def start(config: Path, log_dir: Path, name: str) -> tuple[processes.Process, str]:
    """The peer's process, once it serves, and its OpenAI base URL (`.../openai/v1`); its log
    is `name`.log in `log_dir` (a name of this run's: the log is appended to)."""
    proc = processes.Process(name, [sys.executable, "-m", "bench.peer", str(config)], ENV, log_dir)
    processes.wait_log(proc, URL_MARK, timeout=30)
    line = next(line for line in proc.log().splitlines() if line.startswith(URL_MARK))
    return proc, line[len(URL_MARK) :].strip().rstrip("/")


def main() -> int:
    # Blocked before the gateway's threads exist, so that they inherit the mask and the signal
    # reaches sigwait below instead of killing the process from a Rust thread.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    import tensorzero
    from tensorzero.tensorzero import LocalHttpGateway

    # With async_setup=False it returns the started gateway, not an awaitable.
    gateway = cast(
        LocalHttpGateway,
        tensorzero._start_http_gateway(
            config_file=sys.argv[1],
            clickhouse_url=None,
            postgres_url=None,
            valkey_url=None,
            async_setup=False,
        ),
    )
    print(f"{URL_MARK}{gateway.base_url}", flush=True)
    signal.sigwait(stop)
    gateway.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
