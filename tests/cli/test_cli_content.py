"""The content commands, run as the real `publisher` executable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from publisher.content.workers import POOL_MIN
from tests.conftest import write_config


def publisher(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "publisher", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_init_then_build(tmp_path: Path) -> None:
    result = publisher("init", "site", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    site = tmp_path / "site"
    assert (site / "publisher.toml").is_file() and (site / "state" / "secret").is_file()
    assert oct((site / "state" / "secret").stat().st_mode & 0o777) == "0o600"
    (site / "content" / "2026-01-02-hello.md").write_text("---\ntitle: Hello\n---\nHi.\n", encoding="utf-8")
    (site / "content" / "broken.md").write_bytes(b"---\ntitle: [x\n---\n")
    result = publisher("--config", "site/publisher.toml", "build", cwd=tmp_path)
    # Skipped content files do not make the command fail.
    assert result.returncode == 0, result.stderr
    assert "1 added" in result.stdout
    assert "broken.md" in result.stdout and "skipped: 1" in result.stdout
    assert (site / "public" / "feed.atom").is_file()
    again = publisher("init", "site", cwd=tmp_path)
    assert again.returncode != 0 and "exists" in again.stderr


def test_items_and_correspondents(tmp_path: Path) -> None:
    write_config(tmp_path)
    (tmp_path / "content" / "a.md").write_text(
        "---\ntitle: Harbour\ndate: 2026-03-02\nauthor: Newsdesk\n---\nLead.\n\nBy Ana Ruiz, Lisbon correspondent\n\n"
        "Docks.\n",
        encoding="utf-8",
    )
    assert publisher("scan", cwd=tmp_path).returncode == 0
    items = publisher("items", cwd=tmp_path)
    assert "Harbour" in items.stdout and "2026-03-02" in items.stdout
    people = publisher("correspondents", cwd=tmp_path)
    assert "ana-ruiz" in people.stdout and "Lisbon correspondent" in people.stdout


def test_config_error_exits_2_and_names_the_key(tmp_path: Path) -> None:
    write_config(tmp_path, "[feeds]\nentries = 'many'\n")
    result = publisher("check-config", cwd=tmp_path)
    assert result.returncode == 2
    assert "feeds.entries" in result.stderr and "publisher.toml" in result.stderr


def test_check_config_reports_paths(tmp_path: Path) -> None:
    write_config(tmp_path)
    result = publisher("check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Maildir" in result.stdout and str(tmp_path / "content") in result.stdout


def test_check_config_reads_cron_and_subject_as_the_daemon_would(tmp_path: Path) -> None:
    for text, key in (
        ('[digest]\nschedule = "61 7 * * *"\n', "digest.schedule"),
        ('[digest.schedules]\nana-ruiz = "0 25 * * *"\n', "digest.schedules.ana-ruiz"),
        ('[digest]\nsubject = "{{ oops"\n', "digest.subject"),
    ):
        write_config(tmp_path, text)
        result = publisher("check-config", cwd=tmp_path)
        assert result.returncode == 2, (text, result.stdout)
        assert key in result.stderr


def test_an_incremental_build_loads_only_what_it_uses(tmp_path: Path) -> None:
    """A build that reads a post or two starts no process pool and loads none of the mail, daemon or web
    libraries: the command's start is most of its time then (python -X importtime lists every module)."""
    write_config(tmp_path)
    (tmp_path / "content" / "2026-01-02-hello.md").write_text("---\ntitle: Hello\n---\nHi.\n", encoding="utf-8")
    assert publisher("build", cwd=tmp_path).returncode == 0
    (tmp_path / "content" / "2026-01-03-again.md").write_text("---\ntitle: Again\n---\nHi.\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "publisher", "build"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "1 added" in result.stdout
    loaded = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "publisher.feeds.build" in loaded and "publisher.content.scanner" in loaded
    heavy = {
        "multiprocessing",
        "concurrent.futures.process",
        "email.utils",
        "secrets",
        "aiohttp",
        "aiosmtplib",
        "apscheduler",
        "watchfiles",
        "pypdfium2",
        "publisher.mail.messages",
        "publisher.delivery.outbox",
        "publisher.service.daemon",
    }
    assert sorted(heavy & loaded) == []


def test_a_build_takes_the_walk_its_command_line_started(tmp_path: Path) -> None:
    """`publisher build` starts its walk before it loads click and the commands; the build takes that walk,
    which finds what the build's own walk would (here: one post added, the other unchanged)."""
    write_config(tmp_path)
    (tmp_path / "content" / "2026-01-02-hello.md").write_text("---\ntitle: Hello\n---\nHi.\n", encoding="utf-8")
    assert publisher("build", cwd=tmp_path).returncode == 0
    (tmp_path / "content" / "2026-01-03-again.md").write_text("---\ntitle: Again\n---\nHi.\n", encoding="utf-8")
    result = publisher("-v", "build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "taking the one started with the command line" in result.stderr
    assert "1 added" in result.stdout and "1 unchanged" in result.stdout
    # A --set after the command moves the content folder: the walk started early walked that one.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "2026-01-04-elsewhere.md").write_text("---\ntitle: There\n---\nHi.\n", encoding="utf-8")
    result = publisher("-v", "build", "--set", "paths.content=other", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "taking the one started with the command line" in result.stderr
    assert "1 added" in result.stdout and "2 removed" in result.stdout


def test_a_config_read_from_a_pipe_is_read_once_by_build(tmp_path: Path) -> None:
    """`publisher -c /dev/stdin build` reads the piped config once: the walk started early does not use it
    up, so the build runs on it and not on the embedded defaults."""
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "2026-01-02-hello.md").write_text("---\ntitle: Hello\n---\nHi.\n", encoding="utf-8")
    config = (
        f'[site]\ntitle = "Piped News"\nbase_url = "https://news.example.org/"\n'
        f'[paths]\ncontent = "{tmp_path / "content"}"\nstate = "{tmp_path / "state"}"\n'
        f'output = "{tmp_path / "public"}"\n'
    )
    for _ in range(2):  # a cold build, then one with a store the early walk could use
        result = subprocess.run(
            [sys.executable, "-m", "publisher", "-c", "/dev/stdin", "build"],
            cwd=tmp_path,
            input=config,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    assert "Piped News" in (tmp_path / "public" / "feed.atom").read_text(encoding="utf-8")


def test_a_first_build_takes_the_scan_workers_its_command_line_started(tmp_path: Path) -> None:
    """Without a store, `publisher build` starts the scan's workers before it loads its own code, when the
    folder holds enough files to be worth them; a small folder is read in the command's own process."""
    write_config(tmp_path)
    env = dict(os.environ, PUBLISHER_SCAN_WORKERS="2")
    for i in range(5):
        (tmp_path / "content" / f"2026-01-{i + 1:02d}-p.md").write_text(f"---\ntitle: P{i}\n---\nHi.\n", "utf-8")
    small = publisher("-v", "build", cwd=tmp_path, env=env)
    assert small.returncode == 0, small.stderr
    assert "workers started with the command line" not in small.stderr
    shutil.rmtree(tmp_path / "state")
    (tmp_path / "content" / "many").mkdir()
    for i in range(POOL_MIN):
        (tmp_path / "content" / "many" / f"p{i:03d}.md").write_text(
            f"---\ntitle: M{i}\ndate: 2026-02-01T10:{i % 60:02d}:00\n---\nHi.\n", "utf-8"
        )
    result = publisher("-v", "build", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "taking 2 workers started with the command line" in result.stderr
    assert f"{POOL_MIN + 5} added" in result.stdout
