"""Monitor conditions: a CEL expression over one event, compiled once, evaluated per event.

CEL's integers are 64-bit, but `value` and `token_id` are uint256. So before compiling we
rewrite every integer literal that is compared directly with one of those fields into a
32-byte big-endian CEL bytes literal, and present the fields to CEL as 32-byte big-endian
bytes: for equal-length big-endian bytes, byte order is numeric order, so ==, !=, <, <=, >,
>= and `in` are exact at any size. Any other use of an amount field is refused when the
monitor is saved, because bytes would silently give a wrong answer.

Decoded `args` hold every integer as a decimal string, signed (int256) or not (uint256). A comparison
between an args path (`event.args.NAME`, `event.args["NAME"]`, optionally one index `[N]`) and integer
literals, or another such path, is rewritten to read the path from a second variable, `_int_args`, that
holds each named path as (v + 2^256) in 33 big-endian bytes: that order is numeric order from -2^255 to
2^256 - 1. A path whose value is missing or not an integer is absent there, so only that comparison is an
error. Any other use of args stays plain CEL over the decoded values.

Per event only the fields the expression names are handed to CEL (converting the whole
event costs ~25 us, a few fields ~5 us); an expression that uses `event` as a whole gets all of it.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import ModuleType
from typing import Any

from blockhook.chain import kinds
from blockhook.chain.hashing import is_checksum_address
from blockhook.chain.kinds import fields_of_type

MAX_CONDITION_LENGTH = 4096  # as the API accepts; also keeps the Rust parser far from its stack limit
UINT256_MAX = 2**256 - 1
INT256_MIN = -(2**255)
INT_ARGS_VARIABLE = "_int_args"  # the second CEL variable: args paths compared as integers, as bytes
# Amounts are uint256 (compared as bytes, see above); hex fields are compared with string literals
# made lowercase too.
AMOUNT_FIELDS = fields_of_type(kinds.AMOUNT)
HEX_FIELDS = fields_of_type(*kinds.HEX_TYPES)
# Events for the trial evaluation at compile time: each kind's sample, each kind with its nullable
# fields null, and the shapes a transaction takes (a creation, a failed call); their keys are also the
# field names a condition may use. A log is tried with `args`.
_VARIANTS: dict[str, tuple[dict[str, Any], ...]] = {
    "transaction": (
        {"to": None, "value": "0", "selector": "0x60806040", "gas_used": 500000},
        {"value": "0", "selector": None, "status": 0, "contract_address": None},
    ),
    "log": ({"args": {}},),
}
SAMPLE_EVENTS: tuple[dict[str, Any], ...] = tuple(
    sample
    for kind in kinds.KINDS
    for sample in (
        kind.sample(),
        *(kind.sample(**variant) for variant in _VARIANTS.get(kind.name, ())),
        kind.sample(**{field.name: None for field in kind.all_fields() if field.nullable}),
    )
)
KNOWN_FIELDS = frozenset(name for sample in SAMPLE_EVENTS for name in sample)


_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _cel_core() -> ModuleType:
    """CEL's compiled core (the package's `cel.cel`: compile, evaluate), loaded without running the
    package's __init__.py, which also imports CEL's command line (typer, rich, prompt_toolkit, pygments):
    about a second of every cold start, and ~10 MB the dependency layer leaves out
    (infra/blockhook_infra/deps_layer.py). A later plain `import cel` reuses this module."""
    loaded = sys.modules.get("cel.cel")
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("cel")  # locates the package without importing it
    if package is None or not package.submodule_search_locations:
        raise ImportError("the common-expression-language package (cel) is not installed")
    core = importlib.machinery.PathFinder.find_spec("cel", package.submodule_search_locations)
    if core is None or not isinstance(core.loader, importlib.machinery.ExtensionFileLoader):
        raise ImportError(f"CEL's compiled core (cel/cel.*.so) is not in {list(package.submodule_search_locations)}")
    spec = importlib.util.spec_from_file_location("cel.cel", core.origin)
    module = importlib.util.module_from_spec(spec)
    sys.modules["cel.cel"] = module
    spec.loader.exec_module(module)
    return module


cel = _cel_core()


class ConditionError(ValueError):
    """A condition that does not compile or can never be true; the message is fit for a 422 answer."""


# ---------------------------------------------------------------------------------------------
# Tokens: just enough of CEL's lexical grammar to know where literals and operators are.

_STRING_START = re.compile(r"([bB]?[rR]?)('''|\"\"\"|'|\")")
_STRING_BODY = {  # (quote, raw) -> body and closing quote, matching CEL's lexer
    ("'", False): re.compile(r"(?:\\.|[^\\'\n\r])*'"),
    ('"', False): re.compile(r'(?:\\.|[^\\"\n\r])*"'),
    ("'", True): re.compile(r"[^'\n\r]*'"),
    ('"', True): re.compile(r'[^"\n\r]*"'),
    ("'''", False): re.compile(r"(?:\\[\s\S]|[^\\']|'(?!''))*'''"),
    ('"""', False): re.compile(r'(?:\\[\s\S]|[^\\"]|"(?!""))*"""'),
    ("'''", True): re.compile(r"(?:[^']|'(?!''))*'''"),
    ('"""', True): re.compile(r'(?:[^"]|"(?!""))*"""'),
}
_OTHER_TOKEN = re.compile(
    r"(?P<space>[ \t\n\r\f]+|//[^\n]*)"
    r"|(?P<float>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<int>0x[0-9a-fA-F]+[uU]?|\d+[uU]?)"
    r"|(?P<ident>[_a-zA-Z][_a-zA-Z0-9]*)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[<>!+\-*/%?:.,()\[\]{}])"
)
_RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
# Tokens around an operand that bind less tightly than a relation, so `X rel Y` is a whole comparison.
_BEFORE_COMPARISON = frozenset({"(", "[", "{", ",", "&&", "||", "?", ":"})
_AFTER_COMPARISON = frozenset({")", "]", "}", ",", "&&", "||", "?", ":"}) | _RELATIONS
_HEX_TEXT = re.compile(r"0x[0-9a-fA-F]+\Z")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "str", "bytes", "float", "int", "ident", "op"
    text: str
    start: int
    end: int

    @property
    def operator(self) -> str | None:
        """The operator this token is (`in` included), or None."""
        if self.kind == "op" or (self.kind == "ident" and self.text == "in"):
            return self.text
        return None


class _Unreadable(Exception):
    def __init__(self, position: int):
        self.position = position


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position, length = 0, len(source)
    while position < length:
        string = _STRING_START.match(source, position)
        if string:
            prefix, quote = string.groups()
            body = _STRING_BODY[(quote, "r" in prefix.lower())].match(source, string.end())
            if not body:
                raise _Unreadable(position)
            kind = "bytes" if "b" in prefix.lower() else "str"
            tokens.append(_Token(kind, source[position : body.end()], position, body.end()))
            position = body.end()
            continue
        other = _OTHER_TOKEN.match(source, position)
        if not other:
            raise _Unreadable(position)
        if other.lastgroup != "space":
            tokens.append(_Token(other.lastgroup, other.group(), position, other.end()))
        position = other.end()
    return tokens


def _string_content(token: _Token) -> tuple[str, str, str]:
    """(prefix, quote, raw text between the quotes) of a string token."""
    text = token.text
    prefix = text[: len(text) - len(text.lstrip("bBrR"))]
    rest = text[len(prefix) :]
    quote = rest[:3] if rest[:3] in ("'''", '"""') else rest[0]
    return prefix, quote, rest[len(quote) : -len(quote)]


def _shown(text: str) -> str:
    """A literal as quoted in a message: long ones shortened."""
    return text if len(text) <= 48 else f"{text[:24]}...{text[-12:]}"


def _where(source: str, position: int) -> str:
    line = source.count("\n", 0, position) + 1
    column = position - (source.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


# ---------------------------------------------------------------------------------------------
# Analysis and rewriting.


_Replacement = tuple[int, int, str]  # (start, end, new text) of a span of the source


@dataclass(frozen=True, slots=True)
class _Access:
    """`event.NAME` or `event["NAME"]`, tokens [first, last)."""

    name: str
    first: int
    last: int


def _event_accesses(tokens: list[_Token]) -> tuple[list[_Access], bool]:
    """The static field accesses on `event`, and whether `event` is also used as a whole."""
    accesses: list[_Access] = []
    whole = False
    for i, token in enumerate(tokens):
        if token.kind != "ident" or token.text != "event" or (i and tokens[i - 1].text == "."):
            continue
        after = tokens[i + 1 : i + 4]
        texts = [t.text for t in after]
        if (
            len(after) >= 2 and texts[0] == "." and after[1].kind == "ident"
            and (len(after) < 3 or texts[2] != "(")
        ):
            accesses.append(_Access(after[1].text, i, i + 3))
        elif len(after) == 3 and texts[0] == "[" and after[1].kind == "str" and texts[2] == "]":
            key = _string_value(after[1])
            if key is None:
                whole = True
            else:
                accesses.append(_Access(key, i, i + 4))
        else:
            whole = True
    return accesses, whole


@dataclass(frozen=True, slots=True)
class _ArgPath:
    """`event.args.NAME` or `event.args["NAME"]`, optionally indexed once (`[N]`), tokens [first, last)."""

    arg: str
    index: int | None
    first: int
    last: int

    @property
    def key(self) -> str:
        """Its key in `_int_args`; args names are identifiers, so keys of different paths differ."""
        return f"args.{self.arg}" if self.index is None else f"args.{self.arg}[{self.index}]"


# Names log_args can give an arg: Solidity identifiers (`$` included) or `arg<position>`.
_ARG_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


def _arg_paths(tokens: list[_Token], accesses: list[_Access]) -> list[_ArgPath]:
    """The args paths that follow an `event.args` / `event["args"]` access."""
    paths: list[_ArgPath] = []
    texts = [token.text for token in tokens] + [""] * 3  # padded: look-ahead needs no bounds checks
    for access in accesses:
        if access.name != "args":
            continue
        at = access.last
        arg = None
        if texts[at] == "." and at + 1 < len(tokens) and tokens[at + 1].kind == "ident" and texts[at + 2] != "(":
            arg, end = tokens[at + 1].text, at + 2
        elif texts[at] == "[" and at + 1 < len(tokens) and tokens[at + 1].kind == "str" and texts[at + 2] == "]":
            arg, end = _string_value(tokens[at + 1]), at + 3
        if arg is None or not _ARG_NAME.match(arg):
            continue
        index = None
        if texts[end] == "[" and end + 1 < len(tokens) and tokens[end + 1].kind == "int" and texts[end + 2] == "]":
            index, end = _int_text_value(texts[end + 1]), end + 3
        paths.append(_ArgPath(arg, index, access.first, end))
    return paths


def _int_text_value(text: str) -> int:
    """An int token's value as CEL reads it (leading zeros are decimal)."""
    text = text.rstrip("uU")
    return int(text, 16) if text.startswith("0x") else int(text)


def _string_value(token: _Token) -> str | None:
    try:
        value = cel.evaluate(token.text)
    except _PASS_THROUGH:  # pragma: no cover
        raise
    except BaseException:  # the Rust core may raise a PanicException, a BaseException
        return None
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class _Bounds:
    """The literals one kind of comparison takes, and how it says no; `{}` is the literal and its place."""

    lowest: int
    highest: int
    too_big: str
    too_small: str
    fraction: str


_AMOUNT_BOUNDS = _Bounds(
    0, UINT256_MAX,
    too_big="{} is more than an amount can be (2^256 - 1)",
    too_small="{}: value and token_id are never negative",
    fraction="{} is not a whole number; value and token_id are whole numbers",
)
_INT_ARG_BOUNDS = _Bounds(
    INT256_MIN, UINT256_MAX,
    too_big="{} is more than an integer arg can be (2^256 - 1)",
    too_small="{} is less than an integer arg can be (-2^255)",
    fraction=(
        "{} is not a whole number; args compare with integer literals only "
        "(a fixed-point arg is a decimal string: double(event.args.price) > 1.5)"
    ),
)
# Digits beyond which a literal is out of any bounds; stops huge literals before int() or Decimal work.
_MAX_DIGITS = 80


def _literal_value(tokens: list[_Token], number: int, source: str, bounds: _Bounds) -> int:
    token = tokens[number]
    negative = number > 0 and tokens[number - 1].text == "-"
    text = token.text.rstrip("uU")
    shown = f"{'-' if negative else ''}{_shown(token.text)} at "
    shown += _where(source, tokens[number - 1].start if negative else token.start)
    out_of_bounds = bounds.too_small if negative else bounds.too_big
    if token.kind == "float":
        try:
            exact = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the token pattern only lets valid decimals through
            raise ConditionError(f"{shown} is not a number") from None
        if exact and exact.adjusted() >= _MAX_DIGITS:
            raise ConditionError(out_of_bounds.format(shown))
        if exact != exact.to_integral_value():
            raise ConditionError(bounds.fraction.format(shown))
        value = int(exact)
    else:
        digits = text[2:] if text.startswith("0x") else text
        if len(digits.lstrip("0")) > _MAX_DIGITS:
            raise ConditionError(out_of_bounds.format(shown))
        value = _int_text_value(text)
    value = -value if negative else value
    if not bounds.lowest <= value <= bounds.highest:
        raise ConditionError(out_of_bounds.format(shown))
    return value


def _bytes_literal(data: bytes) -> str:
    return 'b"' + "".join(f"\\x{byte:02x}" for byte in data) + '"'


def _amount_literal(value: int) -> str:
    return _bytes_literal(value.to_bytes(32, "big"))


def _int_arg_literal(value: int) -> str:
    return _bytes_literal(_int_arg_encoding(value))


def _int_arg_encoding(value: int) -> bytes:
    """-2^255 .. 2^256 - 1 as 33 big-endian bytes whose order is numeric order."""
    return (value + 2**256).to_bytes(33, "big")


_NUMBERS = ("int", "float")
_STRINGS = ("str",)


_Operand = _Access | _ArgPath


class _Rewriter:
    """Finds the literals compared directly with fields that CEL, as given, would compare wrongly.

    Amounts (value, token_id): integer literals become 32-byte bytes, and any other use of an
    amount is refused. Args paths compared with integer literals or with each other read `_int_args`
    instead, and those literals become its 33-byte bytes; other uses of args stay as written. Hex
    fields (addresses, hashes, selector): string literals are lowercased, as the event's are; a
    mixed-case address must pass its EIP-55 checksum, as in the rest of the API.
    """

    def __init__(self, source: str, tokens: list[_Token], accesses: list[_Access], paths: list[_ArgPath]):
        self.source = source
        self.tokens = tokens
        self.starts = {access.first: access for access in accesses}
        self.arg_starts = {path.first: path for path in paths}
        self.amount_literals: list[int] = []  # token indices
        self.int_arg_literals: list[int] = []
        self.hex_literals: list[int] = []
        self.int_arg_paths: dict[int, _ArgPath] = {}  # by first token: the paths read from `_int_args`
        self.refusals: list[tuple[int, str]] = []  # (position, message)

    def plan(self) -> None:
        amounts = {first: access for first, access in self.starts.items() if access.name in AMOUNT_FIELDS}
        hexes = {first: access for first, access in self.starts.items() if access.name in HEX_FIELDS}
        paired: set[int] = set()  # right-hand partners, planned with their left-hand side
        for access in self.starts.values():
            if access.first in paired:
                continue
            if access.name in AMOUNT_FIELDS:
                compared = self._compared(access, amounts, _NUMBERS)
                if compared is None:
                    if not self._in_has(access):
                        self._refuse(access)
                    continue
                self.amount_literals += compared[0]
            elif access.name in HEX_FIELDS:
                compared = self._compared(access, hexes, _STRINGS)
                if compared is None:
                    continue
                self.hex_literals += compared[0]
            else:
                continue
            if compared[1] is not None:
                paired.add(compared[1].first)
        for path in self.arg_starts.values():
            if path.first in self.int_arg_paths:
                continue
            compared = self._compared(path, self.arg_starts, _NUMBERS)
            if compared is None:  # any other use of args is plain CEL over the decoded values
                continue
            literals, partner = compared
            self.int_arg_literals += literals
            for operand in (path, partner) if partner else (path,):
                self.int_arg_paths[operand.first] = operand

    def probe_replacements(self) -> dict[int, _Replacement]:
        """Integer literals as `0` padded to their length: the same syntax, and the compiler's columns stay."""
        return {
            number: (self.tokens[number].start, self.tokens[number].end, "0".ljust(len(self.tokens[number].text)))
            for number in self.amount_literals + self.int_arg_literals
        }

    def _span_start(self, number: int) -> int:
        """Where an integer literal starts: at its unary minus, if any (`-0` is a fine zero)."""
        before = number - 1
        return self.tokens[before].start if before >= 0 and self.tokens[before].text == "-" else self.tokens[number].start

    def replacements(self) -> list[_Replacement]:
        """The rewritten literals and args paths; raises the first (by position) refusal or bad literal."""
        errors = list(self.refusals)
        replacements: list[_Replacement] = []
        rewrites = (
            [(index, self._amount) for index in self.amount_literals]
            + [(index, self._int_arg) for index in self.int_arg_literals]
            + [(index, self._hex) for index in self.hex_literals]
        )
        for index, rewrite in rewrites:
            try:
                replacements.append(rewrite(index))
            except ConditionError as error:
                errors.append((self.tokens[index].start, str(error)))
        if errors:
            raise ConditionError(min(errors)[1])
        for path in self.int_arg_paths.values():
            start, end = self.tokens[path.first].start, self.tokens[path.last - 1].end
            replacements.append((start, end, f'{INT_ARGS_VARIABLE}["{path.key}"]'))
        return replacements

    def _amount(self, index: int) -> _Replacement:
        value = _literal_value(self.tokens, index, self.source, _AMOUNT_BOUNDS)
        return self._span_start(index), self.tokens[index].end, _amount_literal(value)

    def _int_arg(self, index: int) -> _Replacement:
        value = _literal_value(self.tokens, index, self.source, _INT_ARG_BOUNDS)
        return self._span_start(index), self.tokens[index].end, _int_arg_literal(value)

    def _hex(self, index: int) -> _Replacement:
        token = self.tokens[index]
        return token.start, token.end, _lowercase_hex(token, self.source)

    def _text(self, index: int) -> str | None:
        return self.tokens[index].text if 0 <= index < len(self.tokens) else None

    def _operator(self, index: int) -> str | None:
        return self.tokens[index].operator if 0 <= index < len(self.tokens) else None

    def _opens(self, index: int) -> bool:
        """Does the token before `index` leave a comparison that starts at `index` whole?"""
        return index == 0 or self.tokens[index - 1].operator in _BEFORE_COMPARISON

    def _closes(self, index: int) -> bool:
        """Is a comparison whole when its last token is just before `index`?"""
        return index >= len(self.tokens) or self.tokens[index].operator in _AFTER_COMPARISON

    def _literal_at(self, index: int, kinds: tuple[str, ...]) -> tuple[int, int] | None:
        """If tokens from `index` are `[-]LITERAL`: (index of the literal, index after it)."""
        if self._text(index) == "-":
            index += 1
        if index < len(self.tokens) and self.tokens[index].kind in kinds:
            return index, index + 1
        return None

    def _compared(
        self, operand: _Operand, partners: Mapping[int, _Operand], kinds: tuple[str, ...]
    ) -> tuple[list[int], _Operand | None] | None:
        """(the literals `operand` is directly compared with, the partner operand it is compared with),
        or None when it is not in such a comparison.

        OPERAND rel LITERAL, LITERAL rel OPERAND, OPERAND rel PARTNER, OPERAND in [LITERAL, ...].
        """
        first, last = operand.first, operand.last
        operator = self._operator(last)
        if operator in _RELATIONS and self._opens(first):
            if operator == "in":
                literals = self._list(last + 1, kinds)
                return None if literals is None else (literals, None)
            other = partners.get(last + 1)
            if other is not None and self._closes(other.last):
                return [], other
            literal = self._literal_at(last + 1, kinds)
            if literal and self._closes(literal[1]):
                return [literal[0]], None
        operator = self._operator(first - 1)
        if operator in _RELATIONS and operator != "in" and self._closes(last):
            literal = first - 2
            if literal >= 0 and self.tokens[literal].kind in kinds:
                begin = literal - 1 if self._text(literal - 1) == "-" else literal
                if self._opens(begin):
                    return [literal], None
        return None

    def _list(self, index: int, kinds: tuple[str, ...]) -> list[int] | None:
        if self._text(index) != "[":
            return None
        index += 1
        literals: list[int] = []
        while self._text(index) != "]":
            literal = self._literal_at(index, kinds)
            if literal is None:
                return None
            literals.append(literal[0])
            index = literal[1]
            if self._text(index) == ",":
                index += 1
            elif self._text(index) != "]":
                return None
        return literals if self._closes(index + 1) else None

    def _in_has(self, access: _Access) -> bool:
        first = access.first
        return self._text(first - 1) == "(" and self._text(first - 2) == "has" and self._text(access.last) == ")"

    def _refuse(self, access: _Access) -> None:
        start = self.tokens[access.first].start
        text = self.source[start : self.tokens[access.last - 1].end]
        self.refusals.append((start, (
            f"{text} at {_where(self.source, start)}: value and token_id are 256-bit amounts and can only be "
            f"compared (==, !=, <, <=, >, >=, in [...]) directly with an integer literal or with each other, "
            f"e.g. event.value >= 1000000000000000000, or tested with has()"
        )))


def _lowercase_hex(token: _Token, source: str) -> str:
    """A string literal compared with a hex field, lowercased when it is hex; EIP-55 checked when mixed."""
    prefix, quote, content = _string_content(token)
    if not _HEX_TEXT.match(content) or content == content.lower():
        return token.text
    if len(content) == 42 and content[2:] != content[2:].upper() and not is_checksum_address(content):
        raise ConditionError(
            f"address {content} at {_where(source, token.start)} is mixed case but fails its EIP-55 "
            f"checksum; write it lowercase"
        )
    return f"{prefix}{quote}{content.lower()}{quote}"


def _apply(source: str, replacements: Iterable[_Replacement]) -> str:
    parts, position = [], 0
    for start, end, text in sorted(replacements):
        parts += [source[position:start], text]
        position = end
    parts.append(source[position:])
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Compiling.


def _compile_program(cel_source: str, shown_source: str) -> Any:
    """cel.compile, with the compiler's message (about shown_source) as a ConditionError."""
    try:
        return cel.compile(cel_source)
    except _PASS_THROUGH:  # pragma: no cover
        raise
    except BaseException as error:  # the Rust core may raise a PanicException, a BaseException
        raise ConditionError(_compiler_message(str(error), cel_source, shown_source)) from None


def _compiler_message(message: str, cel_source: str, shown_source: str) -> str:
    prefix = f"Failed to parse expression '{cel_source}': "
    if message.startswith(prefix):
        message = message[len(prefix) :]
    # cel_source differs from shown_source only in same-length literals; show the user's own lines.
    for cel_line, shown_line in zip(cel_source.splitlines(), shown_source.splitlines(), strict=False):
        if cel_line != shown_line:
            message = message.replace(f"| {cel_line}", f"| {shown_line}")
    if "invalid int literal" in message or "invalid uint literal" in message:
        message += (
            "\n(CEL integers are 64-bit; only event.value, event.token_id and event.args.<name> compare "
            "with larger integer literals, written directly beside them: event.value >= 1000000000000000000000)"
        )
    return f"condition does not compile: {message}"


@dataclass(frozen=True, slots=True)
class _Fields:
    """Which fields to hand to CEL: names (None for all), which of them are amounts, and the args
    paths to hand as `_int_args` (key, arg name, index or None)."""

    names: tuple[str, ...] | None
    amounts: frozenset[str]
    int_args: tuple[tuple[str, str, int | None], ...] = ()


def _amount_bytes(amount: Any) -> bytes:
    if isinstance(amount, str):
        if len(amount) > 80:
            raise ValueError(f"amount {amount[:20]!r}... is longer than any uint256")
        number = int(amount)
    elif isinstance(amount, int) and not isinstance(amount, bool):
        number = amount
    else:
        raise TypeError(f"amount is {type(amount).__name__}, not a decimal string")
    if not 0 <= number <= UINT256_MAX:
        raise ValueError(f"amount {number} is outside uint256")
    return number.to_bytes(32, "big")


_INTEGER_TEXT = re.compile(r"-?[0-9]{1,78}")  # as log_args writes integers; 2^256 - 1 has 78 digits


def _int_arg_bytes(value: Any) -> bytes | None:
    """An integer arg (decimal string, or int) as `_int_args` holds it; None when it is not one."""
    if isinstance(value, str):
        if not _INTEGER_TEXT.fullmatch(value):
            return None
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        return None
    return _int_arg_encoding(number) if INT256_MIN <= number <= UINT256_MAX else None


def _int_args(event: Mapping[str, Any], paths: tuple[tuple[str, str, int | None], ...]) -> dict[str, bytes]:
    """The named args paths that hold integers; a missing or other value is left out, so that only the
    comparisons reading it fail (CEL's && and || still decide around an error)."""
    if not isinstance(event, Mapping):
        raise TypeError(f"event is {type(event).__name__}, not a mapping")
    args = event.get("args")
    found: dict[str, bytes] = {}
    if not isinstance(args, Mapping):
        return found
    for key, name, index in paths:
        value = args.get(name)
        if index is not None:
            value = value[index] if isinstance(value, list | tuple) and index < len(value) else None
        encoded = _int_arg_bytes(value)
        if encoded is not None:
            found[key] = encoded
    return found


class CompiledCondition:
    """One compiled condition; evaluate() is called once per candidate event and never raises."""

    __slots__ = ("source", "cel_source", "last_error", "_program", "_fields")

    def __init__(self, source: str, cel_source: str, program: Any, fields: _Fields):
        self.source = source
        # What CEL runs: amount and integer-arg literals as bytes, args paths compared as integers
        # read from _int_args, hex literals lowercase.
        self.cel_source = cel_source
        self.last_error: str | None = None
        self._program = program
        self._fields = fields

    def __repr__(self) -> str:
        return f"CompiledCondition({self.source!r})"

    def _cel_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        fields = self._fields
        if fields.names is None:
            view = dict(event)
            for name in AMOUNT_FIELDS:
                if name in view:
                    view[name] = _amount_bytes(view[name])
            return view
        amounts = fields.amounts
        return {
            name: _amount_bytes(event[name]) if name in amounts else event[name]
            for name in fields.names
            if name in event
        }

    def _run(self, event: Mapping[str, Any]) -> Any:
        variables = {"event": self._cel_event(event)}
        if self._fields.int_args:
            variables[INT_ARGS_VARIABLE] = _int_args(event, self._fields.int_args)
        return self._program.execute(variables)

    def evaluate(self, event: Mapping[str, Any]) -> bool:
        """True when the condition holds; False when it does not or cannot be evaluated (see last_error)."""
        try:
            result = self._run(event)
        except _PASS_THROUGH:  # pragma: no cover
            raise
        except BaseException as error:  # also a PanicException from the Rust core
            self.last_error = f"{type(error).__name__}: {error}"
            if isinstance(error, KeyError) and any(error.args == (key,) for key, _, _ in self._fields.int_args):
                self.last_error += " (missing, or not an integer from -2^255 to 2^256 - 1)"
            return False
        if result is True:
            return True
        if result is not False:
            self.last_error = f"condition gave {type(result).__name__} {result!r:.100}, not a boolean"
        return False

    def _trial(self) -> None:
        """Refuse a condition that fails with a type error, or gives no boolean, for every kind of event.

        A missing field, index or similar data-dependent error only means the condition is false for
        that event, so it alone never refuses a condition.
        """
        failures: list[str] = []
        for sample in SAMPLE_EVENTS:
            try:
                result = self._run(sample)
            except (TypeError, RuntimeError) as error:
                if isinstance(error, TypeError) or "Undefined variable or function" in str(error):
                    failures.append(f"{error}")
                continue
            except _PASS_THROUGH:  # pragma: no cover
                raise
            except BaseException:  # data-dependent: a missing field, index out of range, ...
                continue
            if isinstance(result, bool):
                return
            failures.append(f"it gives {type(result).__name__}, not a boolean")
        if failures:
            raise ConditionError(f"condition cannot be evaluated for any kind of event: {failures[0]}")


def compile_condition(source: str) -> CompiledCondition:
    """Compile a monitor condition; raises ConditionError with a message fit for a 422 answer."""
    if not isinstance(source, str):
        raise ConditionError(f"condition must be a string, not {type(source).__name__}")
    if len(source) > MAX_CONDITION_LENGTH:
        raise ConditionError(f"condition is longer than {MAX_CONDITION_LENGTH} characters")
    if not source.strip():
        raise ConditionError("condition is empty")
    try:
        tokens = _tokens(source)
    except _Unreadable as unreadable:
        _compile_program(source, source)  # the compiler's own message, when it has one
        raise ConditionError(
            f"condition does not compile: unexpected {source[unreadable.position]!r} at "
            f"{_where(source, unreadable.position)}"
        ) from None

    accesses, whole_event = _event_accesses(tokens)
    rewriter = _Rewriter(source, tokens, accesses, _arg_paths(tokens, accesses))
    rewriter.plan()
    # Syntax first, on a probe with the integer literals as `0`; then our own checks.
    _compile_program(_apply(source, rewriter.probe_replacements().values()), source)
    replacements = rewriter.replacements()
    unknown = sorted({access.name for access in accesses} - KNOWN_FIELDS)
    if unknown:
        raise ConditionError(
            f"event has no field {unknown[0]!r}; its fields are {', '.join(sorted(KNOWN_FIELDS))}"
        )
    _refuse_reserved(tokens, source)

    cel_source = _apply(source, replacements)
    program = _compile_program(cel_source, source)
    int_paths = rewriter.int_arg_paths
    # An `event.args` access that is only the start of a path read from _int_args is not read from event.
    names = None if whole_event else tuple(sorted({
        access.name for access in accesses if access.first not in int_paths
    }))
    amounts = frozenset(access.name for access in accesses if access.name in AMOUNT_FIELDS)
    int_args = tuple(sorted({(path.key, path.arg, path.index) for path in int_paths.values()}))
    condition = CompiledCondition(source, cel_source, program, _Fields(names, amounts, int_args))
    condition._trial()
    return condition


def _refuse_reserved(tokens: list[_Token], source: str) -> None:
    for i, token in enumerate(tokens):
        if token.text == INT_ARGS_VARIABLE and token.kind == "ident" and not (i and tokens[i - 1].text == "."):
            raise ConditionError(
                f"{INT_ARGS_VARIABLE} at {_where(source, token.start)} is reserved; a condition has one "
                f"variable, event"
            )


@functools.lru_cache(maxsize=16384)
def cached_condition(source: str) -> CompiledCondition:
    """compile_condition, once per process per source (errors are not cached and raise again)."""
    return compile_condition(source)
