"""Reading a belt from its YAML site file, with one-line errors that name the file, line and key.

The YAML is composed once into nodes (which keep their line numbers), checked for repeated mapping keys (PyYAML
would silently keep the last one), then constructed and validated as a ``Belt``. A pydantic error's loc is walked
down the node tree to find the line, and sequence items are named by their ``id`` where they have one.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from devices.site_model import Belt

__all__ = ["SHIPPED_SITE_FILE", "SiteFileError", "load_belt", "parse_belt"]

SHIPPED_SITE_FILE = "changping_road.yaml"  # in the devices.sites package
FILE_LOCATION = "(file)"  # the file could not be read at all
DOCUMENT_LOCATION = "(document)"  # YAML syntax, or the document as a whole


class SiteFileError(Exception):
    """A site file that cannot be read, is not valid YAML, or does not describe a valid belt.

    The only exception ``load_belt`` and ``parse_belt`` raise for a bad file. Attributes:

    - ``source``: the file name (or path as given);
    - ``line``: 1-based line of the offending key or item, or None when no line applies;
    - ``location``: dotted path to the offending value with ids for indexes where known, e.g.
      ``sites[complex].spaces[council-hall].capacity``; ``(file)`` or ``(document)`` for the whole file;
    - ``problem``: what is wrong, one line.

    ``str(err)`` is one line, ``<source>:<line>: <location>: <problem>``, the line part left out when unknown.
    """

    def __init__(self, *, source: str, line: int | None, location: str, problem: str) -> None:
        self.source = source
        self.line = line
        self.location = location
        self.problem = " ".join(problem.split())  # one line, whatever the underlying library said
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {location}: {self.problem}")


def load_belt(path: Path | None = None) -> Belt:
    """Read and validate a site file; ``None`` reads the one shipped in ``devices.sites``."""
    if path is None:
        source = SHIPPED_SITE_FILE
        resource = resources.files("devices.sites").joinpath(SHIPPED_SITE_FILE)
        read = resource.read_bytes
    else:
        source = str(path)
        read = path.read_bytes
    try:
        raw = read()
    except OSError as exc:
        problem = f"cannot read the file: {exc.strerror or exc}"
        raise SiteFileError(source=source, line=None, location=FILE_LOCATION, problem=problem) from exc
    try:
        text = raw.decode("utf-8-sig")  # editors on Windows may prefix a byte-order mark
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problem = f"not UTF-8 text (byte {exc.start}: {exc.reason})"
        raise SiteFileError(source=source, line=line, location=FILE_LOCATION, problem=problem) from exc
    return parse_belt(text, source=source)


def parse_belt(text: str, *, source: str) -> Belt:
    """Validate site-file text; ``source`` names it in errors. The first problem found is the one raised."""
    root = _compose(text, source)
    try:
        return Belt.model_validate(_construct(root, text, source))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        path = (error.get("ctx") or {}).get("path", ())
        line, location = _locate(root, (*error["loc"], *path))
        raise SiteFileError(source=source, line=line, location=location, problem=_problem(error)) from exc


class _SiteLoader(yaml.SafeLoader):
    """SafeLoader whose scalar conversion errors (``!!int six``) carry the node's line like other YAML errors."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError) as exc:
            problem = f"cannot read {node.value!r} as {node.tag}: {exc}"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from exc


def _compose(text: str, source: str) -> yaml.MappingNode:
    try:
        loader = _SiteLoader(text)  # the reader already refuses control characters here
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source) from exc
    if root is None:
        problem = "the file is empty; expected a mapping with schema, name, timezone and sites"
        raise SiteFileError(source=source, line=None, location=DOCUMENT_LOCATION, problem=problem)
    if not isinstance(root, yaml.MappingNode):
        kind = "list" if isinstance(root, yaml.SequenceNode) else "single value"
        problem = f"expected a mapping with schema, name, timezone and sites at the top, found a {kind}"
        raise SiteFileError(source=source, line=_line(root), location=DOCUMENT_LOCATION, problem=problem)
    _refuse_repeated_keys(root, "", source, visited=set())
    return root


def _construct(root: yaml.MappingNode, text: str, source: str) -> Any:
    loader = _SiteLoader("")
    try:
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source) from exc
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.YAMLError, text: str, source: str) -> SiteFileError:
    line: int | None = None
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        parts = (exc.context, exc.problem)
        problem = ": ".join(p for p in parts if p) or "invalid YAML"
    elif isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        problem = str(exc).splitlines()[0]
    else:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return SiteFileError(source=source, line=line, location=DOCUMENT_LOCATION, problem=f"YAML: {problem}")


def _refuse_repeated_keys(node: yaml.Node, location: str, source: str, *, visited: set[int]) -> None:
    # Aliases make the node graph a DAG, possibly with cycles: visit each node once.
    if id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value == "<<":  # merge key: the merged mappings belong to this one's location
                _refuse_repeated_keys(value_node, location, source, visited=visited)
                continue
            child = _join(location, key_node.value)
            identity = (key_node.tag, key_node.value)
            if identity in first_line:
                problem = f"key {key_node.value!r} is repeated (first on line {first_line[identity]})"
                raise SiteFileError(source=source, line=_line(key_node), location=child, problem=problem)
            first_line[identity] = _line(key_node)
            _refuse_repeated_keys(value_node, child, source, visited=visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_repeated_keys(item, f"{location}[{_item_label(item, index)}]", source, visited=visited)


def _locate(root: yaml.Node, loc: Sequence[Any]) -> tuple[int, str]:
    """Line and readable location of a pydantic loc, walking the nodes as far as they go."""
    node: yaml.Node | None = root
    line = _line(root)
    location = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad mapping key: the line is already the key's
            continue
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = _line(node)
            location += f"[{_item_label(node, part)}]"
            continue
        if isinstance(part, int):
            location += f"[{part}]"
            node = None
            continue
        location = _join(location, str(part))
        pair = _value_of(node, str(part)) if isinstance(node, yaml.MappingNode) else None
        if pair is None:  # e.g. a missing key: keep the line of the mapping that lacks it
            node = None
            continue
        key_node, node = pair
        line = _line(key_node)
    return line, location or DOCUMENT_LOCATION


def _value_of(node: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    found = None
    for key_node, value_node in node.value:  # the last one wins, as in construction after merge keys
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found = (key_node, value_node)
    return found


def _item_label(item: yaml.Node, index: int) -> str:
    if isinstance(item, yaml.MappingNode):
        pair = _value_of(item, "id")
        if pair is not None and isinstance(pair[1], yaml.ScalarNode) and pair[1].value:
            return str(pair[1].value)
    return str(index)


def _join(location: str, key: str) -> str:
    return f"{location}.{key}" if location else key


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _problem(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    return error["msg"].removeprefix("Value error, ")
