"""One precedence rule for every setting: defaults < config file < environment < given.

"Given" is what the caller passes: command-line flags, or keyword arguments in a
notebook.  A kind of settings (collection, cache) describes each of its settings once as
an ``Option``: its reader, default, environment variables (the current name first, then
old names that still work) and command-line flag.  ``OptionTable.resolve`` applies the
rule, reading only the value that wins (a bad value in the environment does not matter
when the command line overrides it), and ``OptionTable.check`` validates values built in
code the same way, so a notebook gets the error the command line prints.

Every bad value is one ``ConfigError`` line naming where the value came from and how to
fix it; an unknown setting name gets the closest known names suggested.

The config file is TOML (``LLM_SOLUTIONS_CONFIG``), one table per kind of settings::

    [collection]
    samples = 5
    model_concurrency = 4

    [cache]
    ttl_seconds = "7d"
"""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_solutions.errors import ConfigError
from llm_solutions.settings import environment
from llm_solutions.settings.values import Reader

CONFIG_ENV = "LLM_SOLUTIONS_CONFIG"


@dataclass(frozen=True)
class Option:
    """One setting: its field name, reader, default, and where else it may come from.

    ``env`` lists environment variables, the current name first; ``aliases`` are old
    field names still accepted in code, config files and stored sessions; ``flag`` is
    the command-line flag named in messages; ``secret`` values are never shown.
    """

    name: str
    read: Reader
    default: Any = None
    env: tuple[str, ...] = ()
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    secret: bool = False

    def shown(self, value: Any) -> str:
        return "'***'" if self.secret else repr(value)


@dataclass
class ConfigFile:
    """A TOML config file, one table per kind of settings."""

    path: Path
    tables: dict[str, dict[str, Any]]
    text: str = ""

    @classmethod
    def load(cls, path: str | Path, *, source: str | None = None) -> ConfigFile:
        """Read and parse the file; ``source`` says where its path came from, for messages."""
        where = f"{source}={path}" if source else str(path)
        file = Path(path).expanduser()
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such file; fix the path or unset it") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{where}: cannot read it ({e})") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{where}: cannot read it as TOML ({e})") from None
        for name, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{file} line {_line_of(text, name)}: '{name}' must be a table such as [collection]")
        return cls(path=file, tables=data, text=text)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ConfigFile | None:
        """The file ``LLM_SOLUTIONS_CONFIG`` names, or ``None`` when it names none."""
        chosen = _env_value((CONFIG_ENV,), env)
        return None if chosen is None else cls.load(chosen[1], source=CONFIG_ENV)

    def where(self, section: str, key: str) -> str:
        return f"{self.path} line {_line_of(self.text, key, section)}: [{section}] {key}"

    def check_sections(self, known: Iterable[str]) -> None:
        """An unknown table name is an error naming the closest known one."""
        known = list(known)
        for name in self.tables:
            if name not in known:
                raise ConfigError(
                    f"{self.path} line {_line_of(self.text, name)}: unknown table [{name}]; {_closest(name, known)}"
                )


@dataclass
class OptionTable:
    """The options of one kind of settings (one table of the config file)."""

    section: str
    options: list[Option]
    _by_name: dict[str, Option] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {}
        for option in self.options:
            for name in (option.name, *option.aliases):
                self._by_name[name] = option

    def __getitem__(self, name: str) -> Option:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def defaults(self) -> dict[str, Any]:
        return {option.name: option.default for option in self.options}

    def canonical(self, key: str, where: str) -> str:
        """The current field name for ``key`` (an old alias included), or a ``ConfigError``."""
        option = self._by_name.get(key)
        if option is None:
            raise ConfigError(f"{where}: unknown {self.section} setting '{key}'; {_closest(key, self._by_name)}")
        return option.name

    def check(self, name: str, value: Any, where: str | None = None) -> Any:
        """``value`` read by the option's reader; a ``ConfigError`` naming ``where`` if bad.

        Without ``where`` (code and command line) the message names the setting and its flag.
        """
        option = self._by_name[name]
        try:
            return option.read(value)
        except ValueError as e:
            if where is None:
                hint = f" ({option.flag})" if option.flag else ""
                raise ConfigError(f"{option.name}={option.shown(value)} {e}{hint}") from None
            raise ConfigError(f"{where}={option.shown(value)} {e}") from None

    def fill(self, target: Any, values: Mapping[str, Any], where: str) -> None:
        """Set every option on ``target`` (a settings object): ``values`` over the defaults,
        each a copy of its own, then ``check_all``."""
        given = self.normalise(values, where)
        for name, default in self.defaults().items():
            setattr(target, name, copy.deepcopy(given.get(name, default)))
        self.check_all(target)

    def check_all(self, target: Any) -> None:
        """Read every option's value on ``target`` as the command line would (values changed
        in code included); an unset option whose default is ``None`` stays unset."""
        for option in self.options:
            value = getattr(target, option.name)
            if value is None and option.default is None:
                continue
            setattr(target, option.name, self.check(option.name, value))

    def normalise(self, values: Mapping[str, Any], where: str) -> dict[str, Any]:
        """``values`` keyed by current names (old names mapped, unknown ones refused)."""
        found: dict[str, Any] = {}
        for key, value in values.items():
            found[self.canonical(key, where)] = value
        return found

    def resolve(
        self,
        given: Mapping[str, Any] | None = None,
        *,
        config: ConfigFile | None = None,
        env: Mapping[str, str] | None = None,
        only: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Every option's value: defaults < ``config`` < environment < ``given``.

        ``given`` values of ``None`` do not count (a flag that was not passed); ``env``
        replaces the real environment (tests); ``only`` limits the result to some options.
        Only the winning value is read, so a bad value that something above overrides (or
        that belongs to an option not asked for) is never reported.
        """
        chosen = self.normalise({k: v for k, v in (given or {}).items() if v is not None}, "given settings")
        values = self.defaults()
        file_table = (config.tables.get(self.section) or {}) if config is not None else {}
        file_values: dict[str, tuple[Any, str]] = {}
        for key, value in file_table.items():
            where = config.where(self.section, key) if config is not None else key
            file_values[self.canonical(key, where)] = (value, where)
        wanted = None if only is None else {self.canonical(name, "resolve") for name in only}
        for option in self.options:
            if wanted is not None and option.name not in wanted:
                values.pop(option.name)
                continue
            if option.name in chosen:
                values[option.name] = self.check(option.name, chosen[option.name])
                continue
            from_env = _env_value(option.env, env)
            if from_env is not None:
                values[option.name] = self.check(option.name, from_env[1], from_env[0])
            elif option.name in file_values:
                value, where = file_values[option.name]
                values[option.name] = self.check(option.name, value, where)
        return values


def _env_value(names: Iterable[str], env: Mapping[str, str] | None) -> tuple[str, str] | None:
    if env is None:
        return environment.read_first(names)
    for name in names:
        value = env.get(name)
        if value is not None and value.strip():
            return name, value.strip()
    return None


def _closest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"known: {', '.join(sorted(known))}"


def _line_of(text: str, key: str, section: str | None = None) -> int | str:
    """The line where ``key`` is set (inside ``[section]`` when given), or ``?``."""
    in_section = section is None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", stripped)
        if header:
            if header.group(1) == key and section is None:
                return number
            in_section = section is None or header.group(1) == section
            continue
        if in_section and re.match(rf"[\"']?{re.escape(key)}[\"']?\s*=", stripped):
            return number
    return "?"
