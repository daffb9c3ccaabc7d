"""The two embedding backends compute the same vectors; the ONNX export is made once and reused."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge import embeddings

SENTENCES = [
    "where is my order",
    "Can I return a pair of running shoes I wore once?",
    "mi pedido no llegó 😞 #W2611340",
    "",
    "refund " * 400,  # longer than the model reads: both backends truncate at 256 word pieces
]


def test_onnx_and_torch_backends_agree(monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("EMBEDDING_BACKEND", "onnx")
    onnx_vectors = embeddings.embed_texts(SENTENCES, batch_size=2)  # batches with padding inside them
    monkeypatch.setenv("EMBEDDING_BACKEND", "torch")
    torch_vectors = embeddings.embed_texts(SENTENCES)
    assert onnx_vectors.shape == torch_vectors.shape == (len(SENTENCES), embeddings.DIMENSIONS)
    cosines = (onnx_vectors * torch_vectors).sum(axis=1)
    assert cosines.min() > 0.9999, cosines
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-4)
    # Order is the caller's, not the length-sorted order used inside.
    assert np.allclose(embeddings.embed_text(SENTENCES[1]), torch_vectors[1], atol=1e-3)


def test_backend_follows_the_setting(monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("EMBEDDING_BACKEND", "torch")
    assert embeddings.backend() == "torch"
    monkeypatch.setenv("EMBEDDING_BACKEND", "onnx")
    assert embeddings.backend() == "onnx"


def test_export_is_written_once_and_named_by_the_weights(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("EMBEDDING_CACHE_DIR", str(tmp_path))
    first = embeddings.export_onnx()
    assert first.parent == tmp_path and first.name.startswith("all-MiniLM-L6-v2-") and first.stat().st_size > 1_000_000
    modified = first.stat().st_mtime_ns
    assert embeddings.export_onnx() == first and first.stat().st_mtime_ns == modified
    assert not list(tmp_path.glob("*.partial"))


def test_token_counting_and_truncation_follow_the_model_tokenizer():
    reference = embeddings.get_model().tokenizer  # the tokenizer sentence-transformers itself uses
    for text in SENTENCES[:3] + ["unrefundable", "Ünïcode   spaces\tand\nlines"]:
        assert embeddings.count_tokens(text) == len(reference.tokenize(text)), text
    long_text = "refund please " * 300
    cut = embeddings.truncate_to_tokens(long_text, 10)
    assert embeddings.count_tokens(cut) == 10 and long_text.startswith(cut)
    assert embeddings.truncate_to_tokens("short text", 10) == "short text"


def test_queries_run_on_an_8bit_copy_that_agrees_with_the_float_model(monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("EMBEDDING_BACKEND", "onnx")
    monkeypatch.setenv("EMBEDDING_QUERY_MODEL", "int8")
    copy = embeddings.export_query_onnx()
    assert copy is not None and copy.name.endswith("-int8w.onnx") and copy.parent == embeddings.onnx_path().parent
    assert copy.stat().st_size < embeddings.onnx_path().stat().st_size
    float_vectors = embeddings.embed_texts(SENTENCES)
    query_vectors = embeddings.embed_texts(SENTENCES, query=True)
    cosines = (float_vectors * query_vectors).sum(axis=1)
    assert cosines.min() > 0.995, cosines
    assert np.abs(float_vectors - query_vectors).max() > 1e-4  # a different model answered, not the float one
    assert np.allclose(np.linalg.norm(query_vectors, axis=1), 1.0, atol=1e-4)
    # Queries for the chat turn and catalog search take this path.
    from knowledge.selectors import embed_query, truncate_query

    assert np.array_equal(
        embed_query(SENTENCES[1]), embeddings.embed_texts([truncate_query(SENTENCES[1])], query=True)[0]
    )


def test_float32_query_setting_uses_the_float_model(monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("EMBEDDING_BACKEND", "onnx")
    monkeypatch.setenv("EMBEDDING_QUERY_MODEL", "float32")
    assert embeddings.query_model() == "float32"
    assert np.array_equal(embeddings.embed_texts(SENTENCES[:3], query=True), embeddings.embed_texts(SENTENCES[:3]))
    monkeypatch.setenv("EMBEDDING_QUERY_MODEL", "something else")
    assert embeddings.query_model() == "int8"


def test_without_the_quantizer_queries_fall_back_to_the_float_model(tmp_path, monkeypatch, caplog):
    pytest.importorskip("onnxruntime")
    import sys

    monkeypatch.setenv("EMBEDDING_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "onnxruntime.quantization.matmul_nbits_quantizer", None)  # import fails
    with caplog.at_level("WARNING", logger="knowledge.embeddings"):
        assert embeddings.export_query_onnx() is None
    assert "queries use the float model" in caplog.text
    assert not list(tmp_path.glob("*-int8w.onnx")) and not list(tmp_path.glob("*.partial"))
    monkeypatch.setattr(embeddings, "export_query_onnx", lambda: None)
    embeddings._query_session.cache_clear()
    try:
        assert embeddings._query_session() is embeddings._session()
    finally:
        embeddings._query_session.cache_clear()  # the next caller loads the 8-bit copy again


def test_a_broken_8bit_copy_falls_back_to_the_float_model(tmp_path, monkeypatch, caplog):
    pytest.importorskip("onnxruntime")
    broken = tmp_path / "broken-int8w.onnx"
    broken.write_bytes(b"not an onnx model")
    monkeypatch.setattr(embeddings, "export_query_onnx", lambda: broken)
    embeddings._query_session.cache_clear()
    try:
        with caplog.at_level("ERROR", logger="knowledge.embeddings"):
            assert embeddings._query_session() is embeddings._session()
        assert "queries use the float model" in caplog.text
    finally:
        embeddings._query_session.cache_clear()
