"""End to end: digests sent through a real SMTP relay (aiosmtpd), the relay's 250, then Postfix-format DSNs
fed back through ``publisher inbound`` (stdin, a subprocess, as Postfix pipe runs it) and through the Maildir
the real daemon watches; ``publisher digest report`` tells who got the digest and who did not.

The DSNs are the Postfix fixture (what a real Postfix wrote) with the envelope sender and recipient of this
send in place of the fixture's.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.store import Store
from tests.service.test_daemon import Daemon, free_port, wait_for
from tests.smtpserver import SmtpServer

pytest_plugins = ["tests.smtpserver"]

FIXTURE = Path(__file__).parent / "fixtures" / "postfix-dsn-unknown-user.eml"
READERS = ["ana@example.net", "ben@example.net", "cat@example.net"]


def publisher(site: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(site / "publisher.toml"), *args],
        cwd=site, input=stdin, capture_output=True, timeout=120,
    )  # fmt: skip


def ok(site: Path, *args: str) -> str:
    result = publisher(site, *args)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def dsn_for(mail_from: str, recipient: str) -> bytes:
    """The Postfix DSN, naming this send's VERP envelope sender and failed recipient."""
    data = FIXTURE.read_bytes()
    data = data.replace(b"bounces+1-wrykqglkwyimociq@example.org", mail_from.encode())
    data = data.replace(b"nosuchuser@example.org", recipient.encode()).replace(b'"nosuchuser"', b'"x"')
    return data.replace(b"<digest-1.a1b2c3@example.org>", b"<not-the-message-id@example.org>")


def report(site: Path, digest: str) -> dict[str, list[str]]:
    rows = csv.DictReader(io.StringIO(ok(site, "digest", "report", digest, "--csv")))
    return {r["recipient"]: [r["state"], r["relay"], r["detail"]] for r in rows}


def test_send_then_bounces_through_stdin_and_the_watched_maildir(tmp_path: Path, smtp_server: SmtpServer) -> None:
    site = tmp_path
    port = free_port()
    (site / "content").mkdir()
    when = datetime.now(UTC) - timedelta(hours=2)
    (site / "content" / "harbour.md").write_text(
        f'---\ntitle: "Harbour strike"\ndate: {when:%Y-%m-%dT%H:%M:%S}+00:00\nauthor: "Ana Ruiz"\n---\n\n'
        "Dockworkers have promised a quiet week.\n",
        encoding="utf-8",
    )
    inbox = site / "bounce-box"
    (site / "publisher.toml").write_text(
        f'[site]\ntitle = "Bounce News"\nbase_url = "http://127.0.0.1:{port}/"\nid_authority = "news.example.org"\n'
        f'[http]\nlisten = "127.0.0.1:{port}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\nsecurity = "none"\n'
        'from = "Bounce News <news@example.org>"\nverify_tls = false\nbounce_limit = 1\n'
        f'[bounces]\nmaildir = "{inbox}"\npoll_seconds = 0.2\n'
        '[digest]\nschedule = "0 7 * * *"\n',
        encoding="utf-8",
    )
    ok(site, "scan")
    for reader in READERS:
        ok(site, "subscribers", "add", reader, "--follow", "ana-ruiz", "--confirmed")
    ok(site, "digest", "send")
    assert smtp_server.wait_for(3)
    mail_from = {m.rcpt_tos[0]: m.mail_from for m in smtp_server.messages}
    assert all(f.startswith("bounces+") and f.endswith("@example.org") for f in mail_from.values())
    assert len(set(mail_from.values())) == 3  # one envelope sender per message
    with Store(site / "state" / "publisher.db") as store:
        digest = store.scalar("SELECT id FROM digests")
    relay = f"127.0.0.1:{smtp_server.port}"
    assert {r: s[:2] for r, s in report(site, digest).items()} == {r: ["accepted", relay] for r in READERS}

    # Ana's bounce, as Postfix pipe(8) would hand it over: stdin, the envelope recipient as an argument.
    fed = publisher(site, "inbound", "--recipient", mail_from[READERS[0]],
                    stdin=dsn_for(mail_from[READERS[0]], READERS[0]))  # fmt: skip
    assert fed.returncode == 0, fed.stderr.decode()
    assert b"hard bounce (5.1.1)" in fed.stdout
    # Something that is no bounce: quarantined, still exit 0 so the MTA does not bounce it back.
    junk = publisher(site, "inbound", stdin=b"From: someone@example.net\r\nSubject: hello\r\n\r\nhi\r\n")
    assert junk.returncode == 0 and b"unknown" in junk.stdout
    assert publisher(site, "inbound", stdin=b"").returncode == 66

    # Ben's bounce lands in the Maildir the daemon watches.
    for sub in ("tmp", "new", "cur"):
        (inbox / sub).mkdir(parents=True, exist_ok=True)
    daemon = Daemon(site, port)
    try:
        daemon.wait_ready()
        (inbox / "tmp" / "ben").write_bytes(dsn_for(mail_from[READERS[1]], READERS[1]))
        (inbox / "tmp" / "ben").rename(inbox / "new" / "ben")
        wait_for("the daemon to read the bounce", lambda: not (inbox / "new" / "ben").exists())
        assert daemon.stop() == 0
    finally:
        daemon.close()

    states = report(site, digest)
    assert states[READERS[0]][0] == "bounced later" and states[READERS[0]][2].startswith("5.1.1")
    assert states[READERS[1]][0] == "bounced later"
    assert states[READERS[2]] == ["accepted", relay, ""]
    listing = ok(site, "subscribers", "list")
    assert f"{READERS[0]}\tbounced" in listing and f"{READERS[1]}\tbounced" in listing
    assert f"{READERS[2]}\tconfirmed" in listing
    assert len(list((site / "state" / "inbound" / "quarantine" / "new").iterdir())) == 1
    text = ok(site, "digest", "report", digest)
    assert "3 recipients" in text and "bounced later 2" in text and "accepted 1" in text
