"""Upcalls: declared below, answered from above, loud when nobody answers."""

from __future__ import annotations

import pytest

from control_plane.upcalls import NotProvided, Upcall


def test_an_upcall_nobody_provides_says_who_should() -> None:
    @Upcall
    def sizes(*, screens: int) -> list[int]:
        """The sizes of so many screens."""
        raise NotProvided("venues provides the sizes")

    assert sizes.__doc__ == "The sizes of so many screens."
    with pytest.raises(NotProvided, match="venues provides the sizes"):
        sizes(screens=2)


def test_the_provided_answer_is_called_and_stays_a_plain_function() -> None:
    @Upcall
    def sizes(*, screens: int) -> list[int]:
        """The sizes of so many screens."""
        raise NotProvided("venues provides the sizes")

    @sizes.provide
    def answer(*, screens: int) -> list[int]:
        return [1920] * screens

    assert sizes(screens=2) == [1920, 1920]
    assert answer(screens=1) == [1920]
