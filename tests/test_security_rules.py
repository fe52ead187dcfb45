"""Secrets and PII: detection, redaction, and the prefilter never hiding a detector's hit."""

from __future__ import annotations

import pytest

from ftlint.rules.security import _detectors, _maybe_secret, find_pii, find_secrets, luhn_ok

SECRETS = [
    "AKIAZ5GMHY3TQWERTY12",
    "ghp_R2d2C3poLukeSkywalkerHanSolo12345678",
    "glpat-aB3dE5fG7hJ9kL1mN3pQ",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "-----BEGIN RSA PRIVATE KEY-----",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "https://admin:s3cr3tP4ss@db.internal.acme.io/",
    "sk-proj-AbCdEfGhIjKlMnOpQrStT3BlbkFJAbCdEfGhIjKlMnOpQrSt",
    "SK0123456789abcdef0123456789abcdef",
    "https://hooks.slack.com/services/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",
]
PREFILTER_ONLY: list[str] = []


@pytest.mark.parametrize("secret", SECRETS)
def test_secrets_found(secret: str) -> None:
    assert find_secrets(f"config: {secret} end"), secret


@pytest.mark.parametrize("secret", SECRETS + PREFILTER_ONLY)
def test_prefilter_covers_every_detector_hit(secret: str) -> None:
    combined, _ = _detectors()
    if combined.search(secret):
        assert _maybe_secret(secret)


def test_placeholders_and_doc_examples_are_not_secrets() -> None:
    assert not find_secrets("ftp://username:password@ftp.example.com/repo")
    assert not find_secrets("aws_access_key_id = AKIAIOSFODNN7EXAMPLE")
    assert not find_secrets("The quick brown fox jumps over the lazy dog " * 10)


def test_pii() -> None:
    kinds = [k for k, _ in find_pii("Mail jane.doe@acme-corp.com, card 4539 1488 0343 6467, call +1 415 867 2671.")]
    assert kinds == ["email address", "payment card number", "phone number"]
    assert not find_pii("Mail support@example.com or call 555-1234; order 2023-10-12 costs 1,234,567.")
    assert not find_pii("card 4111 1111 1111 1111 is the test card; 1234 5678 9012 3456 fails Luhn")
    assert luhn_ok("4539148803436467") and not luhn_ok("4539148803436468")
