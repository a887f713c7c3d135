"""The interface documents in docs/api/ are what the code generates now."""

from __future__ import annotations

import pytest

from healthlink.apidocs import documents, stale
from shared import topics

pytestmark = pytest.mark.unit


def test_checked_in_api_documents_are_current() -> None:
    assert stale() == [], "run: healthlink docs export"


def test_the_asyncapi_document_names_every_topic() -> None:
    text = documents()["asyncapi.json"]
    for topic in (*topics.ALL, topics.DEAD_LETTER_RETRIES):
        assert f'"{topic}' in text, topic
