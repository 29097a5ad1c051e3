"""The int8 (dynamically quantised) MiniLM embedder against the fp32 one (real model)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from search import load_embedder

pytestmark = pytest.mark.real_model

SENTENCES = [
    "VPN will not connect after the password change",
    "The printer on the third floor keeps jamming",
    "My laptop will not power on even when plugged in",
    "How do I reset my Outlook password?",
    "打印机卡纸",
]


@pytest.fixture(scope="module")
def fp32(real_embedder):
    return real_embedder  # session-scoped: loaded once for all real-model tests


@pytest.fixture(scope="module")
def int8():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # quantising must not leak torch's deprecation notices
        return load_embedder("int8")


def test_int8_has_its_own_name(fp32, int8):
    assert fp32.name == "all-MiniLM-L6-v2"
    assert int8.name == "all-MiniLM-L6-v2-int8"
    assert int8.dim == fp32.dim == 384


def test_int8_vectors_are_normalised_float32_384(int8):
    vecs = int8.encode(SENTENCES + [""])
    assert vecs.shape == (len(SENTENCES) + 1, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs[:-1], axis=1), 1.0, atol=1e-4)
    assert int8.encode([]).shape == (0, 384)


def test_int8_vectors_stay_close_to_fp32(fp32, int8):
    a, b = fp32.encode(SENTENCES), int8.encode(SENTENCES)
    cos = np.sum(a * b, axis=1)
    assert cos.mean() > 0.9, cos
    # and the meaning survives: each int8 vector is nearest to its own fp32 vector
    assert (np.argmax(b @ a.T, axis=1) == np.arange(len(SENTENCES))).all()
