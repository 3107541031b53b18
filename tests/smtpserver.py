"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, an ephemeral port, in its own thread.

It records every accepted message (envelope and the exact bytes received) and can misbehave on purpose.

Use it from a test module with::

    pytest_plugins = ["tests.smtpserver"]

    def test_delivery(smtp_server):                       # plain SMTP, no TLS, no AUTH
        ...  # point [smtp] at smtp_server.host / smtp_server.port, security = "none"
        assert smtp_server.message_ids() == {"<a@x>": 1}

    def test_secure(make_smtp_server):                    # any mix of options
        server = make_smtp_server(security="starttls", users={"mailer": "s3cret"})
        ...
        assert server.messages[0].tls and server.messages[0].auth_user == "mailer"

Fixtures
    ``smtp_server``       a plain server (``security="none"``), stopped after the test.
    ``make_smtp_server``  ``make_smtp_server(security=..., users=..., faults=..., auth_required=...)`` → a
                          started :class:`SmtpServer`, stopped after the test; call it several times for relays.
    ``tls_cert``          ``(cert_path, key_path)``: a self-signed EC certificate for ``localhost`` and
                          ``127.0.0.1``, made once per session with ``cryptography``.

``idle_timeout`` (seconds, default 300): aiosmtpd answers an idle connection with 421 and closes it.
``pipelining`` (default True) advertises PIPELINING (RFC 2920), as real relays do; False makes clients talk
in lock-step.

Security modes: ``"none"``; ``"starttls"`` (STARTTLS offered; with ``users`` AUTH is accepted only after it, as
aiosmtpd's ``auth_require_tls``); ``"tls"`` (implicit TLS from the first byte). ``users`` maps login → password
for AUTH PLAIN and LOGIN; with users given, AUTH is required before MAIL unless ``auth_required=False``.

Faults (:class:`Faults`, mutable while the server runs: ``server.faults.delay = 0.05``)
    ``rcpt_replies``  address → reply to its RCPT TO, e.g. ``{"gone@x.org": "550 5.1.1 No such user"}``.
    ``data``          ``f(Transaction) -> reply or None`` at the end of DATA, e.g. ``"451 4.3.0 Try later"``; a
                      ``421`` reply also closes the connection. The message is not recorded.
    ``drop``          ``f(Transaction) -> bool``: close the connection at the end of DATA without any reply,
                      and without recording the message (the client cannot know whether it was taken).
    ``delay``         seconds to wait before answering the end of DATA (a slow server; a client that gives
                      up meanwhile has not delivered: aiosmtpd drops the message with the connection).
    ``reply_delay``   seconds to wait between accepting (recording) a message and saying 250: a client that
                      times out meanwhile delivered it without knowing.

A :class:`Transaction` tells a fault function ``number`` (1-based count of DATA transactions on this server)
and ``attempt`` (how many DATA transactions this server has seen for the same first recipient, this one
included), so "fail the first attempt of every fifth recipient" is ``lambda t: ... if t.attempt == 1``.

Reading results: ``server.messages`` (a list of :class:`Received`), ``server.message_ids()`` (a Counter of
Message-ID headers), ``server.wait_for(n, timeout)`` (block until ``n`` messages were accepted),
``server.transactions`` (DATA transactions seen, accepted or not), ``server.connections`` (connections made).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import re
import ssl
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

HOST = "127.0.0.1"
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(.+?)\r?$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Transaction:
    number: int
    attempt: int
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message_id(self) -> str | None:
        return message_id_of(self.data)


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # exactly as received (CRLF line ends, dot-stuffing undone)
    tls: bool
    auth_user: str | None
    peer: Any

    @property
    def message_id(self) -> str | None:
        return message_id_of(self.data)


@dataclass
class Faults:
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data: Callable[[Transaction], str | None] | None = None
    drop: Callable[[Transaction], bool] | None = None
    delay: float = 0.0
    reply_delay: float = 0.0


def message_id_of(data: bytes) -> str | None:
    head = data.split(b"\r\n\r\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    return match.group(1).decode("ascii", "replace").strip() if match else None


def make_self_signed(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for localhost / 127.0.0.1 and its key into ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def client_context(cert: Path) -> ssl.SSLContext:
    """A client TLS context that trusts ``cert`` (and verifies it), for ``SmtpTransport(tls_context=...)``."""
    return ssl.create_default_context(cafile=str(cert))


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_EHLO(
        self, smtp: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.server.pipelining:
            # aiosmtpd reads pipelined commands fine but does not say so.
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, smtp: SMTP, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        reply = self.server.faults.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, smtp: SMTP, session: Any, envelope: Any) -> str:
        server = self.server
        data: bytes = envelope.original_content or b""
        with server._cond:
            server.transactions += 1
            key = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
            server._attempts[key] += 1
            tx = Transaction(server.transactions, server._attempts[key], envelope.mail_from,
                             tuple(envelope.rcpt_tos), data)  # fmt: skip
        faults = server.faults
        if faults.delay:
            await asyncio.sleep(faults.delay)
        assert smtp.transport is not None
        if faults.drop is not None and faults.drop(tx):
            smtp.transport.abort()  # type: ignore[attr-defined]
            return "421 4.4.2 dropped"  # never reaches the client: the connection is gone
        reply = faults.data(tx) if faults.data is not None else None
        if reply:
            if reply.startswith("421"):
                # Closing flushes the reply first.
                asyncio.get_running_loop().call_soon(smtp.transport.close)
            return reply
        tls = session.ssl is not None or smtp.transport.get_extra_info("sslcontext") is not None
        auth_user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        received = Received(envelope.mail_from, tuple(envelope.rcpt_tos), data, tls, auth_user, session.peer)
        with server._cond:
            server.messages.append(received)
            number = len(server.messages)
            server._cond.notify_all()
        if faults.reply_delay:
            await asyncio.sleep(faults.reply_delay)
        return f"250 2.0.0 OK queued as {number}"


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 and an ephemeral port; see the module docstring."""

    def __init__(
        self,
        *,
        security: str = "none",
        users: dict[str, str] | None = None,
        auth_required: bool | None = None,
        cert: tuple[Path, Path] | None = None,
        faults: Faults | None = None,
        pipelining: bool = True,
        idle_timeout: float = 300.0,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError(security)
        if security != "none" and cert is None:
            raise ValueError("a TLS server needs cert=(cert_path, key_path)")
        self.security = security
        self.users = dict(users or {})
        self.auth_required = bool(self.users) if auth_required is None else auth_required
        self.faults = faults or Faults()
        self.pipelining = pipelining
        self.idle_timeout = idle_timeout
        self.host = HOST
        self.port = 0
        self.messages: list[Received] = []
        self.transactions = 0
        self.connections = 0
        self._attempts: Counter[str] = Counter()
        self._cond = threading.Condition()
        self._context: ssl.SSLContext | None = None
        if cert is not None:
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(str(cert[0]), str(cert[1]))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None

    # -- life cycle -------------------------------------------------------------------------------------

    def _authenticate(self, smtp: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            login, password = data.login.decode(), data.password.decode()
            if login in self.users and self.users[login] == password:
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    def _factory(self) -> SMTP:
        self.connections += 1
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without STARTTLS even when the whole connection is implicit TLS.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return self._smtp()

    def _smtp(self) -> SMTP:
        return SMTP(
            _Handler(self),
            hostname="smtp.test",
            loop=self._loop,
            tls_context=self._context if self.security == "starttls" else None,
            # Implicit TLS is TLS from the first byte, though aiosmtpd only counts STARTTLS as such.
            auth_require_tls=self.security == "starttls",
            auth_required=self.auth_required,
            authenticator=self._authenticate if self.users else None,
            data_size_limit=None,
            timeout=self.idle_timeout,
        )

    def start(self) -> SmtpServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                ssl_ctx = self._context if self.security == "tls" else None
                self._server = loop.run_until_complete(loop.create_server(self._factory, HOST, 0, ssl=ssl_ctx))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name=f"smtpserver-{self.security}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            loop.stop()

        loop.call_soon_threadsafe(shutdown)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- results ----------------------------------------------------------------------------------------

    def message_ids(self) -> Counter[str]:
        with self._cond:
            return Counter(m.message_id or "" for m in self.messages)

    def received_count(self) -> int:
        with self._cond:
            return len(self.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` messages were accepted; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.messages) >= count, timeout)


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def make_smtp_server(tls_cert: tuple[Path, Path]) -> Iterator[Callable[..., SmtpServer]]:
    servers: list[SmtpServer] = []

    def make(**options: Any) -> SmtpServer:
        if options.get("security", "none") != "none":
            options.setdefault("cert", tls_cert)
        server = SmtpServer(**options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    return make_smtp_server()
