"""Indexing pipeline shared by live upserts, rebuilds and the evaluation.

Chunk -> embed (sorted by length: batches of similar length pad less, which
is markedly faster on CPU) -> write Whoosh then the vector store.

Every chunk carries a key: a hash of the embedder's name and the exact text it
embeds. Before encoding, the caller's ``known`` lookup returns the vectors the
index already holds for those documents by key, and only chunks whose text is
new are encoded: re-saving an article re-embeds the windows that changed, and
a full rebuild of unchanged content encodes nothing. The vector
store is written last and is the source of ``versions()``, so after a crash
between the two writes the document shows its *old* version and a drift check
simply upserts it again (upserts are idempotent).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from . import keyword
from .chunking import document_chunks
from .embedders import Embedder
from .types import Document, SearchConfig
from .vectors import VectorData


class Entry(NamedTuple):
    doc: Document
    chunks: list[str]      # passages shown in snippets
    vectors: np.ndarray    # (len(chunks), dim)
    keys: list[str]        # chunk_key of each embedded text


# doc ids -> {chunk key: vector} of what the index already holds for them
Known = Callable[[Sequence[str]], dict[str, np.ndarray]]


def chunk_key(embedder_name: str, text: str) -> str:
    """Identifies one embedded text under one model (so a new model never reuses a vector)."""
    return hashlib.blake2b(f"{embedder_name}\0{text}".encode("utf-8"), digest_size=12).hexdigest()


def validate(doc: Document) -> Document:
    if not isinstance(doc, Document):
        raise TypeError(f"expected search.Document, got {type(doc).__name__}")
    if not isinstance(doc.id, str) or not doc.id:
        raise ValueError("Document.id must be a non-empty string")
    return doc


def batched(docs: Iterable[Document], size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for doc in docs:
        batch.append(validate(doc))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def embed_documents(docs: Sequence[Document], embedder: Embedder,
                    config: SearchConfig, known: Known | None = None) -> list[Entry]:
    """Chunk and embed a batch, reusing vectors ``known`` already holds for the same text;
    the last occurrence of a duplicate id wins."""
    latest = list({d.id: d for d in docs}.values())
    chunk_lists = [document_chunks(d.title, d.body, d.tags, config.chunk_words,
                                   config.chunk_overlap) for d in latest]
    texts = [text for chunks in chunk_lists for text, _passage in chunks]
    keys = [chunk_key(embedder.name, text) for text in texts]
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    have = known([d.id for d in latest]) if known and texts else {}
    new: dict[str, list[int]] = {}  # key -> rows; a window repeated within the batch is encoded once
    for row, key in enumerate(keys):
        vec = have.get(key)
        if vec is not None and len(vec) == embedder.dim:
            vectors[row] = vec
        else:
            new.setdefault(key, []).append(row)
    if new:
        todo = sorted(new, key=lambda k: len(texts[new[k][0]]))
        encoded = embedder.encode([texts[new[k][0]] for k in todo])
        for key, vec in zip(todo, encoded):
            vectors[new[key]] = vec
    out, row = [], 0
    for doc, chunks in zip(latest, chunk_lists):
        n = len(chunks)
        out.append(Entry(doc, [passage for _text, passage in chunks], vectors[row:row + n], keys[row:row + n]))
        row += n
    return out


def index_batches(docs: Iterable[Document], embedder: Embedder, config: SearchConfig, write,
                  progress=None, size: int = 256, known: Known | None = None) -> int:
    """Embed ``docs`` batch by batch (outside any lock or transaction) and hand each batch of
    entries to ``write``; ``progress(done)`` after each. Returns how many were written."""
    done = 0
    for batch in batched(docs, size):
        entries = embed_documents(batch, embedder, config, known)
        write(entries)
        done += len(entries)
        if progress:
            progress(done)
    return done


def write_entries(gen_dir: Path, ix, data: VectorData, entries: Sequence[Entry],
                  deletes: Sequence[str], config: SearchConfig) -> VectorData:
    """Persist a batch to one generation: Whoosh commit first, vectors last."""
    if not entries and not deletes:
        return data
    keyword.write(ix, [e.doc for e in entries], deletes)
    if deletes:
        data, _ = data.delete(set(deletes))
    if entries:
        data = data.upsert(entries)
    data.save(gen_dir / "vectors", config.ann_threshold)
    return data
