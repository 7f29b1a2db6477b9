"""Schemathesis against a real daphne: every operation of /api/v1/, requests generated from its own schema.

Each operation (every other one, in each of the two tests) gets a bounded number of generated requests (valid and not), with a token, over
real sockets, sends included: a send starts a real reply in the server's event loop. Every answer
must be one the schema declares, in its media type and shape, and never a server error.
`API_SCHEMA_EXAMPLES` sets the examples per operation (default 25).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis

# Loaded here, at collection, not lazily inside from_url: Python 3.11.7 can raise "AST constructor recursion
# depth mismatch" when a module is compiled while another thread compiles (CPython gh-106905).
import schemathesis.specs.openapi.schemas  # noqa: F401
from django.conf import settings
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chat import services
from chat.models import Message
from tests.support.daphne import database_url, server_env, start_daphne

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("API_SCHEMA_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


# The operations in two halves, each a test with its own server, so two xdist workers share the run.
PARTS = 2


@pytest.mark.parametrize("part", range(PARTS))
def test_every_api_operation_answers_as_its_schema_says_and_never_with_a_server_error(
    part: int, user, other_user, tmp_path: Path
):
    secret = services.api_token_create(owner=user, name="schemathesis")[1]
    mine = services.conversation_create(owner=user, title="mine")
    services.message_create(conversation_id=mine.pk, role=Message.Role.USER, content="hi", client_id="c1")
    services.conversation_create(owner=other_user, title="theirs")
    services.persona_create(owner=user, name="Mine", system_prompt="You are Mine.")
    services.persona_create(owner=other_user, name="Theirs", system_prompt="You are Theirs.")
    server = start_daphne(_env(), tmp_path)
    try:
        schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
        operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: op.label)
        assert len(operations) >= 20, [op.label for op in operations]
        for operation in operations[part::PARTS]:
            _fuzz(operation, server.url, secret)
    finally:
        server.stop(grace=5)  # replies the sends started are stored as stopped


def _fuzz(operation: Any, base_url: str, secret: str) -> None:
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def one_request(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS)

    one_request()


def _env() -> dict[str, str]:
    return server_env({
        "DEBUG": "false", "SECRET_KEY": settings.SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(connection.settings_dict), "LLM_PROVIDERS": "", "LLM_PROVIDERS_FILE": "",
        "API_RATE_LIMIT_PER_MINUTE": "1000000", "CHAT_RATE_LIMIT_MESSAGES": "1000000", "CHAT_SHUTDOWN_SECONDS": "2",
        # an event stream answers until SSE_MAX_SECONDS: end each soon; each one opened counts as a replay
        "SSE_MAX_SECONDS": "0.5", "CHAT_REPLAYS_PER_MINUTE": "1000000",
    })
