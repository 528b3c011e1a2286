"""Discord-shaped HTTP errors raised inside the local server's handlers.

A handler raises :class:`HTTPError`; the server's middleware turns it into a
JSON response ``{"message", "code"[, "errors"]}`` with the HTTP status, exactly
as Discord answers (https://docs.discord.com/developers/reference#error-messages and
https://docs.discord.com/developers/topics/opcodes-and-status-codes#json).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FormErrors",
    "HTTPError",
    "bad_request",
    "forbidden_access",
    "forbidden_permissions",
    "not_found_route",
    "unauthorized",
    "unknown_channel",
    "unknown_guild",
    "unknown_message",
]


class HTTPError(Exception):
    """An error response: HTTP ``status`` with Discord's JSON error body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body Discord sends for this error (``message`` first)."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class FormErrors:
    """Collects field errors and raises them as one 50035 "Invalid Form Body".

    Paths are tuples of keys and list indexes; indexes become string keys and
    each leaf holds ``{"_errors": [{"code", "message"}]}`` as on Discord.
    An empty path is a whole-request error.
    """

    def __init__(self) -> None:
        self._errors: dict[str, Any] = {}
        self.count = 0

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        node = self._errors
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
        self.count += 1

    def __bool__(self) -> bool:
        return self.count > 0

    def raise_if_any(self) -> None:
        if self.count:
            raise HTTPError(400, 50035, "Invalid Form Body", self._errors)

    @property
    def errors(self) -> dict[str, Any]:
        return self._errors


def bad_request(code: int, message: str) -> HTTPError:
    return HTTPError(400, code, message)


def unauthorized() -> HTTPError:
    return HTTPError(401, 0, "401: Unauthorized")


def not_found_route() -> HTTPError:
    return HTTPError(404, 0, "404: Not Found")


def unknown_channel() -> HTTPError:
    return HTTPError(404, 10003, "Unknown Channel")


def unknown_guild() -> HTTPError:
    return HTTPError(404, 10004, "Unknown Guild")


def unknown_message() -> HTTPError:
    return HTTPError(404, 10008, "Unknown Message")


def forbidden_access() -> HTTPError:
    return HTTPError(403, 50001, "Missing Access")


def forbidden_permissions() -> HTTPError:
    return HTTPError(403, 50013, "Missing Permissions")
