"""Configuration: one TOML file, any value overridable from the environment.

Environment variables win over the file, so secrets never need to be written
into it: ``INGEST__DATABASE__URL``, ``INGEST__OUTGOING_MAIL__PASSWORD`` and so
on (section and key joined by double underscores). The whole configuration is
validated at start-up; a problem becomes a :class:`ConfigError` naming the key.

This module reads the file and applies the environment; the sections are
models in ``config_runtime`` (running the service), ``config_channels`` (the
channels) and ``config_office`` (the office's organisation), gathered by
``config_settings.Settings``, whose checks across sections are in
``config_checks``. Everything is importable from here, as it always was.

The overlay is written by hand rather than with pydantic-settings: that library
drops a variable whose section is misspelt (``INGEST__DATABSE__URL`` would
leave the secret unset without a word, where here it is "databse: unknown
key"), names the section instead of the variable when a JSON value is bad, and
reads the process environment, where ``env=`` here takes any mapping (tests).
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ingest.config.channels import (
    CallsSettings,
    ImapSettings,
    OutgoingMailSettings,
    SmtpListenerSettings,
    TwilioSettings,
    WhatsAppCloudSettings,
)
from ingest.config.fields import EmailAddress
from ingest.config.office import (
    WEEKDAYS,
    AbsenceSettings,
    ClientMessageSettings,
    ComplexitySettings,
    DeadlineSettings,
    EmployeeSettings,
    HoursText,
    InteractionSettings,
    KindSettings,
    RoutingSettings,
    TopicSettings,
    WorkingTimeSettings,
)
from ingest.config.runtime import (
    ROLES,
    ClusterSettings,
    DatabaseSettings,
    HttpSettings,
    PipelineSettings,
    RetentionSettings,
    RetrySettings,
    ServiceSettings,
)
from ingest.config.settings import Settings

__all__ = [
    "ENV_PREFIX",
    "ROLES",
    "WEEKDAYS",
    "AbsenceSettings",
    "CallsSettings",
    "ClientMessageSettings",
    "ClusterSettings",
    "ComplexitySettings",
    "ConfigError",
    "DatabaseSettings",
    "DeadlineSettings",
    "EmailAddress",
    "EmployeeSettings",
    "HoursText",
    "HttpSettings",
    "ImapSettings",
    "InteractionSettings",
    "KindSettings",
    "OutgoingMailSettings",
    "RetentionSettings",
    "PipelineSettings",
    "RetrySettings",
    "RoutingSettings",
    "ServiceSettings",
    "Settings",
    "SmtpListenerSettings",
    "TopicSettings",
    "TwilioSettings",
    "WhatsAppCloudSettings",
    "WorkingTimeSettings",
    "load_config",
    "parse_config",
]

ENV_PREFIX = "INGEST__"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the problem."""


def _format_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in item["loc"]).replace(".[", "[")
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(lines)


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    data_dir = settings.service.data_dir
    if not data_dir.is_absolute():
        settings.service.data_dir = (base / data_dir).resolve()
    cm = settings.client_messages
    if cm.templates_dir is not None and not cm.templates_dir.is_absolute():
        cm.templates_dir = (base / cm.templates_dir).resolve()
    if cm.reply_templates_dir is not None and not cm.reply_templates_dir.is_absolute():
        cm.reply_templates_dir = (base / cm.reply_templates_dir).resolve()
    return settings


def _overlay_env(document: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Apply INGEST__SECTION__KEY=value variables on top of the file's values.

    A value that starts with ``[`` or ``{`` is read as JSON (a list, a table);
    anything else stays a string, which pydantic converts like a value from the
    file ("8080" to a port, "false" to a boolean) and reports when it cannot.
    """
    merged = copy.deepcopy(document)
    for name, raw in sorted(env.items()):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        value: Any = raw
        if raw.lstrip().startswith(("[", "{")):
            try:
                value = json.loads(raw)
            except ValueError:
                raise ConfigError(f"{name}: not valid JSON") from None
        node = merged
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    return merged


def parse_config(document: Mapping[str, Any], *, base_dir: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Validate a configuration document; env overrides (INGEST__...) apply on top."""
    merged = _overlay_env(dict(document), os.environ if env is None else env)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc)) from None
    return _resolve_paths(settings, base_dir)


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the TOML file at ``path``."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(document, base_dir=path.resolve().parent, env=env)
