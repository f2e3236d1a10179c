"""How errors leave the server: always ``{"errors": [{"file", "path", "message"}]}``.

One shape for every failure, whether Accio refused a definition, a query parameter did not
validate or a route does not exist, so that clients (the web UI, scripts) need one error path.
Unexpected exceptions give a generic 500 body: a traceback would leak paths and code to clients
and is logged on the server instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from accio.client.models import ErrorBody, ErrorItem, problem_items
from accio.errors import (
    AccioError,
    DefinitionError,
    NotFoundError,
    PermissionDenied,
    RuntimeFailure,
    UsageError,
    ValueParseError,
)

log = logging.getLogger("accio.server")

#: The ``responses`` every API route declares, so that OpenAPI documents the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad request"},
    404: {"model": ErrorBody, "description": "Not found"},
    409: {"model": ErrorBody, "description": "Conflict with the state of a run"},
    422: {"model": ErrorBody, "description": "Invalid definition, body or query parameter"},
    500: {"model": ErrorBody, "description": "Internal error (no details)"},
}


class ApiError(Exception):
    """An error of the HTTP layer itself, with its status and problems."""

    def __init__(self, status: int, items: Sequence[ErrorItem]) -> None:
        super().__init__("; ".join(i.message for i in items))
        self.status = status
        self.items = list(items)

    @classmethod
    def field(cls, status: int, path: str, message: str) -> ApiError:
        """A problem with one request field (``query.per_page``, ``body.definition``)."""
        return cls(status, [ErrorItem(path=path, message=message)])


def status_of(exc: AccioError) -> int:
    """The HTTP status of an Accio error: its meaning, not its CLI exit code."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, DefinitionError | ValueParseError):
        return 422
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, RuntimeFailure):
        return 409
    return 500


def body_of(exc: AccioError) -> ErrorBody:
    if isinstance(exc, DefinitionError):
        warnings = [p for p in exc.problems if p.severity == "warning"]
        errors = problem_items(exc.errors) or [ErrorItem(message=str(exc))]
        return ErrorBody(errors=errors, warnings=problem_items(warnings))
    return ErrorBody(errors=[ErrorItem(message=line) for line in exc.lines()])


def _response(status: int, body: ErrorBody) -> JSONResponse:
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"))


def _location(loc: Sequence[Any]) -> str:
    """FastAPI's ``("query", "per_page")`` as ``query.per_page``; list indices as ``[0]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through the one error shape."""

    async def accio_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AccioError)
        status = status_of(exc)
        if status == 500:
            log.error("internal Accio error: %s", exc, exc_info=exc)
        return _response(status, body_of(exc))

    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return _response(exc.status, ErrorBody(errors=exc.items))

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        items = [
            ErrorItem(path=_location(e.get("loc", ())), message=str(e.get("msg", "invalid")))
            for e in exc.errors()
        ]
        return _response(422, ErrorBody(errors=items or [ErrorItem(message="invalid request")]))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        response = _response(exc.status_code, ErrorBody(errors=[ErrorItem(message=exc.detail)]))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal server error", exc_info=exc)
        return _response(500, ErrorBody(errors=[ErrorItem(message="internal server error")]))

    app.add_exception_handler(AccioError, accio_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
