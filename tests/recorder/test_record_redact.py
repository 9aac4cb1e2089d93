"""Redaction rules as pure functions: headers, sk- keys, learned literals, JSON paths, chunk boundaries."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder.redact import PLACEHOLDER, RedactionRuleError, Redactor, Rules

KEY = "sk-proj-abcdefghijklmnop1234567890"


def test_secret_headers_become_the_placeholder_and_their_values_are_scrubbed_elsewhere() -> None:
    redactor = Redactor()
    headers = redactor.headers([("Authorization", "Bearer tok_abcdefghijkl"), ("Cookie", "sid=cookievalue99abcdef; a=1"),
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
