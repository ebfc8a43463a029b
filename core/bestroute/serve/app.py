"""The OpenAI-compatible HTTP app (Starlette) over a :class:`~bestroute.serve.service.RoutingService`.

Routes: ``POST /v1/chat/completions`` (JSON or SSE), ``GET /v1/models``, ``GET /health``,
``GET /metrics`` (Prometheus text). Every failure is answered with an OpenAI-style error object
(``{"error": {"message", "type", "param", "code"}}``); an unexpected one is logged and answered
with 500, and the server keeps serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from bestroute.errors import InvalidQueryError, RequestError
from bestroute.serve.protocol import parse_chat_request
from bestroute.serve.service import RoutingService, StreamingAnswer

logger = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: The status counted for a stream the client closed before its end (nginx's convention).
CLIENT_CLOSED = 499


def create_app(service: RoutingService) -> Starlette:
    """The ASGI app serving ``service``; run it with uvicorn (``bestroute serve`` does)."""
    started = int(time.time())
    settings = service.settings

    async def chat_completions(request: Request) -> Response:
        began = time.perf_counter()
        service.metrics.in_flight.inc()
        stream = False
        try:
            raw = await _read_body(request, settings.max_body_bytes)
            chat = parse_chat_request(raw, settings)
            stream = chat.stream
            if stream:
                answer = await service.stream(chat)
                service.metrics.in_flight.dec()
                return StreamingResponse(
                    _counted(answer, service, began),
                    media_type="text/event-stream",
                    headers={**answer.headers, "cache-control": "no-cache"},
                )
            result = await service.complete(chat)
            response: Response = JSONResponse(result.body, headers=result.headers)
        except RequestError as error:
            response = _error_response(error)
        except InvalidQueryError as error:
            response = _error_response(RequestError(400, str(error), param="messages"))
        except Exception as error:
            logger.exception("unexpected error answering a chat completion")
            response = _error_response(
                RequestError(500, f"internal error: {type(error).__name__}: {error}")
            )
        service.metrics.in_flight.dec()
        service.metrics.observe_request(
            response.status_code, time.perf_counter() - began, stream=stream
        )
        return response

    async def models(request: Request) -> Response:
        pool = service.engine.pool
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": settings.model_name,
                        "object": "model",
                        "created": started,
                        "owned_by": "bestroute",
                        "bestroute": {
                            "candidates": list(pool.candidates),
                            "reference": pool.reference,
                            "arms": [arm.key for arm in pool.arms],
                        },
                    }
                ],
            }
        )

    async def health(request: Request) -> Response:
        pool = service.engine.pool
        return JSONResponse(
            {
                "status": "ok",
                "model": settings.model_name,
                "candidates": list(pool.candidates),
                "reference": pool.reference,
                "threshold": service.policy.threshold,
                "uptime_s": round(time.time() - started, 3),
            }
        )

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(service.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)

    async def http_error(request: Request, error: Exception) -> Response:
        status = error.status_code if isinstance(error, HTTPException) else 500
        message = {
            404: f"no route {request.url.path}; the API is under /v1 (POST /v1/chat/completions)",
            405: f"{request.method} is not allowed on {request.url.path}",
        }.get(status, str(getattr(error, "detail", error)))
        return _error_response(RequestError(status, message))

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or a 413 RequestError as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> RequestError:
    return RequestError(
        413,
        f"the request body is over this server's limit of {limit} bytes; send a shorter "
        "conversation (or start the server with a larger --max-body-bytes)",
        code="request_too_large",
    )


def _error_response(error: RequestError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


async def _counted(
    answer: StreamingAnswer, service: RoutingService, began: float
) -> AsyncIterator[str]:
    """The answer's events; counts the request once it ends: 200, 502 when it broke, or 499
    when the client went away before the end."""
    assert answer.events is not None
    service.metrics.in_flight.inc()
    finished = False
    try:
        async for event in answer.events:
            yield event
        finished = True
    finally:
        service.metrics.in_flight.dec()
        status = 502 if answer.failed else 200 if finished else CLIENT_CLOSED
        service.metrics.observe_request(status, time.perf_counter() - began, stream=True)
