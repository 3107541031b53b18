"""Helpers for the mail tests: content rows written with plain SQL (exact times), parsing composed mail."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from publisher.models import slugify
from publisher.store import Store, dumps, iso

NOW = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


def add_item(
    store: Store,
    key: str,
    title: str,
    sections: Sequence[tuple[str, str]],
    *,
    published: datetime | None = None,
    recorded: datetime | None = None,
    categories: Sequence[str] = (),
    image: str | None = None,
    role: str = "",
) -> list[int]:
    """An item whose sections are ``(correspondent name, markdown body)``; returns the section ids."""
    published = published or NOW - timedelta(hours=5)
    recorded = recorded or published
    at = iso(recorded)
    slugs = []
    for name, _ in sections:
        slug = slugify(name)
        slugs.append(slug)
        store.conn.execute(
            "INSERT OR IGNORE INTO correspondents(slug, name, role, first_seen) VALUES (?, ?, ?, ?)",
            (slug, name, role, at),
        )
    store.conn.execute(
        "INSERT INTO items(key, uid, source_path, slug, url_path, title, published, updated, authors, categories,"
        " tags, summary, image, body_format, html, content_hash, first_seen, deleted_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', '', ?, 'markdown', NULL, ?, ?, NULL)",
        (
            key,
            f"tag:news.example.org,2026-03-01:{key}",
            f"{key}.md",
            key,
            f"2026/03/{key}/",
            title,
            iso(published),
            iso(published),
            dumps(slugs[:1]),
            dumps(list(categories)),
            image,
            key,
            at,
        ),
    )
    ids = []
    for position, ((_, body), slug) in enumerate(zip(sections, slugs, strict=True)):
        cur = store.conn.execute(
            "INSERT INTO sections(item_key, position, correspondent_slug, role, anchor, body, html, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
            (key, position, slug, role, slug, body, at),
        )
        ids.append(int(cur.lastrowid or 0))
    for category in categories:
        store.conn.execute(
            "INSERT OR IGNORE INTO item_categories(item_key, kind, value) VALUES (?, 'category', ?)",
            (key, slugify(category)),
        )
    return ids


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def parts(message: EmailMessage) -> tuple[str, str]:
    """(text, html) bodies, decoded, with LF line ends."""
    text = message.get_body(("plain",))
    page = message.get_body(("html",))
    assert text is not None and page is not None
    return text.get_content().replace("\r\n", "\n"), page.get_content().replace("\r\n", "\n")


def outbox_rows(store: Store, kind: str | None = None) -> list:  # type: ignore[type-arg]
    sql = "SELECT * FROM outbox" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
    return store.query(sql, (kind,) if kind else ())


def make_dkim_key(folder: Path) -> tuple[Path, str]:
    """A 1024-bit RSA key (fast to make and to sign with) and its DNS TXT record."""
    import subprocess

    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "1024"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    import base64

    return key, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode("ascii")
