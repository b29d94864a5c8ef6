"""The keyword lexicon shipped for the example configuration is the one the router would build.

A first start of the example configuration (and every test of it) reads it instead of decoding
simplemma's dictionaries. When the example's keywords or simplemma change, its name (a hash of
both) no longer matches and the router builds its own; this test says to ship the new one."""

from __future__ import annotations

import json

from ingest.config import load_config
from router.keywords import keyword_words
from router.lexicon import SHIPPED, build_document, lexicon_key
from tests.support import ROOT


def test_the_shipped_lexicon_matches_the_example_configuration() -> None:
    settings = load_config(ROOT / "config.example.toml", env={})
    keywords = [k for topic in settings.topics for k in topic.keywords]
    keywords += [k for words in settings.kinds.model_dump().values() for k in words]
    words = keyword_words(keywords)
    path = SHIPPED / f"keyword-lexicon-{lexicon_key(words)}.json"
    regenerate = "write the words as a JSON list to a file and run: python -m router.lexicon --ship FILE"
    assert path.exists(), f"no shipped lexicon for the example's keywords: {regenerate}"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(build_document(words))), regenerate
    assert [p.name for p in SHIPPED.glob("*.json")] == [path.name]  # no stale one left beside it
