"""Uploads into the media library: resized for mail, compressed, stripped of metadata, refused
with a clear error (and nothing stored) when they are not sound images."""

import io
import struct
import zlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from media.models import MediaImage
from media.processing import MAX_WIDTH
from media.services import upload_image
from media.tests.images import GPS_IFD, animated_gif, opened, photo, transparent_png

pytestmark = pytest.mark.django_db


def test_large_photo_is_resized_to_twice_the_layout_width_and_gets_smaller():
    upload = photo(4000, 3000)

    image = upload_image(file=upload, alt_text="Der Kiez im Regen", uploaded_by=None)

    assert (image.width, image.height) == (MAX_WIDTH, 900)
    assert image.format == MediaImage.Format.JPEG
    assert image.bytes < upload.size
    assert image.bytes == image.file.size
    stored = opened(image.file)
    assert stored.format == "JPEG"
    assert stored.size == (1200, 900)
    assert image.file.name.endswith(".jpg")
    assert image.original_name == "photo.jpg"
    assert image.alt_text == "Der Kiez im Regen"


def test_small_photo_keeps_its_size():
    image = upload_image(file=photo(640, 480), alt_text="Klein", uploaded_by=None)

    assert (image.width, image.height) == (640, 480)


def test_exif_metadata_with_gps_is_stripped():
    upload = photo(800, 600, gps=True)
    assert Image.open(io.BytesIO(upload.read())).getexif().get_ifd(GPS_IFD), "the test photo carries GPS"
    upload.seek(0)

    image = upload_image(file=upload, alt_text="Ort", uploaded_by=None)

    stored = opened(image.file)
    assert not stored.getexif().get_ifd(GPS_IFD)
    assert len(stored.getexif()) == 0
    image.file.open("rb")
    assert b"Kamera AG" not in image.file.read()
    image.file.close()


def test_exif_orientation_is_applied_before_the_tag_is_dropped():
    # Orientation 6: the camera was turned; the picture is shown rotated by 90 degrees.
    image = upload_image(file=photo(1600, 1000, orientation=6), alt_text="Hochkant", uploaded_by=None)

    assert (image.width, image.height) == (1000, 1600)


def test_png_with_alpha_keeps_its_transparency():
    image = upload_image(file=transparent_png(), alt_text="Logo", uploaded_by=None)

    assert image.format == MediaImage.Format.PNG
    stored = opened(image.file)
    assert stored.mode == "RGBA"
    assert stored.getpixel((5, 5))[3] == 0, "transparent corner"
    assert stored.getpixel((100, 100)) == (200, 30, 30, 255)


def test_animated_gif_keeps_its_frames():
    upload = animated_gif()

    image = upload_image(file=upload, alt_text="Welle", uploaded_by=None)

    assert image.format == MediaImage.Format.GIF
    assert getattr(opened(image.file), "n_frames", 1) == 3
    image.file.open("rb")
    upload.seek(0)
    assert image.file.read() == upload.read()
    image.file.close()


def _png_header_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("upload", "code"),
    [
        (SimpleUploadedFile("notes.txt", b"just text", content_type="text/plain"), "image_extension"),
        (SimpleUploadedFile("fake.jpg", b"%PDF-1.7 not an image", content_type="image/jpeg"), "image_content"),
        (SimpleUploadedFile("cut.png", b"\x89PNG\r\n\x1a\n" + b"0" * 32, content_type="image/png"), "image_unreadable"),
        (SimpleUploadedFile("big.png", _png_header_claiming(8_000, 7_000)), "image_too_many_pixels"),
        (SimpleUploadedFile("bomb.png", _png_header_claiming(30_000, 30_000)), "image_too_many_pixels"),
    ],
    ids=["not an image", "wrong content", "damaged", "above our pixel limit", "decompression bomb"],
)
def test_bad_upload_gets_a_clear_error_and_stores_nothing(upload, code, settings):
    with pytest.raises(ValidationError) as raised:
        upload_image(file=upload, alt_text="Etwas", uploaded_by=None)

    assert raised.value.error_list[0].code == code
    assert raised.value.messages[0]
    assert not MediaImage.objects.exists()
    assert not list((settings.MEDIA_ROOT).rglob("*.*"))


def test_truncated_photo_is_refused():
    whole = photo(800, 600).read()
    upload = SimpleUploadedFile("cut.jpg", whole[: len(whole) // 2], content_type="image/jpeg")

    with pytest.raises(ValidationError) as raised:
        upload_image(file=upload, alt_text="Halb", uploaded_by=None)

    assert raised.value.error_list[0].code == "image_unreadable"
    assert not MediaImage.objects.exists()


def test_alt_text_is_required():
    with pytest.raises(ValidationError) as raised:
        upload_image(file=transparent_png(), alt_text="  ", uploaded_by=None)

    assert "alt_text" in raised.value.message_dict
    assert not MediaImage.objects.exists()


def test_cmyk_photo_becomes_an_rgb_jpeg_without_its_cmyk_profile():
    out = io.BytesIO()
    Image.new("CMYK", (300, 200), (0, 80, 80, 10)).save(out, format="JPEG", icc_profile=b"not a real profile")
    upload = SimpleUploadedFile("druck.jpg", out.getvalue(), content_type="image/jpeg")

    image = upload_image(file=upload, alt_text="Druckvorlage", uploaded_by=None)

    stored = opened(image.file)
    assert stored.mode == "RGB"
    assert "icc_profile" not in stored.info
