"""Helpdesk KB search: documents in, ranked hits out (BM25F + embeddings).

Standalone on purpose: no Flask, SQLAlchemy or portal imports, so it can be
tested, benchmarked and reused without the web app.
"""
from .embedders import (Embedder, HashEmbedder, SentenceTransformerEmbedder,
                        default_model_path, load_embedder)
from .engine import SearchEngine
from .highlight import highlight
from .rebuild import Rebuild
from .types import Document, Hit, IndexMismatchError, QueryError, SearchConfig

__all__ = [
    "Document", "Hit", "SearchConfig", "IndexMismatchError", "QueryError",
    "Embedder", "SentenceTransformerEmbedder", "HashEmbedder", "default_model_path",
    "load_embedder", "SearchEngine", "Rebuild", "highlight",
]
