"""Composer throughput: personalised ~20 KB digests made by ``publisher.mail.messages.Composer``, no network.

    python bench/compose.py [--messages 5000] [--dkim-messages 500] [--key-bits 2048]

A store with one queued digest (four sections of ~1.4 KB) for N subscribers; the composer turns every outbox
row into the exact message bytes, first unsigned, then DKIM-signed (rsa-sha256, relaxed/relaxed) with a
fresh key. Prints messages per second, the message size and the time of the first (rendering) message.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (  # noqa: SIM905
    "harbour freight strike minister budget council market river summit port trade energy policy talks "
    "report season quarter inflation shipping union tariff agreement coast vote court data survey week"
).split()


def make_site(folder: Path, subscribers: int, dkim_key: Path | None) -> Path:
    from publisher import config as config_mod
    from publisher.mail import digests
    from publisher.models import slugify
    from publisher.store import Store, iso

    folder.mkdir(parents=True)
    config_path = folder / "publisher.toml"
    dkim = f'[dkim]\nselector = "bench"\ndomain = "example.org"\nkey_file = "{dkim_key}"\n' if dkim_key else ""
    config_path.write_text(
        '[site]\ntitle = "Bench News"\nbase_url = "https://news.example.org/"\n'
        '[subscriptions]\nsecret = "bench-secret-0123456789abcdef"\nunsubscribe_mailto = "u@example.org"\n' + dkim,
        encoding="utf-8",
    )
    config = config_mod.load(config_path, environ={}, must_exist=True)
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    with Store(config.paths.database) as store, store.transaction():
        store.conn.execute(
            "INSERT INTO correspondents(slug, name, role, first_seen) VALUES ('ana-ruiz', 'Ana Ruiz', '', ?)",
            (iso(now),),
        )
        for i in range(4):
            body = "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(60)) + "." for _ in range(4))
            at = iso(now - timedelta(hours=i + 1))
            key = f"post-{i}"
            store.conn.execute(
                "INSERT INTO items(key, uid, source_path, slug, url_path, title, published, updated, authors,"
                " categories, tags, summary, image, body_format, html, content_hash, first_seen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[\"ana-ruiz\"]', '[]', '[]', '', NULL, 'markdown', NULL, ?, ?)",
                (key, f"tag:x,2026:{key}", f"{key}.md", key, f"{key}/", f"Harbour week {i}", at, at, key, at),
            )
            store.conn.execute(
                "INSERT INTO sections(item_key, position, correspondent_slug, role, anchor, body, html, recorded_at)"
                " VALUES (?, 0, 'ana-ruiz', '', 'ana-ruiz', ?, NULL, ?)",
                (key, body, at),
            )
        store.executemany(
            "INSERT INTO subscribers(email, name, status, created_at, updated_at) VALUES (?, ?, 'confirmed', ?, ?)",
            [(f"reader{n}@example.net", f"Reader {n}", iso(now), iso(now)) for n in range(subscribers)],
        )
        store.executemany(
            "INSERT INTO follows(subscriber_id, kind, value) SELECT id, 'correspondent', ? FROM subscribers",
            [(slugify("Ana Ruiz"),)],
        )
    with Store(config.paths.database) as store:
        digests.queue(config, store, now=now)
    return config_path


def measure(config_path: Path, limit: int) -> tuple[float, int, float]:
    from publisher import config as config_mod
    from publisher.mail.messages import Composer
    from publisher.store import Store

    config = config_mod.load(config_path, environ={}, must_exist=True)
    with Store(config.paths.database) as store:
        rows = store.query("SELECT * FROM outbox ORDER BY id LIMIT ?", (limit,))
    composer = Composer(config, config.paths.database)
    started = time.perf_counter()
    size = len(composer(rows[0]).data)
    first = time.perf_counter() - started
    started = time.perf_counter()
    for row in rows[1:]:
        composer(row)
    rate = (len(rows) - 1) / (time.perf_counter() - started)
    composer.close()
    return rate, size, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--dkim-messages", type=int, default=500)
    parser.add_argument("--key-bits", type=int, default=2048)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain = make_site(Path(tmp) / "plain", args.messages, None)
        rate, size, first = measure(plain, args.messages)
        print(f"compose, no DKIM:   {rate:8.0f} msg/s  ({size} bytes per message; first message {first * 1000:.0f} ms)")
        key = Path(tmp) / "dkim.pem"
        subprocess.run(["openssl", "genrsa", "-out", str(key), str(args.key_bits)], check=True, capture_output=True)
        signed = make_site(Path(tmp) / "signed", args.dkim_messages, key)
        rate, size, _ = measure(signed, args.dkim_messages)
        print(f"compose, DKIM {args.key_bits}: {rate:8.0f} msg/s  ({size} bytes per message)")


if __name__ == "__main__":
    main()
