import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


class EmlDirectoryBackend(BaseEmailBackend):
    """Writes each message as its own ``.eml`` file, which any mail program opens.

    The zero-setup default, so a newcomer can read what Kanal sends without an ESP.
    """

    def __init__(self, *, file_path=None, **kwargs):
        super().__init__(**kwargs)
        self.directory = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages):
        self.directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            target = self.directory / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
            target.write_bytes(message.message().as_bytes(linesep="\r\n"))
            sent += 1
        return sent
