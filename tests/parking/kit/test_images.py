from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from parking.kit.images import JPEG_MAGIC, is_jpeg


def _jpeg(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (w % 256, h % 256, 7)).save(buf, "JPEG")
    return buf.getvalue()


@settings(max_examples=30)
@given(st.integers(1, 300), st.integers(1, 300))
def test_a_real_jpeg_is_an_image(w: int, h: int) -> None:
    assert is_jpeg(_jpeg(w, h))


@given(st.binary(max_size=4096))
def test_the_magic_bytes_glued_to_anything_are_not(tail: bytes) -> None:
    assert not is_jpeg(JPEG_MAGIC + tail)
    assert not is_jpeg(tail) or tail.startswith(JPEG_MAGIC)


def test_other_formats_are_not_jpeg() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buf, "PNG")
    assert not is_jpeg(buf.getvalue())
