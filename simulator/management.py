"""How models come and go: /api/pull, /api/push, /api/create, /api/copy, /api/delete, and the
blobs of /api/blobs/{digest}.

The simulator's registry has every model: a pull of any valid name installs it (in the family its
name implies) with Ollama's progress lines. A push of an installed model succeeds; a push of a
missing one fails as Ollama's does, after "couldn't retrieve manifest". /api/create makes a model
`from` another (pulling it first if need be) or from `files` whose blobs were pushed; its
`system`, `template`, `parameters` and `license` show in /api/show. Streams are NDJSON; with
`stream: false` the answer is the last status, or the error (Ollama's waitForStream).
"""

import hashlib
import re
import time
from typing import Any

from aiohttp import web

from simulator.catalog import MODELS_DIR, Model, Name, sha256
from simulator.records import Record
from simulator.state import Simulator, simulator_of
from simulator.wire import NDJSON_TYPE, OllamaError, error_response, go_json, go_quote, read_body

DIGEST = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")
Progress = list[dict[str, Any]]
Failure = tuple[int, str] | None  # an HTTP status and Ollama's error text


def layers(model: Model) -> list[tuple[str, int]]:
    """The digests and sizes of a model's layers: weights, template, license, parameters."""
    return [
        (model.digest, model.size),
        (sha256(f"template {model.digest}"), 1_507),
        (sha256(f"license {model.digest}"), 11_338),
        (sha256(f"params {model.digest}"), 120),
    ]


def transfer(verb: str, model: Model) -> Progress:
    """Per-layer progress lines, as Ollama's download and upload report them."""
    lines: Progress = []
    for digest, size in layers(model):
        line = {"status": f"{verb} {digest[:12]}", "digest": f"sha256:{digest}", "total": size}
        lines += [line, {**line, "completed": size}]
    return lines


def pulled(sim: Simulator, raw: str) -> tuple[Model, Progress]:
    """Install `raw` as a pull would; its progress lines."""
    model = sim.catalog.add(raw, modified_ns=time.time_ns())
    steps: Progress = [{"status": "pulling manifest"}, *transfer("pulling", model)]
    return model, [*steps, {"status": "verifying sha256 digest"}, {"status": "writing manifest"}]


async def answer(
    request: web.Request,
    record: Record,
    body: dict[str, Any],
    steps: Progress,
    error: Failure = None,
) -> web.StreamResponse:
    """Progress as Ollama streams it (or, with `stream: false`, its last line or the error)."""
    status, message = error if error else (200, "")
    record.end("rejected" if error else "completed", status, message or None)
    if body.get("stream") is False:
        if error:
            return error_response(status, message)
        last = go_json(steps[-1])
        return web.Response(body=last, headers={"Content-Type": "application/json"})
    if error and not steps:  # nothing written yet: an error status
        return error_response(status, message)
    response = web.StreamResponse(headers={"Content-Type": NDJSON_TYPE})
    await response.prepare(request)
    for step in steps:
        await response.write(go_json(step) + b"\n")
    if error:
        await response.write(go_json({"error": message}) + b"\n")
    await response.write_eof()
    return response


async def parsed(request: web.Request, record: Record, go_type: str) -> dict[str, Any]:
    """The request's body; the record learns its model and its other fields."""
    body = await read_body(request, go_type)
    name = body.get("model") or body.get("name") or body.get("source") or ""
    record.model, record.stream = str(name), body.get("stream") is not False
    record.extras = {k: v for k, v in body.items() if k not in ("model", "name")}
    return body


def rejected(record: Record, error: OllamaError) -> web.Response:
    record.end("rejected", error.status, error.message)
    return error_response(error.status, error.message)


async def pull(request: web.Request) -> web.StreamResponse:
    """POST /api/pull."""
    sim = simulator_of(request)
    record = sim.records.open(request.path, "")
    try:
        body = await parsed(request, record, "api.PullRequest")
        raw = str(body.get("model") or body.get("name") or "")
        if not raw.strip() or not Name.parse(raw).valid:
            raise OllamaError(400, "invalid model name")
    except OllamaError as e:
        return rejected(record, e)
    record.model = Name.parse(raw).display
    _, steps = pulled(sim, raw)
    return await answer(request, record, body, [*steps, {"status": "success"}])


async def push(request: web.Request) -> web.StreamResponse:
    """POST /api/push."""
    sim = simulator_of(request)
    record = sim.records.open(request.path, "")
    try:
        body = await parsed(request, record, "api.PushRequest")
        raw = str(body.get("model") or body.get("name") or "")
        if not raw:
            raise OllamaError(400, "model is required")
    except OllamaError as e:
        return rejected(record, e)
    model = sim.catalog.get(raw)
    steps: Progress = [{"status": "retrieving manifest"}]
    if model is None:
        steps.append({"status": "couldn't retrieve manifest"})
        error = (500, f"open {Name.parse(raw).manifest_path}: no such file or directory")
        return await answer(request, record, body, steps, error)
    steps += [*transfer("pushing", model), {"status": "pushing manifest"}, {"status": "success"}]
    return await answer(request, record, body, steps)


def check_files(body: dict[str, Any]) -> None:
    """api.CreateRequest's `files` and `adapters`: relative paths, digests given."""
    for key in ("files", "adapters"):
        for path, digest in (body.get(key) or {}).items():
            if key == "files" and (path.startswith("/") or ".." in path.split("/")):
                raise OllamaError(400, "file path must be relative")
            if not digest:
                raise OllamaError(400, "invalid digest format")


def from_files(sim: Simulator, files: dict[str, str]) -> tuple[Progress, Failure]:
    """The progress of creating from pushed blobs, or Ollama's error for a missing one."""
    steps: Progress = [{"status": "parsing GGUF"}]
    for digest in files.values():
        if blob_key(digest) not in sim.catalog.blobs:
            path = f"{MODELS_DIR}/blobs/{digest.replace(':', '-')}"
            return [], (500, f"open {path}: no such file or directory")
        steps.append({"status": f"using existing layer {blob_key(digest)}"})
    return steps, None


def created_fields(body: dict[str, Any], base: Model | None) -> dict[str, Any]:
    """What /api/create gives the new model, over what its base had."""
    given: dict[str, Any] = {"modified_ns": time.time_ns(), "salt": sha256(go_json(body).decode())}
    for key in ("system", "template", "parameters"):
        given[key] = body.get(key) or (getattr(base, key) if base is not None else None)
    given["system"] = given["system"] or ""
    license = body.get("license")
    given["license"] = "\n".join(license) if isinstance(license, list) else license
    given["parent"] = base.display if base is not None else ""
    return given


def new_layers(body: dict[str, Any]) -> Progress:
    return [
        {"status": f"creating new layer sha256:{sha256(go_json(body[key]).decode())}"}
        for key in ("template", "system", "parameters", "license", "messages")
        if body.get(key)
    ]


def base_of(sim: Simulator, body: dict[str, Any]) -> tuple[Model | None, Progress, Failure]:
    """The model /api/create starts from, the progress so far, and the error if it cannot."""
    if body.get("from"):
        base, steps = sim.catalog.get(str(body["from"])), list[dict[str, Any]]()
        if base is None:  # Ollama pulls a `from` model it does not have
            base, steps = pulled(sim, str(body["from"]))
        return base, [*steps, {"status": f"using existing layer sha256:{base.digest}"}], None
    if body.get("files"):
        return None, *from_files(sim, body["files"])
    return None, [], (400, "neither 'from' or 'files' was specified")


async def create(request: web.Request) -> web.StreamResponse:
    """POST /api/create."""
    sim = simulator_of(request)
    record = sim.records.open(request.path, "")
    try:
        body = await parsed(request, record, "api.CreateRequest")
        check_files(body)
        raw = str(body.get("model") or body.get("name") or "")
        if not raw.strip() or not Name.parse(raw).valid:
            raise OllamaError(400, "invalid model name")
    except OllamaError as e:
        return rejected(record, e)
    record.model = Name.parse(raw).display
    base, steps, error = base_of(sim, body)
    if error:
        return await answer(request, record, body, steps, error)
    steps += [*new_layers(body), {"status": "writing manifest"}, {"status": "success"}]
    sim.catalog.add(raw, like=base, **created_fields(body, base))
    return await answer(request, record, body, steps)


async def copy(request: web.Request) -> web.Response:
    """POST /api/copy: 200 with an empty body, or Ollama's 400 or 404."""
    sim = simulator_of(request)
    record = sim.records.open(request.path, "")
    try:
        body = await parsed(request, record, "api.CopyRequest")
        source, destination = str(body.get("source") or ""), str(body.get("destination") or "")
        for role, name in (("source", source), ("destination", destination)):
            if not name.strip() or not Name.parse(name).valid:
                raise OllamaError(400, f"{role} {go_quote(name)} is invalid")
        model = sim.catalog.get(source)
        if model is None:
            raise OllamaError(404, f"model {go_quote(source)} not found")
    except OllamaError as e:
        return rejected(record, e)
    kept = ("system", "template", "parameters", "license", "parent", "salt")
    copied = {k: getattr(model, k) for k in kept} | {"origin": model.origin or model.name.full}
    sim.catalog.add(destination, like=model, modified_ns=time.time_ns(), **copied)
    record.end("completed")
    return web.Response()


async def delete(request: web.Request) -> web.Response:
    """DELETE /api/delete: 200 with an empty body, or 404 `model 'x' not found`."""
    sim = simulator_of(request)
    record = sim.records.open(request.path, "")
    try:
        body = await parsed(request, record, "api.DeleteRequest")
        raw = str(body.get("model") or body.get("name") or "")
        if not raw.strip():
            raise OllamaError(400, "model is required")
        if not Name.parse(raw).valid:
            raise OllamaError(400, f"name {go_quote(raw)} is invalid")
        model = sim.catalog.get(raw)
        if model is None:
            raise OllamaError(404, f"model '{raw}' not found")
    except OllamaError as e:
        return rejected(record, e)
    sim.catalog.remove(model)
    record.end("completed")
    return web.Response()


def blob_key(digest: str) -> str:
    """A digest as a blob's name: "sha256:<hex>" (Ollama's files take "-" for ":")."""
    return digest.replace("-", ":", 1)


async def head_blob(request: web.Request) -> web.Response:
    """HEAD /api/blobs/{digest}: 200 if the blob exists, 404 if not."""
    sim, digest = simulator_of(request), request.match_info["digest"]
    record = sim.records.open(request.path, "", extras={"digest": digest})
    if not DIGEST.match(digest):
        return rejected(record, OllamaError(400, "invalid digest format"))
    if blob_key(digest) not in sim.catalog.blobs:
        return rejected(record, OllamaError(404, f"blob {go_quote(digest)} not found"))
    record.end("completed")
    return web.Response()


async def create_blob(request: web.Request) -> web.Response:
    """POST /api/blobs/{digest}: 201 created, 200 if it existed, 400 for a wrong digest."""
    sim, digest = simulator_of(request), request.match_info["digest"]
    record = sim.records.open(request.path, "", extras={"digest": digest})
    if not DIGEST.match(digest):
        return rejected(record, OllamaError(400, "invalid digest format"))
    if blob_key(digest) in sim.catalog.blobs:
        record.end("completed")
        return web.Response()
    data = await request.read()
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:  # Ollama compares with the digest exactly as the path spells it
        expected = f"expected {go_quote(digest)}, got {go_quote(actual)}"
        return rejected(record, OllamaError(400, f"digest mismatch, {expected}"))
    sim.catalog.blobs[actual] = len(data)
    record.extras["bytes"] = len(data)
    record.end("completed", 201)
    return web.Response(status=201)
