"""Schemas from CQL text: ``DESCRIBE ... WITH INTERNALS`` output or a snapshot's ``schema.cql``.

The forms parsed are the ones Cassandra prints (TableMetadata.appendCqlTo and SchemaCQLHelper in
4.0/5.0, ColumnFamilyStoreCQLHelper in 3.11) plus what people write by hand:

- ``CREATE KEYSPACE`` (replication ignored, the keyspace remembered), ``USE ks``;
- ``CREATE TYPE`` (before the tables using it), ``CREATE TABLE`` with ``WITH ID = <uuid>``,
  ``CLUSTERING ORDER BY``, ``cdc``, ``gc_grace_seconds``, ``default_time_to_live``;
- ``ALTER TABLE ... DROP col USING TIMESTAMP t`` and ``ALTER TABLE ... ADD col type``: a snapshot
  lists a dropped column in its CREATE TABLE, then drops it (recording its type and drop time), then
  re-adds it when it exists again;
- ``CREATE MATERIALIZED VIEW ... WITH ID``: a view's mutations are in the commit log under its own
  id, so a view becomes a TableSchema (``is_view``) whose column types come from its base table;
- indexes, functions, aggregates, triggers, roles and other statements are skipped cleanly.

``COMPACT STORAGE`` tables are not decoded: their storage layout (hidden clustering and value
columns) is not what their CQL shows, so they are reported and left out rather than mis-decoded.
Without ``WITH ID`` (plain DESCRIBE) a table gets a placeholder id that can never match a real one
(version-5 UUID; Cassandra only makes version 1 and 3 ids) and ``id_known=False``; tables of
Cassandra's own keyspaces get their name-derived id, which is the real one.

Parsing is a tokenizer plus a recursive-descent parser; every error names file, line and column.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field

from cassandra_cdc.schema.loader import SchemaLoadReport
from cassandra_cdc.schema.model import (
    ColumnKind,
    ColumnSchema,
    DroppedColumn,
    Schema,
    TableSchema,
    UserTypeDef,
)
from cassandra_cdc.schema.system_tables import is_system_keyspace, system_table_id
from cassandra_cdc.schema.types import CqlType, parse_cql_type

# Namespace for placeholder ids of tables whose id the file does not give.
PLACEHOLDER_NAMESPACE = uuid.UUID("6c1d4a8e-0b9f-5d43-9c0e-cdc5c4e3a001")
# Drop time used when a file drops a column without USING TIMESTAMP: every cell predates the drop.
UNKNOWN_DROP_TIME = (1 << 63) - 1


class CqlSchemaError(ValueError):
    """A CQL schema file that cannot be read; the message starts with ``file:line:column:``."""

    def __init__(self, message: str, source: str, line: int, column: int) -> None:
        super().__init__(f"{source}:{line}:{column}: {message}")
        self.reason = message
        self.source = source
        self.line = line
        self.column = column


# --------------------------------------------------------------------------------------------------
# Tokenizer


class TokenKind(enum.Enum):
    IDENT = "identifier"
    QUOTED = "quoted identifier"
    STRING = "string"
    NUMBER = "number"
    HEX = "hex literal"
    UUID = "uuid"
    PUNCT = "punctuation"
    EOF = "end of input"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    # Identifiers as written (not lower-cased), strings and quoted identifiers unescaped.
    text: str
    line: int
    column: int

    def describe(self) -> str:
        if self.kind is TokenKind.EOF:
            return "end of input"
        if self.kind is TokenKind.STRING:
            return f"string '{self.text}'"
        if self.kind is TokenKind.QUOTED:
            return f'"{self.text}"'
        return f"'{self.text}'"


_PUNCTUATION = frozenset("()<>,;.={}[]:*-+?!/%&|^~")
# One lexeme, as in CQL's Lexer.g UUID rule: tried before identifiers and numbers (both can start it).
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_ident_start(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _is_ident_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


class _Lexer:
    """Splits CQL text into tokens, dropping whitespace and comments (``--``, ``//``, ``/* */``)."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.pos = 0
        self.line = 1
        self.line_start = 0
        # Block comments, kept for the loader's "table omitted" notices.
        self.block_comments: list[Token] = []

    def error(self, message: str, line: int | None = None, column: int | None = None) -> CqlSchemaError:
        return CqlSchemaError(
            message,
            self.source,
            self.line if line is None else line,
            self.pos - self.line_start + 1 if column is None else column,
        )

    def _advance(self, count: int) -> None:
        # Keeps line/column bookkeeping right across multi-line tokens.
        end = self.pos + count
        while True:
            newline = self.text.find("\n", self.pos, end)
            if newline < 0:
                break
            self.line += 1
            self.line_start = newline + 1
            self.pos = newline + 1
        self.pos = end

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        text = self.text
        while True:
            self._skip_blank()
            if self.pos >= len(text):
                out.append(Token(TokenKind.EOF, "", self.line, self.pos - self.line_start + 1))
                return out
            line, column = self.line, self.pos - self.line_start + 1
            char = text[self.pos]
            if char in _HEX_DIGITS and (match := _UUID_RE.match(text, self.pos)):
                end = match.end()
                if end >= len(text) or not _is_ident_char(text[end]):
                    out.append(Token(TokenKind.UUID, match.group(0).lower(), line, column))
                    self._advance(end - self.pos)
                    continue
            if _is_ident_start(char):
                end = self.pos + 1
                while end < len(text) and _is_ident_char(text[end]):
                    end += 1
                out.append(Token(TokenKind.IDENT, text[self.pos : end], line, column))
                self._advance(end - self.pos)
            elif char.isdigit():
                out.append(self._number(line, column))
            elif char == '"':
                out.append(Token(TokenKind.QUOTED, self._quoted('"', "quoted identifier"), line, column))
            elif char == "'":
                out.append(Token(TokenKind.STRING, self._quoted("'", "string"), line, column))
            elif text.startswith("$$", self.pos):
                end = text.find("$$", self.pos + 2)
                if end < 0:
                    raise self.error("unterminated $$ string")
                out.append(Token(TokenKind.STRING, text[self.pos + 2 : end], line, column))
                self._advance(end + 2 - self.pos)
            elif char in _PUNCTUATION:
                out.append(Token(TokenKind.PUNCT, char, line, column))
                self._advance(1)
            else:
                raise self.error(f"unexpected character {char!r}")

    def _skip_blank(self) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char.isspace():
                self._advance(1)
            elif text.startswith("--", self.pos) or text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self._advance((len(text) if end < 0 else end) - self.pos)
            elif text.startswith("/*", self.pos):
                line, column = self.line, self.pos - self.line_start + 1
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error("unterminated /* comment", line, column)
                self.block_comments.append(Token(TokenKind.STRING, text[self.pos + 2 : end], line, column))
                self._advance(end + 2 - self.pos)
            else:
                return

    def _quoted(self, quote: str, what: str) -> str:
        """A '...' string or "..." identifier; a doubled quote stands for one quote."""
        line, column = self.line, self.pos - self.line_start + 1
        text = self.text
        parts: list[str] = []
        start = self.pos + 1
        index = start
        while True:
            end = text.find(quote, index)
            if end < 0:
                raise self.error(f"unterminated {what}", line, column)
            if text.startswith(quote * 2, end):
                parts.append(text[index : end + 1])
                index = end + 2
                continue
            parts.append(text[index:end])
            self._advance(end + 1 - self.pos)
            return "".join(parts)

    def _number(self, line: int, column: int) -> Token:
        text = self.text
        start = self.pos
        if text.startswith(("0x", "0X"), start):
            end = start + 2
            while end < len(text) and text[end] in _HEX_DIGITS:
                end += 1
            self._advance(end - start)
            return Token(TokenKind.HEX, text[start:end], line, column)
        end = start
        while end < len(text) and text[end].isdigit():
            end += 1
        if end + 1 < len(text) and text[end] == "." and text[end + 1].isdigit():
            end += 1
            while end < len(text) and text[end].isdigit():
                end += 1
        if end < len(text) and text[end] in "eE":
            exp = end + 1
            if exp < len(text) and text[exp] in "+-":
                exp += 1
            if exp < len(text) and text[exp].isdigit():
                end = exp
                while end < len(text) and text[end].isdigit():
                    end += 1
        self._advance(end - start)
        return Token(TokenKind.NUMBER, text[start:end], line, column)


def tokenize(text: str, source: str = "<string>") -> list[Token]:
    """The tokens of ``text`` (comments dropped), ending with an EOF token."""
    return _Lexer(text, source).tokens()


# --------------------------------------------------------------------------------------------------
# Statements


@dataclass(frozen=True, slots=True)
class QualifiedName:
    keyspace: str | None
    name: str
    token: Token


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A column or field type as normalised CQL text (``frozen<map<text, int>>``)."""

    text: str
    token: Token
    # Keyspaces named in front of user types (``ks.address``); must be the owner's keyspace.
    udt_keyspaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ColumnDef:
    name: str
    type: TypeRef
    token: Token
    static: bool = False
    primary_key: bool = False


@dataclass(slots=True)
class TableOptions:
    id: uuid.UUID | None = None
    # Clustering column name -> True when DESC.
    clustering_order: dict[str, bool] = field(default_factory=dict)
    compact_storage: bool = False
    cdc: bool | None = None
    gc_grace_seconds: int | None = None
    default_time_to_live: int | None = None


@dataclass(frozen=True, slots=True)
class CreateKeyspace:
    name: str
    token: Token


@dataclass(frozen=True, slots=True)
class UseKeyspace:
    name: str
    token: Token


@dataclass(frozen=True, slots=True)
class CreateType:
    name: QualifiedName
    fields: list[tuple[str, TypeRef]]


@dataclass(frozen=True, slots=True)
class CreateTable:
    name: QualifiedName
    columns: list[ColumnDef]
    partition_key: list[str]
    clustering: list[str]
    options: TableOptions


@dataclass(frozen=True, slots=True)
class CreateView:
    name: QualifiedName
    base: QualifiedName
    # None for SELECT *.
    selected: list[str] | None
    partition_key: list[str]
    clustering: list[str]
    options: TableOptions


@dataclass(frozen=True, slots=True)
class AlterTableAdd:
    name: QualifiedName
    columns: list[ColumnDef]


@dataclass(frozen=True, slots=True)
class AlterTableDrop:
    name: QualifiedName
    columns: list[tuple[str, Token]]
    timestamp: int | None


@dataclass(frozen=True, slots=True)
class AlterTableRename:
    name: QualifiedName
    renames: list[tuple[str, str, Token]]


@dataclass(frozen=True, slots=True)
class AlterTableOptions:
    name: QualifiedName
    options: TableOptions


@dataclass(frozen=True, slots=True)
class DropObject:
    kind: str  # "keyspace", "table", "type", "materialized view"
    name: QualifiedName


@dataclass(frozen=True, slots=True)
class SkippedStatement:
    description: str
    token: Token
    # True when skipping it may lose something the decoder needs (worth a warning).
    notable: bool = False


Statement = (
    CreateKeyspace
    | UseKeyspace
    | CreateType
    | CreateTable
    | CreateView
    | AlterTableAdd
    | AlterTableDrop
    | AlterTableRename
    | AlterTableOptions
    | DropObject
    | SkippedStatement
)


# --------------------------------------------------------------------------------------------------
# Parser


def _maybe_quote(name: str) -> str:
    """An identifier as CQL prints it: bare when lower-case simple, double-quoted otherwise."""
    if (
        name
        and name[0].isascii()
        and name[0].islower()
        and all((c.isascii() and (c.islower() or c.isdigit())) or c == "_" for c in name)
    ):
        return name
    return '"' + name.replace('"', '""') + '"'


class _Parser:
    """Recursive descent over the token list; one statement at a time."""

    def __init__(self, tokens: list[Token], source: str) -> None:
        self.tokens = tokens
        self.source = source
        self.index = 0

    # ---- token helpers

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        if token.kind is not TokenKind.EOF:
            self.index += 1
        return token

    def error(self, message: str, token: Token | None = None) -> CqlSchemaError:
        at = token or self.peek()
        return CqlSchemaError(message, self.source, at.line, at.column)

    def is_keyword(self, word: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind is TokenKind.IDENT and token.text.lower() == word

    def accept_keyword(self, *words: str) -> bool:
        """Consume the keyword sequence if all of it is next."""
        if all(self.is_keyword(word, i) for i, word in enumerate(words)):
            self.index += len(words)
            return True
        return False

    def expect_keyword(self, *words: str) -> None:
        for word in words:
            if not self.is_keyword(word):
                raise self.error(f"expected {word.upper()}, found {self.peek().describe()}")
            self.next()

    def is_punct(self, char: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind is TokenKind.PUNCT and token.text == char

    def accept_punct(self, char: str) -> bool:
        if self.is_punct(char):
            self.next()
            return True
        return False

    def expect_punct(self, char: str) -> Token:
        if not self.is_punct(char):
            raise self.error(f"expected '{char}', found {self.peek().describe()}")
        return self.next()

    def identifier(self, what: str = "identifier") -> tuple[str, Token]:
        """An unquoted name (case-insensitive: lower-cased) or a quoted one (kept as written)."""
        token = self.peek()
        if token.kind is TokenKind.IDENT:
            self.next()
            return token.text.lower(), token
        if token.kind is TokenKind.QUOTED:
            self.next()
            return token.text, token
        raise self.error(f"expected {what}, found {token.describe()}")

    def qualified_name(self, what: str) -> QualifiedName:
        first, token = self.identifier(what)
        if self.accept_punct("."):
            second, _ = self.identifier(what)
            return QualifiedName(first, second, token)
        return QualifiedName(None, first, token)

    def skip_statement(self) -> None:
        """Consume up to and including the next ';' outside brackets (or to the end)."""
        depth = 0
        while True:
            token = self.peek()
            if token.kind is TokenKind.EOF:
                return
            self.next()
            if token.kind is TokenKind.PUNCT:
                if token.text in "({[":
                    depth += 1
                elif token.text in ")}]":
                    depth = max(0, depth - 1)
                elif token.text == ";" and depth == 0:
                    return

    def end_statement(self) -> None:
        if self.accept_punct(";") or self.peek().kind is TokenKind.EOF:
            return
        raise self.error(f"expected ';', found {self.peek().describe()}")

    # ---- statements

    def statements(self) -> list[Statement]:
        out: list[Statement] = []
        while self.peek().kind is not TokenKind.EOF:
            if self.accept_punct(";"):
                continue
            out.append(self.statement())
        return out

    def statement(self) -> Statement:
        start = self.peek()
        if self.accept_keyword("create"):
            return self.create(start)
        if self.accept_keyword("alter", "table"):
            return self.alter_table(start)
        if self.accept_keyword("use"):
            name, token = self.identifier("keyspace name")
            self.end_statement()
            return UseKeyspace(name, token)
        if self.accept_keyword("drop"):
            return self.drop(start)
        if start.kind is TokenKind.IDENT:
            words = [start.text.upper()]
            if self.peek(1).kind is TokenKind.IDENT:
                words.append(self.peek(1).text.upper())
            description = " ".join(words)
            notable = words[0] == "ALTER" and len(words) > 1 and words[1] in ("TYPE", "MATERIALIZED")
            self.skip_statement()
            return SkippedStatement(description, start, notable)
        raise self.error(f"expected a statement, found {start.describe()}")

    def create(self, start: Token) -> Statement:
        if self.accept_keyword("keyspace"):
            self.accept_keyword("if", "not", "exists")
            name, token = self.identifier("keyspace name")
            self.skip_statement()  # replication and durable_writes do not matter here
            return CreateKeyspace(name, token)
        if self.accept_keyword("type"):
            return self.create_type()
        if self.accept_keyword("table") or self.accept_keyword("columnfamily"):
            return self.create_table()
        if self.accept_keyword("materialized", "view"):
            return self.create_view()
        # Indexes, functions, aggregates, triggers, roles, users, virtual tables...
        words = ["CREATE"]
        while self.peek().kind is TokenKind.IDENT and self.peek().text.lower() in (
            "or",
            "replace",
            "custom",
            "index",
            "function",
            "aggregate",
            "trigger",
            "role",
            "user",
        ):
            words.append(self.next().text.upper())
            if words[-1] in ("INDEX", "FUNCTION", "AGGREGATE", "TRIGGER", "ROLE", "USER"):
                break
        if len(words) == 1 and self.peek().kind is TokenKind.IDENT:
            words.append(self.peek().text.upper())
        self.skip_statement()
        return SkippedStatement(" ".join(words), start)

    def create_type(self) -> CreateType:
        self.accept_keyword("if", "not", "exists")
        name = self.qualified_name("type name")
        self.expect_punct("(")
        fields: list[tuple[str, TypeRef]] = []
        seen: set[str] = set()
        while True:
            field_name, token = self.identifier("field name")
            if field_name in seen:
                raise self.error(f"duplicate field {field_name!r} in type {name.name}", token)
            seen.add(field_name)
            fields.append((field_name, self.type_ref()))
            if self.accept_punct(")"):
                break
            self.expect_punct(",")
        self.end_statement()
        return CreateType(name, fields)

    def create_table(self) -> CreateTable:
        self.accept_keyword("if", "not", "exists")
        name = self.qualified_name("table name")
        self.expect_punct("(")
        columns: list[ColumnDef] = []
        key: tuple[list[str], list[str]] | None = None
        while True:
            if self.is_keyword("primary") and self.is_keyword("key", 1):
                if key is not None:
                    raise self.error("PRIMARY KEY given twice")
                token = self.peek()
                self.next()
                self.next()
                key = self.primary_key_clause()
                if any(column.primary_key for column in columns):
                    raise self.error("PRIMARY KEY given twice", token)
            else:
                column = self.column_def()
                if column.primary_key and (key is not None or any(c.primary_key for c in columns)):
                    raise self.error("PRIMARY KEY given twice", column.token)
                columns.append(column)
            if self.accept_punct(")"):
                break
            self.expect_punct(",")
        if key is None:
            inline = [column.name for column in columns if column.primary_key]
            if not inline:
                raise self.error(f"table {name.name} has no PRIMARY KEY", name.token)
            key = (inline, [])
        options = self.table_options() if self.accept_keyword("with") else TableOptions()
        self.end_statement()
        return CreateTable(name, columns, key[0], key[1], options)

    def column_def(self) -> ColumnDef:
        name, token = self.identifier("column name")
        type_ref = self.type_ref()
        static = primary_key = False
        while True:
            if self.accept_keyword("static"):
                static = True
            elif self.accept_keyword("primary", "key"):
                primary_key = True
            elif self.accept_keyword("masked", "with"):
                self.skip_mask()  # 5.0 dynamic data masking: read-time only, not in the commit log
            else:
                break
        return ColumnDef(name, type_ref, token, static, primary_key)

    def skip_mask(self) -> None:
        if self.accept_keyword("default"):
            return
        self.qualified_name("masking function")
        self.expect_punct("(")
        depth = 1
        while depth:
            token = self.next()
            if token.kind is TokenKind.EOF:
                raise self.error("unterminated masking function arguments", token)
            if self.is_punct_token(token, "("):
                depth += 1
            elif self.is_punct_token(token, ")"):
                depth -= 1

    @staticmethod
    def is_punct_token(token: Token, char: str) -> bool:
        return token.kind is TokenKind.PUNCT and token.text == char

    def primary_key_clause(self) -> tuple[list[str], list[str]]:
        self.expect_punct("(")
        partition: list[str] = []
        if self.accept_punct("("):
            while True:
                partition.append(self.identifier("partition key column")[0])
                if self.accept_punct(")"):
                    break
                self.expect_punct(",")
        else:
            partition.append(self.identifier("partition key column")[0])
        clustering: list[str] = []
        while self.accept_punct(","):
            clustering.append(self.identifier("clustering column")[0])
        self.expect_punct(")")
        return partition, clustering

    def type_ref(self) -> TypeRef:
        start = self.peek()
        keyspaces: list[str] = []
        text = self.type_text(keyspaces)
        return TypeRef(text, start, tuple(keyspaces))

    def type_text(self, keyspaces: list[str]) -> str:
        token = self.peek()
        if token.kind is TokenKind.STRING:  # a custom type given by its marshal class name
            self.next()
            return "'" + token.text.replace("'", "''") + "'"
        name, _ = self.identifier("type")
        if self.accept_punct("."):
            keyspaces.append(name)
            name, _ = self.identifier("type name")
        text = _maybe_quote(name)
        if not self.accept_punct("<"):
            return text
        args: list[str] = []
        while True:
            if self.peek().kind is TokenKind.NUMBER:  # vector<float, 3>
                args.append(self.next().text)
            else:
                args.append(self.type_text(keyspaces))
            if self.accept_punct(">"):
                break
            self.expect_punct(",")
        return f"{text}<{', '.join(args)}>"

    def table_options(self) -> TableOptions:
        options = TableOptions()
        while True:
            if self.accept_keyword("clustering", "order", "by"):
                self.expect_punct("(")
                while True:
                    name, _ = self.identifier("clustering column")
                    if self.accept_keyword("desc"):
                        options.clustering_order[name] = True
                    else:
                        self.accept_keyword("asc")
                        options.clustering_order[name] = False
                    if self.accept_punct(")"):
                        break
                    self.expect_punct(",")
            elif self.accept_keyword("compact", "storage"):
                options.compact_storage = True
            else:
                name, _ = self.identifier("table option")
                self.expect_punct("=")
                value_token = self.peek()
                value = self.option_value()
                self.set_option(options, name, value, value_token)
            if not self.accept_keyword("and"):
                return options

    def set_option(self, options: TableOptions, name: str, value: object, value_token: Token) -> None:
        """Keeps the options that affect decoding; compaction, caching and the rest are ignored."""
        if name == "id":
            if value_token.kind is TokenKind.UUID or value_token.kind is TokenKind.STRING:
                try:
                    options.id = uuid.UUID(str(value))
                    return
                except ValueError:
                    pass
            raise self.error(f"table ID must be a UUID, found {value_token.describe()}", value_token)
        if name == "cdc":
            if not isinstance(value, bool):
                raise self.error(f"cdc must be true or false, found {value_token.describe()}", value_token)
            options.cdc = value
        elif name in ("gc_grace_seconds", "default_time_to_live"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise self.error(f"{name} must be an integer, found {value_token.describe()}", value_token)
            setattr(options, name, value)

    def option_value(self) -> object:
        """A constant, identifier, or map/list/set literal (maps become dicts, the rest lists)."""
        token = self.peek()
        negative = False
        if self.is_punct("-") and self.peek(1).kind is TokenKind.NUMBER:
            self.next()
            negative = True
            token = self.peek()
        if token.kind is TokenKind.NUMBER:
            self.next()
            number: int | float = int(token.text) if token.text.isdigit() else float(token.text)
            return -number if negative else number
        if token.kind in (TokenKind.STRING, TokenKind.UUID, TokenKind.HEX, TokenKind.QUOTED):
            self.next()
            return token.text
        if token.kind is TokenKind.IDENT:
            self.next()
            lowered = token.text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            return token.text
        if self.accept_punct("{"):
            mapping: dict[str, object] = {}
            items: list[object] = []
            while not self.accept_punct("}"):
                key = self.option_value()
                if self.accept_punct(":"):
                    mapping[str(key)] = self.option_value()
                else:
                    items.append(key)
                if not self.is_punct("}"):
                    self.expect_punct(",")
            return items if items and not mapping else mapping
        if self.accept_punct("["):
            values: list[object] = []
            while not self.accept_punct("]"):
                values.append(self.option_value())
                if not self.is_punct("]"):
                    self.expect_punct(",")
            return values
        raise self.error(f"expected an option value, found {token.describe()}")

    def create_view(self) -> CreateView:
        self.accept_keyword("if", "not", "exists")
        name = self.qualified_name("view name")
        self.expect_keyword("as", "select")
        selected: list[str] | None
        if self.accept_punct("*"):
            selected = None
        else:
            selected = []
            while True:
                selected.append(self.identifier("column name")[0])
                if not self.accept_punct(","):
                    break
        self.expect_keyword("from")
        base = self.qualified_name("base table name")
        if self.accept_keyword("where"):
            # The filter only decides which base rows have view rows; the view's layout is the key.
            while not (self.is_keyword("primary") and self.is_keyword("key", 1)):
                if self.peek().kind is TokenKind.EOF or self.is_punct(";"):
                    raise self.error("expected PRIMARY KEY in materialized view")
                self.next()
        self.expect_keyword("primary", "key")
        partition, clustering = self.primary_key_clause()
        options = self.table_options() if self.accept_keyword("with") else TableOptions()
        self.end_statement()
        return CreateView(name, base, selected, partition, clustering, options)

    def alter_table(self, start: Token) -> Statement:
        name = self.qualified_name("table name")
        if self.accept_keyword("add"):
            columns: list[ColumnDef] = []
            if self.accept_punct("("):
                while True:
                    columns.append(self.column_def())
                    if self.accept_punct(")"):
                        break
                    self.expect_punct(",")
            else:
                self.accept_keyword("if", "not", "exists")
                columns.append(self.column_def())
            self.end_statement()
            return AlterTableAdd(name, columns)
        if self.accept_keyword("drop"):
            dropped: list[tuple[str, Token]] = []
            if self.accept_punct("("):
                while True:
                    dropped.append(self.identifier("column name"))
                    if self.accept_punct(")"):
                        break
                    self.expect_punct(",")
            else:
                self.accept_keyword("if", "exists")
                dropped.append(self.identifier("column name"))
            timestamp: int | None = None
            if self.accept_keyword("using", "timestamp"):
                negative = self.accept_punct("-")
                token = self.peek()
                if token.kind is not TokenKind.NUMBER or not token.text.isdigit():
                    raise self.error(f"expected a timestamp, found {token.describe()}")
                self.next()
                timestamp = -int(token.text) if negative else int(token.text)
            self.end_statement()
            return AlterTableDrop(name, dropped, timestamp)
        if self.accept_keyword("rename"):
            renames: list[tuple[str, str, Token]] = []
            while True:
                old, token = self.identifier("column name")
                self.expect_keyword("to")
                new, _ = self.identifier("column name")
                renames.append((old, new, token))
                if not self.accept_keyword("and"):
                    break
            self.end_statement()
            return AlterTableRename(name, renames)
        if self.accept_keyword("with"):
            options = self.table_options()
            self.end_statement()
            return AlterTableOptions(name, options)
        self.skip_statement()
        return SkippedStatement("ALTER TABLE", start, notable=True)

    def drop(self, start: Token) -> Statement:
        kind: str | None = None
        for words in (("keyspace",), ("table",), ("columnfamily",), ("type",), ("materialized", "view")):
            if self.accept_keyword(*words):
                kind = "table" if words == ("columnfamily",) else " ".join(words)
                break
        if kind is None:
            self.skip_statement()
            return SkippedStatement("DROP", start)
        self.accept_keyword("if", "exists")
        name = self.qualified_name(f"{kind} name")
        self.end_statement()
        return DropObject(kind, name)


def parse_statements(text: str, source: str = "<string>") -> list[Statement]:
    """The statements of a CQL file, in order (syntax only; nothing resolved yet)."""
    return _Parser(tokenize(text, source), source).statements()


# --------------------------------------------------------------------------------------------------
# Building the schema


class _TableSkipped(Exception):
    """A table left out of the schema (reason already reported)."""


class _SchemaBuilder:
    """Applies statements in order, as Cassandra would have, to tables keyed by (keyspace, name)."""

    def __init__(self, source: str, report: SchemaLoadReport) -> None:
        self.source = source
        self.report = report
        self.keyspaces: set[str] = set()
        self.current_keyspace: str | None = None
        self.user_types: dict[tuple[str, str], UserTypeDef] = {}
        self.tables: dict[tuple[str, str], TableSchema] = {}
        # Where each table was created, for errors found only once the file is read.
        self.origins: dict[tuple[str, str], Token] = {}
        # Tables and types that were left out, so later statements on them are skipped, not errors.
        self.skipped_tables: set[tuple[str, str]] = set()
        self.skipped_types: set[tuple[str, str]] = set()

    def error(self, message: str, token: Token) -> CqlSchemaError:
        return CqlSchemaError(message, self.source, token.line, token.column)

    def where(self, token: Token) -> str:
        return f"{self.source}:{token.line}:{token.column}"

    def keyspace_of(self, name: QualifiedName) -> str:
        if name.keyspace is not None:
            return name.keyspace
        if self.current_keyspace is None:
            raise self.error(f"{name.name!r} has no keyspace and no USE statement precedes it", name.token)
        return self.current_keyspace

    def parse_type(self, ref: TypeRef, keyspace: str, owner: str) -> CqlType:
        for other in ref.udt_keyspaces:
            if other != keyspace:
                raise self.error(
                    f"{owner} uses a type of keyspace {other!r}; user types must be in keyspace {keyspace!r}",
                    ref.token,
                )
        try:
            return parse_cql_type(ref.text, self.user_types, keyspace)
        except (ValueError, KeyError, TypeError, LookupError) as exc:
            self.report.unknown_types.append(f"{owner}: {ref.text}: {exc}")
            raise _TableSkipped(f"{self.where(ref.token)}: cannot parse type {ref.text!r} of {owner}: {exc}") from exc

    # ---- statements

    def apply(self, statement: Statement) -> None:
        match statement:
            case CreateKeyspace():
                self.keyspaces.add(statement.name)
            case UseKeyspace():
                self.current_keyspace = statement.name
            case SkippedStatement():
                self.skipped_statement(statement)
            case CreateType():
                self.create_type(statement)
            case CreateTable():
                self.create_table(statement)
            case CreateView():
                self.create_view(statement)
            case AlterTableAdd():
                self.alter_add(statement)
            case AlterTableDrop():
                self.alter_drop(statement)
            case AlterTableRename():
                self.alter_rename(statement)
            case AlterTableOptions():
                self.alter_options(statement)
            case DropObject():
                self.drop_object(statement)

    def skipped_statement(self, statement: SkippedStatement) -> None:
        if statement.notable:
            self.report.skip(
                f"{statement.description} at {self.where(statement.token)}",
                "not supported; tables it changes may not match the cluster",
            )

    def create_type(self, statement: CreateType) -> None:
        keyspace = self.keyspace_of(statement.name)
        key = (keyspace, statement.name.name)
        owner = f"type {keyspace}.{statement.name.name}"
        try:
            field_types = [self.parse_type(ref, keyspace, f"{owner} field {name}") for name, ref in statement.fields]
        except _TableSkipped as exc:
            self.skipped_types.add(key)
            self.report.skip(owner, str(exc))
            return
        self.user_types[key] = UserTypeDef(keyspace, statement.name.name, [n for n, _ in statement.fields], field_types)

    def create_table(self, statement: CreateTable) -> None:
        keyspace = self.keyspace_of(statement.name)
        key = (keyspace, statement.name.name)
        qualified = f"{keyspace}.{statement.name.name}"
        if key in self.tables or key in self.skipped_tables:
            raise self.error(f"table {qualified} is defined twice", statement.name.token)
        options = statement.options
        if options.compact_storage:
            self.skip_table(key, statement.name.token, options.id, "COMPACT STORAGE tables are not supported")
            return
        try:
            columns = self.table_columns(statement, keyspace, qualified)
        except _TableSkipped as exc:
            self.skip_table(key, statement.name.token, options.id, str(exc))
            return
        table_id, id_known = self.table_id(keyspace, statement.name.name, options.id)
        table = TableSchema(keyspace=keyspace, name=statement.name.name, id=table_id, columns=columns)
        table.id_known = id_known
        self.apply_options(table, options)
        self.tables[key] = table
        self.origins[key] = statement.name.token

    def skip_table(self, key: tuple[str, str], token: Token, table_id: uuid.UUID | None, reason: str) -> None:
        self.skipped_tables.add(key)
        qualified = f"{key[0]}.{key[1]}"
        self.report.skip(f"table {qualified} at {self.where(token)}", reason)
        if table_id is not None:
            self.report.unsupported_table_ids[table_id] = f"{qualified}: {reason}"

    def table_id(self, keyspace: str, name: str, given: uuid.UUID | None) -> tuple[uuid.UUID, bool]:
        if given is not None:
            return given, True
        if is_system_keyspace(keyspace):
            return system_table_id(keyspace, name), True
        self.report.tables_without_id.append(f"{keyspace}.{name}")
        return uuid.uuid5(PLACEHOLDER_NAMESPACE, f"{keyspace}.{name}"), False

    def table_columns(self, statement: CreateTable, keyspace: str, qualified: str) -> list[ColumnSchema]:
        by_name: dict[str, ColumnDef] = {}
        for column in statement.columns:
            if column.name in by_name:
                raise self.error(f"column {column.name!r} is defined twice in {qualified}", column.token)
            by_name[column.name] = column
        key_names = statement.partition_key + statement.clustering
        for name in key_names:
            if name not in by_name:
                raise self.error(f"PRIMARY KEY column {name!r} is not a column of {qualified}", statement.name.token)
            if by_name[name].static:
                raise self.error(f"PRIMARY KEY column {name!r} of {qualified} is static", by_name[name].token)
        if len(set(key_names)) != len(key_names):
            raise self.error(f"a column appears twice in the PRIMARY KEY of {qualified}", statement.name.token)
        order = statement.options.clustering_order
        for name, _ in order.items():
            if name not in statement.clustering:
                raise self.error(
                    f"CLUSTERING ORDER BY names {name!r}, which is not a clustering column of {qualified}",
                    statement.name.token,
                )
        columns: list[ColumnSchema] = []
        for column in statement.columns:
            cql_type = self.parse_type(column.type, keyspace, f"{qualified}.{column.name}")
            if column.name in statement.partition_key:
                kind, position = ColumnKind.PARTITION_KEY, statement.partition_key.index(column.name)
            elif column.name in statement.clustering:
                kind, position = ColumnKind.CLUSTERING, statement.clustering.index(column.name)
            else:
                kind = ColumnKind.STATIC if column.static else ColumnKind.REGULAR
                position = 0
            columns.append(ColumnSchema(column.name, cql_type, kind, position, reversed=order.get(column.name, False)))
        return columns

    @staticmethod
    def apply_options(table: TableSchema, options: TableOptions) -> None:
        if options.cdc is not None:
            table.cdc = options.cdc
        if options.gc_grace_seconds is not None:
            table.gc_grace_seconds = options.gc_grace_seconds
        if options.default_time_to_live is not None:
            table.default_time_to_live = options.default_time_to_live

    def target(self, name: QualifiedName, action: str) -> TableSchema | None:
        """The table an ALTER names; None (reported) when it was skipped earlier."""
        keyspace = self.keyspace_of(name)
        key = (keyspace, name.name)
        if key in self.skipped_tables:
            self.report.warn(f"{self.where(name.token)}: {action} on skipped table {keyspace}.{name.name} ignored")
            return None
        table = self.tables.get(key)
        if table is None:
            raise self.error(f"{action} on unknown table {keyspace}.{name.name}", name.token)
        return table

    def alter_add(self, statement: AlterTableAdd) -> None:
        table = self.target(statement.name, "ALTER TABLE ADD")
        if table is None:
            return
        for column in statement.columns:
            if column.primary_key:
                raise self.error("ALTER TABLE ADD cannot add a PRIMARY KEY column", column.token)
            if table.column(column.name) is not None:
                raise self.error(f"column {column.name!r} already exists in {table.qualified_name}", column.token)
            try:
                cql_type = self.parse_type(column.type, table.keyspace, f"{table.qualified_name}.{column.name}")
            except _TableSkipped as exc:
                self.drop_table_for_error(table, str(exc))
                return
            kind = ColumnKind.STATIC if column.static else ColumnKind.REGULAR
            # A re-added column keeps its dropped record: older cells stay shadowed by the drop.
            table.columns.append(ColumnSchema(column.name, cql_type, kind))

    def drop_table_for_error(self, table: TableSchema, reason: str) -> None:
        key = (table.keyspace, table.name)
        del self.tables[key]
        self.skipped_tables.add(key)
        self.report.skip(f"table {table.qualified_name}", reason)
        if table.id_known:
            self.report.unsupported_table_ids[table.id] = f"{table.qualified_name}: {reason}"

    def alter_drop(self, statement: AlterTableDrop) -> None:
        table = self.target(statement.name, "ALTER TABLE DROP")
        if table is None:
            return
        timestamp = statement.timestamp
        if timestamp is None:
            timestamp = UNKNOWN_DROP_TIME
            self.report.warn(
                f"{self.where(statement.name.token)}: DROP without USING TIMESTAMP on "
                f"{table.qualified_name}: drop time unknown, every cell of the dropped column(s) "
                "is treated as written before the drop"
            )
        for name, token in statement.columns:
            column = table.column(name)
            if column is None:
                raise self.error(f"cannot drop unknown column {name!r} of {table.qualified_name}", token)
            if column.is_primary_key:
                raise self.error(f"cannot drop PRIMARY KEY column {name!r} of {table.qualified_name}", token)
            table.columns.remove(column)
            table.dropped_columns[name] = DroppedColumn(name, column.type, timestamp, column.kind)

    def alter_rename(self, statement: AlterTableRename) -> None:
        table = self.target(statement.name, "ALTER TABLE RENAME")
        if table is None:
            return
        for old, new, token in statement.renames:
            column = table.column(old)
            if column is None or not column.is_primary_key:
                raise self.error(f"only PRIMARY KEY columns can be renamed; {old!r} is not one", token)
            if table.column(new) is not None:
                raise self.error(f"column {new!r} already exists in {table.qualified_name}", token)
            index = table.columns.index(column)
            table.columns[index] = ColumnSchema(new, column.type, column.kind, column.position, column.reversed)

    def alter_options(self, statement: AlterTableOptions) -> None:
        table = self.target(statement.name, "ALTER TABLE WITH")
        if table is None:
            return
        if statement.options.id is not None and statement.options.id != table.id:
            raise self.error("ALTER TABLE cannot change a table's ID", statement.name.token)
        self.apply_options(table, statement.options)

    def drop_object(self, statement: DropObject) -> None:
        if statement.kind == "keyspace":
            keyspace = statement.name.name
            self.keyspaces.discard(keyspace)
            self.tables = {k: t for k, t in self.tables.items() if k[0] != keyspace}
            self.user_types = {k: t for k, t in self.user_types.items() if k[0] != keyspace}
            return
        key = (self.keyspace_of(statement.name), statement.name.name)
        if statement.kind == "type":
            self.user_types.pop(key, None)
        else:
            self.tables.pop(key, None)

    def create_view(self, statement: CreateView) -> None:
        keyspace = self.keyspace_of(statement.name)
        key = (keyspace, statement.name.name)
        qualified = f"{keyspace}.{statement.name.name}"
        if key in self.tables or key in self.skipped_tables:
            raise self.error(f"materialized view {qualified} is defined twice", statement.name.token)
        base_key = (self.keyspace_of(statement.base), statement.base.name)
        base = self.tables.get(base_key)
        if base is None:
            reason = (
                "its base table was skipped"
                if base_key in self.skipped_tables
                else f"base table {base_key[0]}.{base_key[1]} is not defined before it"
            )
            self.skip_table(key, statement.name.token, statement.options.id, reason)
            return
        names = (
            [c.name for c in base.columns if c.kind is not ColumnKind.STATIC]
            if statement.selected is None
            else list(statement.selected)
        )
        for name in statement.partition_key + statement.clustering:
            if name not in names:
                names.append(name)
        columns: list[ColumnSchema] = []
        order = statement.options.clustering_order
        for name in names:
            base_column = base.column(name)
            if base_column is None:
                raise self.error(
                    f"view {qualified} selects unknown column {name!r} of {base.qualified_name}",
                    statement.name.token,
                )
            if name in statement.partition_key:
                kind, position = ColumnKind.PARTITION_KEY, statement.partition_key.index(name)
            elif name in statement.clustering:
                kind, position = ColumnKind.CLUSTERING, statement.clustering.index(name)
            else:
                kind, position = ColumnKind.REGULAR, 0
            columns.append(ColumnSchema(name, base_column.type, kind, position, reversed=order.get(name, False)))
        table_id, id_known = self.table_id(keyspace, statement.name.name, statement.options.id)
        view = TableSchema(keyspace=keyspace, name=statement.name.name, id=table_id, columns=columns)
        view.id_known = id_known
        view.is_view = True
        self.apply_options(view, statement.options)
        self.tables[key] = view
        self.origins[key] = statement.name.token

    # ---- result

    def schema(self) -> Schema:
        schema = Schema()
        schema.keyspaces.update(self.keyspaces)
        schema.user_types.update(self.user_types)
        by_id: dict[uuid.UUID, TableSchema] = {}
        for key, table in self.tables.items():
            other = by_id.get(table.id)
            if other is not None:
                raise self.error(
                    f"tables {other.qualified_name} and {table.qualified_name} have the same ID {table.id}",
                    self.origins[key],
                )
            by_id[table.id] = table
            schema.keyspaces.add(table.keyspace)
            schema.add(table)
        return schema


def _report_omitted_tables(comments: list[Token], source: str, report: SchemaLoadReport) -> None:
    """3.11 snapshots comment out tables CQL cannot express; say so instead of silently losing them."""
    for comment in comments:
        body = comment.text.strip()
        if body.startswith("Warning: Table") and "omitted" in body:
            first_line = body.splitlines()[0]
            report.skip(f"commented-out table at {source}:{comment.line}:{comment.column}", first_line)


def parse_cql_schema(text: str, source: str = "<string>") -> tuple[Schema, SchemaLoadReport]:
    """Build a Schema from CQL schema text; raises CqlSchemaError (file:line:column) on bad input."""
    lexer = _Lexer(text, source)
    statements = _Parser(lexer.tokens(), source).statements()
    report = SchemaLoadReport(source=source)
    builder = _SchemaBuilder(source, report)
    for statement in statements:
        builder.apply(statement)
    _report_omitted_tables(lexer.block_comments, source, report)
    return builder.schema(), report
