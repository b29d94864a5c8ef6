"""Reply templates: canned answers the office keeps in a folder and edits without a release
(policy clause 16), offered in the dashboard's answer form.

One file per template and language, ``{name}.{language}.txt`` (``konteineru-grafiks.lv.txt``;
the name is lower-case letters, digits, ``-`` and ``_``; the language ``lv``, ``ru`` or ``en``),
in ``[client_messages] reply_templates_dir`` (by default the examples in ``ingest/outgoing/replies``).
The first line is the title shown in the form. The lines after it, up to the first blank line,
are headers; one is known: ``topic: atkritumi, nami`` (the topics the template is offered for;
without it, every topic). The rest is the text, with these placeholders: ``{{ client_name }}``,
``{{ reference }}``, ``{{ due }}`` (dd.mm.yyyy HH:MM, Europe/Riga; empty without a due date),
``{{ employee.name }}``, ``{{ employee.surname }}``, ``{{ employee.position }}``.

The office writes them, so the text is rendered in Jinja2's immutable sandbox (no attributes
starting with ``_``, no changing values, bounded ranges and repetitions) with StrictUndefined, so a
misspelt placeholder is an error, not an empty spot. Every file is read, compiled and rendered once
with sample values when the service is built and by ``ingest check-config``; an error names the file.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

DEFAULT_DIR = Path(__file__).parent / "replies"
LANGUAGES = ("lv", "ru", "en")
FILE_NAME = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_-]{0,63})\.(?P<language>lv|ru|en)\.txt$")
MAX_FILE_BYTES = 64_000
MAX_RESULT = 20_000  # the answer form's limit; a longer repetition is refused while rendering


class ReplyTemplateError(TemplateError):
    """A reply template that cannot be used; the message starts with its file name."""


@dataclass(frozen=True)
class Signer:
    """The employee who answers, as the placeholders see them (nothing else of the row)."""

    name: str
    surname: str
    position: str


@dataclass(frozen=True)
class ReplyValues:
    client_name: str
    reference: str
    due: str
    employee: Signer


SAMPLE = ReplyValues(
    client_name="Klients", reference="GK-2026-000001", due="01.01.2026 17:00",
    employee=Signer(name="Vārds", surname="Uzvārds", position="Amats"),
)  # fmt: skip


@dataclass(frozen=True)
class ReplyTemplate:
    key: str  # "konteineru-grafiks.lv": what the form sends back
    name: str
    language: str
    title: str
    topics: tuple[str, ...]
    file: str
    compiled: Template = field(repr=False, compare=False)

    def applies_to(self, topic: str | None) -> bool:
        return not self.topics or topic in self.topics


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` checked so that a template cannot build a huge value."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            raise SecurityError("the power operator is not allowed in reply templates")
        if isinstance(right, int) and isinstance(left, str | list | tuple) and len(left) * right > MAX_RESULT:
            raise SecurityError("a repetition longer than an answer may be")
        if isinstance(left, int) and isinstance(right, str | list | tuple) and len(right) * left > MAX_RESULT:
            raise SecurityError("a repetition longer than an answer may be")
        return operator.mul(left, right)


def _environment() -> _Sandbox:
    return _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def parse_file(path: Path, compile_text: Callable[[str], Template]) -> ReplyTemplate:
    """One template file; ReplyTemplateError naming the file if it cannot be used."""
    found = FILE_NAME.match(path.name)
    if found is None:
        raise ReplyTemplateError(f"{path.name}: the name must be NAME.LANGUAGE.txt (language lv, ru or en)")
    raw = path.read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        raise ReplyTemplateError(f"{path.name}: longer than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig").replace("\r\n", "\n").strip("\n")  # -sig: Notepad's byte order mark
    except UnicodeDecodeError:
        raise ReplyTemplateError(f"{path.name}: not UTF-8 text") from None
    head, _, body = text.partition("\n\n")
    title, *headers = head.split("\n")
    topics: list[str] = []
    for line in headers:
        key, colon, value = line.partition(":")
        if not colon or key.strip().lower() not in ("topic", "topics"):
            raise ReplyTemplateError(f"{path.name}: unknown header line {line.strip()!r} (only 'topic:' is known)")
        topics += [t.strip() for t in value.split(",") if t.strip()]
    if not title.strip() or not body.strip():
        raise ReplyTemplateError(f"{path.name}: a title on the first line and a text after a blank line are needed")
    try:
        compiled = compile_text(body.strip("\n"))
    except TemplateError as exc:
        raise ReplyTemplateError(f"{path.name}: {exc}") from None
    name, language = found["name"], found["language"]
    return ReplyTemplate(key=f"{name}.{language}", name=name, language=language, title=title.strip(),
                         topics=tuple(topics), file=path.name, compiled=compiled)  # fmt: skip


class ReplyTemplates:
    """The templates of one folder, read once; looked up by key, listed for an inquiry."""

    def __init__(self, templates: Iterable[ReplyTemplate] = ()) -> None:
        self._by_key = {t.key: t for t in templates}

    @classmethod
    def load(cls, directory: Path | None = None, *, topics: Collection[str] | None = None) -> ReplyTemplates:
        """Every ``*.txt`` file of ``directory`` (the shipped examples by default), compiled and
        rendered once with sample values; ``topics``, when given, are the topic keys a header may name."""
        folder = directory or DEFAULT_DIR
        if not folder.is_dir():
            raise ReplyTemplateError(f"{folder}: the reply templates folder does not exist")
        env = _environment()
        loaded = cls(parse_file(path, env.from_string) for path in sorted(folder.glob("*.txt")))
        loaded.check(topics)
        return loaded

    def check(self, topics: Collection[str] | None = None) -> None:
        for template in self._by_key.values():
            unknown = [t for t in template.topics if topics is not None and t not in topics]
            if unknown:
                raise ReplyTemplateError(f"{template.file}: unknown topic {', '.join(unknown)}")
            try:
                self.render(template, SAMPLE)
            except TemplateError as exc:
                raise ReplyTemplateError(f"{template.file}: {exc}") from None

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str | None) -> ReplyTemplate | None:
        return self._by_key.get(key) if key else None

    def choices(self, *, topic: str | None, language: str) -> tuple[list[ReplyTemplate], list[ReplyTemplate]]:
        """(those for the topic in the client's language, the others): the topic's own first, then
        those for every topic, each by title; the others by language and title."""
        fits = sorted(
            (t for t in self._by_key.values() if t.language == language and t.applies_to(topic)),
            key=lambda t: (not t.topics, t.title.casefold()),
        )
        rest = sorted(
            (t for t in self._by_key.values() if t not in fits),
            key=lambda t: (t.language != language, LANGUAGES.index(t.language), t.title.casefold()),
        )
        return fits, rest

    @staticmethod
    def render(template: ReplyTemplate, values: ReplyValues) -> str:
        """The text with the placeholders filled in (TemplateError when the template cannot)."""
        text = template.compiled.render(
            client_name=values.client_name, reference=values.reference, due=values.due, employee=values.employee
        )
        if len(text) > MAX_RESULT:
            raise ReplyTemplateError(f"{template.file}: the text is longer than {MAX_RESULT} characters")
        return text
