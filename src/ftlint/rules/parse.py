"""Parse and structure rules. The readers and the normaliser emit these findings; the
classes carry the metadata and the docs."""

from __future__ import annotations

from ..findings import Severity
from ..rule import Rule


class InvalidJson(Rule):
    """Record is not valid JSON (or CSV/Parquet cannot be parsed).

    ## What it does
    Reports a line (JSONL) or a position (JSON) that does not parse, at the column where the
    parser stopped.

    ## Why it matters
    Upload APIs accept the file and the job fails hours later; HF `datasets` aborts the whole
    load on the first bad line, far from the cause.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Hi"}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Hi"}]}
    ```

    ## How to fix
    Fix the syntax at the reported column (unclosed brackets, trailing commas, single quotes).
    """

    code = "FTP001"
    name = "invalid-json"
    severity = Severity.ERROR
    scope = "reader"
    tags = ("parse",)


class BadEncoding(Rule):
    """File or record is not clean UTF-8 (invalid bytes, NUL bytes, BOM, UTF-16, binary).

    ## What it does
    Reports invalid UTF-8 byte sequences, NUL bytes, a UTF-8 byte-order mark, UTF-16 files and
    binary files with a dataset extension.

    ## Why it matters
    Loaders either reject the file or silently mangle text; a BOM becomes part of the first key
    (`\\ufeffmessages`) so the first record looks malformed.

    ## Example
    A `.jsonl` file saved by a Windows editor as "UTF-16 LE", or starting with `EF BB BF`.

    ## Use instead
    The same file saved as UTF-8 without BOM.

    ## How to fix
    Re-encode: `iconv -f UTF-16 -t UTF-8 in.jsonl > out.jsonl`, or strip the BOM.
    """

    code = "FTP002"
    name = "bad-encoding"
    severity = Severity.ERROR
    scope = "reader"
    tags = ("parse", "encoding")


class NotAnObject(Rule):
    """Record is not a JSON object.

    ## What it does
    Reports records that are arrays, strings, numbers, booleans or null.

    ## Why it matters
    Every fine-tuning format is a JSON object per example; anything else crashes the trainer's
    column mapping.

    ## Example
    ```json
    ["What is 2+2?", "4"]
    ```

    ## Use instead
    ```json
    {"prompt": "What is 2+2?", "completion": "4"}
    ```

    ## How to fix
    Wrap the values in an object with the keys of your format.
    """

    code = "FTP003"
    name = "record-not-object"
    severity = Severity.ERROR
    scope = "reader"
    tags = ("structure",)


class WrongType(Rule):
    """A field has the wrong JSON type for its format.

    ## What it does
    Reports `messages` that is not a list, a message that is not an object, `content` that is
    not a string (or a list of parts), a role that is not a string, and similar.

    ## Why it matters
    Trainers fail with `KeyError`/`TypeError` deep inside a multiprocess map, with no hint of
    which record was wrong.

    ## Example
    ```json
    {"messages": {"role": "user", "content": "Hi"}}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
    ```

    ## How to fix
    Give the value the type the format requires (see the message for which).
    """

    code = "FTP004"
    name = "wrong-type"
    severity = Severity.ERROR
    scope = "reader"
    tags = ("structure",)


class MissingField(Rule):
    """A field the record's format requires is missing.

    ## What it does
    Reports records that lack a required key of the file's format (e.g. alpaca `output`,
    a message without `role` or `content`).

    ## Why it matters
    LLaMA-Factory and Axolotl drop or crash on such rows ("Cannot find valid samples").

    ## Example
    ```json
    {"instruction": "Translate to French: cat"}
    ```

    ## Use instead
    ```json
    {"instruction": "Translate to French: cat", "input": "", "output": "chat"}
    ```

    ## How to fix
    Add the field, or remove the record.
    """

    code = "FTP005"
    name = "missing-field"
    severity = Severity.ERROR
    scope = "reader"
    tags = ("structure",)


class MixedFormats(Rule):
    """A record's format differs from the rest of its file.

    ## What it does
    Detects each record's format from its keys and reports records whose format is not the
    file's dominant one (OpenAI and sharegpt chat are compatible).

    ## Why it matters
    Trainers pick one format per dataset; minority rows are dropped or crash the loader
    (Together rejects a file whose rows match two formats).

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    {"instruction": "Hi", "output": "Hello"}
    ```

    ## Use instead
    Convert every record to one format.

    ## How to fix
    Convert the minority records, or split them into their own file.
    """

    code = "FTP006"
    name = "mixed-formats"
    severity = Severity.ERROR
    scope = "reader"
    tags = ("structure", "format")


class UnknownFormat(Rule):
    """A record matches no known fine-tuning dataset format.

    ## What it does
    Reports records whose keys match none of alpaca, sharegpt, OpenAI chat, TRL
    prompt/completion or text, preference or KTO.

    ## Why it matters
    The trainer will not know which column holds the text and fails with a cryptic KeyError.

    ## Example
    ```json
    {"question": "What is 2+2?", "answer": "4"}
    ```

    ## Use instead
    ```json
    {"prompt": "What is 2+2?", "completion": "4"}
    ```

    ## How to fix
    Rename the keys to a known format, map them in your trainer config, or pass
    `--format-hint` if ftlint guessed wrong.
    """

    code = "FTP007"
    name = "unknown-format"
    severity = Severity.ERROR
    scope = "reader"
    tags = ("structure", "format")


class LineTooLong(Rule):
    """A line is larger than the configured size limit and was not parsed.

    ## What it does
    Skips and reports JSONL lines over `max-line-bytes` (default 16 MiB).

    ## Why it matters
    A single huge line is almost always a concatenation bug or a binary blob, and it can
    exhaust memory in loaders that read it whole.

    ## Example
    A 30 MB line produced by writing a whole list as one record.

    ## Use instead
    One example per line.

    ## How to fix
    Split the line into records, or raise `max-line-bytes` in the project config if it is real.
    """

    code = "FTP008"
    name = "line-too-long"
    severity = Severity.ERROR
    scope = "reader"
    tags = ("parse",)


class InternalError(Rule):
    """A rule crashed on this input (a bug in ftlint or a plugin).

    ## What it does
    Reports that a rule raised an exception; the run continues with the other rules.

    ## Why it matters
    The rule's checks did not run on this input, so problems may be missed.

    ## Example
    A plugin rule that assumes `content` is always a string.

    ## Use instead
    Rules that handle every JSON value.

    ## How to fix
    Report it with `--debug` output; ignore the failing rule meanwhile.
    """

    code = "FTX001"
    name = "internal-error"
    severity = Severity.ERROR
    scope = "reader"
    tags = ("internal",)
