import base64
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from webhooks import signing
from webhooks.models import secret_generate


def test_signature_verifies_with_the_standard_webhooks_reference_library():
    secret = secret_generate()
    body = '{"type":"subscriber.confirmed","data":{"name":"Jürgen"}}'.encode()
    timestamp = int(time.time())
    headers = signing.headers(secret=secret, message_id="msg_1", timestamp=timestamp, body=body)

    assert Webhook(secret).verify(body, headers) == {"type": "subscriber.confirmed", "data": {"name": "Jürgen"}}


def test_a_changed_body_or_another_secret_fails_verification():
    secret = secret_generate()
    headers = signing.headers(secret=secret, message_id="msg_1", timestamp=int(time.time()), body=b'{"a":1}')

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_generate()).verify(b'{"a":1}', headers)


def test_signature_matches_the_specification_example():
    # The example in the Standard Webhooks specification (spec/standard-webhooks.md).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert signing.signature(
        secret=secret, message_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body
    ) == ("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


def test_generated_secret_is_32_random_bytes():
    first, second = secret_generate(), secret_generate()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
