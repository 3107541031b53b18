"""Fixtures shared by the mail tests. A module using ``composer`` defines its own ``mailconfig``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from publisher.config import Config
from publisher.mail import messages


@pytest.fixture
def composer(mailconfig: Config) -> Iterator[messages.Composer]:
    c = messages.Composer(mailconfig, mailconfig.paths.database)
    yield c
    c.close()
