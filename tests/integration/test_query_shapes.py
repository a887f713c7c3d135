"""The ``EXPLAIN`` test: every query each service issues is served by an index.

Shapes FerretDB 1.24 cannot serve are declared with the reason (``scans``) and checked
to scan, so the list stays true; tests/support/service_shapes.py holds the list until
each service declares its own.
"""

from __future__ import annotations

import pytest

from shared.database import make_client
from shared.settings import Settings
from tests.support.query_plans import check_shapes
from tests.support.service_shapes import SERVICES

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_every_query_of_the_service_is_served_by_an_index(
    service: str, stack_settings: Settings
) -> None:
    indexes, shapes = SERVICES[service]
    client = make_client(stack_settings)
    db = client[stack_settings.db_name(f"{service}-shapes")]
    try:
        verdicts = await check_shapes(db, indexes, shapes, pg_dsn=stack_settings.pg_dsn)
    finally:
        await client.drop_database(db.name)
        await client.close()
    assert [v.problem for v in verdicts if v.problem] == []
    assert len(verdicts) == len(shapes) or not stack_settings.pg_dsn
