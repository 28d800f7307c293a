"""Utterances of the chatterbot-corpus package, by language and topic (the text demo's data).

chatterbot-corpus (BSD, on PyPI) ships small dialog files per language and topic:
``chatterbot_corpus/data/<language>/<topic>.yml``, each ``{"categories": [...],
"conversations": [[utterance, answer, ...], ...]}``. Every string of a conversation is
one utterance of the file's topic. Nothing is downloaded at run time: the files are read
from the installed package (``pip install 'mlscope[demo]'``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import yaml

TEXT_COLUMN = "utterance"
TOPIC_COLUMN = "topic"
CORPUS_HINT = "the text demo needs chatterbot-corpus: pip install 'mlscope[demo]'"


def data_dir() -> Path:
    """The installed corpus's data folder; the error says how to install it."""
    try:
        import chatterbot_corpus
    except ImportError as e:
        raise RuntimeError(CORPUS_HINT) from e
    return Path(chatterbot_corpus.__file__).resolve().parent / "data"


@functools.lru_cache(maxsize=8)
def utterances(language: str) -> pd.DataFrame:
    """Distinct utterances of ``language`` with their topic (the file's name).

    An utterance filed under two topics (short answers such as "Yes" or "12") has no
    single truth and is left out. Sorted by topic then utterance so that a seeded split
    is the same on every machine. Cached: copy before changing it.
    """
    folder = data_dir() / language
    files = sorted(folder.glob("*.yml"))
    if not files:
        raise ValueError(f"chatterbot-corpus has no language {language!r} (no {folder}/*.yml)")
    rows: set[tuple[str, str]] = set()
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conversation in doc.get("conversations") or []:
            for text in conversation or []:
                if isinstance(text, str) and text.strip():
                    rows.add((text.strip(), path.stem))
    frame = pd.DataFrame(sorted(rows, key=lambda r: (r[1], r[0])), columns=[TEXT_COLUMN, TOPIC_COLUMN])
    return frame[~frame[TEXT_COLUMN].duplicated(keep=False)].reset_index(drop=True)
