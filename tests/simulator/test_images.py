"""Images: Go's base64 check, and the tokens the model says about them."""

import hashlib

import pytest

from simulator.images import decode_images, image_tokens, summary
from simulator.wire import OllamaError


def test_images_decode_and_are_summarised():
    blobs = decode_images(["aGk=", "aGVsbG8="], "GenerateRequest.images")
    assert blobs == [b"hi", b"hello"] and summary(blobs) == {"count": 2, "bytes": [2, 5]}
    assert decode_images(None, "GenerateRequest.images") == []
    assert decode_images([None], "GenerateRequest.images") == [b""], "Go reads null as empty"


def test_the_model_names_each_image():
    digest = hashlib.sha256(b"hi").hexdigest()[:12]
    assert image_tokens([b"hi"]) == [f"[image 1: 2 bytes, sha256 {digest}] "]
    assert image_tokens([]) == []


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (["aGk"], "illegal base64 data at input byte 0"),
        ([1], "json: cannot unmarshal number into Go struct field F.images of type api.ImageData"),
        ({}, "json: cannot unmarshal object into Go struct field F.images of type []api.ImageData"),
    ],
)
def test_bad_images(value, error):
    with pytest.raises(OllamaError) as raised:
        decode_images(value, "F.images")
    assert (raised.value.status, raised.value.message) == (400, error)
