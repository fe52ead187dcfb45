"""Security rules: secrets and personal data inside training text.

Findings never repeat the secret: messages carry its type and a short hash prefix only,
because SARIF output is uploaded to GitHub.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate, compress
from operator import not_
from typing import Callable, Iterable, Iterator

from ..findings import Finding, Severity
from ..formats import Example, Turn
from ..rule import Context, Rule
from ._batch import BatchView, batch_view

# detect-secrets' high-precision regex plugins (the entropy and keyword plugins are far too noisy
# for natural-language text).
_PLUGINS = (
    "ArtifactoryDetector", "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
    "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector", "JwtTokenDetector",
    "MailchimpDetector", "NpmDetector", "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector",
    "SendGridDetector", "SlackDetector", "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector",
    "TwilioKeyDetector",
)
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


# Cheap prefilters: every detector above needs one of these anchors (tests run each detector's
# positives through both paths). Patterns are grouped by a character they all contain, so clean
# prose is rejected by fast substring tests; this is several times faster than running the
# detectors' own patterns. The literal anchors are listed once: the batch prefilter's images
# (`_secret_images`) are built from them.
_UPPER_LITERALS = ("AKIA", "ASIA", "ABIA", "ACCA", "A3T", "GR1348941", "PRIVATE KEY", "AIza", "SG.", "EAAA",
                   "AccountKey", "AKC")
_UNDERSCORE_LITERALS = (*(f"gh{c}_" for c in "pousr"), "github_pat_", "hf_", "npm_", "/:_authToken", "sk_live",
                        "rk_live")
_DASH_LITERALS = ("sk-", "pypi-", "sq0csp-", "PuTTY-User-Key-File-2",
                  *(f"gl{k}-" for k in "pat dt rt ptt cbt ffct imt soat agent oas ft".split()))
_JWT = "eyJ"  # a plain substring test
# The Slack detector ignores case, and so do these (written as `re.IGNORECASE` takes them).
_SLACK_TOKEN, _SLACK_HOOK = "xox[abposr]-", "hooks.slack"
_UPPER = re.compile("|".join(map(re.escape, _UPPER_LITERALS)))
_UNDERSCORE = re.compile("|".join(map(re.escape, _UNDERSCORE_LITERALS)))
# Slack tokens as a look back from "-": a branch led by a literal keeps the search fast.
_DASH = re.compile("|".join(map(re.escape, _DASH_LITERALS)) + rf"|-(?:us\d|(?i:(?<={_SLACK_TOKEN})))")
_URL = re.compile(r"://[^\s/:@]+:[^\s/@]+@|(?i:" + re.escape(_SLACK_HOOK) + ")")  # basic auth, Slack webhooks
# Detectors without a literal anchor run only when a cheap substring test passes; each of these
# leads with its rarest character, or with a test `re` can skip to.
_TWILIO = re.compile(r"(?:SK|AC)[a-z0-9]{32}")
_ARTIFACTORY = re.compile(r"\bAP[\dA-F][a-zA-Z0-9]{8,}")
_DISCORD = re.compile(r"\.(?<=[a-zA-Z\d_-]{23}\.)[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}")  # id.timestamp.hmac
_TELEGRAM = re.compile(r":(?<=\d{8}:)[0-9A-Za-z_-]{35}")  # bot-id:secret
# AWS secret keys: a quoted 40-character value near "aws" (any case); the value is the rare part.
# One pattern per opening quote: a literal first character makes the search several times faster.
_AWS_VALUES = tuple(re.compile(q + r"[0-9a-zA-Z/+]{40}['\"]") for q in "'\"")
_AWS_WORD = re.compile("aws", re.I)


def _aws_value(text: str) -> bool:
    return any(p.search(text) for p in _AWS_VALUES)


def _maybe_secret(text: str) -> bool:
    return bool(
        _UPPER.search(text) or _JWT in text
        or "_" in text and _UNDERSCORE.search(text)
        or "-" in text and _DASH.search(text)
        or "://" in text and _URL.search(text)
        or ("SK" in text or "AC" in text) and _TWILIO.search(text)
        or "AP" in text and _ARTIFACTORY.search(text)
        or _DISCORD.search(text) or _TELEGRAM.search(text)
        or _aws_value(text) and _AWS_WORD.search(text)
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
    """Runs `scan` on every turn's text; the message names kinds and hashes, never values.

    `check` is the reference. `check_batch` gives the same findings faster: one prefilter pass
    over the whole batch's text (`flagged`) names the few turns `scan` can find anything in, and
    only those are scanned.
    """

    min_chars: int
    label: str
    _prefiltered_scan: object = None  # the `scan` that `flagged` is a prefilter for

    @staticmethod
    def scan(text: str) -> list[tuple[str, str]]:
        raise NotImplementedError

    @staticmethod
    def flagged(batch: "_BatchText") -> Iterable[int] | None:
        """Indexes into `batch.texts` (= the view's flat turns) of every turn `scan` may find something in (a superset),
        or None when the batch must be checked turn by turn."""
        raise NotImplementedError

    def _message(self, turn: Turn, text: str) -> str | None:
        if len(text) < self.min_chars:
            return None
        hits = self.scan(text)
        return f"{self.label} in {turn.role} content: {describe(hits)}." if hits else None

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        for turn in example.all_turns():
            message = self._message(turn, turn.text)
            if message:
                yield self.finding(example.record, turn.pointer, message)

    def check_batch(self, examples: list[Example], ctx: Context) -> Iterable[Finding]:
        # A subclass with its own `scan` keeps the per-example path: the prefilter knows only ours.
        if not examples or type(self).scan is not type(self)._prefiltered_scan:
            return super().check_batch(examples, ctx)
        view = batch_view(examples)
        batch = _BatchText.of(view)
        flagged = self.flagged(batch)
        if flagged is None:
            return super().check_batch(examples, ctx)
        out: list[Finding] = []
        for k in sorted(flagged):  # sorted: findings come in example, then turn, order
            turn = view.flat[k]
            message = self._message(turn, batch.texts[k])
            if message:
                out.append(self.finding(examples[view.owner(k)].record, turn.pointer, message))
        return out


class SecretInText(_TextScanRule):
    """Text contains a secret: an API key, access token or private key.

    ## What it does
    Scans every turn with detect-secrets' high-precision detectors (AWS, GitHub, GitLab, Slack,
    Stripe, OpenAI, JWT, private keys, basic-auth URLs, …) plus Hugging Face, Anthropic and Google
    key patterns. The message names the type and a short hash, never the secret.

    Detectors used (each runs only where a cheap test finds its anchor, so clean prose costs
    little): Artifactory, AWS access key ids (`AKIA`, `ASIA`, `ABIA`, `ACCA`, `A3T…`) and AWS
    secret keys (a quoted 40-character value after "aws"), Azure storage account keys,
    basic-auth URLs (`scheme://user:password@`), Discord and Telegram bot tokens, GitHub,
    GitLab, JWTs, Mailchimp, npm `_authToken` lines, OpenAI, PEM/PuTTY private keys, PyPI,
    SendGrid, Slack tokens and webhook URLs (any case), Square OAuth secrets, Stripe live keys,
    Twilio, Hugging Face, Anthropic and Google API keys. Not detected: values found only by
    keyword or entropy heuristics (`password = …`, random-looking strings), which are far too
    noisy in natural-language text.

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

    _prefiltered_scan = scan.__func__

    def active(self, ctx: Context) -> bool:
        _secret_tables()  # numpy and the tables, once, before the first batch rather than in it
        return True

    @staticmethod
    def flagged(batch: "_BatchText") -> Iterable[int] | None:
        return _secret_turns(batch)


_EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@([A-Za-z0-9\-]+\.)+[A-Za-z]{2,}\b")
_PLACEHOLDER_DOMAINS = re.compile(r"@(?:[\w\-]+\.)*(?:example\.(?:com|org|net)|test|invalid|localhost|domain\.com|email\.com|company\.com|yourcompany\.com|mail\.com)\b", re.I)
# Phone and card patterns lead with a character class rather than a lookbehind, so `re` skips to
# candidate characters instead of trying every position, and ASCII text gets re.ASCII twins that
# test digits with a bitmap. They match exactly what these plain forms match (tests compare them):
#   phone (?<![\w+])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)[ .\-]?|\d{2,4}[ .\-])\d{3,4}[ .\-]\d{3,4}(?![\w\-])
#   card  (?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)
# The first character is consumed, then the lookbehind looks at it and the one before it.
_PHONE_TAIL = r"\d{3,4}[ .\-]\d{3,4}(?![\w\-])"
_PHONE_SOURCE = (r"[+(\d](?<![\w+][+(\d])(?:"
                 r"(?<=\+)\d{1,3}[ .\-]?(?:\(\d{2,4}\)[ .\-]?|\d{2,4}[ .\-])" + _PHONE_TAIL
                 + r"|(?<=\()\d{2,4}\)[ .\-]?" + _PHONE_TAIL
                 + r"|(?<=\d)\d{1,3}[ .\-]" + _PHONE_TAIL + ")")
_PHONE = re.compile(_PHONE_SOURCE)
_PHONE_ASCII = re.compile(_PHONE_SOURCE, re.ASCII)  # \d, \w: the same on ASCII text


def _fictional_phone(digits: str) -> bool:
    """North American numbers with a 555 area code or exchange are reserved for fiction."""
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and "555" in (digits[:3], digits[3:6])


_CARD_SOURCE = r"\d(?<!\d\d)(?:[ \-]?\d){12,18}(?!\d)"
_CARD = re.compile(_CARD_SOURCE)
_CARD_ASCII = re.compile(_CARD_SOURCE, re.ASCII)


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
_ASCII_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "  # what \s takes among ASCII characters
_DIGIT_RUN_ASCII = re.compile(r"[0-9]{3}[\t\n\x0b\x0c\r\x1c-\x1f .\-)]{0,2}[0-9]{3}")  # the same, on ASCII text


def find_pii(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if "@" in text:
        for m in _EMAIL.finditer(text):
            if not _PLACEHOLDER_DOMAINS.search(m.group(0)):
                found.append(("email address", m.group(0)))
    # Phones have 10+ digits and cards 13+: count digits at C speed before any pattern runs.
    plain = text.isascii()
    if sum(map(text.count, "0123456789")) < 10 or not (_DIGIT_RUN_ASCII if plain else _DIGIT_RUN).search(text):
        return found
    card, phone = (_CARD_ASCII, _PHONE_ASCII) if plain else (_CARD, _PHONE)
    long_numbers: list[tuple[int, int]] = []  # spans of card-like digit runs: never phone numbers
    for m in card.finditer(text):
        long_numbers.append(m.span())
        digits = re.sub(r"\D", "", m.group(0))
        if _CARD_BRANDS.match(digits) and luhn_ok(digits) and len(set(digits)) > 2:
            found.append(("payment card number", digits))
    for m in phone.finditer(text):
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

    _prefiltered_scan = scan.__func__

    def active(self, ctx: Context) -> bool:
        _unicode_digit_or_space()  # built once, before the first batch rather than in it
        return True

    @staticmethod
    def flagged(batch: "_BatchText") -> Iterable[int] | None:
        return _pii_turns(batch)


# --- batch prefilter -------------------------------------------------------------------------
# `check_batch` looks at all turn texts of a batch at once: one byte blob holds them all, NUL
# between turns, each non-ASCII character as one "?" (so blob offsets are text offsets). A few
# passes at C speed over the blob then name the turns a rule's own tests could accept, and only
# those turns are scanned. Each prefilter accepts a superset of what those tests accept (the
# tests check it), and none matches NUL, so no hit spans two turns.

_CACHE_KEY = "ftlint.security.batch"

# One byte translation serves both rules: anchor characters of secrets -> 1, ASCII digits -> 2,
# the other ASCII characters `_DIGIT_RUN` takes between digits -> 3 ("-" and "." stay anchors), rest -> 0.
_ANCHOR, _DIGIT, _DIGIT_SEPARATOR = 1, 2, 3
_ANCHOR_CHARS = "AGJK_-.:wW"  # every image of `_secret_images` holds one (tests check it)
_CLASSES = bytes(_ANCHOR if chr(c) in _ANCHOR_CHARS else _DIGIT if 0x30 <= c <= 0x39
                 else _DIGIT_SEPARATOR if chr(c) in _ASCII_SPACE + ".)" else 0 for c in range(256))
_DIGIT_BYTE = bytes([_DIGIT])


class _BatchText:
    """Security's buffers on top of the shared batch view (`_batch.batch_view`): the blob of the
    view's `texts` (turn k is `view.flat[k]`) and what is found in it. Kept as a derived entry of
    the view, so the other security rule reuses it; it holds only strings and bytes."""

    __slots__ = ("texts", "blob", "ascii", "starts", "_classes", "_at_signs")

    @staticmethod
    def of(view: BatchView) -> "_BatchText":
        return view.derived(_CACHE_KEY, lambda: _BatchText(view.texts))

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        # One encode per text: joining first would widen every text to the widest one's width.
        self.blob = b"\x00".join([t.encode("ascii", "replace") for t in texts])
        # `str.isascii` of each text, asked while the strings are still in the CPU cache (asked
        # later, each one is a cache miss that costs more than the test)
        self.ascii = list(map(str.isascii, texts))
        self.starts = list(accumulate([len(t) + 1 for t in texts], initial=0))  # and one past the end
        self._classes: bytes | None = None
        self._at_signs: list[int] | None = None

    def turn_at(self, offset: int) -> int:
        """The turn holding blob offset `offset`."""
        return bisect_right(self.starts, offset) - 1

    def span(self, k: int) -> tuple[int, int]:
        """Blob offsets of turn `k` (end excluded)."""
        return self.starts[k], self.starts[k + 1] - 1

    @property
    def classes(self) -> bytes:
        """The blob through `_CLASSES`."""
        if self._classes is None:
            self._classes = self.blob.translate(_CLASSES)
        return self._classes

    @property
    def at_signs(self) -> list[int]:
        """The turns with an "@" (memchr finds them)."""
        if self._at_signs is None:
            self._at_signs, pos, blob = [], 0, self.blob
            while (at := blob.find(b"@", pos)) >= 0:
                k = self.turn_at(at)
                self._at_signs.append(k)
                pos = self.starts[k + 1]
        return self._at_signs


# Secrets. `_maybe_secret` accepts a text when one of its tests matches; each test, written as
# a sequence of character sets, is an "image" below, and each image holds an anchor character.
# numpy lists the anchors of the blob (~30 per record of prose) and keeps those whose neighbours,
# eight on each side, fit some image placed there: a necessary condition, so no text
# `_maybe_secret` accepts is lost. A test that is a pattern (not a literal) names it with its
# image: a turn kept only by such images is kept when one of their patterns matches it (the
# test itself, or a part of it), so prose like "laws" or "self.color" costs one search, not
# every test. Basic-auth URLs are found by their "@" instead.
# Neighbour pairs, most selective first; each pair is two adjacent bytes, read as one big-endian
# 16-bit number from an unaligned view of the blob.
_CONTEXT = ((0, 1), (2, 3), (-2, -1), (-4, -3), (4, 5), (6, 7), (-6, -5), (-8, -7))


def _char_set(chars: str) -> frozenset[int]:
    """The blob bytes that `chars` can be (a non-ASCII character is "?")."""
    return frozenset(ord(c) if ord(c) < 128 else ord("?") for c in chars)


# Beyond ASCII, `re.IGNORECASE` also matches "İı" for "i", "K" (Kelvin) for "k" and "ſ" for "s".
_CASE_FOLDS = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}


def _any_case(chars: str) -> frozenset[int]:
    """The blob bytes that a character `re.IGNORECASE` takes for one of `chars` can be."""
    return _char_set("".join(c + c.swapcase() + _CASE_FOLDS.get(c.lower(), "") for c in chars))


def _secret_images() -> list[tuple[tuple[frozenset[int], ...], Callable[[str], object] | None]]:
    """(image, test): the test, when there is one, is true of every text the image's test in
    `_maybe_secret` accepts (the pattern's `search`, or a part of the test)."""
    lit = lambda s: tuple(_char_set(c) for c in s)  # noqa: E731
    any_case = lambda s: tuple(_any_case(c) for c in s)  # noqa: E731
    digit = _char_set("0123456789\u0660")  # \d: an ASCII digit, or another digit ("?")
    word = _char_set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") | digit  # [a-zA-Z\d_-]
    lower_or_digit = _char_set("abcdefghijklmnopqrstuvwxyz0123456789")
    alnum = _char_set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    images: list[tuple[tuple[frozenset[int], ...], Callable[[str], object] | None]] = [
        (lit(s), None) for s in (*_UPPER_LITERALS, *_UNDERSCORE_LITERALS, *_DASH_LITERALS, _JWT)]
    images += [
        (any_case("xox") + (_any_case("abposr"), _char_set("-")), None),  # _DASH: Slack tokens
        (lit("-us") + (digit,), None),  # _DASH: -us\d
        (any_case(_SLACK_HOOK), _URL.search),  # _URL: Slack webhooks
        (lit("SK") + (lower_or_digit,) * 8, _TWILIO.search),  # _TWILIO's start
        (lit("AC") + (lower_or_digit,) * 8, _TWILIO.search),
        (lit("AP") + (digit | _char_set("ABCDEF"),) + (alnum,) * 6, _ARTIFACTORY.search),  # _ARTIFACTORY's start
        ((word,) * 8 + lit(".") + (word,) * 6 + lit(".") + (word,), _DISCORD.search),  # _DISCORD's middle
        ((digit,) * 8 + lit(":") + (alnum | _char_set("_-"),) * 8, _TELEGRAM.search),
        (any_case("aws"), _aws_value),  # _AWS_WORD and _aws_value
    ]
    return images


@lru_cache(maxsize=1)
def _secret_tables():
    """(pairs, confirm). Bit i of an entry of `pairs[d]` is set when image i fits the two bytes
    at the offsets `d` (a `_CONTEXT` pair) from the anchor, as one 16-bit key. Each
    image is placed at its first character whose every byte is an anchor; places outside an
    image fit any byte. `confirm` lists (mask of the images that name a test, test)."""
    import numpy as np

    named = _secret_images()
    images = [image for image, _ in named]
    anchors = _char_set(_ANCHOR_CHARS)
    assert len(images) <= 64

    def fits(image: tuple[frozenset[int], ...], i: int) -> "np.ndarray":
        if not 0 <= i < len(image):
            return np.ones(256, dtype=bool)
        ok = np.zeros(256, dtype=bool)
        ok[sorted(image[i])] = True
        return ok

    pairs = {offsets: np.zeros(65536, dtype=np.uint64) for offsets in _CONTEXT}
    for bit, image in enumerate(images):
        first = next(i for i, chars in enumerate(image) if chars <= anchors)
        mask = np.uint64(1) << np.uint64(bit)
        for (d1, d2), table in pairs.items():
            table[np.outer(fits(image, first + d1), fits(image, first + d2)).ravel()] |= mask
    masks: dict[Callable[[str], object], int] = {}
    for bit, (_, test) in enumerate(named):
        if test is not None:
            masks[test] = masks.get(test, 0) | 1 << bit
    return pairs, [(mask, test) for test, mask in masks.items()]


def _secret_offsets(batch: _BatchText) -> tuple[list[int], list[int]]:
    """Blob offsets of the anchors whose neighbourhood fits an image, and for each, the images
    that fit (bits)."""
    import numpy as np

    raw = batch.blob
    pos = np.flatnonzero(np.frombuffer(batch.classes, dtype=np.uint8) == _ANCHOR)
    reach = max(abs(d) for pair in _CONTEXT for d in pair)
    lo, hi = np.searchsorted(pos, [reach, len(raw) - reach])  # `pos` is sorted
    found = sorted({*pos[:lo].tolist(), *pos[hi:].tolist()})  # too near an end to look around: kept
    pos = pos[lo:hi]
    if not pos.size:
        return found, [-1] * len(found)
    keys = np.ndarray((len(raw) - 1,), dtype=">u2", buffer=raw, strides=(1,))  # key at i: bytes i, i+1
    pairs, _ = _secret_tables()
    bits = None
    for offsets in _CONTEXT:  # each pass keeps fewer anchors
        fit = pairs[offsets][keys[pos + offsets[0]] if offsets[0] else keys[pos]]
        bits = fit if bits is None else bits & fit
        keep = bits != 0
        pos, bits = pos[keep], bits[keep]
    return found + pos.tolist(), [-1] * len(found) + bits.tolist()  # -1: every image


def _secret_turns(batch: _BatchText) -> set[int]:
    """Turns `_maybe_secret` may accept."""
    _, confirm = _secret_tables()
    named = 0
    for mask, _ in confirm:
        named |= mask
    out: set[int] = set()
    maybe: dict[int, int] = {}  # turn -> images that fit there, all naming a pattern
    turn_at = batch.turn_at
    for offset, bits in zip(*_secret_offsets(batch)):
        k = turn_at(offset)
        if bits & ~named:
            out.add(k)
        else:
            maybe[k] = maybe.get(k, 0) | bits
    texts = batch.texts
    out.update(k for k, bits in maybe.items()
               if k not in out and any(bits & mask and test(texts[k]) for mask, test in confirm))
    # Basic-auth URLs (scheme://user:password@host): an "@" after a "://".
    out.update(k for k in batch.at_signs if "://" in texts[k])
    return out


# Personal data. find_pii looks further only at a text with an "@" (an address needs an ASCII
# letter, digit or ._%+- before it and a letter, digit or - after it), or with 10+ ASCII digits
# and a `_DIGIT_RUN`. In ASCII text a `_DIGIT_RUN` is, in the translated blob, three digits, up
# to two separators and three digits. `_DIGIT_RUN` also takes non-ASCII digits and spaces: a
# non-ASCII text with any gets `_DIGIT_RUN` itself.
_EMAIL_AT = re.compile(rb"@(?<=[A-Za-z0-9._%+\-]@)[A-Za-z0-9\-]")
_DIGIT_RUN_IMAGE = re.compile(_DIGIT_BYTE * 3 + b"[" + bytes([_ANCHOR, _DIGIT_SEPARATOR]) + b"]{0,2}"
                              + _DIGIT_BYTE * 3)


@lru_cache(maxsize=1)
def _unicode_digit_or_space() -> re.Pattern:
    r"""A character that `\d` or `\s` takes beyond ASCII, or any beyond the BMP (which `re`
    cannot put in a fast set). Decimal digits come in runs of ten (a Unicode stability rule),
    so testing every tenth code point finds them all."""
    ranges: list[tuple[int, int]] = []
    for c in range(0x80, 0x10000, 10):
        if chr(c).isdecimal() and not (ranges and ranges[-1][0] <= c <= ranges[-1][1]):
            lo = hi = c
            while chr(lo - 1).isdecimal():
                lo -= 1
            while chr(hi + 1).isdecimal():
                hi += 1
            ranges.append((lo, hi))
    spaces = [c for c in range(0x80, 0x10000) if chr(c).isspace()]
    # No character here is special inside a class: all are beyond ASCII.
    chars = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in ranges) + "".join(map(chr, spaces))
    return re.compile(f"[{chars}\U00010000-\U0010ffff]")


def _pii_turns(batch: _BatchText) -> set[int]:
    texts, blob, classes, starts = batch.texts, batch.blob, batch.classes, batch.starts
    out = {k for k in batch.at_signs if _EMAIL_AT.search(blob, starts[k], starts[k + 1] - 1)}
    count = classes.count
    search, pos = _DIGIT_RUN_IMAGE.search, 0
    while (m := search(classes, pos)) is not None:
        k = batch.turn_at(m.start())
        pos = starts[k + 1]
        if count(_DIGIT_BYTE, starts[k], pos - 1) >= 10:
            out.add(k)
    # Beyond ASCII, `_DIGIT_RUN` may also take a digit or space that the blob shows as "?".
    unusual = _unicode_digit_or_space().search
    for k in compress(range(len(texts)), map(not_, batch.ascii)):
        if count(_DIGIT_BYTE, starts[k], starts[k + 1] - 1) >= 10 and k not in out:
            text = texts[k]
            if unusual(text) and _DIGIT_RUN.search(text):
                out.add(k)
    return out
