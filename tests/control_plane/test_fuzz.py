"""No input produces a 500: schemathesis generates requests from our own OpenAPI document.

Every operation gets valid-looking and deliberately invalid requests, each sent anonymously and as
a signed-in org admin; every answer must be below 500, and every 4xx must carry API.md's body.
(Driven through hypothesis directly: schemathesis' pytest plugin does not load under pytest 9.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.helpers import signup


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gives_a_server_error(app, client, mode):
    headers = signup(client, "venue").headers
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:
        @given(case=operation.as_strategy(mode))
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case):
            for auth in (None, headers):
                response = case.call(headers=auth)
                label = f"{case.operation.label}: {response.status_code} {response.text[:300]}"
                assert response.status_code < 500, label
                if 400 <= response.status_code < 500:
                    body = response.json()
                    assert set(body) == {"error"}, label
                    assert {"code", "message", "details"} == set(body["error"]), label

        try:
            call()
        except Unsatisfiable:
            # an operation that takes no input has no invalid input to send
            assert mode is GenerationMode.NEGATIVE, operation.label
