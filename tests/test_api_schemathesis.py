"""Schemathesis against the API, in-process through WSGI, on each database.

It generates requests from the OpenAPI document (valid ones and deliberately broken ones)
and holds every answer to the document: no server errors, only documented status codes,
bodies and headers that fit their schemas.
"""

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from dsr import apitokens
from dsr.audit import Actor
from dsr.db import get_db

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
]


@pytest.fixture
def api_app(make_app, fresh_database):
    app = make_app(DATABASE_URL=fresh_database)
    with app.app_context(), get_db(app).transaction() as session:
        _row, secret = apitokens.create(session, "schemathesis", actor=Actor.system("test"))
    return app, secret


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(api_app):
    app, secret = api_app
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Schemathesis leaves out the document it was loaded from.
    assert {op.path for op in operations} >= {"/api/v1/requests", "/api/v1/requests/{reference}"}
    # One request the token filed, so that reading a known reference is exercised too.
    filed = app.test_client().post(
        "/api/v1/requests",
        json={"right": "access", "subject": {"email": "known@example.se", "name": "Känd"}},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert filed.status_code == 201
    strategies = [
        operation.as_strategy(generation_mode=mode)
        for operation, mode in itertools.product(operations, GenerationMode)
    ] + [
        operation.as_strategy(path_parameters={"reference": filed.get_json()["reference"]})
        for operation in operations
        if operation.path == "/api/v1/requests/{reference}"
    ]
    statuses = []
    for strategy in strategies:

        @given(case=strategy)
        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            response = case.call_and_validate(
                headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS
            )
            statuses.append(response.status_code)

        run()
    # It did exercise the API: requests were filed, found and refused.
    assert {201, 200, 404, 422} <= set(statuses), sorted(set(statuses))
