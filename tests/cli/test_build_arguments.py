"""What the command line reads of `publisher build` without click (publisher.cli.build_arguments): the same
--config, --set and -v the command group reads, or nothing when it is not sure; and a plain build run so,
as the real executable runs it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from publisher.cli import build_arguments
from publisher.cli.app import main
from tests.conftest import write_config


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["build"], (None, [], 0)),
        (["--config", "site.toml", "build"], (Path("site.toml"), [], 0)),
        (["-c", "site.toml", "build"], (Path("site.toml"), [], 0)),
        (["--config=site.toml", "-vv", "build"], (Path("site.toml"), [], 2)),
        (["build", "--config", "site.toml"], (Path("site.toml"), [], 0)),
        (["--config", "a.toml", "build", "--config", "b.toml"], (Path("b.toml"), [], 0)),  # the last one wins
        (
            ["--set", "paths.content=posts", "-v", "build", "--set=feeds.entries=20", "--verbose"],
            (None, ["paths.content=posts", "feeds.entries=20"], 2),
        ),
    ],
)
def test_a_build_command_line_is_read(argv: list[str], expected: tuple[Path | None, list[str], int]) -> None:
    assert build_arguments(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["scan"],
        ["run"],
        ["items", "build"],  # build as an argument of another command
        ["build", "build"],
        ["build", "--help"],
        ["--version"],
        ["--config", "build"],  # no path: "build" is the option's value, as click reads it
        ["--config"],
        ["--config", "--set", "x=1", "build"],
        ["--config=", "build"],
        ["-cfoo.toml", "build"],  # a form this reading does not take on
        ["--unknown", "build"],
    ],
)
def test_any_other_command_line_is_left_to_the_command_group(argv: list[str]) -> None:
    assert build_arguments(argv) is None


def test_a_config_path_click_would_refuse_is_left_to_it(tmp_path: Path) -> None:
    """click refuses a folder or an unreadable file as --config with its own message; a pipe can be read
    once. A path that does not exist is taken: loading it says so, as the command group does."""
    folder = tmp_path / "site.toml"
    folder.mkdir()
    assert build_arguments(["-c", str(folder), "build"]) is None
    assert build_arguments(["-c", "/dev/stdin", "build"]) is None
    assert build_arguments(["-c", str(tmp_path / "missing.toml"), "build"]) == (tmp_path / "missing.toml", [], 0)
    readable = tmp_path / "publisher.toml"
    readable.write_text("", encoding="utf-8")
    assert build_arguments(["build", "-c", str(readable)]) == (readable, [], 0)


def test_a_plain_build_runs_without_click_and_says_what_the_group_says(tmp_path: Path) -> None:
    """The real executable, on a plain build line: click is never loaded, and the report, the errors and the
    exit statuses are the command group's (CliRunner runs the group itself)."""
    write_config(tmp_path)
    (tmp_path / "content" / "2026-01-02-hello.md").write_text("---\ntitle: Hello\n---\nHi.\n", encoding="utf-8")
    shown = "import atexit, sys; atexit.register(lambda: print('click loaded:', 'click' in sys.modules))"
    script = f"{shown}; from publisher.cli import run; sys.argv[0] = 'publisher'; run()"

    def real(*args: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
        return subprocess.run(
            [sys.executable, "-c", script, *args], cwd=tmp_path, capture_output=True, text=True, env=environ
        )

    def group(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env={"PUBLISHER_CONFIG": ""})

    timings = re.compile(r"\([\d.]+s: scan [\d.]+s, feeds [\d.]+s\)")
    cases = [
        (("build",), 0),
        (("build", "--set", "feeds.entries=x"), 2),
        (("-c", "missing.toml", "build"), 2),
        (("build", "--set", "paths.content=elsewhere"), 1),
    ]

    def afresh() -> None:
        for made in ("state", "public"):
            shutil.rmtree(tmp_path / made, ignore_errors=True)

    for args, status in cases:
        afresh()
        ran = real(*args)
        afresh()
        with contextlib.chdir(tmp_path):
            grouped = group(*args)
        assert (ran.returncode, grouped.exit_code) == (status, status), (args, ran.stderr, grouped.output)
        assert ran.stdout.endswith("click loaded: False\n"), ran.stdout
        said = ran.stdout.removesuffix("click loaded: False\n")
        assert timings.sub("", said) == timings.sub("", grouped.stdout), args
        if status:
            assert ran.stderr.strip().splitlines()[-1] == grouped.stderr.strip().splitlines()[-1], args
        else:
            assert "1 added" in said and "feeds:" in said
