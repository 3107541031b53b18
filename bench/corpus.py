"""Generate a realistic content folder for benchmarks: ``generate(folder, n, seed)``.

Mostly Jekyll-style YAML posts, some Hugo-style TOML posts and PDF-like plain-text briefs; about one post in
ten is a multi-correspondent article. Bodies are ~3 KB of Markdown. The same seed gives the same files.
"""

from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

FIRST = ["Ana", "Tomas", "Laura", "Mira", "Kwame", "Sofia", "Jonas", "Priya", "Hiroshi", "Elena", "Omar", "Grace"]
LAST = ["Ruiz", "Berg", "Bicker", "Okonjo", "Mensah", "Rossi", "Weber", "Nair", "Sato", "Petrova", "Haddad", "Lee"]
BEATS = ["Lisbon", "Nordic business", "China", "West Africa", "Rome", "Berlin", "South Asia", "Tokyo", "Moscow"]
CATEGORIES = ["News", "Business", "Politics", "Science", "Culture", "Opinion", "Sport", "Climate", "Tech", "World"]
TAGS = [f"topic-{i}" for i in range(30)]
WORDS = [
    "harbour",
    "freight",
    "strike",
    "minister",
    "budget",
    "council",
    "market",
    "river",
    "summit",
    "port",
    "trade",
    "energy",
    "policy",
    "talks",
    "report",
    "season",
    "quarter",
    "inflation",
    "shipping",
    "union",
    "tariff",
    "agreement",
    "coast",
    "vote",
    "court",
    "data",
    "survey",
    "week",
]


def _people(rng: random.Random, count: int = 40) -> list[tuple[str, str]]:
    names = sorted({f"{a} {b}" for a in FIRST for b in LAST})
    rng.shuffle(names)
    return [(name, f"{rng.choice(BEATS)} correspondent") for name in names[:count]]


def _paragraphs(rng: random.Random, count: int) -> str:
    paras = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(40, 70))]
        words[0] = words[0].capitalize()
        if rng.random() < 0.2:
            words[5] = f"[{words[5]}](/{rng.choice(WORDS)}/)"
        paras.append(" ".join(words) + ".")
    return "\n\n".join(paras)


def post(rng: random.Random, i: int, people: list[tuple[str, str]], when: datetime) -> tuple[str, str]:
    """One post, number ``i``, dated ``when``: (relative path, text)."""
    slug = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i}"
    title = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} and the {rng.choice(WORDS)} {i}"
    author, _ = rng.choice(people)
    cats = rng.sample(CATEGORIES, rng.randint(1, 2))
    tags = rng.sample(TAGS, rng.randint(1, 3))
    body = _paragraphs(rng, 6)
    if rng.random() < 0.1:
        for name, role in rng.sample(people, rng.randint(2, 3)):
            body += f"\n\nBy {name}, {role}\n\n" + _paragraphs(rng, 2)
    kind = rng.random()
    folder = f"posts/{when.year}"
    if kind < 0.8:
        text = (
            f'---\nlayout: post\ntitle: "{title}"\ndate: {when:%Y-%m-%dT%H:%M:%S}\nauthor: "{author}"\n'
            f"categories: [{', '.join(cats)}]\ntags: [{', '.join(tags)}]\n"
            f'excerpt: "The {rng.choice(WORDS)} {rng.choice(WORDS)} in brief."\n---\n\n{body}\n'
        )
        return f"{folder}/{when:%Y-%m-%d}-{slug}.md", text
    if kind < 0.95:
        text = (
            f'+++\ntitle = "{title}"\ndate = {when:%Y-%m-%dT%H:%M:%S}\nauthors = ["{author}"]\n'
            f"categories = {cats!r}\ntags = {tags!r}\n".replace("'", '"')
            + f'summary = "A {rng.choice(WORDS)} brief."\n+++\n\n{body}\n'
        )
        return f"{folder}/{slug}.md", text
    footer = "Coastal Policy Institute | 12 Quay Street, Porto | www.cpi.example"
    paras = _paragraphs(rng, 6).split("\n\n")
    text = (
        f"Coastal Policy Institute Brief\n\n{title}\n\n{author}\n\nSenior Fellow, Coastal Policy Institute\n\n"
        f"{when:%B} {when.day}, {when.year}\n\n{footer}\n\n"
        + "\n\n".join(paras[:3])
        + f"\n\n{footer}\n\n"
        + "\n\n".join(paras[3:])
        + f"\n\nAbout the Author\n\n{author} is a senior fellow.\n"
    )
    return f"briefs/{when.year}/{slug}.txt", text


def generate(folder: Path, n: int, seed: int = 1) -> list[Path]:
    rng = random.Random(seed)
    people = _people(rng)
    start = datetime(2024, 1, 1, 6, 0)
    written = []
    for i in range(n):
        rel, text = post(rng, i, people, start + timedelta(minutes=137 * i + rng.randint(0, 90)))
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def new_post(folder: Path, i: int, seed: int = 99, when: datetime | None = None) -> Path:
    """One more post, dated after the whole corpus (or ``when``), written atomically (as an editor's save
    would)."""
    rng = random.Random(seed * 1_000_003 + i)
    when = when or datetime(2030, 1, 1) + timedelta(minutes=i)
    rel, text = post(rng, 10_000_000 + i, _people(random.Random(1)), when)
    path = folder / "new" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


if __name__ == "__main__":
    generate(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 10_000)
