"""A Dovecot of a test's own on 127.0.0.1 (IMAP, and POP3 when Debian's dovecot-pop3d is installed),
configured in a temporary directory: one user, an empty maildir that both protocols serve, each
also over TLS with a self-signed certificate."""

import contextlib
import datetime
import grp
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
# Debian's dovecot-pop3d; without it Dovecot refuses "protocols = pop3".
HAS_POP3 = Path("/usr/lib/dovecot/pop3").exists()
needs_dovecot = pytest.mark.skipif(
    DOVECOT is None, reason="dovecot is not installed (Debian: dovecot-imapd; .ci/run installs it)"
)
needs_pop3 = pytest.mark.skipif(
    DOVECOT is None or not HAS_POP3, reason="Dovecot's POP3 server is not installed (Debian: dovecot-pop3d)"
)

USER, PASSWORD = "kanal", "s3cret pass"

CONFIG = """
protocols = {protocols}
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{root}/mail
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home
}}
# Dovecot's chroots need root; a test does without them.
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
{pop3_service}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

POP3_SERVICE = """
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s_port}
  }}
}}
"""


@dataclass(frozen=True)
class Dovecot:
    imap_port: int
    imaps_port: int
    pop3_port: int | None
    pop3s_port: int | None
    # The server's self-signed certificate (for 127.0.0.1): trusted only where a test says so.
    certificate: Path

    @property
    def imap_url(self) -> str:
        return f"imap://{USER}:{quote(PASSWORD)}@127.0.0.1:{self.imap_port}/INBOX"

    @property
    def imaps_url(self) -> str:
        return f"imaps://{USER}:{quote(PASSWORD)}@127.0.0.1:{self.imaps_port}/INBOX"

    @property
    def pop3_url(self) -> str:
        assert self.pop3_port is not None, "dovecot-pop3d is not installed"
        return f"pop3://{USER}:{quote(PASSWORD)}@127.0.0.1:{self.pop3_port}"

    @property
    def pop3s_url(self) -> str:
        assert self.pop3s_port is not None, "dovecot-pop3d is not installed"
        return f"pop3s://{USER}:{quote(PASSWORD)}@127.0.0.1:{self.pop3s_port}"

    def imap(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.imap_port)
        client.login(USER, PASSWORD)
        client.select("INBOX")
        return client

    def append(self, *messages: bytes) -> None:
        """Put mails into the maildrop (over IMAP, whichever protocol the test reads it with)."""
        client = self.imap()
        for raw in messages:
            client.append("INBOX", None, None, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        client.logout()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _certificate_write(root: Path) -> Path:
    """A self-signed certificate and key for the IP address 127.0.0.1, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (root / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (root / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return root / "cert.pem"


def _greets(port: int, greeting: bytes) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        return sock.recv(100).startswith(greeting)
    return False


def _listens(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def dovecot_running() -> Iterator[Dovecot]:
    """Dovecot in the foreground, until the block ends."""
    # A directory every user can enter: Dovecot's login processes drop privileges.
    root = Path(tempfile.mkdtemp(prefix="kanal-dovecot-"))
    root.chmod(0o755)
    account = pwd.getpwuid(os.getuid())
    login_user, internal_user = account.pw_name, account.pw_name
    internal_group = grp.getgrgid(account.pw_gid).gr_name
    if account.pw_uid == 0:
        # Dovecot runs nothing as root but its master: the processes take the users its Debian package makes.
        login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
        account = pwd.getpwnam("dovecot")
        for folder in ("mail", "home"):
            (root / folder).mkdir()
            os.chown(root / folder, account.pw_uid, account.pw_gid)
    server = Dovecot(
        imap_port=_free_port(),
        imaps_port=_free_port(),
        pop3_port=_free_port() if HAS_POP3 else None,
        pop3s_port=_free_port() if HAS_POP3 else None,
        certificate=_certificate_write(root),
    )
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            protocols="imap pop3" if HAS_POP3 else "imap",
            root=root,
            login_user=login_user,
            internal_user=internal_user,
            internal_group=internal_group,
            uid=account.pw_uid,
            gid=account.pw_gid,
            imap_port=server.imap_port,
            imaps_port=server.imaps_port,
            pop3_service=(
                POP3_SERVICE.format(pop3_port=server.pop3_port, pop3s_port=server.pop3s_port) if HAS_POP3 else ""
            ),
        )
    )
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not (
            _greets(server.imap_port, b"* OK")
            and _listens(server.imaps_port)
            and (server.pop3_port is None or (_greets(server.pop3_port, b"+OK") and _listens(server.pop3s_port)))
        ):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"dovecot did not start: {log}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
