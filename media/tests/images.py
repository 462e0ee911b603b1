"""Real image files, made with Pillow, for the media tests."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

GPS_IFD = 0x8825


def photo(width: int = 4000, height: int = 3000, *, name: str = "photo.jpg", gps: bool = False, orientation=None):
    """A photo-like JPEG (gradients and blotches, not trivially compressible), optionally with GPS
    and orientation EXIF."""
    blotches = Image.effect_noise((max(1, width // 8), max(1, height // 8)), 50).resize((width, height))
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (gradient, blotches, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    exif = Image.Exif()
    if gps:
        exif[0x010F] = "Kamera AG"  # Make
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92, exif=exif.tobytes())
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


def transparent_png(width: int = 300, height: int = 200, *, name: str = "logo.png"):
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (50, 50, 150, 150))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/png")


def animated_gif(*, name: str = "wave.gif"):
    frames = [Image.new("RGB", (80, 60), colour) for colour in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/gif")


def opened(field_file) -> Image.Image:
    field_file.open("rb")
    try:
        image = Image.open(io.BytesIO(field_file.read()))
        image.load()
        return image
    finally:
        field_file.close()
