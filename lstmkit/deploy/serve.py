"""`lstmkit serve`: loaded models behind a JSON API (FastAPI), through the inference protocol only.

First cut (issue 17): health, the model list with each model's schema, batch prediction for every task,
text generation for language models (with server-sent events when `"stream": true`). Bad input gets a 4xx
with a message, never a 500: malformed JSON and wrong types (422, FastAPI's validation), records that do not
fit the model's schema (400, the protocol's RequestError), an unknown model (404), a body over the limit
(413). A non-loopback host needs an API key (`--api-key` or LSTMKIT_API_KEY), sent as `Authorization:
Bearer KEY`.

Not yet: stateful sessions (observe, persisted state), micro-batching, the registry and the web page.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from lstmkit.errors import LstmkitError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    max_records: int = 10_000
    max_new_tokens: int = 2_000

    def check(self) -> None:
        if self.host not in LOOPBACK and not self.api_key:
            raise LstmkitError(f"serving on {self.host} (not loopback) needs an API key: --api-key KEY or the "
                               "LSTMKIT_API_KEY environment variable")  # fmt: skip


class PredictRequest(BaseModel):
    data: list[dict[str, Any]] = Field(..., description="records as the task's files have them")


class GenerateRequest(BaseModel):
    prompt: str
    max_new_tokens: int = Field(50, ge=1)
    temperature: float = Field(0.8, ge=0)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = None
    stream: bool = False


def build_app(models: dict[str, Any], opts: ServeOptions | None = None) -> Any:
    """A FastAPI app serving `models` (name -> a loaded model implementing deploy.protocol.InferenceModel)."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, StreamingResponse

    opts = opts or ServeOptions()
    app = FastAPI(title="lstmkit", description="LSTM models served through lstmkit's inference protocol")

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > opts.max_body_bytes:
            return JSONResponse({"detail": f"request body over {opts.max_body_bytes} bytes"}, status_code=413)
        if opts.api_key and request.url.path not in ("/health", "/docs", "/openapi.json"):
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not secrets.compare_digest(given, opts.api_key):
                return JSONResponse({"detail": "missing or wrong API key (Authorization: Bearer KEY)"}, status_code=401)
        return await call_next(request)

    @app.exception_handler(LstmkitError)
    async def lstmkit_error(request: Request, err: LstmkitError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=400)

    def model_of(name: str) -> Any:
        if name not in models:
            raise HTTPException(404, f"unknown model {name!r}; serving: {', '.join(models)}")
        return models[name]

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "models": list(models)}

    @app.get("/v1/models")
    def list_models() -> list[dict[str, Any]]:
        return [{"name": n, "task": m.task, "schema": m.schema()} for n, m in models.items()]

    @app.post("/v1/models/{name}/predict")
    def predict(name: str, body: PredictRequest) -> dict[str, Any]:
        m = model_of(name)
        if not body.data:
            raise HTTPException(400, "data must hold at least one record")
        if len(body.data) > opts.max_records:
            raise HTTPException(413, f"{len(body.data)} records; the limit is {opts.max_records}")
        return {"predictions": _jsonable(m.predict_records(body.data))}

    @app.post("/v1/models/{name}/generate", response_model=None)
    def generate(name: str, body: GenerateRequest) -> Any:
        m = model_of(name)
        if m.task != "lm":
            raise HTTPException(400, f"{name} is a {m.task} model; generate is for language models (use predict)")
        if body.max_new_tokens > opts.max_new_tokens:
            raise HTTPException(413, f"max_new_tokens {body.max_new_tokens} over the limit {opts.max_new_tokens}")
        sampling = {"temperature": body.temperature, "top_k": body.top_k, "top_p": body.top_p, "seed": body.seed}
        if body.stream:
            return StreamingResponse(_events(m.stream(body.prompt, body.max_new_tokens, **sampling)),
                                     media_type="text/event-stream")  # fmt: skip
        return {"text": m.generate(body.prompt, body.max_new_tokens, **sampling)[0]}

    return app


def _events(pieces: Iterator[str]) -> Iterator[str]:
    """Server-sent events: one `data:` line of JSON per piece of text, then a `done` event."""
    for piece in pieces:
        yield f"data: {json.dumps({'text': piece})}\n\n"
    yield "event: done\ndata: {}\n\n"


def _jsonable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records with timestamps and numpy scalars as JSON types, NaN as null."""
    import math

    def fix(v: Any) -> Any:
        if hasattr(v, "isoformat"):
            return v.isoformat()
        if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        return v

    return [fix(r) for r in records]


def run(models: dict[str, Any], opts: ServeOptions) -> None:
    """Serve until interrupted (uvicorn)."""
    import uvicorn

    opts.check()
    uvicorn.run(build_app(models, opts), host=opts.host, port=opts.port, log_level="warning")
