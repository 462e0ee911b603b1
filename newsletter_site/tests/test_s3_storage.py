"""The optional S3-compatible storage, run for real: Django under the S3 settings against moto's S3 server.

The settings are read from the environment when the process starts, so the Django side runs the
way an operator runs it, as ``manage.py shell`` with ``KANAL_S3_*`` set; this test process
looks at the bucket and fetches the URLs from outside, as a mail client would.
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from email.message import Message
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from newsletter_site.testing import wait_until

REPO = Path(__file__).resolve().parents[2]
S3_PACKAGES = ("storages", "boto3", "moto")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
CSV = b"email,first_name\nada@example.org,Ada\n"

# Runs inside `manage.py shell -c`; PNG and CSV are prepended. Files go through the model fields,
# so upload_to and each field's storage decide where they land.
DJANGO_SIDE = """
import json
from django.core.files.base import ContentFile
from django.test import Client
from campaigns.models import Article
from subscribers.models import SubscriberImport
from subscribers.services.imports import parsed_file_of

article = Article(headline="Harbour")
article.image.save("harbour.png", ContentFile(PNG), save=False)
upload = SubscriberImport()
upload.csv_file.save("addresses.csv", ContentFile(CSV), save=False)
client = Client()

def served(path):
    response = client.get(path)
    return [response.status_code, response.get("Location")]

print(json.dumps({
    "image_name": article.image.name,
    "image_url": article.image.url,
    "import_name": upload.csv_file.name,
    "import_url": upload.csv_file.url,
    "import_header": parsed_file_of(upload).header,
    "media_image": served("/media/" + article.image.name),
    "media_import": served("/media/../private/" + upload.csv_file.name),
    "media_import_as_image": served("/media/../private/" + upload.csv_file.name[:-4] + ".png"),
    "media_import_absolute": served("/media//private/" + upload.csv_file.name[:-4] + ".png"),
}))
"""


def fetch(url: str) -> tuple[int, bytes, Message]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (http URLs of the local server)
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """moto's standalone S3 server on a free loopback port: a local S3-compatible HTTP endpoint."""
    missing = [name for name in S3_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (pip install -r requirements-dev.txt)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"

    def answers():
        if server.poll() is not None:
            raise AssertionError(f"moto's server exited: {log.read_text()}")
        try:
            return fetch(endpoint)[0] == 200
        except OSError:
            return False

    try:
        wait_until(answers, timeout=30, interval=0.2, message=f"moto's S3 server on {endpoint}")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3(s3_endpoint):
    import boto3

    return boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


def bucket_create(s3, *, readable_by_anyone: str | None) -> str:
    """A fresh bucket, private but for the keys matching ``readable_by_anyone`` (a bucket policy)."""
    name = f"kanal-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    if readable_by_anyone:
        statement = {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{name}/{readable_by_anyone}",
        }
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    return name


@pytest.fixture
def buckets(s3) -> dict[str, str]:
    """One bucket whose policy opens media/ alone: the set-up docs/operations.md describes."""
    name = bucket_create(s3, readable_by_anyone="media/*")
    return {"KANAL_S3_BUCKET": name}


def run_with_s3(buckets: dict[str, str], s3_endpoint: str, tmp_path: Path) -> dict:
    env = buckets | {
        "PATH": "/usr/bin:/bin",
        "KANAL_VAR_DIR": str(tmp_path),
        "KANAL_S3_ENDPOINT_URL": s3_endpoint,
        "KANAL_S3_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        # Nothing from the machine's own AWS set-up.
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
    }
    script = f"PNG = {PNG!r}\nCSV = {CSV!r}\n" + DJANGO_SIDE
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout.strip().splitlines()[-1])


def keys_in(s3, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.mark.parametrize("public_bucket", [False, True], ids=["media-prefix-opened-by-policy", "own-public-bucket"])
def test_article_images_are_public_and_imports_private_in_s3(s3, s3_endpoint, tmp_path, public_bucket):
    private = bucket_create(s3, readable_by_anyone=None if public_bucket else "media/*")
    buckets = {"KANAL_S3_BUCKET": private}
    if public_bucket:  # for services that open whole buckets only (Cloudflare R2, Backblaze B2)
        buckets["KANAL_S3_PUBLIC_BUCKET"] = bucket_create(s3, readable_by_anyone="*")
    public = buckets.get("KANAL_S3_PUBLIC_BUCKET", private)

    seen = run_with_s3(buckets, s3_endpoint, tmp_path)

    assert seen["image_name"].startswith("campaigns/images/")
    assert seen["import_name"].startswith("imports/")
    image_key, import_key = "media/" + seen["image_name"], "private/" + seen["import_name"]
    if public_bucket:
        assert (keys_in(s3, private), keys_in(s3, public)) == ({import_key}, {image_key})
    else:
        assert keys_in(s3, private) == {image_key, import_key}, "nothing of an import in media/"

    image_url = seen["image_url"]
    assert image_url == f"{s3_endpoint}/{public}/{image_key}", "public, unsigned URL"
    status, body, headers = fetch(image_url)
    assert (status, body) == (200, PNG)
    assert headers.get("Content-Type") == "image/png"
    assert headers.get("Cache-Control") == "public, max-age=86400", "names never change, so caches may keep them"

    import_url = seen["import_url"]
    assert urlsplit(import_url).path == f"/{private}/{import_key}"
    query = parse_qs(urlsplit(import_url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"], "signed with SigV4, which every S3 server accepts"
    assert "X-Amz-Signature" in query
    assert fetch(import_url)[:2] == (200, CSV)
    assert fetch(import_url.split("?")[0])[0] == 403, "without the signature the bucket refuses"
    assert seen["import_header"] == ["email", "first_name"], "the import is read back from the bucket"


def test_media_view_sends_public_images_to_the_bucket_and_never_reaches_imports(buckets, s3_endpoint, tmp_path):
    seen = run_with_s3(buckets, s3_endpoint, tmp_path)

    assert seen["media_image"] == [302, seen["image_url"]], "links in mails sent before the move keep working"
    assert seen["media_import"] == [404, None]
    assert seen["media_import_as_image"] == [404, None]
    assert seen["media_import_absolute"] == [404, None]
