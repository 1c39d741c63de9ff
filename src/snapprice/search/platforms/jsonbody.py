"""Marketplace JSON read within bounds, and made storable: what a hostile body cannot do.

``loads`` never turns a body into Python values that break what comes after it: a bare
``NaN``/``Infinity`` or a number no float holds (``1e309``) stays the text it was (so a
price of ``NaN`` is an unusable price, not a float that jsonb refuses); an integer of more
than ``MAX_INT_DIGITS`` digits stays text too (Python refuses to convert longer ones);
containers nested deeper than ``MAX_DEPTH`` become the text ``TOO_DEEP`` (the C parser
would raise RecursionError at ~1,000 levels, and every walk of the body after it too);
bytes that are not UTF-8 become U+FFFD. ``storable`` is the copy the archive writes:
text with NUL or lone surrogates (which PostgreSQL cannot store) made U+FFFD, keys too.

>>> loads(b'{"price": NaN, "big": 1e309, "ok": 1.5, "n": 7}')
{'price': 'NaN', 'big': '1e309', 'ok': 1.5, 'n': 7}
>>> storable({"title\\x00": "a\\ud800b"})
{'title�': 'a�b'}
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from snapprice.normalize import storable as storable_text

MAX_DEPTH = 64  # real bodies nest ~6 deep; the parser's own limit is ~1,000
MAX_INT_DIGITS = 400  # no id, price or count has more; Python refuses int("…") past 4,300
TOO_DEEP = f"<nested deeper than {MAX_DEPTH} levels>"


# A JSON string, escapes included: what is not structure when brackets are counted.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")
_TOKEN = re.compile(_STRING.pattern + r"|[\[\]{}]", re.DOTALL)
_LONG_INT = re.compile(rf"\d{{{MAX_INT_DIGITS + 1}}}")


def _float_or_text(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def _int_or_text(text: str) -> int | str:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else text


def _decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content
    return content.decode(json.detect_encoding(content), "replace")


def _deeper_than(text: str, max_depth: int) -> bool:
    """Whether brackets outside strings nest deeper than ``max_depth`` (or do not pair).

    Regular expressions only (C speed on a body of megabytes): the brackets are kept, then
    innermost pairs are removed ``max_depth`` times; anything left was deeper.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets, n = _INNERMOST.subn("", brackets)
        if not n:
            break
    return bool(brackets)


def _cut_deep(text: str, max_depth: int) -> str:
    """``text`` with every container deeper than ``max_depth`` replaced by ``TOO_DEEP``."""
    out: list[str] = []
    depth, kept_to, cut_from = 0, 0, -1
    marker = json.dumps(TOO_DEEP)
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok[0] == '"':
            continue
        if tok in "[{":
            depth += 1
            if depth == max_depth + 1:
                cut_from = m.start()
        else:
            if depth == max_depth + 1 and cut_from >= 0:
                out += [text[kept_to:cut_from], marker]
                kept_to, cut_from = m.end(), -1
            depth -= 1
    out.append(text[kept_to:])
    return "".join(out)


def loads(content: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``content``, within the bounds above; ValueError when it is no JSON.

    >>> loads(b'{"a": [1, -Infinity], "b": "\\\\u0000"}')
    {'a': [1, '-Infinity'], 'b': '\\x00'}
    >>> deep = loads(b'{"ok": 1, "x": ' + b'[' * 5000 + b']' * 5000 + b'}')
    >>> deep["ok"], str(deep["x"]).count("["), str(deep).count(TOO_DEEP)
    (1, 63, 1)
    """
    text = _decode(content)
    if _deeper_than(text, max_depth):
        text = _cut_deep(text, max_depth)
    try:
        return json.loads(text, parse_constant=str, parse_float=_float_or_text,
                          parse_int=_int_or_text if _LONG_INT.search(text) else None)
    except RecursionError:  # brackets that never close, past the parser's own limit
        raise ValueError(f"JSON nested deeper than {max_depth} levels, unbalanced") from None


def storable(value: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """A copy of a JSON-like value that PostgreSQL's jsonb accepts as it is.

    Text (keys included) with NUL or a lone surrogate gets U+FFFD in its place; a
    non-finite float becomes its text; anything that is no JSON value becomes its text;
    containers deeper than ``max_depth`` become ``TOO_DEEP``.

    >>> storable([float("nan"), {"k": ("a\\x00",)}, 10**30, None])
    ['nan', {'k': ['a�']}, 1000000000000000000000000000000, None]
    """
    if isinstance(value, str):
        return storable_text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        if not max_depth:
            return TOO_DEEP
        return {storable_text(str(k)): storable(v, max_depth=max_depth - 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if not max_depth:
            return TOO_DEEP
        return [storable(v, max_depth=max_depth - 1) for v in value]
    return storable_text(str(value))
