"""Shared CLI plumbing: the container, error reporting, exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from sceau.bootstrap import Container, build
from sceau.pki.errors import ErrorKind, SceauError

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
error_console = Console(stderr=True)

EXIT_CODES = {
    ErrorKind.INVALID_INPUT: 2,
    ErrorKind.NOT_FOUND: 3,
    ErrorKind.CONFLICT: 4,
    ErrorKind.FORBIDDEN: 5,
    ErrorKind.UNAUTHENTICATED: 5,
    ErrorKind.RATE_LIMITED: 6,
    ErrorKind.INTERNAL: 1,
}


def fail(message: str, code: int = 2) -> None:
    error_console.print(f"[bold red]erreur:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn a ``SceauError`` into a message on stderr and a non-zero exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SceauError as exc:
            error_console.print(
                f"erreur [{exc.code}]: {exc.message}", highlight=False, markup=False
            )
            raise typer.Exit(EXIT_CODES.get(exc.kind, 1)) from None
        except (OSError, ValueError) as exc:
            error_console.print(f"erreur: {exc}", highlight=False, markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        _container = build()
    return _container


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()
