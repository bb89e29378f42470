"""Errors that carry a *kind*; only the adapters turn a kind into an HTTP status or exit code."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """What went wrong, independent of how it is reported."""

    INVALID_INPUT = "invalid_input"  # malformed or out-of-policy input from the caller
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # the request clashes with what exists (duplicate, wrong state)
    FORBIDDEN = "forbidden"  # the actor may not do this
    UNAUTHENTICATED = "unauthenticated"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"  # a bug or a broken invariant: never the caller's fault


class SceauError(Exception):
    """Base error: a stable machine code, a kind and a human message."""

    def __init__(self, code: str, message: str, kind: ErrorKind = ErrorKind.INVALID_INPUT):
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message


class CsrError(SceauError):
    """A CSR was refused; ``code`` names the exact rule."""


class PolicyError(SceauError):
    """A request breaks a profile or naming rule."""


class LintError(SceauError):
    """A to-be-signed certificate failed linting; nothing was recorded or signed."""

    def __init__(self, findings: list[str]):
        super().__init__(
            "lint_failed",
            "the certificate failed linting: " + "; ".join(findings),
            ErrorKind.INTERNAL,
        )
        self.findings = findings


class KeyBackendError(SceauError):
    """A CA key could not be loaded or used."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message, ErrorKind.INTERNAL)
