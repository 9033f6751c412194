"""docker-compose.yml only uses commands, flags and VPA_* variables that the CLI really has."""

from __future__ import annotations

from pathlib import Path

import yaml

from vpa_stream.cli import _OPTION_NAMES, build_parser

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_vpa_stream_command_in_compose_parses_with_the_cli() -> None:
    parser = build_parser({})
    services = compose()["services"]
    commands = {name: s["command"] for name, s in services.items() if s.get("image", "").startswith("vpa-stream")}
    assert set(commands) == {"topics", "replay", "processor", "sink"}
    for name, command in commands.items():
        args = parser.parse_args(command)
        assert callable(args.handler), name


def test_every_environment_variable_in_compose_is_a_cli_default() -> None:
    for name, service in compose()["services"].items():
        for var in service.get("environment", {}):
            if var.startswith("VPA_"):
                assert var[4:].lower() in _OPTION_NAMES, f"{name}: {var}"


def test_the_processor_can_scale_out() -> None:
    processor = compose()["services"]["processor"]
    assert "container_name" not in processor and "ports" not in processor
