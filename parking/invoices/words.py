"""Amount in Vietnamese words (TgTTTBChu), e.g. 25_000 -> "Hai mươi lăm nghìn đồng".

Hand-written because no maintained Python library spells Vietnamese numbers with the invoice
conventions (``linh`` for a zero tens digit, ``mốt``/``lăm`` after tens, ``không trăm`` inside).
"""

from __future__ import annotations

_DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]
_GROUPS = ["", "nghìn", "triệu", "tỷ"]


def _triple(n: int, full: bool) -> list[str]:
    """Words for 0 < n < 1000; ``full`` reads "không trăm" / "linh" for a group that is not the first."""
    hundreds, rest = divmod(n, 100)
    tens, units = divmod(rest, 10)
    out: list[str] = []
    if hundreds or full:
        out += [_DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if out:
                out.append("linh")
            out.append(_DIGITS[units])
        return out
    out += ["mười"] if tens == 1 else [_DIGITS[tens], "mươi"]
    if units == 1 and tens >= 2:
        out.append("mốt")
    elif units == 5:
        out.append("lăm")
    elif units:
        out.append(_DIGITS[units])
    return out


def _words(n: int) -> list[str]:
    if n == 0:
        return ["không"]
    if n >= 10**12:
        # "nghìn tỷ" and beyond never occur on a parking receipt; refuse rather than misspell.
        raise ValueError("amount too large to spell")
    groups: list[int] = []
    while n:
        n, g = divmod(n, 1000)
        groups.append(g)
    out: list[str] = []
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            continue
        out += _triple(g, full=bool(out))
        if i:
            out.append(_GROUPS[i])
    return out


def vnd_in_words(amount: int) -> str:
    words = _words(abs(amount))
    if amount < 0:
        words = ["âm", *words]
    text = " ".join([*words, "đồng"])
    return text[0].upper() + text[1:]
