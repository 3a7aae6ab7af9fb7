"""Dependencies stay at versions without the advisories we know of."""

from __future__ import annotations

from importlib.metadata import version

import pytest

MINIMUM = {"python-socketio": (5, 16, 2), "PyJWT": (2, 13), "aiohttp": (3, 14, 4),
           "python-engineio": (4, 12, 3)}


@pytest.mark.parametrize(("package", "minimum"), MINIMUM.items())
def test_installed_version_is_not_older_than_the_fixed_one(package: str, minimum: tuple[int, ...]
                                                           ) -> None:
    """An older version would bring back a known vulnerability."""
    parts = tuple(int(p) for p in version(package).split(".")[: len(minimum)])
    assert parts >= minimum, f"{package} {version(package)} < {minimum}"
