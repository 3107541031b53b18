"""Shared fixtures: a config on a temporary site folder, and a store on a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher import config as config_mod
from publisher.config import Config
from publisher.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "content"


def write_config(folder: Path, text: str = "") -> Path:
    """Write a publisher.toml in ``folder`` whose paths point inside it; ``text`` is appended."""
    path = folder / "publisher.toml"
    path.write_text(
        '[site]\ntitle = "Test News"\nbase_url = "https://news.example.org/"\n'
        'timezone = "Europe/London"\nid_authority = "news.example.org"\n' + text,
        encoding="utf-8",
    )
    (folder / "content").mkdir(exist_ok=True)
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site folder with an empty content folder and a publisher.toml."""
    write_config(tmp_path)
    return tmp_path


@pytest.fixture
def make_config(site: Path) -> Callable[..., Config]:
    def make(extra: str = "", **env: Any) -> Config:
        path = site / "publisher.toml"
        if extra:
            write_config(site, extra)
        return config_mod.load(path, environ={k: str(v) for k, v in env.items()}, must_exist=True)

    return make


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config()


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    with Store(config.paths.database) as s:
        yield s
