"""The workloads: what each scenario asks of every path, and how its runs are interleaved."""

import dataclasses
from dataclasses import dataclass

WRK = "throughput"


@dataclass(frozen=True)
class Spec:
    name: str
    about: str
    dialects: tuple[str, ...]  # see bench/stack.py DIALECTS
    stream: bool
    clients: int
    requests: int = 1  # rounds per client; each round calls every endpoint once
    tokens: int = 10
    rate: float = 20.0  # tokens/s per stream; 0: at once
    ttft: float = 0.0  # the simulator's wait before the first token
    seconds: float = 0.0  # > 0: clients loop this long (steady state) instead of `requests`
    warmup: float = 0.0  # with `seconds`: requests started before this are not counted
    discard: int = 0  # without `seconds`: the first rounds, not counted (connections, caches)
    # "request": one load process calls every endpoint in turn (one request at a time);
    # "phase": one load process per path, the paths in turn, `rounds` times, rotating the order.
    interleave: str = "request"
    rounds: int = 1
    # Report the RSS growth per open stream. Only the run's first scenario at its concurrency
    # can: memory freed after one stays with the process and hides what the next one takes.
    memory: bool = False
    wrk: bool = False  # run wrk (bench/post.lua) instead of bench/load.py

    def quick(self) -> "Spec":
        """A smaller version for a smoke run: same shape, a fraction of the work."""
        steady = self.seconds > 0
        return dataclasses.replace(
            self,
            clients=self.clients if self.wrk else max(1, self.clients // 10),
            requests=(
                self.requests
                if steady or not self.discard
                else max(self.discard + 3, self.requests // 20)
            ),
            tokens=self.tokens if self.tokens <= 10 else max(10, self.tokens // 5),
            seconds=min(self.seconds, 2.5 if self.warmup else 2.0),
            warmup=min(self.warmup, 1.0),
            rounds=1,
        )


SCENARIOS = [
    Spec(
        "ttft-1",
        "one stream at a time (10 tokens at 20 tok/s, first at 50 ms); paths in turn",
        ("openai",),
        stream=True,
        clients=1,
        requests=101,
        discard=1,
        tokens=10,
        rate=20.0,
        ttft=0.05,
    ),
    Spec(
        "ttft-50",
        "50 clients looping on such streams, 7 s per path (first 2 s discarded), 3 rounds",
        ("openai",),
        stream=True,
        clients=50,
        requests=0,
        seconds=7.0,
        warmup=2.0,
        interleave="phase",
        rounds=3,
        tokens=10,
        rate=20.0,
        ttft=0.05,
    ),
    Spec(
        "short",
        "short non-streaming generation (5 tokens at once), one at a time; all in turn",
        ("native", "openai", "ollama-chat", "ollama-generate"),
        stream=False,
        clients=1,
        requests=101,
        discard=1,
        tokens=5,
        rate=0.0,
    ),
    Spec(
        "embed",
        "one short text embedded (one input), one at a time; both dialects in turn",
        ("openai-embed", "ollama-embed"),
        stream=False,
        clients=1,
        requests=101,
        discard=1,
        tokens=0,
        rate=0.0,
    ),
    Spec(
        WRK,
        "short non-streaming generations (5 tokens), wrk, 64 connections, 5 s per path, 2 rounds",
        ("native", "openai"),
        stream=False,
        clients=64,
        tokens=5,
        rate=0.0,
        seconds=5.0,
        interleave="phase",
        rounds=2,
        wrk=True,
    ),
    Spec(
        "streams-200",
        "200 concurrent streams of 200 tokens at 50 tok/s, 2 rounds",
        ("openai",),
        stream=True,
        clients=200,
        tokens=200,
        rate=50.0,
        interleave="phase",
        rounds=2,
    ),
    Spec(
        "streams-1000",
        "1,000 concurrent streams of 40 tokens at 5 tok/s",
        ("openai",),
        stream=True,
        clients=1000,
        tokens=40,
        rate=5.0,
        interleave="phase",
        memory=True,
    ),
    Spec(
        "ttft-1-native",
        "as ttft-1, 40 streams per path, native dialect",
        ("native",),
        stream=True,
        clients=1,
        requests=41,
        discard=1,
        tokens=10,
        rate=20.0,
        ttft=0.05,
    ),
    Spec(
        "streams-1000-native",
        "as streams-1000, native dialect (memory: see streams-1000)",
        ("native",),
        stream=True,
        clients=1000,
        tokens=40,
        rate=5.0,
        interleave="phase",
    ),
    Spec(
        "long-1",
        "one stream of 5,000 tokens at 1,000 tok/s, native dialect",
        ("native",),
        stream=True,
        clients=1,
        tokens=5000,
        rate=1000.0,
        interleave="phase",
    ),
]
