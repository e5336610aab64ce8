"""Schedule files: reading what ``chronos apply -f`` is given, writing what ``export`` makes.

The canonical shape (YAML or JSON)::

    schedules:
      - name: nightly-report
        handler: report
        cron: "0 2 * * *"
        timezone: Europe/Paris

A bare list of schedules is read too. ``-f`` takes files, folders (their ``*.yaml``,
``*.yml`` and ``*.json`` files, not sub-folders, in name order) and ``-`` (standard input).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

import yaml  # type: ignore[import-untyped]

from chronos.ascode.normalize import plain
from chronos.ascode.plan import Declared, Problem

SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 10_000_000


class FileProblems(Exception):
    """Files that cannot be read as schedules; each problem names its file (and line)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _item_lines(text: str) -> list[int]:
    """The line of each schedule in a YAML document (1-based), when it can be found."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if isinstance(node, yaml.MappingNode):
        node = next(
            (value for key, value in node.value if getattr(key, "value", None) == "schedules"),
            None,
        )
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [item.start_mark.line + 1 for item in node.value]


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = getattr(exc, "context", None)
    hint = ""
    if "alias" in str(problem) or (context and "alias" in context):
        hint = ' (a value starting with * must be quoted: cron: "*/5 * * * *")'
    return f"not valid YAML: {where}{problem}{hint}"


def parse_document(text: str, source: str, *, as_json: bool = False) -> list[Declared]:
    """The schedules of one file's text; :class:`FileProblems` when it cannot be read."""
    if not text.strip():
        raise FileProblems(
            [Problem(source, None, "the file is empty (declare no schedules with: schedules: [])")]
        )
    try:
        document = json.loads(text) if as_json else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise FileProblems([Problem(source, None, message)]) from exc
    except yaml.YAMLError as exc:
        raise FileProblems([Problem(source, None, _yaml_error(exc))]) from exc
    if isinstance(document, dict):
        unknown = sorted(str(k) for k in document if k != "schedules")
        if unknown:
            raise FileProblems(
                [Problem(source, None, f"unknown top-level key(s) {unknown}: expected schedules")]
            )
        document = document.get("schedules") or []
    if not isinstance(document, list):
        raise FileProblems(
            [Problem(source, None, "expected a list of schedules, or a mapping with schedules:")]
        )
    lines = [] if as_json else _item_lines(text)
    declared = []
    for index, item in enumerate(document):
        where = f"{source}:{lines[index]}" if index < len(lines) else f"{source}[{index}]"
        declared.append(Declared(plain(item) if isinstance(item, dict) else item, where))
    return declared


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not found:
            raise FileProblems([Problem(str(path), None, "no *.yaml, *.yml or *.json files")])
        return found
    return [path]


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileProblems([Problem(str(path), None, f"cannot read: {exc.strerror}")]) from exc
    if len(data) > MAX_FILE_BYTES:
        raise FileProblems([Problem(str(path), None, f"larger than {MAX_FILE_BYTES} bytes")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblems([Problem(str(path), None, "not UTF-8 text")]) from exc


def load_sources(sources: list[str], stdin: IO[str] | None = None) -> list[Declared]:
    """Every schedule of ``sources`` (paths, folders, ``-``), in order; every file's
    problems at once."""
    declared: list[Declared] = []
    problems: list[Problem] = []
    for source in sources:
        try:
            if source == "-":
                declared += parse_document((stdin or sys.stdin).read(), "<stdin>")
                continue
            for path in _files(Path(source)):
                as_json = path.suffix.lower() == ".json"
                declared += parse_document(_read(path), str(path), as_json=as_json)
        except FileProblems as exc:
            problems += exc.problems
    if problems:
        raise FileProblems(problems)
    return declared


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a crontab's ``stdin``, a push ``body``) as ``|`` blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump_document(schedules: list[dict[str, Any]], fmt: str = "yaml") -> str:
    """The canonical file for ``schedules``: ``{"schedules": [...]}`` in YAML or JSON."""
    document = {"schedules": schedules}
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
