"""The detectors run only on text holding one of their starts: that finds what running every detector finds.

Every detector's known credentials (each kind, each variant its pattern spells) still reach it;
near misses (a start with no credential after it, a credential with its start broken) give what
the full scan gives; and so does any text built from those pieces, case changes and noise.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from rec.redaction import (
    DEFAULT_RULES,
    MIN_ANCHOR_ATOMS,
    MIN_CREDENTIAL_LENGTH,
    Detector,
    anchors,
    detectors,
    detectors_for,
    merge_spans,
)
from tests.support.credentials import CREDENTIALS


def _jwt_part(value: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


TAIL = "Xy7Kq2Lm9Np4Rs6Tv8Wz0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
B64 = base64.b64encode(bytes(range(66))).decode()  # 88 characters of base64
PRIVATE_KEY_BODY = "\nMIIEowIBAAKCAQEA1c7Pad7OejecsQ0bu3aumWv9z5\n"
# Each variant every detector's pattern spells, all made up.
KNOWN = [
    *CREDENTIALS.values(),
    "sk-proj-abcdefghijklmnop1234567890", "sk-svcacct-" + TAIL[:30],
    *(prefix + "Z7QK3M9XW2PL4RTB" for prefix in ("A3TX", "ABIA", "ACCA", "AKIA", "ASIA")),
    *(prefix + "_" + TAIL[:36] for prefix in ("ghp", "gho", "ghu", "ghs", "ghr")),
    *(prefix + "-" + TAIL[:24] for prefix in ("glpat", "gldt", "glft", "glsoat", "glrt")),
    "GR1348941" + TAIL[:24], "glcbt-a1_" + TAIL[:24], "glcbt-" + TAIL[:24], "glimt-" + TAIL[:25],
    "glptt-" + TAIL[:40], "glagent-" + TAIL[:60], "gloas-" + TAIL[:64],
    "xoxa-1234-abcdef0123", "XOXP-1234-5678-abcdef0", "xOxR-99-zz9-aaaaaaaa",
    "https://hooks.slack.com/services/T0123/B0456/abcDEF789", "HTTPS://Hooks.Slack.COM/services/TABC/BDEF/ghi",
    "sk_live_" + TAIL[:24], "rk_live_" + TAIL[:24],
    "pypi-AgEIcHlwaS5vcmc" + TAIL[:72], "pypi-AgENdGVzdC5weXBpLm9yZw" + TAIL[:72],
    "SG." + TAIL[:22] + "." + TAIL[:43], "sq0csp-" + TAIL[:43], "AccountKey=" + B64,
    *(f"-----BEGIN {kind}-----{PRIVATE_KEY_BODY}-----END {kind}-----" for kind in (
        "RSA PRIVATE KEY", "DSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK", "SSH2 ENCRYPTED PRIVATE KEY")),
    "-----BEGIN RSA PRIVATE KEY-----" + PRIVATE_KEY_BODY,  # cut short
    _jwt_part({"alg": "none"}) + "." + _jwt_part({"sub": "x"}) + ".",
    "github_pat_" + TAIL[:40], "AIza" + TAIL[:35],
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SECRET_KEY: \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"",
    "AwsSecretKey='wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'",
    "Authorization: Bearer abcdef1234567890XYZ", "BEARER\t\ttok.en_1234567890abcdef", "bearer A-1234567890-B.c~d+e/f=",
]
# Each detector's start with no credential after it, and credentials whose start is broken.
NEAR_MISSES = [
    "sk-short", "task-runner-configuration-v2", "AKIAlower_case_is_not_it", "ASIA is a continent", "ghp_tooShort",
    "glpat-short", "GR1348941", "xoxb-", "xox-123-abc", "https://hooks.slack.com/services/", "sk_live_short",
    "rk_live_" + "!" * 24, "pypi-AgEIcHlwaS5vcmc", "SG.abc.def", "sq0csp-", "AccountKey=short",
    "-----BEGIN PUBLIC KEY-----", "-----BEGIN CERTIFICATE-----", "eyJhbGciOiJub25lIn0",
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "github_pat_short",
    "AIzaShort", "aws secret key is wJalrXUtnFEMI", "Bearer YOUR_TOKEN_HERE", "bearer", "bear er 1234567890123456789",
    "s k-proj-abcdefghijklmnop1234567890", "AKI A" + "Z7QK3M9XW2PL4RTB", "gh p_" + TAIL[:36], "x ox b-1234-abcdef",
    "ey J" + CREDENTIALS["JSON Web Token"][3:], "github pat_" + TAIL[:40], "AIz a" + TAIL[:35],
    "BEARE R abcdef1234567890XYZ",
    "----BEGIN RSA PRIVATE KEY-----" + PRIVATE_KEY_BODY, "SG " + TAIL[:22] + "." + TAIL[:43],
    "x" + CREDENTIALS["GitHub Token"],  # inside a longer token
]


def full_scan(data: bytes) -> list[tuple[int, int, str]]:
    """Every detector over the data, as the scan was before it looked for starts (text too short to hold a
    credential is passed over, as it was then)."""
    if len(data) < MIN_CREDENTIAL_LENGTH:
        return []
    return merge_spans((start, end, d.kind) for d in detectors() for start, end in d.spans(data))


def test_every_detector_has_a_start_to_look_for() -> None:
    for detector in detectors():
        starts = anchors(detector.pattern)
        assert starts, f"{detector.kind}: {detector.pattern.pattern!r} has no start: it would run on every string"


def test_each_detector_finds_its_known_credentials_through_its_starts() -> None:
    finders: set[Detector] = set()
    for credential in KNOWN:
        for text in (credential, f"prose before {credential} and after", json.dumps({"output": credential})):
            data = text.encode()
            expected = [d for d in detectors() if any(d.spans(data))]
            assert expected or text != credential, f"no detector finds {text!r}"
            assert set(expected) <= set(detectors_for(data)), text
            assert DEFAULT_RULES.credentials(data) == full_scan(data), text
            finders.update(expected)
    missing = [d.kind + " " + d.pattern.pattern.decode()[:40] for d in detectors() if d not in finders]
    assert not missing, f"no known credential for {missing}"


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_a_near_miss_gives_what_the_full_scan_gives(text: str) -> None:
    for data in (text.encode(), f"some words {text}; more words".encode()):
        assert DEFAULT_RULES.credentials(data) == full_scan(data)
        assert {d for d in detectors() if any(d.spans(data))} <= set(detectors_for(data))


def test_text_without_a_start_runs_no_detector() -> None:
    text = b'data: {"type":"response.output_text.delta","delta":"The quick brown fox jumps over the lazy dog"}\n\n'
    assert detectors_for(text * 20) == ()


def _latin1(pattern: str) -> re2._Regexp:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    return re2.compile(pattern.encode(), options=options)


@pytest.mark.parametrize(("pattern", "flags", "starts_with", "not_starts_with"), [
    (rb"abc[0-9]+", 0, [b"abc1"], [b"ABC1", b"ab"]),
    (rb"(?:ab|cd)e[xy]z\d", 0, [b"abexz", b"cdeyz"], [b"abez", b"ab"]),
    (rb"(?i)\bkey[=:]", 0, [b"KeY=", b"key:"], [b"ke y"]),
    (rb"key", re.IGNORECASE, [b"KEY"], [b"kez"]),
    (rb"(?i:ab)cd", 0, [b"ABcd", b"abcd"], [b"abCD"]),
    (rb"(?=x)xyz", 0, [b"xyz"], [b"xy"]),
])
def test_the_starts_read_from_a_pattern(pattern: bytes, flags: int, starts_with: list[bytes],
                                        not_starts_with: list[bytes]) -> None:
    starts = anchors(re.compile(pattern, flags))
    assert starts is not None
    found = _latin1("|".join(starts))
    assert all(found.match(text) for text in starts_with)
    assert not any(found.match(text) for text in not_starts_with)


@pytest.mark.parametrize("pattern", [rb"[a-z]+key", rb"a?bcd", rb"ab", rb"(?:abc|d)[0-9]", rb".abc"])
def test_a_pattern_with_no_start_worth_looking_for_has_none(pattern: bytes) -> None:
    assert anchors(re.compile(pattern)) is None


def test_every_match_of_a_detector_begins_with_one_of_its_starts() -> None:
    for detector in detectors():
        starts = anchors(detector.pattern)
        assert starts is not None and all(start.count("\\x") >= MIN_ANCHOR_ATOMS for start in starts)
        found = _latin1("|".join(starts))
        for credential in KNOWN:
            for match in detector.pattern.finditer(credential.encode()):
                assert found.match(credential.encode(), match.start()), (detector.kind, credential)


# Pieces that text holding a credential, or nearly holding one, is made of.
PIECES = [*KNOWN, *NEAR_MISSES, "sk-", "AKIA", "eyJ", "-----BEGIN ", "bearer ", "Bearer", "aws_secret_key=", "xox",
          "hooks.slack.com", "\n", " ", "\"", "\\n", "=", "-", "_", "."]


def _noise() -> st.SearchStrategy[bytes]:
    return st.binary(max_size=12) | st.text("abcXYZ019 _-./=:\"\\\n", max_size=12).map(str.encode)


def _piece() -> st.SearchStrategy[bytes]:
    known = st.sampled_from(PIECES).map(str.encode)
    flipped = known.map(bytes.swapcase) | known.map(bytes.lower) | known.map(bytes.upper)
    cut = st.tuples(known, st.integers(0, 80), st.integers(0, 80)).map(lambda t: t[0][t[1]:t[1] + t[2]])
    return known | flipped | cut | _noise()


@settings(max_examples=400, deadline=None)
@given(st.lists(_piece(), max_size=8))
def test_any_text_of_those_pieces_gives_what_the_full_scan_gives(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert DEFAULT_RULES.credentials(data) == full_scan(data)
    assert {d for d in detectors() if d.pattern.search(data)} <= set(detectors_for(data))
