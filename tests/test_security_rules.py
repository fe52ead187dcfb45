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


# --- every detector's positives reach it, through `check` and `check_batch` -------------------
# Values from detect-secrets' own plugin tests (tests/plugins/*_test.py), made realistic where
# theirs are `xxxx` placeholders (which FTS001 deliberately skips), or built from the pattern.
DETECTOR_POSITIVES = {
    "Artifactory Credentials": ["AKCp8jQ7rTzW2vLmN4sXkPeRb", "AP6a9Kd3Xh7Qw2ZpL5mN", "AP2b8Ld4Yj6Rv3TqM9cW"],
    "AWS Access Key": ["AKIAZ5GMHY3TQWERTY12", "ASIAZ5GMHY3TQWERTY12", "A3T0Z5GMHY3TQWERTY12",
                       "ABIAZ5GMHY3TQWERTY12", "ACCAZ5GMHY3TQWERTY12",
                       'aws_secret_access_key = "h7Tq2XvLw9Rz4KpM1sNd8YbC3fGj6HuE0aWi5QoP"',
                       "AWS_SECRET_KEY='h7Tq2XvLw9Rz4KpM1sNd8YbC3fGj6HuE0aWi5QoP'"],
    "Azure Storage Account access key": [
        "AccountKey=lJzRc1YdHaAA2KCNJJ1tkYwF/+mKK6Ygw0NGe170Xu592euJv2wYUtBlV8z+qnlcNQSnIYVTkLWntUO1F8j8rQ=="],
    "Basic Auth Credentials": ["https://deploy:s3cr3tP4ss@db.internal.acme.io/", "ftp://bob:hunter2@10.0.0.5/"],
    "Discord Bot Token": ["MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
                          "Nzk5MjgxNDk0NDc2NDU1OTg3.YABS5g.2lmzECVlZv3vv6miVnUaKPQi2wI",
                          "OTUyNED5MDk2MTMxNzc2MkEz.GSroKE.g2MTwve8OnUAAByz8KV_ZTV1Ipzg4o_NmQWUMs"],
    "GitHub Token": ["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", "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",
                     "ghs_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx"],
    "GitLab Token": ["glpat-hellOworld380_testin", "gldt-HwllOuhfw-wu0rlD_yep", "glrt-aB3dE5fG7hJ9kL1mN3pQ",
                     "glft-aB3dE5fG7hJ9kL1mN3pQ", "glsoat-PREfix_helloworld380_testin_pretty_long_token_long",
                     "GR1348941PREfix_helloworld380", "glcbt-helloworld380_testin", "glimt-my-tokens_are-correctAB38",
                     "glptt-" + "Zq3" * 13 + "Z", "glagent-" + "Rt7" * 17, "gloas-" + "Hk2u" * 16],
    "JSON Web Token": ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
                       "IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"],
    "Mailchimp Access Key": ["343ea45721923ed956e2b38c31db76aa-us30", "a2937653ed38c31a43ea46e2b19257db-us2"],
    "NPM tokens": ["//registry.npmjs.org/:_authToken=743b294a-cd03-11ec-9d64-0242ac120002",
                   "//registry.npmjs.org/:_authToken= 346a14f2-a672-4668-a892-956a462ab56e",
                   "//registry.npmjs.org/:_authToken=npm_Ab3dE5fG7hJ9kL1mN3pQ"],
    "OpenAI Token": ["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",
                     "sk-proj-Xi8tdMjHV6pmbBbwilTeT3BlbkFJ3UDnpdEwNNm6wVBpYM0o"],
    "Private Key": [f"-----BEGIN {k}-----" for k in ("DSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY",
                                                      "PGP PRIVATE KEY BLOCK", "PRIVATE KEY", "RSA PRIVATE KEY",
                                                      "SSH2 ENCRYPTED PRIVATE KEY")]
                   + ["PuTTY-User-Key-File-2: ssh-rsa"],
    "PyPI Token": ["pypi-AgEIcHlwaS5vcmc" + "CJDU3OTM1MjliLWIyYTYtNDEwOC05NzRkLTM0MjNiNmEwNWIzYgACF1sxLFsibWluaW1h" * 2,
                   "pypi-AgENdGVzdC5weXBpLm9yZw" + "IkN2YxOWZhOWEtY2FjYS00MGZhLTj2MGEtODFjMnE2MjdmMzY0AAIqWzMsImJl" * 2],
    "SendGrid API Key": ["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"],
    "Slack Token": ["xoxp-523423-234243-234233-e039d02840a0b9379c", "xoxo-523423-234243-234233-e039d02840a0b9379c",
                    "xoxs-523423-234243-234233-e039d02840a0b9379c", "xoxr-523423-234243-234233-e039d02840a0b9379c",
                    "xoxa-2-511111111-31111111111-3111111111111-e039d02840a0b9379c", "xoxb-34532454-e039d02840a0b9379c",
                    "XOXB-34532454-E039D02840A0B9379C", "Xoxp-523423-234243-234233-e039d02840a0b9379c",
                    "https://hooks.slack.com/services/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",
                    "HTTPS://HOOKS.SLACK.COM/SERVICES/T01ABCD2EFG/B02HIJK3LMN/Q1W2E3R4T5Y6U7I8O9P0ABCD",
                    "https://Hooks.Slack.com/services/T01ABCD2EFG/B02HIJK3LMN/q1W2e3R4t5Y6u7I8o9P0aBcD"],
    "Square OAuth Secret": ["sq0csp-ABCDEFGHIJK_LMNOPQRSTUVWXYZ-0123456789\\abcd",
                            "sq0csp-q1W2e3R4t5Y6u7I8o9P0aBcDq1W2e3R4t5Y6u7I8o9P"],
    "Stripe Access Key": ["sk_live_ReTllpYQYfIZu2Jnf2lAPFjD", "rk_live_5TcWfjKmJgpql9hjpRnwRXbT"],
    "Twilio API Key": ["SK0123456789abcdef0123456789abcdef", "AC0123456789abcdef0123456789abcdef",
                       "SKz9y8w7v6u5t4s3r2q1p0onmlkjihgzyx", "ACqrstuvwxyz0123456789qrstuvwxyz01",
                       "twilioSKz9y8w7v6u5t4s3r2q1p0onmlkjihgzyx"],
    "Telegram Bot Token": ["110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw", "7213808860:AAH1bjqpKKW3maRSPAxzIU-0v6xNuq2-NjM"],
    "Hugging Face Token": ["hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"],
    "Anthropic API Key": ["sk-ant-api03-" + "Ab1" * 12],
    "Google API Key": ["AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"],
}
PROSE = ("Thanks for the help yesterday. Here is what I put in the deploy config: {} "
         "and it still fails when the job starts, any idea why?")


def test_every_detector_has_positives() -> None:
    """Each pattern FTS001 runs is exercised below (a new detector needs examples here)."""
    _, pairs = _detectors()
    for kind, pattern in pairs:
        assert any(pattern.search(PROSE.format(s)) for s in DETECTOR_POSITIVES.get(kind, ())), (kind, pattern.pattern)


@pytest.mark.parametrize("kind,secret", [(k, s) for k, ss in DETECTOR_POSITIVES.items() for s in ss],
                         ids=lambda v: v[:24] if isinstance(v, str) else None)
def test_detector_positives_are_found_by_check_and_check_batch(kind: str, secret: str, tmp_path) -> None:
    import json

    from ftlint.formats import detect_format, normalise
    from ftlint.records import read_jsonl
    from ftlint.rule import Context
    from ftlint.rules.security import SecretInText

    text = PROSE.format(secret)
    assert kind in {k for k, _ in find_secrets(text)}, (kind, secret)
    filler = "Plain prose about rivers, mountains and the history of maps. " * 3
    rows = [{"messages": [{"role": "user", "content": filler}, {"role": "assistant", "content": filler}]}] * 3
    rows.insert(1, {"messages": [{"role": "user", "content": "Why does this fail?"}, {"role": "assistant", "content": text}]})
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    examples = [normalise(r, detect_format(r.data))[0] for r in read_jsonl(str(path), path.name)]
    rule, ctx = SecretInText(), Context()
    per_example = [f for e in examples for f in rule.check(e, ctx)]
    batch = list(rule.check_batch(examples, ctx))
    for found in (per_example, batch):
        assert [(f.location.line, kind in f.message) for f in found] == [(2, True)], (secret, found)
    assert secret not in batch[0].message
