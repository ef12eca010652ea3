"""Upcalls: a function a lower layer declares and calls, and a higher layer provides.

A domain never imports the domains above it (`tests/test_architecture.py`), yet a few need an
answer only a higher one has: media makes renditions for the screens' sizes, which venues own
(and venues hold house content, which is media); the schedule's pacing closes over what
reporting says was delivered (and reporting judges plays by the schedule's rules). So the lower
domain declares what it needs, signature and docstring, with `@Upcall`, and calls it like any
function; the higher one answers it with `@<the upcall>.provide` when its module is imported, as
domains register their jobs and subscribers (every process imports them all through the app).
The declared body runs while nothing provides the answer: it raises `NotProvided`, naming who
should, so a process that forgot an import fails loudly instead of planning on a default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class NotProvided(LookupError):
    """An upcall was made in a process that did not import the module providing it."""


class Upcall(Generic[P, R]):
    """A function declared below and answered from above (the module's docstring says why)."""

    def __init__(self, declared: Callable[P, R]) -> None:
        self._answer = declared
        functools.update_wrapper(self, declared)

    def provide(self, answer: Callable[P, R]) -> Callable[P, R]:
        """Answer the upcall with `answer` from now on; `answer` is returned as it is."""
        self._answer = answer
        return answer

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._answer(*args, **kwargs)
