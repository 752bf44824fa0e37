"""`lstmkit serve`: loaded models behind a JSON API (FastAPI), through the inference protocol only.

Routes: a web page at / (deploy/page.html: pick a model, paste or upload a series and see the forecast with its
interval, or watch generated tokens stream in); health; the model list with each model's schema; batch prediction
for every task (concurrent requests for one model micro-batched: deploy/batching.py); text generation for language
models (server-sent events when `"stream": true`); sessions for stateful models (a forecaster, a language model):
created with an optional history, fed observations with sequence numbers, persisted in SQLite (deploy/sessions.py)
so that a restarted server continues them. Bad input gets a 4xx with a message, never a 500: malformed JSON and
wrong types (422, FastAPI's validation), records that do not fit the model's schema (400, the protocol's
RequestError), an unknown model or session (404), a sequence gap (409), too many sessions (429), a body over the
limit (413). A non-loopback host needs an API key (`--api-key` or LSTMKIT_API_KEY), sent as `Authorization: Bearer
KEY`."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from lstmkit.deploy.batching import Batcher
from lstmkit.deploy.sessions import SessionError, SessionStore
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
    state_dir: str | None = None  # sessions' SQLite file lives here (None: in memory, lost on restart)
    session_ttl_s: float = 3600.0
    max_sessions: int = 10_000
    batch_wait_ms: float = 2.0  # how long a predict request waits for others to share its forward (0: never)
    max_batch: int = 64

    def store(self) -> SessionStore:
        from pathlib import Path

        path = Path(self.state_dir) / "sessions.sqlite" if self.state_dir else ":memory:"
        return SessionStore(path, ttl_s=self.session_ttl_s, max_sessions=self.max_sessions)

    def check(self) -> None:
        if self.host not in LOOPBACK and not self.api_key:
            raise LstmkitError(
                f"serving on {self.host} (not loopback) needs an API key: --api-key KEY or the "
                "LSTMKIT_API_KEY environment variable"
            )


class PredictRequest(BaseModel):
    data: list[dict[str, Any]] = Field(..., description="records as the task's files have them")
    future: list[dict[str, Any]] | None = Field(
        None, description="forecasters with known-future covariates: the horizon's rows (no target), read after data"
    )


class SessionRequest(BaseModel):
    data: list[dict[str, Any]] = Field(default_factory=list, description="history to start from (optional)")
    future: list[dict[str, Any]] | None = Field(None, description="known-future covariate rows (forecasters)")


class ObserveRequest(BaseModel):
    data: list[dict[str, Any]] = Field(..., min_length=1, description="new observations, as the task's records")
    seq: int = Field(..., ge=1, description="this observation's number: the session's seq + 1 (a replay is ignored)")
    future: list[dict[str, Any]] | None = Field(None, description="known-future covariate rows (forecasters)")


class GenerateRequest(BaseModel):
    prompt: str
    max_new_tokens: int = Field(50, ge=1)
    temperature: float = Field(0.8, ge=0, allow_inf_nan=False)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = Field(None, ge=0, lt=2**63)
    stream: bool = False


def build_app(models: dict[str, Any], opts: ServeOptions | None = None, store: SessionStore | None = None) -> Any:
    """A FastAPI app serving `models` (name -> a loaded model implementing deploy.protocol.InferenceModel);
    sessions live in `store` (default: the one `opts` names)."""
    from fastapi import FastAPI, Request
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    opts = opts or ServeOptions()
    store = store or opts.store()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        for b in app.state.batchers.values():
            b.close()

    app = FastAPI(
        title="lstmkit", description="LSTM models served through lstmkit's inference protocol", lifespan=lifespan
    )
    app.state.store = store
    app.state.batchers = {
        n: Batcher(m, opts.batch_wait_ms, opts.max_batch, opts.max_records)
        for n, m in models.items()
        if opts.batch_wait_ms > 0
    }

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > opts.max_body_bytes:
            return JSONResponse({"detail": f"request body over {opts.max_body_bytes} bytes"}, status_code=413)
        if opts.api_key and request.url.path not in ("/health", "/docs", "/openapi.json", "/"):
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not secrets.compare_digest(given, opts.api_key):
                return JSONResponse({"detail": "missing or wrong API key (Authorization: Bearer KEY)"}, status_code=401)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, which can hold NaN/Infinity (Python's JSON parser reads them):
        # answered as null, so a bad request never turns into a 500 while its 422 is written
        return JSONResponse({"detail": _jsonable(jsonable_encoder(err.errors()))}, status_code=422)

    @app.exception_handler(SessionError)
    async def session_error(request: Request, err: SessionError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=err.status)

    @app.exception_handler(LstmkitError)
    async def lstmkit_error(request: Request, err: LstmkitError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=400)

    _model_routes(app, models, opts)
    _session_routes(app, models, store)
    return app


def _model_of(models: dict[str, Any], name: str) -> Any:
    from fastapi import HTTPException

    if name not in models:
        raise HTTPException(404, f"unknown model {name!r}; serving: {', '.join(models)}")
    return models[name]


def _name_param(models: dict[str, Any]) -> Any:
    """The {name} path parameter, documented with the served names (an unknown one still gets a 404)."""
    from fastapi import Path

    return Path(
        description="a served model's name (GET /v1/models lists them)", json_schema_extra={"enum": list(models)}
    )


def _model_routes(app: Any, models: dict[str, Any], opts: ServeOptions) -> None:
    """Health, the model list, predict and generate."""
    from fastapi import HTTPException

    model_name = _name_param(models)
    from fastapi.responses import StreamingResponse

    @app.get("/", include_in_schema=False)
    def page() -> Any:
        from importlib.resources import files

        from fastapi.responses import HTMLResponse

        return HTMLResponse(files("lstmkit.deploy").joinpath("page.html").read_text(encoding="utf-8"))

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "models": list(models), "sessions": app.state.store.count()}

    @app.get("/v1/models")
    def list_models() -> list[dict[str, Any]]:
        return [
            {"name": n, "task": m.task, "capabilities": capabilities_of(m), "schema": m.schema()}
            for n, m in models.items()
        ]

    @app.post("/v1/models/{name}/predict")
    def predict(body: PredictRequest, name: str = model_name) -> dict[str, Any]:
        m = _model_of(models, name)
        if not body.data:
            raise HTTPException(400, "data must hold at least one record")
        if len(body.data) > opts.max_records:
            raise HTTPException(413, f"{len(body.data)} records; the limit is {opts.max_records}")
        records = body.data + (body.future or [])
        batcher = app.state.batchers.get(name)
        out = batcher.predict(records) if batcher else m.predict_records(records)
        return {"predictions": _jsonable(out)}

    @app.post("/v1/models/{name}/generate", response_model=None)
    def generate(body: GenerateRequest, name: str = model_name) -> Any:
        m = _model_of(models, name)
        if not capabilities_of(m)["generates_text"]:
            raise HTTPException(400, f"{name} is a {m.task} model, which does not generate text (use predict)")
        if body.max_new_tokens > opts.max_new_tokens:
            raise HTTPException(413, f"max_new_tokens {body.max_new_tokens} over the limit {opts.max_new_tokens}")
        sampling = {"temperature": body.temperature, "top_k": body.top_k, "top_p": body.top_p, "seed": body.seed}
        if body.stream:
            return StreamingResponse(
                _events(m.stream(body.prompt, body.max_new_tokens, **sampling)), media_type="text/event-stream"
            )
        return {"text": m.generate(body.prompt, body.max_new_tokens, **sampling)[0]}


def _session_routes(app: Any, models: dict[str, Any], store: SessionStore) -> None:
    """Create, observe, read and delete sessions of stateful models."""
    model_name = _name_param(models)

    def stateful(name: str) -> Any:
        from lstmkit.deploy.protocol import is_stateful

        m = models.get(name)
        if m is None:
            raise SessionError(f"model {name!r} is not served here (serving: {', '.join(models)})", 404)
        if not is_stateful(m):
            raise SessionError(
                f"model {name!r} ({m.task}) keeps no state between requests: use predict, or "
                "serve a forecaster or language model with --runtime torch for sessions",
                400,
            )
        return m

    def stepper(m: Any, data: list[dict[str, Any]], future: list[dict[str, Any]] | None) -> Any:
        return lambda state: m.step(state, m.step_inputs(data, {"future": future}))

    @app.post("/v1/models/{name}/sessions", status_code=201)
    def create(body: SessionRequest, name: str = model_name) -> dict[str, Any]:
        m = stateful(name)
        s = store.create(name, m.initial_state(), stepper(m, body.data, body.future) if body.data else None)
        return _jsonable([s.view()])[0]

    @app.post("/v1/sessions/{sid}/observe")
    def observe(sid: str, body: ObserveRequest) -> dict[str, Any]:
        m = stateful(store.get(sid).model)
        return _jsonable([store.observe(sid, body.seq, stepper(m, body.data, body.future))])[0]

    @app.get("/v1/sessions/{sid}")
    def read(sid: str) -> dict[str, Any]:
        return _jsonable([store.get(sid).view()])[0]

    @app.delete("/v1/sessions/{sid}")
    def delete(sid: str) -> dict[str, Any]:
        if not store.delete(sid):
            raise SessionError(f"unknown session {sid!r}", 404)
        return {"deleted": sid}


def capabilities_of(model: Any) -> dict[str, Any]:
    """What a served model can do (its task's declared capabilities; `stateful` as this runtime implements it)."""
    from lstmkit.deploy.protocol import is_stateful

    return {**model.capabilities.to_dict(), "stateful": is_stateful(model)}


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
