"""Safe image loading: local files and http(s) URLs, with size, pixel and time limits.

Every failure is an ``ImageRejected`` with a short reason code (``not_found``, ``http_404``,
``timeout``, ``too_large``, ``not_an_image``, ``corrupt``, ``pixel_bomb``, ``animated``,
``redirect_loop``, ``redirect_elsewhere``, ``empty_file``, ``fetch_failed``…; URLs: see
``snapprice.ingest.fetch``), never a crash.

Example::

    >>> import io, pathlib, tempfile
    >>> from PIL import Image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "123.jpg"
    >>> buffer = io.BytesIO()
    >>> Image.new("RGB", (64, 48), "red").save(buffer, "JPEG")
    >>> _ = path.write_bytes(buffer.getvalue())
    >>> img = load_image(str(path), max_bytes=25_000_000, max_pixels=60_000_000, timeout=15)
    >>> img.mime, img.width, img.height, len(img.digest)  # digest: sha256 of the bytes
    ('image/jpeg', 64, 48, 64)
    >>> load_image(str(path), max_bytes=100, max_pixels=60_000_000, timeout=15)
    Traceback (most recent call last):
    snapprice.errors.ImageRejected: too_large: ...
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image

from snapprice.errors import ImageRejected
from snapprice.ingest.fetch import MAX_REDIRECTS, FetchLimits, fetch_bytes, image_client, is_url

# Magic bytes → MIME type. Only formats Pillow decodes and marketplaces accept.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"BM", 0, "image/bmp"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
)
_PIL_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """An image's bytes, checked: a known type, within limits, decodable."""

    ref: str
    data: bytes
    digest: str  # sha256 hex of data: the key of the hash cache
    mime: str
    width: int
    height: int


def sniff_mime(head: bytes) -> str | None:
    """The image MIME type from the first bytes, or None when they are no known image."""
    for magic, offset, mime in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            if mime == "image/webp" and head[:4] != b"RIFF":
                continue
            return mime
    return None


def _read_file(ref: str, max_bytes: int) -> bytes:
    path = Path(ref)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageRejected("not_found", f"{ref} is not a regular file")
        if size == 0:
            raise ImageRejected("empty_file", f"{ref} has 0 bytes")
        if size > max_bytes:
            raise ImageRejected("too_large", f"{ref} has {size} bytes, limit {max_bytes}")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageRejected("not_found", f"{ref} does not exist") from exc
    except OSError as exc:
        raise ImageRejected("unreadable", f"{ref}: {exc.strerror or exc}") from exc


def check_image(data: bytes, ref: str, *, max_pixels: int, verify: bool = True) -> tuple[str, int, int]:
    """(mime, width, height) of encoded bytes, or ImageRejected. ``verify`` decodes them."""
    mime = sniff_mime(data[:16])
    if mime is None:
        raise ImageRejected("not_an_image", f"{ref}: content is no JPEG/PNG/GIF/WebP/BMP/TIFF")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
            width, height = im.size
            if width * height > max_pixels:
                raise ImageRejected(
                    "pixel_bomb", f"{ref}: {width}×{height} pixels, limit {max_pixels}")
            if getattr(im, "n_frames", 1) > 1:
                raise ImageRejected("animated", f"{ref}: {im.n_frames} frames")
            if verify:
                # Decoding at reduced size still reads every byte: truncation shows here.
                im.draft(im.mode if im.mode == "L" else "RGB", (64, 64))
                im.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("pixel_bomb", f"{ref}: {exc}") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageRejected("not_an_image", f"{ref}: Pillow cannot identify it") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("corrupt", f"{ref}: {exc}") from exc
    return mime, width, height


def load_image(
    ref: str,
    *,
    max_bytes: int,
    max_pixels: int,
    timeout: float,
    http: httpx.Client | None = None,
    verify: bool = True,
) -> LoadedImage:
    """Read (or download) one image and check it; raise ImageRejected with a reason if unusable.

    ``ref`` is an absolute path or an http(s) URL (``catalog.CatalogRead.items.image_ref``).
    A URL is fetched in ``timeout`` seconds in all, headers and redirects included
    (``fetch.fetch_bytes``; redirects only on the same host). Pass a shared ``http`` client
    (``fetch.image_client()``) when loading many URLs; one is made per call otherwise.
    """
    if is_url(ref):
        limits = FetchLimits(max_bytes, timeout, MAX_REDIRECTS)
        if http is not None:
            data = fetch_bytes(http, ref, limits)
        else:
            with image_client(max_connections=1) as client:
                data = fetch_bytes(client, ref, limits)
    else:
        data = _read_file(ref, max_bytes)
    mime, width, height = check_image(data, ref, max_pixels=max_pixels, verify=verify)
    return LoadedImage(ref, data, hashlib.sha256(data).hexdigest(), mime, width, height)
