"""What the command line reads of `publisher build` before click is loaded (publisher.cli.build_arguments):
the same --config and --set the command group reads, or nothing when it is not sure."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.cli import build_arguments


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["build"], (None, [])),
        (["--config", "site.toml", "build"], (Path("site.toml"), [])),
        (["-c", "site.toml", "build"], (Path("site.toml"), [])),
        (["--config=site.toml", "-vv", "build"], (Path("site.toml"), [])),
        (["build", "--config", "site.toml"], (Path("site.toml"), [])),
        (["--config", "a.toml", "build", "--config", "b.toml"], (Path("b.toml"), [])),  # the last one wins
        (
            ["--set", "paths.content=posts", "build", "--set=feeds.entries=20", "--verbose"],
            (None, ["paths.content=posts", "feeds.entries=20"]),
        ),
    ],
)
def test_a_build_command_line_is_read(argv: list[str], expected: tuple[Path | None, list[str]]) -> None:
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
