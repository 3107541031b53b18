"""Commands of the mail area; they register themselves on publisher.cli.main."""

from __future__ import annotations
