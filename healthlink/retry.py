"""Retrying dead letters through a service's operator API (``POST /admin/deadletters/retry``).

Every service mounts the same operators' router (``shared/admin.py``) and sees
every service's dead letters; the service answering republishes the originals to
their source topics and notes the retries. Kafka lets a service write only the topics
it owns (shared/acl.py), so retry through the owner: another answers 403 naming it.
"""

from __future__ import annotations

from typing import Any

from healthlink.operator import Operator

DEFAULT_SERVICE = "ingest"  # owns the upload topic, where most letters come from


def retry(
    ops: Operator,
    letter_id: str = "",
    reason: str = "",
    everything: bool = False,
    include_retried: bool = False,
    service: str = DEFAULT_SERVICE,
    topic: str = "",
) -> list[str]:
    """Retry one letter, every pending letter with ``reason``, or every pending letter.

    A letter named by id is retried even when it was retried before; selections by
    reason or ``everything`` skip letters already retried unless ``include_retried``.
    ``topic`` keeps only letters from that source topic. The service must own the
    letters' topics (Kafka's ACLs); another answers 403 naming the owner. Returns the
    ids sent back.
    """
    if not (letter_id or reason or everything):
        return []
    body: dict[str, Any] = {"include_retried": include_retried, "topic": topic}
    if letter_id:
        body["ids"] = [letter_id]
    elif reason:
        body["reason"] = reason
    else:
        body["all"] = True
    answer = ops.call("POST", service, "/admin/deadletters/retry", body)
    return [str(i) for i in answer.get("ids", [])]
