"""Configuration: layers, validation errors that name the file and key, path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import load
from publisher.errors import ConfigError
from publisher.mail.render import subject_template


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "publisher.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_embedded_defaults_when_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load(environ={})
    assert config.source is None
    assert config.paths.content == tmp_path / "content"
    assert config.paths.database == tmp_path / "state" / "publisher.db"
    assert config.maildir.path == tmp_path / "state" / "maildir"
    assert config.smtp is None
    assert config.http.listen == "127.0.0.1:8080"


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    path = write(tmp_path, '[paths]\ncontent = "posts"\ndatabase = "var/db.sqlite"\n')
    config = load(path, environ={})
    assert config.paths.content == tmp_path / "posts"
    assert config.paths.database == tmp_path / "var" / "db.sqlite"
    # The state folder follows the database unless named.
    assert config.maildir.path == tmp_path / "var" / "maildir"


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[site]\ntitel = "x"\n')
    with pytest.raises(ConfigError) as err:
        load(path, environ={})
    assert str(path) in str(err.value)
    assert "site.titel" in str(err.value)


def test_unknown_table(tmp_path: Path) -> None:
    path = write(tmp_path, "[sight]\n")
    with pytest.raises(ConfigError, match="sight"):
        load(path, environ={})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[feeds]\nentries = "fifty"\n', "feeds.entries"),
        ("[feeds]\nper_tag = 1\n", "feeds.per_tag"),
        ('[feeds]\nformats = ["atom", "rdf"]\n', "feeds.formats"),
        ('[site]\nbase_url = "/relative/"\n', "site.base_url"),
        ('[site]\ntimezone = "Mars/Olympus"\n', "site.timezone"),
        ('[smtp]\nsecurity = "ssl3"\n', "smtp.security"),
        ('[smtp]\nfallback = ["nohost"]\n', "smtp.fallback[0]"),
        ('[digest]\nschedule = "daily"\n', "digest.schedule"),
        ('[digest]\nmode = "weekly"\n', "digest.mode"),
        ('[http]\nlisten = "localhost"\n', "http.listen"),
        ('[smtp]\nfrom = "not an address"\n', "smtp.from"),
        ('[subscriptions]\npublic_url = "ftp://example.org/"\n', "subscriptions.public_url"),
    ],
)
def test_wrong_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(path, environ={})
    assert key in str(err.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[site\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path, environ={})


def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.toml", must_exist=True, environ={})
    with pytest.raises(ConfigError, match="no such file"):
        load(environ={"PUBLISHER_CONFIG": str(tmp_path / "missing.toml")})


def test_a_file_named_by_path_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Under systemd a typo in --config must not start a blank service on the defaults (and a new secret).
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[site]\ntitle = "Here"\n')
    with pytest.raises(ConfigError) as err:
        load(tmp_path / "publsher.toml", environ={})
    assert str(err.value) == f"{tmp_path / 'publsher.toml'}: no such file"
    # Only the implicit ./publisher.toml may be missing.
    (tmp_path / "publisher.toml").unlink()
    assert load(environ={}).source is None


def test_set_error_names_the_flag_not_a_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no publisher.toml here
    with pytest.raises(ConfigError) as err:
        load(environ={}, overrides=["feeds.entries=many"])
    assert str(err.value) == "--set: feeds.entries: expected a whole number, got a string"
    with pytest.raises(ConfigError) as err:
        load(environ={}, overrides=["smtp.security=ssl3"])
    assert str(err.value).startswith("--set: smtp.security: must be starttls, tls or none")
    # With a file, a bad --set value still names --set, and a bad file value still names the file.
    path = write(tmp_path, "[feeds]\nentries = 0\n")
    with pytest.raises(ConfigError) as err:
        load(path, environ={}, overrides=["site.base_url=/relative/"])
    assert str(err.value).startswith("--set: site.base_url: must be an absolute http(s) URL")
    with pytest.raises(ConfigError) as err:
        load(path, environ={}, overrides=["site.title=fine"])
    assert str(err.value) == f"{path}: feeds.entries: must be at least 1"


def test_environment_error_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load(environ={"PUBLISHER_FEEDS__ENTRIES": "many"})
    assert (
        str(err.value) == "environment PUBLISHER_FEEDS__ENTRIES: feeds.entries: expected a whole number, got a string"
    )
    with pytest.raises(ConfigError) as err:
        load(environ={"PUBLISHER_DIGEST__SCHEDULES": '{ana-ruiz = "daily"}'})
    assert str(err.value).startswith("environment PUBLISHER_DIGEST__SCHEDULES: digest.schedules.ana-ruiz: expected")
    with pytest.raises(ConfigError) as err:
        load(environ={"PUBLISHER_DKIM__SELECTOR": "s1"})
    assert str(err.value).startswith("environment PUBLISHER_DKIM__SELECTOR: dkim: selector, domain and key_file")
    config = load(environ={"PUBLISHER_DIGEST__SUBJECT": "x"}, overrides=["feeds.entries=5"])
    assert config.origin("digest.subject") == "environment PUBLISHER_DIGEST__SUBJECT"
    assert config.origin("feeds.entries") == "--set"
    assert config.origin("site.title") == "embedded defaults"
    # Checks made after loading name the source too.
    with pytest.raises(ConfigError) as err:
        subject_template(load(environ={}, overrides=["digest.subject='{{ oops'"]))
    assert str(err.value).startswith("--set: digest.subject: not a valid template")


def test_layers_file_then_environment_then_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, '[site]\ntitle = "From file"\n[feeds]\nentries = 10\n')
    env = {"PUBLISHER_SITE__TITLE": "From env", "PUBLISHER_FEEDS__ENTRIES": "20"}
    config = load(path, environ=env)
    assert config.site.title == "From env"
    assert config.feeds.entries == 20
    config = load(path, environ=env, overrides=["feeds.entries=30", "site.title=From flag"])
    assert config.feeds.entries == 30
    assert config.site.title == "From flag"


def test_smtp_table_and_sender(tmp_path: Path) -> None:
    path = write(tmp_path, '[smtp]\nhost = "mail.example.org"\nfrom = "News <n@example.org>"\nrate = 5\n')
    config = load(path, environ={})
    assert config.smtp is not None
    assert config.smtp.host == "mail.example.org"
    assert config.smtp.rate == 5.0
    assert config.sender == "News <n@example.org>"


def test_example_config_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    config = load(root / "publisher" / "config.example.toml", environ={}, must_exist=True)
    assert config.smtp is not None
    assert config.digest.mode == "per-correspondent"


def test_smtp_without_from_is_derived_from_the_site_or_refused(tmp_path: Path) -> None:
    # Not "Example News <news@example.org>" whatever the site is called.
    refused = write(tmp_path, '[site]\ntitle = "Harbour Post"\n[smtp]\nhost = "mail.example.org"\n')
    with pytest.raises(ConfigError) as err:
        load(refused, environ={})
    assert "smtp.from" in str(err.value) and "site.email" in str(err.value)
    derived = write(tmp_path, '[site]\ntitle = "Harbour Post"\nemail = "desk@harbour.example"\n[smtp]\nport = 25\n')
    config = load(derived, environ={})
    assert config.sender == "Harbour Post <desk@harbour.example>"
    assert config.sender_source == "derived from site.title and site.email"
    assert config.bounce_address == "bounces@harbour.example"
    chosen = write(tmp_path, '[smtp]\nfrom = "News <n@example.org>"\n[bounces]\naddress = "rt@mx.example.org"\n')
    config = load(chosen, environ={})
    assert (config.sender_source, config.bounce_address) == ("smtp.from", "rt@mx.example.org")
    with pytest.raises(ConfigError, match=r"bounces\.address"):
        load(write(tmp_path, '[bounces]\naddress = "bounces+x@example.org"\n'), environ={})
