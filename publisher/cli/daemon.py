"""Commands of the daemon area; they register themselves on publisher.cli.main."""

from __future__ import annotations
