"""Security rules: secrets and personal data inside training text.

Findings never repeat the secret: messages carry its type and a short hash prefix only,
because SARIF output is uploaded to GitHub.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Iterator

from ..findings import Finding, Severity
from ..formats import Example
from ..rule import Context, Rule

# detect-secrets' high-precision regex plugins (the entropy and keyword plugins are far too noisy
# for natural-language text).
_PLUGINS = (
    "ArtifactoryDetector", "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
    "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector", "JwtTokenDetector",
    "MailchimpDetector", "NpmDetector", "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector",
    "SendGridDetector", "SlackDetector", "SquareOAuthDetector", "StripeDetector", "TwilioKeyDetector",
)
# Not used: Discord and Telegram bot tokens have no literal anchor, so no cheap prefilter can
# find them; scanning every text with their patterns would double the cost of the whole lint.
# Tokens not covered by detect-secrets: Hugging Face, Anthropic, Google API keys.
_EXTRA = (
    ("Hugging Face Token", re.compile(r"\bhf_[A-Za-z0-9]{34,}\b")),
    ("Anthropic API Key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{32,}")),
    ("Google API Key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
)
# Values published in vendor docs as examples; not secrets.
_DOC_EXAMPLES = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}


_PLACEHOLDER_VALUES = re.compile(r"^(?:password|passw(?:or)?d|pass|secret|changeme|username|user|"
                                 r"your[_\-]?\w*|x+|\*+|<[^>]*>|\.\.\.)$|example", re.I)


def _is_placeholder(value: str, after: str) -> bool:
    """Doc-style values: `user:password@`, `<token>`, `xxxx`, or a host at example.com."""
    parts = [p for p in re.split(r"[:/@]+", value) if p]
    return any(_PLACEHOLDER_VALUES.search(p) for p in parts) or "example." in after.lower()


def redact(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()[:8]


def describe(hits: list[tuple[str, str]]) -> str:
    """'email address (sha256:1a2b3c4d)', or 'phone number ×3 (first sha256:…)': never the value."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in hits:
        by_kind.setdefault(kind, []).append(value)
    parts = []
    for kind, values in by_kind.items():
        n = len(dict.fromkeys(values))
        parts.append(f"{kind} ({redact(values[0])})" if n == 1 else f"{kind} ×{n} (first {redact(values[0])})")
    return ", ".join(parts)


@lru_cache(maxsize=1)
def _detectors() -> tuple[re.Pattern, list[tuple[str, re.Pattern]]]:
    """All detectors as one regex (used by tests to keep the prefilter honest), plus
    (type, pattern) pairs to confirm and name a hit."""
    import detect_secrets.plugins as plugins_pkg
    import importlib
    import pkgutil

    classes = {}
    for info in pkgutil.iter_modules(plugins_pkg.__path__):
        module = importlib.import_module(f"detect_secrets.plugins.{info.name}")
        for name in _PLUGINS:
            if hasattr(module, name):
                classes[name] = getattr(module, name)
    pairs: list[tuple[str, re.Pattern]] = []
    for name in _PLUGINS:
        cls = classes.get(name)
        if cls is None:
            continue
        for pattern in cls.denylist:
            pairs.append((cls.secret_type, pattern))
    pairs.extend(_EXTRA)
    parts = []
    for _, p in pairs:
        flags = "i" if p.flags & re.IGNORECASE else ""
        parts.append(f"(?{flags}:{p.pattern})" if flags else f"(?:{p.pattern})")
    return re.compile("|".join(parts)), pairs


# Cheap prefilters: every detector above needs one of these anchors. Patterns are grouped by
# a character they all contain, so clean prose is rejected by fast substring tests; this is
# several times faster than running the detectors' own patterns (tests keep the coverage honest).
_UPPER = re.compile(r"AKIA|ASIA|GR1348941|PRIVATE KEY|AIza|SG\.|EAAA|AccountKey|AKC")
_UNDERSCORE = re.compile(r"gh[pousr]_|github_pat_|hf_|npm_|[sr]k_live")
_DASH = re.compile(r"sk-|pypi-|gl(?:pat|dt|rt|ptt|cbt|ffct|imt|soat|agent|oas|ft)-|xox[abposr]-|-us\d")
_URL_AUTH = re.compile(r"://[^\s/:@]+:[^\s/@]+@")
# Detectors without a literal anchor run only when a cheap substring test passes.
_TWILIO = re.compile(r"\b(?:SK|AC)[0-9a-fA-F]{32}\b")
_ARTIFACTORY = re.compile(r"\bAP[\dA-F][a-zA-Z0-9]{8,}")


def _maybe_secret(text: str) -> bool:
    return bool(
        _UPPER.search(text) or "eyJ" in text or "hooks.slack" in text
        or "_" in text and _UNDERSCORE.search(text)
        or "-" in text and _DASH.search(text)
        or "://" in text and _URL_AUTH.search(text)
        or ("SK" in text or "AC" in text) and _TWILIO.search(text)
        or "AP" in text and _ARTIFACTORY.search(text)
    )


def find_secrets(text: str) -> list[tuple[str, str]]:
    """(type, secret) pairs in `text`."""
    if not _maybe_secret(text):
        return []
    _, pairs = _detectors()
    found: list[tuple[str, str]] = []
    for kind, pattern in pairs:
        for m in pattern.finditer(text):
            value = m.group(0)
            if value in _DOC_EXAMPLES or _is_placeholder(value, text[m.end():m.end() + 40]):
                continue
            found.append((kind, value))
    return found


class _TextScanRule(Rule):
    """Runs `scan` on every turn's text; the message names kinds and hashes, never values."""

    min_chars: int
    label: str

    @staticmethod
    def scan(text: str) -> list[tuple[str, str]]:
        raise NotImplementedError

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        for turn in example.all_turns():
            text = turn.text
            if len(text) < self.min_chars:
                continue
            hits = self.scan(text)
            if hits:
                yield self.finding(example.record, turn.pointer,
                                   f"{self.label} in {turn.role} content: {describe(hits)}.")


class SecretInText(_TextScanRule):
    """Text contains a secret: an API key, access token or private key.

    ## What it does
    Scans every turn with detect-secrets' high-precision detectors (AWS, GitHub, GitLab, Slack,
    Stripe, OpenAI, JWT, private keys, basic-auth URLs, …) plus Hugging Face, Anthropic and Google
    key patterns. The message names the type and a short hash, never the secret. (Discord and
    Telegram bot tokens are not detected: their patterns have no anchor a fast prefilter can use.)

    ## Why it matters
    A fine-tuned model memorises and regurgitates training text; a leaked key in the data is a
    leaked key in every completion, and in your dataset repository.

    ## Example
    ```json
    {"instruction": "Deploy it", "output": "Run with GITHUB_TOKEN=ghp_…(a real token)…"}
    ```

    ## Use instead
    ```json
    {"instruction": "Deploy it", "output": "Run with GITHUB_TOKEN=<your token>"}
    ```

    ## How to fix
    Replace the value with a placeholder, rotate the credential, and purge it from git history.
    """

    code = "FTS001"
    name = "secret-in-text"
    severity = Severity.ERROR
    tags = ("security", "secrets")
    security_severity = 8.5

    min_chars = 16  # no key or token is shorter
    label = "Possible secret"

    @staticmethod
    def scan(text: str) -> list[tuple[str, str]]:
        return find_secrets(text)


_EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@([A-Za-z0-9\-]+\.)+[A-Za-z]{2,}\b")
_PLACEHOLDER_DOMAINS = re.compile(r"@(?:[\w\-]+\.)*(?:example\.(?:com|org|net)|test|invalid|localhost|domain\.com|email\.com|company\.com|yourcompany\.com|mail\.com)\b", re.I)
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)[ .\-]?|\d{2,4}[ .\-])\d{3,4}[ .\-]\d{3,4}(?![\w\-])")


def _fictional_phone(digits: str) -> bool:
    """North American numbers with a 555 area code or exchange are reserved for fiction."""
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and "555" in (digits[:3], digits[3:6])

_CARD = re.compile(r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)")


# Issuer prefixes and lengths (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay).
_CARD_BRANDS = re.compile(r"^(?:4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2(?:2[2-9]|[3-6]\d|7[01])\d{13}|2720\d{12}"
                          r"|3[47]\d{13}|6(?:011|5\d\d|4[4-9]\d)\d{12,15}|35(?:2[89]|[3-8]\d)\d{12,15}"
                          r"|3(?:0[0-5]|[68]\d)\d{11,16}|62\d{14,17})$")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_DIGIT_RUN = re.compile(r"\d{3}[\s.\-)]{0,2}\d{3}")  # phones and cards have 6+ digits close together


def find_pii(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if "@" in text:
        for m in _EMAIL.finditer(text):
            if not _PLACEHOLDER_DOMAINS.search(m.group(0)):
                found.append(("email address", m.group(0)))
    # Phones have 10+ digits and cards 13+: count digits at C speed before any pattern runs.
    if sum(map(text.count, "0123456789")) < 10 or not _DIGIT_RUN.search(text):
        return found
    long_numbers: list[tuple[int, int]] = []  # spans of card-like digit runs: never phone numbers
    for m in _CARD.finditer(text):
        long_numbers.append(m.span())
        digits = re.sub(r"\D", "", m.group(0))
        if _CARD_BRANDS.match(digits) and luhn_ok(digits) and len(set(digits)) > 2:
            found.append(("payment card number", digits))
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        start, end = m.span()
        if 10 <= len(digits) <= 15 and not any(s <= start < e for s, e in long_numbers) \
                and not _fictional_phone(digits):
            found.append(("phone number", m.group(0)))
    return found


class PersonalData(_TextScanRule):
    """Text contains personal data: email addresses, phone numbers or payment card numbers.

    ## What it does
    Finds email addresses (not placeholder domains such as example.com), phone numbers in
    common national and international layouts, and card numbers that pass the Luhn check. The
    message names the kind and a short hash, never the value.

    ## Why it matters
    Models memorise PII and repeat it; shipping it in training data can breach GDPR/CCPA and
    your data-processing agreements.

    ## Example
    ```json
    {"instruction": "Who handles refunds?", "output": "Mail jane.doe@acme-corp.com or call +1 415 867 2671."}
    ```

    ## Use instead
    ```json
    {"instruction": "Who handles refunds?", "output": "Mail refunds@example.com or call our support line."}
    ```

    ## How to fix
    Replace personal data with placeholders or synthetic values before training.
    """

    code = "FTS002"
    name = "personal-data"
    severity = Severity.WARNING
    tags = ("security", "pii")
    precision = "medium"
    security_severity = 5.0

    min_chars = 6
    label = "Personal data"

    @staticmethod
    def scan(text: str) -> list[tuple[str, str]]:
        return find_pii(text)
