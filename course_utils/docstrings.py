"""A second text corpus with clearer labels: docstrings of Python's standard library, labelled by module kind.

Every public function, class and method of some fifty standard-library modules documents itself in a docstring
(real English written by CPython's developers, © Python Software Foundation, PSF License). The label is the kind
of module the object comes from (`MODULE_GROUPS`): files and the operating system, networking, text processing,
numbers and maths, concurrency. Unlike the help-topic paragraphs of `course_utils.texts`, whose four parts of the
language overlap, a docstring almost always says which of these five it belongs to.

The text of each docstring is cleaned (`docstring_text`): signature lines and interactive examples go, whitespace
is collapsed, the first `MAX_WORDS` words are kept, and the object's own name is replaced by ``NAME`` (so that
``Decimal.quantize`` cannot announce "Decimal"). Texts that two classes share are dropped, repeated texts kept
once. The corpus is shipped in ``data/text/`` because every Python version words its docstrings differently;
`build_corpus` re-creates it from the running Python (`python -m course_utils.docstrings`).
"""

from __future__ import annotations

import importlib
import inspect
import random
import re

import torch

from course_utils.paths import DATA_DIR
from course_utils.texts import TextCorpus, read_jsonl, write_jsonl

CORPUS_PATH = DATA_DIR / "text" / "stdlib_docstrings.jsonl"
PER_CLASS = 180  # docstrings kept per class (numbers and maths has 189 in Python 3.11)
MIN_WORDS = 10  # shorter docstrings ("Return self.") say too little
MAX_WORDS = 40  # longer ones are cut: the first sentences say what the object is for (and 40 words fit 64 tokens)
MASK = "NAME"  # what replaces the object's own name in its docstring

# Which modules (or built-in types: "builtins.str") make each class.
MODULE_GROUPS = {
    "files and operating system": [
        "os",
        "posixpath",
        "shutil",
        "pathlib",
        "tempfile",
        "glob",
        "fnmatch",
        "stat",
        "filecmp",
        "io",
        "zipfile",
        "tarfile",
        "gzip",
        "bz2",
        "lzma",
        "fileinput",
        "linecache",
    ],
    "networking and internet": [
        "socket",
        "ssl",
        "http.client",
        "http.server",
        "http.cookies",
        "http.cookiejar",
        "urllib.request",
        "urllib.parse",
        "urllib.robotparser",
        "smtplib",
        "ftplib",
        "imaplib",
        "poplib",
        "email.message",
        "email.parser",
        "email.utils",
        "email.header",
        "email.policy",
        "email.headerregistry",
        "email.feedparser",
        "email.generator",
        "email.charset",
        "mimetypes",
        "xmlrpc.client",
        "xmlrpc.server",
        "socketserver",
        "ipaddress",
        "webbrowser",
    ],
    "text processing": [
        "builtins.str",
        "builtins.bytes",
        "builtins.bytearray",
        "re",
        "string",
        "textwrap",
        "difflib",
        "unicodedata",
        "codecs",
        "html",
        "html.parser",
        "csv",
        "shlex",
        "locale",
        "gettext",
        "json",
        "json.decoder",
        "json.encoder",
        "pprint",
        "reprlib",
        "tokenize",
        "xml.etree.ElementTree",
    ],
    "numbers and maths": [
        "builtins.int",
        "builtins.float",
        "builtins.complex",
        "math",
        "cmath",
        "_pydecimal",  # the pure-Python decimal: the same classes as the C one, with fuller docstrings
        "fractions",
        "statistics",
        "random",
        "numbers",
    ],
    "concurrency": [
        "threading",
        "multiprocessing.context",
        "multiprocessing.pool",
        "multiprocessing.managers",
        "multiprocessing.queues",
        "multiprocessing.synchronize",
        "multiprocessing.process",
        "multiprocessing.connection",
        "multiprocessing.shared_memory",
        "concurrent.futures._base",
        "concurrent.futures.thread",
        "concurrent.futures.process",
        "asyncio.events",
        "asyncio.tasks",
        "asyncio.streams",
        "asyncio.locks",
        "asyncio.queues",
        "asyncio.subprocess",
        "asyncio.base_events",
        "asyncio.futures",
        "asyncio.transports",
        "asyncio.protocols",
        "asyncio.runners",
        "asyncio.taskgroups",
        "asyncio.timeouts",
        "asyncio.unix_events",
        "queue",
        "subprocess",
        "sched",
        "selectors",
        "signal",
    ],
}
LABELS = tuple(MODULE_GROUPS)

# One sentence per class, for zero-shot classification by cosine similarity to the docstrings.
DESCRIPTIONS = {
    "files and operating system": "Files, directories and paths on disk, file descriptors, permissions and archives.",
    "networking and internet": "Network sockets, internet protocols, HTTP requests, URLs, servers and email messages.",
    "text processing": "Strings and text: characters, regular expressions, formatting, encodings and parsing.",
    "numbers and maths": "Numbers and arithmetic: integers, decimals, fractions, math functions and random values.",
    "concurrency": "Concurrency: threads, processes, locks, queues, tasks, event loops and asynchronous code.",
}

# Modules whose objects say they come from another one (and both are theirs).
_HOMES = {"os": ("os", "posix"), "_pydecimal": ("decimal",)}
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)\s*(->.*)?$")  # "S.find(sub[, start[, end]]) -> int", "log(x, [base])"
_CHAIN = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")  # identifiers, dotted ones as one: "os.path.join"


def docstring_text(doc: str, names: set[str] | frozenset[str] = frozenset()) -> str:
    """The prose of a docstring on one line: no signature line, no `>>>` examples, at most MAX_WORDS words.

    Every identifier (or dotted chain of identifiers) that is one of `names`, written as code, becomes MASK
    (`_names_itself`); the match is case-sensitive, so "Queue" masks the class but leaves the word "queue".
    """
    lines = inspect.cleandoc(doc).split("\n")
    if lines and _SIGNATURE.match(lines[0].strip()):
        lines = lines[1:]
    kept, in_example = [], False
    for line in lines:
        s = line.strip()
        if s.startswith((">>>", "...")):
            in_example = True
        elif not s:
            in_example = False
        if not in_example and s not in ("--", "..."):
            kept.append(s)
    words = " ".join(kept).split()[:MAX_WORDS]
    text = " ".join(words)
    if names:
        text = _CHAIN.sub(lambda m: MASK if _names_itself(m, names) else m.group(), text)
    return text


def _names_itself(match: re.Match, names: set[str] | frozenset[str]) -> bool:
    """Whether an identifier chain in a docstring is the object's own name, written as code.

    A plain lowercase word ("index", "home", "split") is masked only where it is code: dotted ("S.index") or
    called ("drain()"); elsewhere it is the English word. Names that cannot be words ("Decimal", "put_nowait")
    are masked wherever they stand.
    """
    chain = match.group()
    own = set(chain.split(".")) & names
    if not own:
        return False
    if "." in chain or match.string[match.end() : match.end() + 1] == "(":
        return True
    return not chain.isalpha() or not chain.islower()


def _members(entry: str):
    """(source, object) for the public functions, classes and methods that `entry` defines, sorted by name."""
    if entry.startswith("builtins."):
        import builtins

        cls = getattr(builtins, entry.split(".", 1)[1])
        return [(f"{cls.__name__}.{n}", m) for n, m in _methods(cls)]
    module = importlib.import_module(entry)
    homes = _HOMES.get(entry, (entry.split(".")[0],))
    out = []
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        where = getattr(obj, "__module__", None) or ""
        if where.split(".")[0].lstrip("_") not in homes:
            continue  # imported from another module: it belongs there
        out.append((f"{entry}.{name}", obj))
        if inspect.isclass(obj):
            out += [(f"{entry}.{name}.{n}", m) for n, m in _methods(obj)]
    return out


def _methods(cls: type):
    """The public methods and properties that `cls` itself defines (not inherited ones), sorted by name."""
    out = []
    for name, member in sorted(vars(cls).items()):
        if name.startswith("_"):
            continue
        if isinstance(member, (classmethod, staticmethod)):
            member = member.__func__
        if inspect.isroutine(member) or isinstance(member, property):
            out.append((name, member))
    return out


def build_corpus(per_class: int = PER_CLASS, seed: int = 0) -> list[dict]:
    """Extract the labelled docstrings from the running Python's standard library, `per_class` per class.

    An object that several modules expose is read once; a text that several objects share is kept once, and
    dropped if they belong to different classes. `per_class` are drawn with `seed` from each class's texts sorted
    by source, so the result depends only on the Python version.
    """
    seen_objects: set[int] = set()
    found: dict[str, dict] = {}
    for label, entries in MODULE_GROUPS.items():
        for entry in entries:
            for source, obj in _members(entry):
                doc = getattr(obj, "__doc__", None)
                if id(obj) in seen_objects or not isinstance(doc, str):
                    continue
                seen_objects.add(id(obj))
                names = set(source.split(".")[-2:]) - set(entry.split("."))  # class and method, not the module
                text = docstring_text(doc, names)
                if len(text.split()) < MIN_WORDS:
                    continue
                row = found.setdefault(text, {"text": text, "label": label, "source": source})
                if row["label"] != label:
                    row["label"] = None  # shared by two classes: ambiguous
    rows, rng = [], random.Random(seed)
    for label in LABELS:
        of_class = sorted((r for r in found.values() if r["label"] == label), key=lambda r: r["source"])
        if len(of_class) < per_class:
            raise RuntimeError(f"Only {len(of_class)} docstrings for {label!r} in this Python; need {per_class}.")
        rows += sorted(rng.sample(of_class, per_class), key=lambda r: r["source"])
    return rows


def write_corpus(rows: list[dict]) -> None:
    """Save the corpus as JSON lines in ``data/text/``."""
    write_jsonl(CORPUS_PATH, rows)


def load_corpus() -> TextCorpus:
    """The shipped corpus: PER_CLASS docstrings of each of the five classes; `topics` holds their sources."""
    rows = read_jsonl(CORPUS_PATH, "python -m course_utils.docstrings")
    return TextCorpus(
        [r["text"] for r in rows],
        torch.tensor([LABELS.index(r["label"]) for r in rows]),
        [r["source"] for r in rows],
        LABELS,
    )


if __name__ == "__main__":
    corpus_rows = build_corpus()
    write_corpus(corpus_rows)
    print(f"Wrote {len(corpus_rows)} docstrings to {CORPUS_PATH}.")
