"""The mail commands, run as the real `publisher` executable on a site with the Maildir transport."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.store import Store
from tests.conftest import write_config
from tests.mailhelpers import parse, parts


def publisher(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "publisher", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def ok(*args: str, cwd: Path) -> str:
    result = publisher(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def mailbox(site: Path) -> list:  # type: ignore[type-arg]
    folder = site / "state" / "maildir" / "new"
    return [parse(p.read_bytes()) for p in sorted(folder.iterdir())] if folder.exists() else []


def post(site: Path, name: str, title: str, body: str, *, days_ago: float = 0.5) -> None:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    (site / "content" / name).write_text(
        f'---\ntitle: "{title}"\ndate: {when:%Y-%m-%dT%H:%M:%S}+00:00\nauthor: "Newsdesk"\n---\n\n{body}\n',
        encoding="utf-8",
    )


def test_subscribers_commands(tmp_path: Path) -> None:
    write_config(tmp_path)
    out = ok(
        "subscribers", "add", "Ana@Example.org", "--name", "Ana", "--follow", "ana-ruiz", "--confirmed", cwd=tmp_path
    )
    assert "ana@example.org (confirmed)" in out
    pending = publisher("subscribers", "add", "ben@example.org", cwd=tmp_path)
    assert pending.returncode == 0 and "pending" in pending.stdout
    bad = publisher("subscribers", "add", "not-an-address", cwd=tmp_path)
    assert bad.returncode == 1 and "invalid email address" in bad.stderr
    bad_follow = publisher("subscribers", "add", "c@example.org", "--follow", "category:", cwd=tmp_path)
    assert bad_follow.returncode == 1 and "category:" in bad_follow.stderr

    csv_file = tmp_path / "readers.csv"
    csv_file.write_text(
        "email,name,follows\ncat@example.org,Cat,tomas-berg|category:News\nbroken,X,all\ndee@example.org,,\n",
        encoding="utf-8",
    )
    first = publisher("subscribers", "import", str(csv_file), cwd=tmp_path)
    assert first.returncode == 1  # a bad row: reported, the others imported
    assert f"{csv_file}:3:" in first.stderr and "2 added" in first.stdout
    again = publisher("subscribers", "import", str(csv_file), cwd=tmp_path)
    assert "0 added, 0 updated, 2 unchanged" in again.stdout

    listing = ok("subscribers", "list", cwd=tmp_path)
    assert "ana@example.org\tconfirmed\tAna\tana-ruiz" in listing
    assert "ben@example.org\tpending\t-\tall" in listing
    assert "cat@example.org\tconfirmed\tCat\tcategory:news;tomas-berg" in listing
    assert "ben@example.org" not in ok("subscribers", "list", "--status", "confirmed", cwd=tmp_path)

    exported = ok("subscribers", "export", cwd=tmp_path)
    assert exported.splitlines()[0] == "email,name,follows,status,created_at" and len(exported.splitlines()) == 5
    (tmp_path / "export.csv").write_text(exported, encoding="utf-8")
    assert "0 added, 0 updated, 4 unchanged" in ok("subscribers", "import", "export.csv", cwd=tmp_path)

    assert "Removed dee@example.org" in ok("subscribers", "remove", "dee@example.org", cwd=tmp_path)
    assert "dee@example.org" not in ok("subscribers", "list", cwd=tmp_path)
    assert publisher("subscribers", "remove", "dee@example.org", cwd=tmp_path).returncode == 1
    # The pending subscriber's confirmation mail waits in the outbox.
    assert "queued: 1" in ok("outbox", cwd=tmp_path)


def test_preview_dry_run_send_and_outbox(tmp_path: Path) -> None:
    write_config(tmp_path)
    post(tmp_path, "harbour.md", "Harbour week", "Lead.\n\nBy Ana Ruiz, Lisbon correspondent\n\nDockworkers wait.")
    post(tmp_path, "old.md", "Too old", "By Ana Ruiz, Lisbon correspondent\n\nOld news.", days_ago=30)
    ok("scan", cwd=tmp_path)
    ok("subscribers", "add", "a@example.org", "--name", "Ann", "--follow", "ana-ruiz", "--confirmed", cwd=tmp_path)

    text = ok("digest", "preview", "--correspondent", "ana-ruiz", cwd=tmp_path)
    assert text.startswith("Subject: Ana Ruiz: 1 new")
    assert "Harbour week" in text and "Dockworkers wait." in text and "Too old" not in text
    out = ok("digest", "preview", "--correspondent", "ana-ruiz", "--out", "preview.html", cwd=tmp_path)
    assert "Wrote preview.html" in out
    assert "Dockworkers wait." in (tmp_path / "preview.html").read_text(encoding="utf-8")
    unknown = publisher("digest", "preview", "--correspondent", "nobody", cwd=tmp_path)
    assert unknown.returncode == 1 and "nobody" in unknown.stderr

    dry = ok("digest", "send", "--dry-run", cwd=tmp_path)
    assert "correspondent:ana-ruiz: 1 sections" in dry and "for 1 subscribers" in dry
    with Store(tmp_path / "state" / "publisher.db") as store:
        assert store.scalar("SELECT COUNT(*) FROM outbox") == 0
        assert store.scalar("SELECT COUNT(*) FROM digest_marks") == 0

    sent = ok("digest", "send", cwd=tmp_path)
    assert "Queued 1 digests" in sent and "Sent 1 of 1" in sent
    (message,) = mailbox(tmp_path)
    assert message["Subject"] == "Ana Ruiz: 1 new" and message["List-Unsubscribe-Post"]
    body, _ = parts(message)
    assert "Hello Ann," in body and "Dockworkers wait." in body

    assert "No new digest" in ok("digest", "send", cwd=tmp_path)
    assert len(mailbox(tmp_path)) == 1
    assert "sent: 1" in ok("outbox", cwd=tmp_path)


def test_send_test_and_outbox_retry(tmp_path: Path) -> None:
    write_config(tmp_path)
    out = ok("send-test", "--to", "ops@example.org", cwd=tmp_path)
    assert "Sent 1 of 1" in out
    (message,) = mailbox(tmp_path)
    assert message["To"] == "ops@example.org" and message["Subject"] == "Test message from Test News"
    assert publisher("send-test", "--to", "nope", cwd=tmp_path).returncode == 1

    with Store(tmp_path / "state" / "publisher.db") as store:
        store.conn.execute(
            "UPDATE outbox SET state = 'failed', last_error = '550 5.1.1 mailbox full', message_id = 'again@x'"
        )
    status = ok("outbox", cwd=tmp_path)
    assert "failed: 1" in status and "550 5.1.1 mailbox full" in status
    retried = ok("outbox", "retry", cwd=tmp_path)
    assert "1 failed messages queued again" in retried and "Sent 1 of 1" in retried
    assert len(mailbox(tmp_path)) == 2
    assert "failed: 0" in ok("outbox", cwd=tmp_path)
