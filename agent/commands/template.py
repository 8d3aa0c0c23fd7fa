"""config.example.toml filled in with tomlkit, every comment kept.

The example shows optional keys as commented-out lines (``# name = "Ada"   # how ...``) and
optional sections as commented blocks (``# [email.imap]`` and the comment lines under it).
:func:`fill` edits the parsed document: it sets a key where the example has it, commented out
or not (its own comment kept, lined up with the others), comments out the keys it is told to
drop (so they stay documented), turns a commented block into its table, and keeps the first
table of an array of tables it edits (the others become comments). The only text handled by
hand is the ``#`` that comments a line out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import tomlkit
from tomlkit.container import Container
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Comment, Item, Key, SingleKey, Table, Trivia, Whitespace
from tomlkit.toml_document import TOMLDocument

Body = list[tuple[Key | None, Item]]


class TemplateError(Exception):
    """The example has no place for something :func:`fill` was asked to set."""


@dataclass(frozen=True)
class Edit:
    """What to change in one table.

    Attributes:
        set: keys and their new values.
        drop: keys to comment out.
        tables: edits of sub-tables (``[email.imap]`` is ``tables["imap"]`` of ``email``).
    """

    set: Mapping[str, object] = field(default_factory=dict)
    drop: frozenset[str] = frozenset()
    tables: Mapping[str, Edit] = field(default_factory=dict)


def fill(text: str, edits: Mapping[str, Edit]) -> str:
    """``text`` (a TOML document) with the ``edits`` of its top-level tables applied.

    Raises:
        TemplateError: a table, or a key to set, is neither in the document nor commented out.
    """
    document = tomlkit.parse(text)
    filler = _Filler(_usual_column(document))
    out = TOMLDocument(parsed=True)  # parsed: tomlkit adds no blank lines of its own
    for key, item in document.body:
        name = key.key if key is not None else ""
        if name in edits and isinstance(item, Table):
            item = filler.edit(item, edits[name], name)
        elif name in edits and isinstance(item, AoT):
            item = filler.edit_first(item, edits[name], name)
        out.append(key, item)
    if missing := sorted(set(edits) - {key.key for key, _ in document.body if key}):
        raise TemplateError(f"no [{missing[0]}] table")
    return tomlkit.dumps(out)


@dataclass(frozen=True)
class _Filler:
    """The edits, with the column where the example's end-of-line comments start."""

    column: int

    def edit_first(self, array: AoT, edit: Edit, name: str) -> AoT:
        """The first table of ``array`` edited; the others follow it commented out."""
        first, *others = array.body
        table = self.edit(first, edit, name)
        for other in others:
            for line in f"[[{name}]]\n{other.as_string()}".splitlines():
                table.value.append(None, _comment(line) if line.strip() else Whitespace("\n"))
        return AoT([table], name=name, parsed=True)

    def edit(self, table: Table, edit: Edit, path: str) -> Table:
        """``table`` rebuilt with ``edit`` applied (tomlkit's items are kept as they are)."""
        lines: Body = []
        body = table.value.body
        done = {key.key for key, _ in body if key is not None}  # not to be uncommented
        index = 0
        while index < len(body):
            key, item = body[index]
            header = _commented_header(item) if key is None else None
            if header is not None:  # a commented block: its lines are not this table's keys
                end = _block_end(body, index + 1)
                name = header[0].removeprefix(f"{path}.")
                if name in edit.tables and header[0] == f"{path}.{name}" and header[1] is not None:
                    block = self.uncomment_block(header[1], body[index + 1 : end])
                    lines.append((SingleKey(name), self.edit(block, edit.tables[name], header[0])))
                    done.add(name)
                else:
                    lines.extend(body[index:end])
                index = end
                continue
            key, item = self.edited(key, item, edit, path, done)
            if key is not None:
                done.add(key.key)
            lines.append((key, item))
            index += 1
        out = Container(parsed=True)
        for key, item in _with_missing(lines, edit, done, path):
            out.append(key, item)
        return Table(
            out,
            table.trivia,
            table.is_aot_element(),
            table.is_super_table(),
            table.name,
            table.display_name,
        )

    def edited(
        self, key: Key | None, item: Item, edit: Edit, path: str, present: set[str]
    ) -> tuple[Key | None, Item]:
        """One line of a table after ``edit``: set, dropped, uncommented, or as it was."""
        if key is None:
            line = _commented_key(item)
            if line is None or line[0].key not in edit.set or line[0].key in present:
                return None, item
            return line[0], self.valued(line[0], line[1], edit.set[line[0].key], line[2])
        if isinstance(item, Table) and key.key in edit.tables:
            return key, self.edit(item, edit.tables[key.key], f"{path}.{key.key}")
        if key.key in edit.set:
            return key, self.valued(key, item, edit.set[key.key])
        if key.key in edit.drop and not isinstance(item, Table | AoT):
            return None, _comment(f"{key.as_string()}{key.sep}{_line(item)}")
        return key, item

    def uncomment_block(self, header: Table, lines: Body) -> Table:
        """A commented block (the comment lines under its header) as the table it shows."""
        body = Container(parsed=True)
        for key, item in lines:
            body.append(key, item)
        trivia = header.trivia
        if trivia.comment:  # lined up with the others, as the header's own comment was
            trivia.comment_ws = " " * max(1, self.column - len(header.display_name or "") - 2)
        return Table(body, trivia, False, False, header.name, header.display_name)

    def valued(self, key: Key, item: Item, value: object, taken: int = 0) -> Item:
        """``item`` with ``value``: its own comment kept, lined up with the others'.

        ``taken`` is the width of the ``# `` an uncommented line lost.
        """
        new = tomlkit.item(value)
        new.trivia.indent = item.trivia.indent
        new.trivia.trail = item.trivia.trail or "\n"
        if item.trivia.comment:
            written = len(key.as_string() + key.sep + item.as_string()) + taken
            now = len(key.as_string() + key.sep + new.as_string())
            column = self.column if now < self.column else written + len(item.trivia.comment_ws)
            new.trivia.comment_ws = " " * max(1, column - now)
            new.trivia.comment = item.trivia.comment
        return new


def _usual_column(document: TOMLDocument) -> int:
    """The column where most end-of-line comments of the document's tables start."""
    columns: Counter[int] = Counter()
    tables = [item for _, item in document.body if isinstance(item, Table)]
    tables += [table for _, item in document.body if isinstance(item, AoT) for table in item.body]
    for table in tables:
        for key, item in table.value.body:
            if key is not None and item.trivia.comment and not isinstance(item, Table | AoT):
                text = key.as_string() + key.sep + item.as_string() + item.trivia.comment_ws
                columns[len(text)] += 1
    return columns.most_common(1)[0][0] if columns else 0


def _with_missing(lines: Body, edit: Edit, done: set[str], path: str) -> Body:
    """``lines`` with the keys to set that the example lacks altogether, after its last key.

    Raises:
        TemplateError: a table to edit is missing, or a key is and the table has sub-tables
            (a key after one would belong to it).
    """
    if missing := sorted(set(edit.tables) - done):
        raise TemplateError(f"no [{path}.{missing[0]}] to fill in, not even commented out")
    added = [(name, value) for name, value in edit.set.items() if name not in done]
    if not added:
        return lines
    if any(isinstance(item, Table | AoT) for _, item in lines):
        raise TemplateError(f"no {path}.{added[0][0]} to fill in, not even commented out")
    last = max((i for i, (key, _) in enumerate(lines) if key is not None), default=-1)
    new: Body = [(SingleKey(name), tomlkit.item(value)) for name, value in added]
    return [*lines[: last + 1], *new, *lines[last + 1 :]]


def _block_end(body: Body, start: int) -> int:
    """Where a commented block's lines end: at the first that is no comment, or a header."""
    end = start
    while end < len(body) and body[end][0] is None and isinstance(body[end][1], Comment):
        if _commented_header(body[end][1]) is not None:
            break
        end += 1
    return end


def _commented_key(comment: Item) -> tuple[Key, Item, int] | None:
    """``# key = value  # note`` as its key, its item and the width of the ``# `` taken off."""
    parsed = _uncommented(comment)
    if parsed is None or len(parsed[0].body) != 1:
        return None
    key, item = parsed[0].body[0]
    if key is None or isinstance(item, Table | AoT):
        return None
    return key, item, parsed[1]


def _commented_header(comment: Item) -> tuple[str, Table | None] | None:
    """``# [a.b]  # note`` as its dotted name and the (empty) table tomlkit makes of it.

    A commented ``# [[a.b]]`` is a header too (its block is never a key's place), but it
    gives no table: an array of tables is not uncommented.
    """
    parsed = _uncommented(comment)
    if parsed is None or len(parsed[0].body) != 1:
        return None
    key, item = parsed[0].body[0]
    names: list[str] = []
    while isinstance(item, Table | AoT) and key is not None:
        names.append(key.key)
        if isinstance(item, AoT):
            return ".".join(names), None
        if not item.is_super_table():
            return ".".join(names), item
        if len(item.value.body) != 1:
            return None
        key, item = item.value.body[0]
    return None


def _uncommented(comment: Item) -> tuple[TOMLDocument, int] | None:
    """A comment line parsed as TOML without its ``#`` (None when it is prose)."""
    if not isinstance(comment, Comment) or comment.trivia.indent:
        return None  # an indented comment continues the line above it
    text = comment.trivia.comment
    taken = 2 if text.startswith("# ") else 1
    try:
        return tomlkit.parse(text[taken:]), taken
    except (TOMLKitError, ValueError):
        return None


def _line(item: Item) -> str:
    """The value and comment of a ``key = value  # note`` line, to be commented out."""
    comment_ws = item.trivia.comment_ws
    if item.trivia.comment:
        comment_ws = comment_ws[2:] if len(comment_ws) > 2 else " "  # keep the column
    return f"{item.as_string()}{comment_ws}{item.trivia.comment}"


def _comment(text: str) -> Comment:
    """A whole-line comment: ``text`` itself when it is one already, else ``# text``."""
    line = text if text.lstrip().startswith("#") else f"# {text}"
    return Comment(Trivia(indent="", comment_ws="", comment=line.rstrip(), trail="\n"))
