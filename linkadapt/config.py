"""A command's flags, their checks and its reproducing command line, from one typed config.

A subcommand's configuration is a pydantic dataclass whose fields carry the type, the
default and (as the attribute's docstring) the one-line help. pydantic-settings turns
the fields into argparse flags (``dagger_rounds`` is ``--dagger-rounds``); pydantic
checks the values given, and an error names the flag. :func:`command_line` writes the
command that reproduces a configuration, for model cards and resume hints. A tuple field
marked :class:`CommaList` takes one comma-separated value (``--targets 0.05,0.1``); any
other tuple field is repeated (``--model a.onnx --model b.onnx``).
"""

from __future__ import annotations

import argparse
import copy
import functools
import shlex
import types
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import ConfigDict, Field, GetCoreSchemaHandler, ValidationError, create_model
from pydantic_core import CoreSchema, core_schema

T = TypeVar("T")

CONFIG = ConfigDict(use_attribute_docstrings=True, extra="forbid")
"""The pydantic config of every command configuration: help from the docstrings, and no
field that the config does not declare."""


class ConfigError(ValueError):
    """A bad option; the message names its flag. The command exits with status 2."""


def flag(name: str) -> str:
    """The flag of a field: ``dagger_rounds`` -> ``--dagger-rounds``."""
    return f"--{name.replace('_', '-')}"


@dataclass(frozen=True)
class CommaList:
    """Marks a ``tuple[X, ...]`` field whose flag takes one comma-separated value.

    ``Annotated[tuple[float, ...], CommaList("T")]`` is ``--targets T,T,...``: empty items
    are dropped, an item that is not an X is refused naming the flag. The field still takes
    a tuple in Python.
    """

    metavar: str = ""
    """the name of one item in the help (default: the item type, upper case)"""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        item = get_args(source)[0]
        items = {int: "integers", float: "numbers"}.get(item, "values")

        def split(value: Any, info: core_schema.ValidationInfo) -> Any:
            if not isinstance(value, str):
                return value
            try:
                return tuple(item(v.strip()) for v in value.split(",") if v.strip())
            except ValueError:
                raise ValueError(f"{flag(str(info.field_name))} must be comma-separated "
                                 f"{items}, got {value!r}") from None

        return core_schema.with_info_before_validator_function(split, handler(source))


def _comma_list(info: Any) -> tuple[CommaList, type] | None:
    """The CommaList marker of a field (also as ``... | None``) and its item type."""
    marked = [(info.annotation, info.metadata)] + [(get_args(a)[0], a.__metadata__) for a in
                                                   get_args(info.annotation)
                                                   if hasattr(a, "__metadata__")]
    return next(((m, get_args(kind)[0]) for kind, metadata in marked for m in metadata
                 if isinstance(m, CommaList)), None)


def _fields(config_cls: type, exclude: Iterable[str]) -> dict[str, Any]:
    skip = set(exclude)
    return {name: _described(config_cls, name, info)
            for name, info in config_cls.__pydantic_fields__.items()  # type: ignore[attr-defined]
            if name not in skip and info.init is not False}


def _described(config_cls: type, name: str, info: Any) -> Any:
    """``info`` with the docstring of a base class declaring it (pydantic reads only its own)."""
    for base in config_cls.__mro__[1:] if info.description is None else ():
        declared = getattr(base, "__pydantic_fields__", {}).get(name)
        if declared is not None and declared.description:
            info = copy.copy(info)
            info.description = declared.description
            break
    return info


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) in (list, tuple)


def _source(config_cls: type, parser: argparse.ArgumentParser, exclude: Iterable[str]) -> Any:
    """pydantic-settings' CLI source of the fields of a config dataclass.

    It reads the fields as a settings model; only its command-line source is used, so
    no environment variable sets a training option.
    """
    from pydantic_settings import BaseSettings, CliSettingsSource  # with the command only

    fields: dict[str, Any] = {name: (info.annotation, info)
                              for name, info in _fields(config_cls, exclude).items()}
    for name, (_, info) in fields.items():
        if _comma_list(info):  # one text value; the config's own validator splits it
            default = info.get_default(call_default_factory=True)
            fields[name] = (str | None, Field(None if default is None else _text(default),
                                              description=info.description))
    with warnings.catch_warnings():  # a field named like a BaseModel method (``json``)
        warnings.filterwarnings("ignore", message="Field name .* shadows an attribute")
        model = create_model(config_cls.__name__, __base__=BaseSettings, **fields)
    return CliSettingsSource(model, root_parser=parser,
                             cli_kebab_case=True, cli_implicit_flags="toggle",
                             cli_hide_none_type=True, cli_avoid_json=True)


def add_flags(parser: argparse.ArgumentParser | Any, config_cls: type,
              exclude: Iterable[str] = ()) -> None:
    """Add one flag per field of ``config_cls`` (less ``exclude``) to ``parser`` (or a group).

    A flag left out of the command line is left out of the parsed namespace, so the
    config's own default applies; a number or path given holds its type there. Metavars
    are upper case (``INT``, ``PATH``); a default of None, off or empty is not shown, as
    the help line says what happens then.
    """
    actions = getattr(parser, "_group_actions", None) or parser._actions
    before = len(actions)
    _source(config_cls, parser, exclude)
    fields = _fields(config_cls, exclude)
    for action in actions[before:]:
        info = fields.get(action.dest)
        kind = None if info is None else _plain(info.annotation)
        comma = None if info is None else _comma_list(info)
        if get_origin(kind) is Literal:
            action.choices = get_args(kind)  # argparse names a bad choice
        elif comma is not None:
            item = comma[0].metavar or comma[1].__name__.upper()
            action.metavar = f"{item},{item},..."
        elif get_origin(kind) in (list, tuple):
            action.metavar = _plain(get_args(kind)[0]).__name__.upper()  # one item per use
        elif isinstance(action.metavar, str):
            action.metavar = action.metavar.upper()
        if kind in (int, float, Path):
            action.type = functools.partial(_typed, kind)
        if action.help:
            action.help = _help(action.help, None if info is None else info.default)


def _plain(annotation: Any) -> Any:
    """``annotation`` without ``| None``."""
    rest = [arg for arg in get_args(annotation) if arg is not type(None)]
    optional = get_origin(annotation) in (Union, types.UnionType) and len(rest) == 1
    return rest[0] if optional else annotation


def _typed(kind: Callable[[str], Any], text: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        return text  # left to the config's check, which names the flag


def _help(text: str, default: Any) -> str:
    if isinstance(default, float):
        text = text.replace(f"(default: {default})", f"(default: {default:g})")
    for unshown in (" (default: None)", " (default: False)", " (default: ())",
                    " (default: [])"):
        text = text.removesuffix(unshown)
    return text


def given(config_cls: type, args: argparse.Namespace, exclude: Iterable[str] = ()
          ) -> dict[str, Any]:
    """The fields of ``config_cls`` that the command line gave, as parsed text.

    A list field's flag is repeated, one item per use, taken as written (no splitting
    at commas, no JSON): a path or a command line may contain either.
    """
    lists = {name: getattr(args, name) for name, info in _fields(config_cls, exclude).items()
             if _is_list(info.annotation) and getattr(args, name, None) is not None}
    rest = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in lists})
    scratch = argparse.ArgumentParser(add_help=False)
    return {**_source(config_cls, scratch, exclude)(parsed_args=rest)(), **lists}


def parse_config(config_cls: type[T], args: argparse.Namespace, exclude: Iterable[str] = (),
                 **values: Any) -> T:
    """The config the command line gave, ``values`` over it; ConfigError naming a bad flag."""
    return build(config_cls, {**given(config_cls, args, exclude), **values})


def build(config_cls: type[T], values: Mapping[str, Any]) -> T:
    """``config_cls(**values)``, a pydantic error turned into ConfigError naming the flag."""
    try:
        return config_cls(**values)
    except ValidationError as exc:
        raise ConfigError(problem(exc)) from None


def problem(exc: ValidationError) -> str:
    """One line naming each bad value by its flag."""
    lines = []
    for error in exc.errors(include_url=False):
        name = flag(str(error["loc"][0])) if error["loc"] else "options"
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ValueError) and (str(cause).startswith("--") or not error["loc"]):
            lines.append(str(cause))  # the config's own check, which names the flag
        elif error["type"] == "extra_forbidden" or error["type"] == "unexpected_keyword_argument":
            lines.append(f"{name} is not an option of this command")
        else:
            lines.append(f"{name}: {error['msg'][0].lower()}{error['msg'][1:]}, "
                         f"got {error['input']!r}")
    return "; ".join(lines)


def command_line(words: Iterable[str], config: Any, always: Iterable[str] = (),
                 exclude: Iterable[str] = ()) -> str:
    """``words`` (``linkadapt NAME``) and the flags that reproduce ``config``.

    A field is written when it differs from its default or is named in ``always``;
    fields in ``exclude`` never are. Fields come in their declared order.
    """
    parts = list(words)
    keep = set(always)
    for name, info in _fields(type(config), exclude).items():
        value = getattr(config, name)
        default = info.get_default(call_default_factory=True)
        if name not in keep and value == default:
            continue
        parts += [flag(name), _text(value)] if _comma_list(info) and value else _words(
            name, value)
    return shlex.join(parts)


def _words(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return [flag(name)] if value else []
    if isinstance(value, (list, tuple)):
        return [w for item in value for w in (flag(name), _text(item))]
    return [flag(name), _text(value)]


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
