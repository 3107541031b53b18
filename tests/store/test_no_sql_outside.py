"""Every SQL statement lives in publisher/store/: no other module of the package holds one or runs one.

Each module's syntax tree is walked. A string that reads as a SQL statement, a call of ``execute``,
``executemany`` or ``executescript``, a use of a store's raw connection (``.conn``) and an import of
``sqlite3`` or ``sqlite_utils`` are each reported with file and line. Docstrings are prose and are skipped.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import publisher

PACKAGE = Path(publisher.__file__).parent
STORE = PACKAGE / "store"

# The start of a statement, in the upper case the code base writes SQL in. Prose ("select a file from the
# list", "Update the feeds") does not match: the keywords must be upper case and shaped like a statement.
SQL = re.compile(
    r"\b(?:"
    r"SELECT\s+(?:DISTINCT\s+)?[\w.*()\[\], ]+?\s+FROM\s+\w"
    r"|SELECT\s+(?:1|EXISTS|COUNT|count|max|min|sum)\b"
    r"|INSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\s+\w"
    r"|REPLACE\s+INTO\s+\w"
    r"|UPDATE\s+\w+\s+SET\s"
    r"|DELETE\s+FROM\s+\w"
    r"|(?:CREATE|DROP)\s+(?:UNIQUE\s+|TEMP\s+|TEMPORARY\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\s"
    r"|ALTER\s+TABLE\s+\w"
    r"|PRAGMA\s+\w"
    r"|(?:BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)(?:\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION|TO))?\s*(?:;|$)"
    r"|EXPLAIN\s+QUERY\s+PLAN\b"
    r")"
)
RUNS_SQL = {"execute", "executemany", "executescript"}
DRIVERS = {"sqlite3", "sqlite_utils"}


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string nodes that are docstrings."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def sql_in(source: str, filename: str = "<snippet>") -> list[str]:
    """Where ``source`` holds or runs SQL: "file:line: what"."""
    tree = ast.parse(source, filename)
    docstrings = _docstrings(tree)
    problems: list[str] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        elif isinstance(node, ast.JoinedStr):  # an f-string: its fields read as names
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
        if text is not None:
            match = SQL.search(text)
            if match:
                problems.append(f"{filename}:{line}: SQL statement {match.group(0).strip()!r}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RUNS_SQL:
            problems.append(f"{filename}:{line}: runs SQL with .{node.func.attr}()")
        elif isinstance(node, ast.Attribute) and node.attr == "conn":
            problems.append(f"{filename}:{line}: uses the raw connection (.conn)")
        elif isinstance(node, ast.Import):
            problems += [f"{filename}:{line}: imports {a.name}" for a in node.names if a.name.split(".")[0] in DRIVERS]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in DRIVERS:
            problems.append(f"{filename}:{line}: imports {node.module}")
    return problems


def _modules_outside_store() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if STORE not in p.parents)


def test_the_walk_sees_the_whole_package() -> None:
    modules = {p.relative_to(PACKAGE).as_posix() for p in _modules_outside_store()}
    # A few that once held SQL, so a change of layout cannot make the test pass by looking nowhere.
    assert {"content/scanner.py", "mail/subscribers.py", "delivery/outbox.py", "cli/content.py"} <= modules
    assert not any(m.startswith("store/") for m in modules)


def test_no_module_outside_the_store_holds_sql() -> None:
    problems = [
        problem
        for path in _modules_outside_store()
        for problem in sql_in(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    ]
    assert not problems, "SQL belongs in publisher/store/:\n" + "\n".join(problems)


def test_the_store_itself_is_found_full_of_sql() -> None:
    # The same check over the store's own modules finds what it is there to find.
    assert sql_in((STORE / "content.py").read_text(encoding="utf-8"))
    assert sql_in((STORE / "outbox.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "snippet",
    [
        'rows = store.query("SELECT id, email FROM subscribers WHERE status = ?", ("confirmed",))',
        'sql = "SELECT count(*) FROM items WHERE deleted_at IS NULL"',
        'x = ("SELECT c.slug, c.name FROM correspondents c"\n     " JOIN sections s ON s.correspondent_slug = c.slug")',
        'q = f"SELECT {cols} FROM items WHERE key IN ({marks})"',
        'store.scalar("SELECT 1 FROM correspondents WHERE slug = ?", (slug,))',
        'S = "INSERT OR IGNORE INTO outbox(kind, recipient) VALUES (?, ?)"',
        'S = "INSERT INTO meta(key, value) VALUES (?, ?)"',
        'S = "UPDATE subscribers SET status = ? WHERE id = ?"',
        'S = "DELETE FROM follows WHERE subscriber_id = ?"',
        'S = "CREATE TABLE bounces (id INTEGER PRIMARY KEY)"',
        'S = "CREATE UNIQUE INDEX x ON t(a)"',
        'S = "ALTER TABLE items ADD COLUMN lang TEXT"',
        'S = "PRAGMA user_version"',
        'S = "BEGIN IMMEDIATE"',
        "store.conn.commit()",
        "cursor.execute(sql, params)",
        "conn.executemany(statement, rows)",
        "import sqlite3",
        "from sqlite_utils import Database",
    ],
)
def test_a_planted_statement_is_caught(snippet: str) -> None:
    assert sql_in(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        '"""Docstring: SELECT key FROM items is how the store reads them."""',
        'def f() -> None:\n    """Runs UPDATE items SET html = NULL, in the store."""',
        'msg = "Select the correspondents from the list and update the settings"',
        'msg = "delete from the outbox what nobody started on"',
        'msg = "Insert into the digest whatever is new"',
        'label = "Updated"',
        'help = "Create a table of contents"',
        "executor.submit(fn)",
    ],
)
def test_prose_and_other_calls_pass(snippet: str) -> None:
    assert not sql_in(snippet), sql_in(snippet)
