"""The worker's IMAP poll against a real Dovecot on 127.0.0.1, configured here in a temporary directory."""

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from inbound import mailbox, tasks
from inbound.models import InboundMessage
from inbound.services import MAX_BYTES, inbound_message_handle
from inbound.tests.conftest import mailto_unsubscribe, returned, sample
from subscribers.models import ConsentRecord, Subscriber
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(DOVECOT is None, reason="dovecot is not installed (Debian: dovecot-imapd; .ci/run installs it)"),
]

USER, PASSWORD = "kanal", "s3cret pass"

CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
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
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def imap_url():
    """A Dovecot of this test's own, in the foreground, with one user and an empty maildir."""
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
    port = _free_port()
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root,
            login_user=login_user,
            internal_user=internal_user,
            internal_group=internal_group,
            uid=account.pw_uid,
            gid=account.pw_gid,
            port=port,
        )
    )
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"dovecot did not start: {log}")
            time.sleep(0.1)
        yield f"imap://{USER}:{PASSWORD.replace(' ', '%20')}@127.0.0.1:{port}/INBOX"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _imap(url: str) -> imaplib.IMAP4:
    address = mailbox.imap_address(url)
    client = imaplib.IMAP4(address.host, address.port)
    client.login(address.user, address.password)
    client.select("INBOX")
    return client


def _append(url: str, *messages: bytes) -> None:
    client = _imap(url)
    for raw in messages:
        client.append("INBOX", None, None, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    client.logout()


def _unseen(url: str) -> list[bytes]:
    client = _imap(url)
    _status, found = client.uid("SEARCH", None, "UNSEEN")
    _status, everything = client.uid("SEARCH", None, "ALL")
    client.logout()
    assert everything[0].split(), "the mailbox is empty"
    return found[0].split()


def test_the_poll_applies_every_unseen_mail_marks_it_seen_and_a_second_poll_changes_nothing(
    settings, imap_url, reader, delivery
):
    leaving = SubscriptionFactory(subscriber=SubscriberFactory(email="leaving@example.org")).subscriber
    _append(
        imap_url,
        returned("postfix_hard_bounce.eml", delivery),
        mailto_unsubscribe(settings, leaving),
        sample("mailto_unsubscribe_forged.eml"),
        returned("ooo_german.eml", delivery),
        returned("rfc3834_auto_reply.eml", delivery),
    )
    settings.KANAL_INBOUND_IMAP_URL = imap_url

    assert tasks.poll_imap() == 5

    reader.refresh_from_db()
    leaving.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert leaving.status == Subscriber.Status.UNSUBSCRIBED
    assert sorted(InboundMessage.objects.values_list("kind", flat=True)) == [
        "auto_reply",
        "auto_reply",
        "hard_bounce",
        "unsubscribe",
        "unsubscribe",
    ]
    assert set(InboundMessage.objects.values_list("source", flat=True)) == {"imap"}
    assert _unseen(imap_url) == []
    records = ConsentRecord.objects.count()

    assert tasks.poll_imap() == 0
    assert InboundMessage.objects.count() == 5
    assert ConsentRecord.objects.count() == records


def test_a_crash_after_handling_and_before_marking_seen_does_not_apply_twice(settings, imap_url, reader, delivery):
    _append(imap_url, returned("yahoo_arf.eml", delivery))

    def handle_then_crash(raw):
        inbound_message_handle(raw=raw, source="imap")
        raise ConnectionResetError("worker lost before \\Seen")

    assert mailbox.imap_poll(url=imap_url, handle=handle_then_crash, max_bytes=MAX_BYTES) == 0
    assert len(_unseen(imap_url)) == 1

    settings.KANAL_INBOUND_IMAP_URL = imap_url
    assert tasks.poll_imap() == 1
    assert _unseen(imap_url) == []
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.COMPLAINED
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.COMPLAINT).count() == 1
    assert InboundMessage.objects.count() == 1


def test_without_a_mailbox_the_poll_does_nothing(settings):
    settings.KANAL_INBOUND_IMAP_URL = ""
    assert tasks.poll_imap() == 0


def test_imap_addresses():
    secure = mailbox.imap_address("imaps://bounce%40news.example.com:p%3Ass@mail.example.com/Bounces")
    assert (secure.secure, secure.host, secure.port, secure.user, secure.password, secure.mailbox) == (
        True,
        "mail.example.com",
        993,
        "bounce@news.example.com",
        "p:ss",
        "Bounces",
    )
    assert mailbox.imap_address("imap://u:p@localhost").port == 143
    assert mailbox.imap_address("imap://u:p@localhost").mailbox == "INBOX"
    with pytest.raises(ValueError):
        mailbox.imap_address("pop3://u:p@localhost")


def test_the_poll_runs_on_the_beat_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["inbound-poll-imap"]
    assert entry["task"] == tasks.poll_imap.name
    assert entry["schedule"] == 60


def test_a_huge_mail_is_read_only_as_far_as_a_report_needs(imap_url, reader, delivery):
    bounce = returned("postfix_hard_bounce.eml", delivery)
    padded = bounce.replace(b"Hallo, hier sind die Neuigkeiten.", (b"x" * 76 + b"\n") * 30_000)
    assert len(padded) > 2 * MAX_BYTES
    _append(imap_url, padded)
    read = []

    def handle(raw):
        read.append(len(raw))
        inbound_message_handle(raw=raw, source="imap")

    assert mailbox.imap_poll(url=imap_url, handle=handle, max_bytes=MAX_BYTES) == 1
    assert read == [MAX_BYTES]
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert _unseen(imap_url) == []
