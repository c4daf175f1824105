"""Render plausible Vietnamese plates (for the demo and for tests when the shared photos are absent).

Pillow's built-in font (``ImageFont.load_default(size=...)``, bundled with Pillow) is used so that
rendering never depends on a system font. Characters are drawn, then squeezed horizontally, to get the
tall narrow look of the plate typeface.
"""

from __future__ import annotations

import random
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vnplate import PROVINCE_CODES, SERIES_LETTERS, parse

_SIZES = {"car": (520, 110), "moto": (280, 200)}


def _text_image(text: str, height: int) -> Image.Image:
    font = ImageFont.load_default(size=height)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (int(right - left) + 4, int(bottom - top) + 4), 255)
    ImageDraw.Draw(img).text((2 - left, 2 - top), text, font=font, fill=0)
    return img


def _line(text: str, box_w: int, box_h: int) -> Image.Image:
    """The text scaled to fill ``box_h`` in height and at most ``box_w`` in width."""
    img = _text_image(text, 64)
    w = min(box_w, round(img.width * box_h / img.height * 0.85))
    return img.resize((w, box_h), Image.Resampling.LANCZOS)


def render_plate(
    text: str,
    kind: Literal["car", "moto"] = "car",
    size: tuple[int, int] | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """A BGR image of a plate: white (or ``background``) with a black border, one line for cars,
    two lines for motorbikes. ``text`` is any spelling of a valid plate (e.g. ``"29-B1 123.45"``)."""
    plate = parse(text, kind_hint=kind)
    if plate is None:
        raise ValueError(f"not a Vietnamese plate: {text!r}")
    w, h = size or _SIZES[kind]
    img = Image.new("RGB", (w, h), background)
    draw = ImageDraw.Draw(img)
    border = max(2, h // 30)
    draw.rectangle((border, border, w - 1 - border, h - 1 - border), outline=(0, 0, 0), width=border)
    # The bundled font has no "Đ"; the electric series is drawn "MD", which is also how it normalises.
    series = plate.series
    number = f"{plate.number[:3]}.{plate.number[3:]}" if len(plate.number) == 5 else plate.number
    margin = 4 * border
    if kind == "car":
        lines = [f"{plate.province}{series}-{number}"]
    else:
        lines = [f"{plate.province}-{series}", number]
    line_h = round((h - 2 * margin) / len(lines) * (0.8 if len(lines) == 1 else 0.78))
    gap = (h - 2 * margin - line_h * len(lines)) // (len(lines) + 1)
    y = margin + gap
    for line in lines:
        glyphs = _line(line, w - 2 * margin, line_h)
        x = (w - glyphs.width) // 2
        img.paste(Image.merge("RGB", [glyphs] * 3), (x, y), Image.eval(glyphs, lambda v: 255 - v))
        y += line_h + gap
    rgb = np.asarray(img)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def random_plate(rng: random.Random, kind: Literal["car", "moto"]) -> str:
    """A random valid plate text in canonical form."""
    province = rng.choice(sorted(PROVINCE_CODES))
    letter = rng.choice(sorted(SERIES_LETTERS))
    digits = "".join(rng.choice("0123456789") for _ in range(rng.choice((4, 5))))
    number = f"{digits[:3]}.{digits[3:]}" if len(digits) == 5 else digits
    if kind == "car":
        return f"{province}{letter}-{number}"
    return f"{province}-{letter}{rng.choice('123456789')} {number}"
