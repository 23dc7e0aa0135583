"""Errors of the simulator: HTTP errors it answers with (JSON:API bodies) and its own failures."""

from __future__ import annotations

import uuid
from typing import Any

from klaviyo_analytics.errors import KlaviyoAnalyticsError


class SimulatorError(KlaviyoAnalyticsError):
    """The simulator could not start or run (port in use, bad spec file ...)."""


class ApiError(Exception):
    """An error the simulated API answers with, shaped like Klaviyo's JSON:API errors.

    Args:
        status: HTTP status.
        code: Klaviyo error code (``invalid``, ``not_authenticated`` ...).
        title: short title.
        detail: human-readable reason.
        parameter: the query parameter at fault, if any.
        pointer: JSON pointer into the request body at fault, if any.
        headers: extra response headers.
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        parameter: str | None = None,
        pointer: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.parameter = parameter
        self.pointer = pointer
        self.headers = headers or {}

    @classmethod
    def invalid(
        cls, detail: str, *, parameter: str | None = None, pointer: str | None = None
    ) -> ApiError:
        """A 400 ``invalid`` error."""
        return cls(400, "invalid", "Invalid input.", detail, parameter=parameter, pointer=pointer)

    @classmethod
    def not_found(cls, detail: str) -> ApiError:
        """A 404 error."""
        return cls(404, "not_found", "Not found.", detail)

    def body(self) -> dict[str, Any]:
        """The JSON:API error document."""
        error: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "meta": {},
        }
        if self.parameter is not None:
            error["source"] = {"parameter": self.parameter}
        elif self.pointer is not None:
            error["source"] = {"pointer": self.pointer}
        return {"errors": [error]}
