"""Redaction rules as pure functions: headers, sk- keys, learned literals, JSON paths, chunk boundaries."""

from __future__ import annotations

import base64
import itertools
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder.redact import PLACEHOLDER, RedactionRuleError, Redactor, Rules

KEY = "sk-proj-abcdefghijklmnop1234567890"


def test_secret_headers_become_the_placeholder_and_their_values_are_scrubbed_elsewhere() -> None:
    redactor = Redactor()
    headers = redactor.headers([("Authorization", "Bearer tok_abcdefghijkl"),
                                ("Cookie", "sid=cookievalue99abcdef; a=1"),
                                ("OpenAI-Organization", "org-xyz123456abcdefghijkl"), ("X-Other", "fine")])
    assert headers == [("Authorization", PLACEHOLDER), ("Cookie", PLACEHOLDER), ("OpenAI-Organization", PLACEHOLDER),
                       ("X-Other", "fine")]
    body = b'{"echo": "tok_abcdefghijkl", "c": "cookievalue99abcdef", "org": "org-xyz123456abcdefghijkl", "a": "1"}'
    assert redactor.scrub(body) == b'{"echo": "[REDACTED]", "c": "[REDACTED]", "org": "[REDACTED]", "a": "1"}'


def test_openai_keys_are_scrubbed_anywhere() -> None:
    assert Redactor().scrub(f"data: {{\"k\":\"{KEY}\"}}\n\n".encode()) == b'data: {"k":"[REDACTED]"}\n\n'


def test_json_path_and_regex_and_header_rules() -> None:
    rules = Rules().with_rules(["json:metadata.user", "regex:acct-[0-9]+", "header:X-Tenant"])
    redactor = Redactor(rules)
    redactor.learn_json(b'{"metadata": {"user": "alice@example.com"}}')
    assert redactor.headers([("x-tenant", "t-1")]) == [("x-tenant", PLACEHOLDER)]
    scrubbed = redactor.scrub(b"user alice@example.com on acct-42")
    assert scrubbed == b"user [REDACTED] on [REDACTED]"


@pytest.mark.parametrize("spec", ["nokind", "color:red", "regex:(", "json:"])
def test_bad_rules_name_themselves(spec: str) -> None:
    with pytest.raises(RedactionRuleError, match=re.escape(repr(spec))):
        Rules().with_rules([spec])


@given(prefix=st.binary(max_size=30).filter(lambda b: b"sk-" not in b and not b[-1:].isalnum()),
       suffix=st.binary(max_size=30).filter(lambda b: b"sk-" not in b),
       cuts=st.lists(st.integers(0, 100), max_size=4))
def test_a_key_split_across_chunks_is_gone_and_chunk_times_stay(prefix: bytes, suffix: bytes, cuts: list[int]) -> None:
    stream = prefix + KEY.encode() + b"\n" + suffix
    bounds = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    chunks = [(float(i), stream[a:b]) for i, (a, b) in enumerate(itertools.pairwise(bounds))]
    out = Redactor().scrub_chunks(chunks)
    assert [at for at, _ in out] == [at for at, _ in chunks]
    joined = b"".join(data for _, data in out)
    assert joined == Redactor().scrub(stream)
    assert b"sk-proj" not in joined and joined.count(PLACEHOLDER.encode()) >= 1


CF_COOKIE = ("__cf_bm=Zk3xQ9vL2mN8pR4tW6yB1cE5gH7jK0aSdFgHjKlZxCvBnM-1700000000-1.0.1.1; path=/; "
             "expires=Thu, 01-Jan-2026 00:30:00 GMT; domain=.api.openai.com; HttpOnly; Secure; SameSite=None")


def test_a_cookie_value_is_learned_and_its_attributes_are_not() -> None:
    redactor = Redactor()
    redactor.headers([("Set-Cookie", CF_COOKIE), ("Set-Cookie", "hint=Qm9vdHN0cmFwU2Vzc2lvbjEy; Path=/v1/responses")])
    text = b'POST /v1/responses {"q": "is status.api.openai.com up? path=/ Thu, 01-Jan-2026 00:30:00 GMT"}'
    assert redactor.scrub(text) == text
    assert redactor.scrub(b"cf Zk3xQ9vL2mN8pR4tW6yB1cE5gH7jK0aSdFgHjKlZxCvBnM-1700000000-1.0.1.1 and "
                          b"Qm9vdHN0cmFwU2Vzc2lvbjEy") == b"cf [REDACTED] and [REDACTED]"


def test_nothing_shorter_than_a_credential_is_learned() -> None:
    redactor = Redactor()
    redactor.headers([("Cookie", "a=1; theme=dark; lang=en-US"), ("x-api-key", "short-key")])
    assert redactor.literals == set()


def test_a_learned_value_is_also_scrubbed_json_escaped_and_percent_encoded() -> None:
    redactor = Redactor()
    redactor.headers([("api-key", "tok/Q2hhbm5lbFNlY3JldA+=")])
    assert redactor.scrub(b'{"a": "tok\\/Q2hhbm5lbFNlY3JldA+=", "b": "?k=tok%2FQ2hhbm5lbFNlY3JldA%2B%3D"}') \
        == b'{"a": "[REDACTED]", "b": "?k=[REDACTED]"}'


def test_a_token_in_a_json_answer_is_known_before_a_header_reveals_it() -> None:
    redactor = Redactor()
    redactor.learn_json(b'{"access_token": "at_9f8e7d6c5b4a39281706", "token_type": "Bearer", "token": "Hello"}')
    assert redactor.scrub(b"use at_9f8e7d6c5b4a39281706 or Hello") == b"use [REDACTED] or Hello"


def test_each_third_party_credential_is_scrubbed_by_shape_and_prose_around_it_stays() -> None:
    from tests.support.credentials import CREDENTIALS, ENV_FILE

    scrubbed = Redactor().scrub(json.dumps({"output": ENV_FILE}).encode()).decode()
    assert all(value not in scrubbed and json.dumps(value)[1:-1] not in scrubbed for value in CREDENTIALS.values())
    assert "DEBUG=true" in scrubbed and "https://status.api.openai.com/v1" in scrubbed
    assert "AWS_ACCESS_KEY_ID=[REDACTED]" in scrubbed and 'DEPLOY_KEY=\\"[REDACTED]\\"' in scrubbed


@pytest.mark.parametrize("innocent", [
    b"task-runner-configuration-v2 and disk-usage-report-2024-final",  # sk- inside words
    b"Bearer YOUR_TOKEN_HERE, as the docs say",
    b"data:image/png;base64," + base64.b64encode(bytes(range(256)) * 64),
    b'{"encrypted_content": "gAAAAABoXyZ' + base64.urlsafe_b64encode(bytes(range(255, -1, -1)) * 64) + b'"}',
])
def test_what_is_not_a_credential_is_left_alone(innocent: bytes) -> None:
    assert Redactor().scrub(innocent) == innocent


def test_an_allow_rule_keeps_a_known_false_positive_and_a_regex_rule_adds_one() -> None:
    example = b"AKIAIOSFODNN7EXAMPLE"  # the key id AWS's own documentation uses
    assert Redactor().scrub(example) == PLACEHOLDER.encode()
    rules = Rules().with_rules(["allow:AKIAIOSFODNN7EXAMPLE", "regex:ACME-[0-9]{6}"])
    assert Redactor(rules).scrub(example + b" ACME-123456") == example + b" [REDACTED]"
