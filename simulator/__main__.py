"""Run the Ollama simulator: `python -m simulator --port 11434 --model qwen3:8b --rate 50`."""

import argparse
import multiprocessing
import socket

from aiohttp import web

from simulator.app import create_app
from simulator.config import DEFAULT_EMBED_MODEL, SimConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument(
        "--model", action="append", help="a model it has (repeatable; default qwen3:8b)"
    )
    parser.add_argument(
        "--embed-model",
        action="append",
        help=f"an embedding model it has (repeatable; default {DEFAULT_EMBED_MODEL})",
    )
    parser.add_argument(
        "--embed-dim", type=int, help="every embedding model's dimension (default: its own)"
    )
    parser.add_argument("--tokens", type=int, default=20, help="tokens per answer by default")
    parser.add_argument("--rate", type=float, default=0.0, help="tokens/s per stream (0: no wait)")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before the first token")
    parser.add_argument(
        "--think-tokens", type=int, default=4, help="thinking chunks for think=true (medium)"
    )
    parser.add_argument(
        "--implicit-think-tokens",
        type=int,
        default=0,
        help="thinking chunks when a thinking model's request leaves `think` out",
    )
    parser.add_argument("--parallel", type=int, default=0, help="like OLLAMA_NUM_PARALLEL (0: any)")
    parser.add_argument("--max-queue", type=int, default=512, help="like OLLAMA_MAX_QUEUE")
    parser.add_argument(
        "--processes", type=int, default=1, help="serve from N processes (SO_REUSEPORT)"
    )
    return parser.parse_args(argv)


def serve(args: argparse.Namespace, sock: socket.socket | None = None) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        pass
    config = SimConfig(
        models=args.model or ["qwen3:8b"],
        embed_models=args.embed_model or [DEFAULT_EMBED_MODEL],
        embed_dim=args.embed_dim,
        tokens=args.tokens,
        rate=args.rate,
        ttft=args.ttft,
        think_tokens=args.think_tokens,
        implicit_think_tokens=args.implicit_think_tokens,
        parallel=args.parallel,
        max_queue=args.max_queue,
    )
    # handler_cancellation: a client that closes its stream cancels the handler at once, which
    # is how Ollama behaves and how the simulator records "client_closed" without a write.
    app = create_app(config)
    if sock is not None:
        web.run_app(app, sock=sock, print=None, handler_cancellation=True, access_log=None)
    else:
        web.run_app(
            app,
            host=args.host,
            port=args.port,
            print=None,
            handler_cancellation=True,
            access_log=None,
            reuse_port=args.processes > 1,
        )


def main() -> None:
    args = parse_args()
    print(f"Ollama simulator on http://{args.host}:{args.port}", flush=True)
    if args.processes <= 1:
        serve(args)
        return
    procs = [multiprocessing.Process(target=serve, args=(args,)) for _ in range(args.processes)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()


if __name__ == "__main__":
    main()
