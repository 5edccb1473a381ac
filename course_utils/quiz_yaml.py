"""Reading a quiz bank's YAML safely: a bank is data written by hand, and may be wrong or hostile.

`read_bank_file` reads at most `MAX_BANK_BYTES`, insists on UTF-8 text, and parses it with `BankLoader`, a
safe loader that refuses aliases (``*name``, which can expand a 1 KB file into gigabytes), nesting deeper than
`MAX_DEPTH`, duplicate field names (the second silently replaces the first) and field names that are not text.
Mappings come back as `BankMapping`s, which remember each field's line and how an unquoted value was written,
so the schema checks can say `'prompt' must be text: quote it ("0.35") ... (line 12)`.
"""

from __future__ import annotations

import datetime
import math
import re
from pathlib import Path

import yaml

MAX_BANK_BYTES = 1_000_000  # the shipped banks are 13-41 KB
MAX_DEPTH = 20  # a bank nests 5 deep: bank > questions > question > options > option


class QuizBankError(ValueError):
    """A quiz bank is unreadable or breaks the schema; `problems` has one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class BankMapping(dict):
    """A YAML mapping that remembers each field's line (1-based) and the source of its unquoted non-text values."""

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[str, int] = {}
        self.sources: dict[str, str] = {}


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that a quiz bank must not contain."""


class BankLoader(yaml.SafeLoader):
    """PyYAML's safe loader, made strict for quiz banks (see the module docstring)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        """PyYAML's composer, refusing aliases and nesting deeper than `MAX_DEPTH`."""
        if self.check_event(yaml.AliasEvent):
            raise _Refused(
                None,
                None,
                "aliases (*name) are not allowed in a quiz bank: write the text out in full",
                self.peek_event().start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    None,
                    None,
                    f"nested more than {MAX_DEPTH} levels deep: a bank nests 5 deep "
                    "(bank > questions > question > options > option)",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_bank_mapping(self, node: yaml.MappingNode):
        """A `BankMapping`, refusing merge keys, field names that are not text, and fields given twice."""
        mapping = BankMapping(node.start_mark.line + 1)
        yield mapping
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(None, None, "merge keys (<<) are not allowed in a quiz bank", key_node.start_mark)
            key = self.construct_object(key_node)
            if not isinstance(key, str):
                name = f"{key_node.value!r} " if isinstance(key_node, yaml.ScalarNode) else ""
                raise _Refused(
                    None,
                    None,
                    f"the field name {name}is read by YAML as {kind_of(key)}: "
                    "field names are text, such as prompt or options",
                    key_node.start_mark,
                )
            if key in mapping:
                raise _Refused(
                    None,
                    None,
                    f"field {key!r} appears twice (first at line {mapping.lines[key]}): "
                    "the second would silently replace the first; keep one",
                    key_node.start_mark,
                )
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.lines[key] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.ScalarNode) and not value_node.style and not isinstance(mapping[key], str):
                mapping.sources[key] = value_node.value


BankLoader.add_constructor("tag:yaml.org,2002:map", BankLoader.construct_bank_mapping)
# YAML 1.2 floats such as 1e-3 (YAML 1.1 needs a dot, 1.0e-3, and would read 1e-3 as text).
BankLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def kind_of(value: object) -> str:
    """What a YAML value is, in a bank author's words: "text ('36')", "a list", "true/false (true)"..."""
    if isinstance(value, str):
        return f"text ({value if len(value) <= 40 else value[:37] + '...'!r})"
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"a date ({value})"
    names = {list: "a list", dict: "a mapping", BankMapping: "a mapping", bytes: "binary data"}
    return names.get(type(value), f"a {type(value).__name__}")


def line_of(mapping: object, key: str | None = None) -> str:
    """ " (line N)" for a field of a mapping read from a file (or the mapping itself, without `key`); "" otherwise."""
    line = getattr(mapping, "line", 0) if key is None else getattr(mapping, "lines", {}).get(key)
    return f" (line {line})" if line else ""


def wrong_type(mapping: dict, key: str, label: str, expected: str, hint: str = "") -> str:
    """The problem line for a field that is present with the wrong type."""
    return f"{label} must be {expected}, not {kind_of(mapping[key])}{hint}{line_of(mapping, key)}"


def text_problem(mapping: dict, key: str, label: str) -> str | None:
    """Why field `key` of `mapping` is not non-empty text (None when it is); assumes the field is present."""
    value = mapping[key]
    if isinstance(value, str) and value.strip():
        return None
    if value is None or isinstance(value, str):
        return f"{label} is empty: write the text{line_of(mapping, key)}"
    if isinstance(value, (bool, int, float, datetime.date)):
        fallback = str(value).lower() if isinstance(value, bool) else str(value)
        source = getattr(mapping, "sources", {}).get(key, fallback)
        return f'{label} must be text: quote it ("{source}"); YAML reads it as {kind_of(value)}{line_of(mapping, key)}'
    return wrong_type(mapping, key, label, "text")


def _is_number(value: object) -> bool:
    """A finite int or float that fits a float (true/false are not numbers here)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer of hundreds of digits
        return False


def text_field(m: dict, key: str, label: str, missing: str) -> list[str]:
    """No problem if field `key` is non-empty text; else one line: `missing`, or what is wrong with the value."""
    if key not in m:
        return [missing]
    problem = text_problem(m, key, label)
    return [problem] if problem else []


def number_field(m: dict, key: str, label: str, missing: str) -> list[str]:
    """No problem if field `key` is a finite number; else one line saying what it is instead."""
    if key not in m:
        return [missing]
    value = m[key]
    if _is_number(value):
        return []
    if isinstance(value, float):
        return [f"{label} must be a finite number, not {value}{line_of(m, key)}"]
    if isinstance(value, int) and not isinstance(value, bool):
        return [f"{label} must be a number of ordinary size, not one of {len(str(abs(value)))} digits{line_of(m, key)}"]
    try:
        hint = ": remove the quotes" if isinstance(value, str) and math.isfinite(float(value)) else ""
    except ValueError:
        hint = ""
    return [wrong_type(m, key, label, "a number", hint)]


def _position(err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"


def read_bank_file(path: Path) -> object:
    """Parse one bank file with `BankLoader`; raise QuizBankError with one clear line on any failure."""
    try:
        if path.is_dir():
            raise QuizBankError([f"{path}: is a folder, not a quiz bank file: give a path to a .yaml file"])
        if path.exists() and not path.is_file():
            raise QuizBankError([f"{path}: is not a regular file: give a path to a .yaml file"])
        with path.open("rb") as f:
            raw = f.read(MAX_BANK_BYTES + 1)
    except OSError as err:
        raise QuizBankError([f"{path}: unreadable file ({err.strerror or err})"]) from None
    if len(raw) > MAX_BANK_BYTES:
        raise QuizBankError(
            [
                f"{path}: file is larger than {MAX_BANK_BYTES:,} bytes, far more than a quiz bank "
                "needs (the course's banks are under 50 KB): split it or trim it"
            ]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise QuizBankError(
            [
                f"{path}: not a UTF-8 text file (byte 0x{raw[err.start]:02x} at offset {err.start}): "
                "save the bank as UTF-8 text"
            ]
        ) from None
    if "\x00" in text:
        raise QuizBankError([f"{path}: not a text file (it contains NUL bytes): save the bank as UTF-8 text"])
    loader = BankLoader(text)
    try:
        data = loader.get_single_data()
    except _Refused as err:
        raise QuizBankError([f"{path}: {_position(err)}: {err.problem}"]) from None
    except yaml.YAMLError as err:
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        hint = "; quote text that contains ': '" if "mapping values" in str(what) else ""
        where = f" at {_position(err)}" if isinstance(err, yaml.MarkedYAMLError) else ""
        raise QuizBankError([f"{path}: not valid YAML{where} ({what}{hint})"]) from None
    except RecursionError:
        raise QuizBankError([f"{path}: nested too deeply to read: a bank nests 5 levels deep"]) from None
    finally:
        loader.dispose()
    if data is None:
        raise QuizBankError([f"{path}: the file is empty: a bank needs 'notebook', 'title' and 'questions'"])
    return data
