"""Schemathesis against the live staff API: whatever its OpenAPI document allows, sent with an
admin's and a supervisor's token, never makes the server fail (no 5xx).

The operations are driven with Hypothesis directly (``operation.as_strategy()``) rather than
through schemathesis' pytest plugin, whose lazy-fixture loader does not run on this pytest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.staff_api_helpers import Office, office, settings_with_admin

EXAMPLES_PER_OPERATION = 8


@dataclass(frozen=True)
class Live:
    office: Office
    token: str  # the bearer token of the role the test runs as


@pytest.fixture(params=["admin", "supervisor"])
def live(request: pytest.FixtureRequest, make_settings: Any) -> Iterator[Live]:
    with office(settings_with_admin(make_settings)) as o:
        yield Live(office=o, token=o.tokens[request.param])


@pytest.mark.slow  # Schemathesis over every API operation
def test_no_server_errors(live: Live) -> None:
    schema = schemathesis.openapi.from_url(live.office.base + "/openapi.json")
    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1"):
            continue
        tested += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(
                base_url=live.office.base,
                headers={"Authorization": f"Bearer {live.token}"},
                checks=[not_a_server_error],
            )

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report
            failures.append(f"{operation.label}: {exc}"[:2000])
    assert tested >= 15
    assert not failures, "\n\n".join(failures)
