"""Reading a request's parameters (query, form, multipart files) within a size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NamedTuple
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

_SLACK = 1_000_000  # room for the other fields around an image at its size limit


class BodyError(Exception):
    """The request body is too large or cannot be parsed; the message says which."""


async def _limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyError(f"request body of {declared} bytes exceeds the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(f"request body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


class Received(NamedTuple):
    """What a request carried: the parameters as the routes read them, and the raw body
    (signature V3 hashes the body as it came)."""

    query: dict[str, str]  # query parameters
    params: dict[str, str]  # query and form parameters merged
    files: dict[str, bytes]  # file parts by field name
    body: bytes


async def read_params(request: Request, max_image_bytes: int) -> Received:
    """The query, the form (urlencoded or multipart) and the body of ``request``.

    The first value of a repeated name wins; form fields override query fields.
    """
    query: dict[str, str] = {}
    for k, v in request.query_params.multi_items():
        query.setdefault(k, v)
    params = dict(query)
    files: dict[str, bytes] = {}
    if request.method not in ("POST", "PUT"):
        return Received(query, params, files, b"")
    # Base64 grows a picture by a third: allow for it plus the other fields.
    body = await _limited_body(request, max_image_bytes * 4 // 3 + _SLACK)
    ctype = request.headers.get("content-type", "").lower()
    form: dict[str, str] = {}
    if ctype.startswith("multipart/form-data"):
        async def stream() -> AsyncIterator[bytes]:
            yield body

        parser = MultiPartParser(request.headers, stream(), max_files=10, max_fields=200,
                                 max_part_size=max_image_bytes * 4 // 3 + _SLACK)
        try:
            data = await parser.parse()
        except MultiPartException as exc:
            raise BodyError(f"multipart body cannot be parsed: {exc.message}") from None
        for k, v in data.multi_items():
            if isinstance(v, UploadFile):
                content = await v.read()
                if len(content) > max_image_bytes:
                    raise BodyError(f"file {k!r} of {len(content)} bytes exceeds {max_image_bytes}")
                files.setdefault(k, content)
            else:
                form.setdefault(k, v)
    elif body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BodyError("form body is not UTF-8 (send application/x-www-form-urlencoded;charset=UTF-8)") from None
        for k, v in parse_qsl(text, keep_blank_values=True):
            form.setdefault(k, v)
    params.update(form)
    return Received(query, params, files, body)
