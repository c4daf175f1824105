"""Is it really an image? Magic bytes first (cheap), then Pillow reads the header and verifies the file
structure; dimensions are bounded (no decompression bombs)."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

JPEG_MAGIC = b"\xff\xd8\xff"
MAX_SIDE = 8192


def is_jpeg(data: bytes) -> bool:
    if not data.startswith(JPEG_MAGIC):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format != "JPEG" or not (0 < img.width <= MAX_SIDE and 0 < img.height <= MAX_SIDE):
                    return False
                img.load()  # decodes the scan data: a header glued to anything else fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning):
        return False
    return True
