"""`validation.read_body`: one read of the declared length, with Werkzeug's refusals."""

from __future__ import annotations

import io
from typing import Any

import pytest
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from spasticity_cds.validation import read_body


class CountingStream(io.BytesIO):
    """A wsgi.input that counts its reads (gunicorn's body reader copies its buffer per read)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


class SilentClient(io.RawIOBase):
    """A client that declared a body and then went silent: the socket read times out."""

    def read(self, size: int = -1) -> bytes:
        raise TimeoutError("timed out")

    def readinto(self, buffer: Any) -> int:
        raise TimeoutError("timed out")


def request_with(stream: Any, length: int | None, limit: int | None = 1000) -> Request:
    environ = EnvironBuilder(method="POST", path="/", content_type="application/json").get_environ()
    environ["wsgi.input"] = stream
    environ.pop("CONTENT_LENGTH", None)
    if length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    request = Request(environ)
    request.max_content_length = limit
    return request


def test_the_declared_length_is_read_in_one_call() -> None:
    body = b'{"a": "' + b"x" * 300_000 + b'"}'
    stream = CountingStream(body)
    assert read_body(request_with(stream, len(body), limit=None)) == body
    assert stream.reads == 1


def test_it_reads_what_get_data_reads() -> None:
    for body in (b"", b"{}", b'{"k": [1, 2, 3]}', '{"é": "\\ud800"}'.encode()):
        assert read_body(request_with(io.BytesIO(body), len(body))) == body
        assert request_with(io.BytesIO(body), len(body)).get_data(cache=False) == body


def test_a_declared_length_over_the_limit_is_413_before_any_read() -> None:
    stream = CountingStream(b"{}" * 1000)
    with pytest.raises(RequestEntityTooLarge):
        read_body(request_with(stream, 2000, limit=1999))
    assert stream.reads == 0


def test_a_client_gone_silent_is_a_400_not_a_500() -> None:
    with pytest.raises(ClientDisconnected):
        read_body(request_with(SilentClient(), 10))


def test_a_body_shorter_than_declared_comes_back_as_sent() -> None:
    assert read_body(request_with(io.BytesIO(b'{"a"'), 10)) == b'{"a"'


def test_without_a_length_or_once_the_stream_was_opened_it_is_werkzeugs_reading() -> None:
    assert read_body(request_with(io.BytesIO(b"{}"), None)) == b""  # Werkzeug: no length, no body
    request = request_with(io.BytesIO(b'{"a": 1}'), 8)
    assert request.stream.read(2) == b'{"'
    assert read_body(request) == b'a": 1}'
