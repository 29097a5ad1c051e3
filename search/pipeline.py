"""Indexing pipeline shared by live upserts, rebuilds and the evaluation.

Chunk -> embed (sorted by length: batches of similar length pad less, which
is markedly faster on CPU) -> write Whoosh then the vector store. The vector
store is written last and is the source of ``versions()``, so after a crash
between the two writes the document shows its *old* version and a drift check
simply upserts it again (upserts are idempotent).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from . import keyword
from .chunking import document_chunks
from .embedders import Embedder
from .types import Document, SearchConfig
from .vectors import VectorData

Entry = tuple[Document, list[str], np.ndarray]  # document, chunk texts, chunk vectors


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
                    config: SearchConfig) -> list[Entry]:
    """Chunk and embed a batch; the last occurrence of a duplicate id wins."""
    latest = list({d.id: d for d in docs}.values())
    chunk_lists = [document_chunks(d.title, d.body, d.tags, config.chunk_words,
                                   config.chunk_overlap) for d in latest]
    flat = [(i, text) for i, chunks in enumerate(chunk_lists) for text, _passage in chunks]
    order = sorted(range(len(flat)), key=lambda j: len(flat[j][1]))
    vectors = np.zeros((len(flat), embedder.dim), dtype=np.float32)
    if flat:
        vectors[order] = embedder.encode([flat[j][1] for j in order])
    out, row = [], 0
    for doc, chunks in zip(latest, chunk_lists):
        out.append((doc, [passage for _text, passage in chunks], vectors[row:row + len(chunks)]))
        row += len(chunks)
    return out


def index_batches(docs: Iterable[Document], embedder: Embedder, config: SearchConfig, write,
                  progress=None, size: int = 256) -> int:
    """Embed ``docs`` batch by batch (outside any lock or transaction) and hand each batch of
    entries to ``write``; ``progress(done)`` after each. Returns how many were written."""
    done = 0
    for batch in batched(docs, size):
        entries = embed_documents(batch, embedder, config)
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
    keyword.write(ix, [e[0] for e in entries], deletes)
    if deletes:
        data, _ = data.delete(set(deletes))
    if entries:
        data = data.upsert([(d.id, d.version, d.fields, chunks, vecs) for d, chunks, vecs in entries])
    data.save(gen_dir / "vectors", config.ann_threshold)
    return data
