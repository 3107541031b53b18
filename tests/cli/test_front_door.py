"""The front door: how the `publisher` command finds, reads and refuses its configuration, run as the real
executable. Also the README's quick start, typed as written, against the real daemon."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from publisher.config import load
from tests.conftest import ROOT, write_config


def publisher(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    return subprocess.run(
        [sys.executable, "-m", "publisher", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**environ, **(env or {})},
    )


def post(site: Path) -> None:
    (site / "content" / "2026-01-02-hello.md").write_text("---\ntitle: Hello\n---\nHi.\n", encoding="utf-8")


def test_a_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    write_config(tmp_path)
    post(tmp_path)
    for args in (("--config", "publsher.toml", "build"), ("build", "--config", "publsher.toml")):
        result = publisher(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stdout
        assert "publsher.toml: no such file" in result.stderr
    result = publisher("run", cwd=tmp_path, env={"PUBLISHER_CONFIG": str(tmp_path / "nope.toml")})
    assert result.returncode == 2 and "nope.toml: no such file" in result.stderr
    # Nothing was started on the defaults: no store, no secret, no feeds.
    assert not (tmp_path / "state").exists() and not (tmp_path / "public").exists()


def test_config_and_set_after_the_command(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    write_config(site)
    post(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = publisher("build", "--config", str(site / "publisher.toml"), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert "1 added" in result.stdout
    assert (site / "public" / "feed.atom").is_file()
    # The later of two --config wins; --set and -v may follow the command too, and add to those before it.
    result = publisher(
        "--config", "nope.toml", "--set", "http.enabled=false",
        "check-config", "-c", str(site / "publisher.toml"), "--set", "feeds.formats=['atom']", "-v",
        cwd=elsewhere,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"config:    {site / 'publisher.toml'}" in result.stdout
    assert "(atom)" in result.stdout and "http:      off" in result.stdout
    # Subcommands of a group take them as well.
    result = publisher("outbox", "retry", "--config", str(site / "publisher.toml"), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (site / "state" / "publisher.db").is_file()


def test_a_missing_content_folder_is_an_error(tmp_path: Path) -> None:
    write_config(tmp_path, '[paths]\ncontent = "posts"\n')
    check = publisher("check-config", cwd=tmp_path)
    assert check.returncode == 2
    assert "paths.content" in check.stderr and str(tmp_path / "posts") in check.stderr
    assert "publisher.toml" in check.stderr
    for command in ("build", "scan"):
        result = publisher(command, cwd=tmp_path)
        assert result.returncode == 1, (command, result.stdout)
        assert f"{tmp_path / 'posts'}: the content folder does not exist" in result.stderr
    assert not (tmp_path / "public").exists()
    # Named with --set, the error says so.
    result = publisher("build", "--set", "paths.content='gone'", cwd=tmp_path)
    assert result.returncode == 1 and "from --set" in result.stderr


def test_set_and_environment_errors_name_their_source(tmp_path: Path) -> None:
    # No publisher.toml here: the error must not name one.
    result = publisher("check-config", "--set", "feeds.entries=many", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "publisher: config error: --set: feeds.entries: expected a whole number, got a string"
    )
    result = publisher("check-config", cwd=tmp_path, env={"PUBLISHER_DIGEST__SCHEDULE": "0 25 * * *"})
    assert result.returncode == 2
    assert "environment PUBLISHER_DIGEST__SCHEDULE: digest.schedule: bad cron expression" in result.stderr
    assert "publisher.toml" not in result.stderr


def test_init_writes_a_base_url_and_listen_that_agree(tmp_path: Path) -> None:
    for listen, base_url in (
        (None, "http://127.0.0.1:8080/"),
        ("127.0.0.1:9090", "http://127.0.0.1:9090/"),
        ("0.0.0.0:8000", "http://127.0.0.1:8000/"),
        ("[::1]:8081", "http://[::1]:8081/"),
    ):
        site = tmp_path / (listen or "default").replace(":", "_")
        result = publisher("init", str(site), *(("--listen", listen) if listen else ()), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        config = load(site / "publisher.toml", environ={})
        assert config.site.base_url == base_url
        assert config.http.listen == (listen or "127.0.0.1:8080")
        assert urlsplit(base_url).port == config.http.host_port[1]
    bad = publisher("init", "other", "--listen", "localhost", cwd=tmp_path)
    assert bad.returncode == 2 and "--listen" in bad.stderr
    assert not (tmp_path / "other" / "publisher.toml").exists()


def test_example_config_is_printed_and_shipped(tmp_path: Path) -> None:
    source = ROOT / "publisher" / "config.example.toml"
    result = publisher("example-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == source.read_text(encoding="utf-8")
    # What it prints is a valid configuration, and every table of the configuration is in it.
    (tmp_path / "publisher.toml").write_text(result.stdout, encoding="utf-8")
    (tmp_path / "content").mkdir()
    check = publisher("check-config", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    tables = set(tomllib.loads(result.stdout))
    assert {"site", "paths", "content", "feeds", "smtp", "maildir", "dkim", "digest"} <= tables
    assert {"subscriptions", "http", "websub", "daemon"} <= tables


def test_the_package_carries_the_example_config(tmp_path: Path) -> None:
    # What a plain `pip install` puts beside the modules is what setuptools' build_py collects.
    work = tmp_path / "src"
    shutil.copytree(
        ROOT, work, ignore=shutil.ignore_patterns(".*", "examples", "tests", "bench", "*.egg-info", "build")
    )
    result = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "-d", str(tmp_path / "out")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    shipped = tmp_path / "out" / "publisher" / "config.example.toml"
    assert shipped.read_bytes() == (ROOT / "publisher" / "config.example.toml").read_bytes()


def test_readme_quick_start_works_as_typed(tmp_path: Path) -> None:
    """The commands of the README's quick start, in order, against `publisher run` on a copy of the example
    site (as `make run` starts it), on a free port instead of 8080."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", quick, flags=re.S)
    assert "make run" in blocks[0] and "make test" in blocks[0]
    make_run = re.search(r"^run:.*?\n\t(.*?)$", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.M | re.S)
    assert make_run is not None and make_run.group(1).endswith("publisher --config examples/publisher.toml run")
    commands = [line for line in blocks[1].splitlines() if line.strip()]
    shutil.copytree(ROOT / "examples" / "content", tmp_path / "examples" / "content")
    shutil.copy(ROOT / "examples" / "publisher.toml", tmp_path / "examples" / "publisher.toml")
    from tests.service.test_daemon import free_port, wait_for

    port = free_port()
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "publisher",
            "--config",
            "examples/publisher.toml",
            "run",
            "--listen",
            f"127.0.0.1:{port}",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for("the first build", lambda: (tmp_path / "examples" / "public" / "feed.atom").is_file())
        outputs = []
        for command in commands:
            result = subprocess.run(
                ["bash", "-c", command.replace("127.0.0.1:8080", f"127.0.0.1:{port}")],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, (command, result.stderr)
            outputs.append(result.stdout)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    assert "<feed" in outputs[0] and "<opml" in outputs[1]
    # The last line lists the confirmation mail, which is there.
    (listed,) = outputs[-1].split()
    assert listed.startswith("examples/state/maildir/new/")
    assert b"Subject:" in (tmp_path / listed).read_bytes()


def test_the_process_ends_as_sys_exit_would() -> None:
    """publisher.cli ends the process without the interpreter's teardown (``_end``), and still the way
    ``sys.exit`` does: threads joined, exit handlers run, buffered output flushed, the status kept."""
    script = """if True:
        import atexit, sys, threading, time
        from publisher.cli import _end
        def late():
            time.sleep(0.2)
            print("thread finished")
        threading.Thread(target=late).start()
        atexit.register(print, "exit handler ran")
        sys.stdout.write("buffered, no newline;")
        _end(STATUS)
        print("never")
    """
    for status, code, err in (("None", 0, ""), ("3", 3, ""), ("'publisher: refused'", 1, "publisher: refused\n")):
        result = subprocess.run(
            [sys.executable, "-c", script.replace("STATUS", status)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == code, result.stderr
        assert result.stdout == "buffered, no newline;thread finished\nexit handler ran\n"
        assert result.stderr == err
