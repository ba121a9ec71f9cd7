"""The deployment files kept true (issue 16, item 4). No container runtime runs here, so this
checks what can be checked: every variable compose.yaml, the Dockerfile and the systemd units set
is a setting documented in .env.example, every command they (and docs/deploy.md) run parses with
the real CLI, the Dockerfile installs what scripts/setup installs minus the development tools,
and the units pass `systemd-analyze` where it exists."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.__main__ import _build_parser
from bot.dburl import parse as parse_database_url
from bot.metrics import Metrics
from bot.settings import RedisSettings
from handlers.setting_names import setting_names
from handlers.web import HEALTH_PATH, METRICS_PATH

ROOT = Path(__file__).resolve().parents[2]
HOME = "/var/lib/helpbot"
UNITS = sorted((ROOT / "deploy").glob("*.service"))
# Variables of the Python runtime and of the shell, not of helpbot.
_RUNTIME = frozenset({"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"})


def documented() -> set[str]:
    """The names .env.example gives (``# NAME=…`` or ``NAME=…``)."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))


def assert_settings(names: set[str], where: str) -> None:
    unknown = names - setting_names().keys()
    assert not unknown, f"{where} sets {sorted(unknown)}, which are not helpbot settings"
    missing = names - documented()
    assert not missing, f"{where} sets {sorted(missing)}, which .env.example does not document"


def assert_command(args: list[str], where: str) -> None:
    """``args`` (after the program) is a command the CLI accepts."""
    try:
        parsed = _build_parser(args).parse_args(args)
    except SystemExit:
        pytest.fail(f"{where}: `helpbot {shlex.join(args)}` is not a helpbot command")
    assert parsed.command is not None or parsed.version, where


def test_every_setting_is_documented_and_everything_documented_is_read() -> None:
    names = set(setting_names())
    assert names - documented() == set()
    # Besides the settings, .env.example documents only compose.yaml's own variables.
    assert documented() - names == {"POSTGRES_PASSWORD"}


# --- Dockerfile -----------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            found.append((instruction.upper(), rest.strip()))
    return found


def install_steps(lines: list[str], venv: str) -> list[list[str]]:
    """The venv and pip commands, with what only differs between a checkout and an image
    normalised away: the venv's path, quietness of the cache, an editable install."""
    steps = []
    for line in lines:
        words = shlex.split(line)
        if "venv" not in words and "pip" not in words:
            continue
        words = [w.replace(venv, "VENV") for w in words if w not in ("--no-cache-dir", "-e")]
        steps.append(words)
    return steps


def test_the_image_installs_what_scripts_setup_installs_without_dev_tools() -> None:
    setup = (ROOT / "scripts" / "setup").read_text(encoding="utf-8").splitlines()
    wanted = [[w.replace(".[dev]", ".") for w in step] for step in install_steps(setup, ".venv")]
    build = [rest for instruction, rest in dockerfile() if instruction == "RUN"]
    build_steps = install_steps(build, "/opt/helpbot")
    assert build_steps == wanted
    assert len(wanted) == 3  # the venv, pip itself, the project
    assert not any("dev" in word for step in build_steps for word in step)


def test_the_image_is_slim_unprivileged_and_keeps_its_data_in_a_volume() -> None:
    lines = dockerfile()
    bases = [rest for instruction, rest in lines if instruction == "FROM"]
    assert bases and all(re.match(r"python:3\.\d+-slim\b", base) for base in bases)
    users = [rest for instruction, rest in lines if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(r for i, r in lines if i == "ENV")))
    assert env["HELPBOT_HOME"] == HOME
    assert_settings(set(env) - _RUNTIME, "the Dockerfile")
    assert [rest for instruction, rest in lines if instruction == "VOLUME"] == [f'["{HOME}"]']
    healthcheck = " ".join(rest for instruction, rest in lines if instruction == "HEALTHCHECK")
    assert HEALTH_PATH in healthcheck and "WEB_PORT" in healthcheck


def test_the_images_command_is_a_helpbot_command() -> None:
    lines = dict(dockerfile())
    assert yaml.safe_load(lines["ENTRYPOINT"]) == ["helpbot"]
    assert_command(yaml.safe_load(lines["CMD"]), "the Dockerfile's CMD")


# --- compose.yaml -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def helpbot_services(compose: dict[str, object]) -> dict[str, dict[str, object]]:
    services = compose["services"]
    assert isinstance(services, dict)
    return {
        name: service
        for name, service in services.items()
        if str(service.get("image", "")).startswith("helpbot")
    }


def test_compose_runs_postgresql_redis_and_helpbot(compose: dict[str, object]) -> None:
    services = compose["services"]
    assert isinstance(services, dict)
    assert str(services["postgres"]["image"]).startswith("postgres:")
    assert str(services["redis"]["image"]).startswith("redis:")
    ours = helpbot_services(compose)
    assert "helpbot" in ours
    for name, service in ours.items():
        assert service["env_file"] == ".env", f"{name}: settings come from .env"
        assert f"helpbot:{HOME}" in service["volumes"]
        env = service["environment"]
        assert isinstance(env, dict)
        assert env["HELPBOT_HOME"] == HOME
        assert parse_database_url(env["DATABASE_URL"]).backend == "postgresql"
        RedisSettings(url=env["REDIS_URL"])
    serve = ours["helpbot"]
    assert serve["command"][0] == "serve"
    assert set(serve["depends_on"]) >= {"migrate", "redis"}


def test_compose_sets_only_documented_settings_and_runs_helpbot_commands(
    compose: dict[str, object],
) -> None:
    for name, service in helpbot_services(compose).items():
        env = service["environment"]
        assert isinstance(env, dict)
        assert_settings(set(env), f"compose.yaml's {name}")
        assert_command(service["command"], f"compose.yaml's {name}")
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    interpolated = set(re.findall(r"\$\{(\w+)", text))
    assert interpolated, "compose.yaml takes the database password from .env"
    assert interpolated <= documented(), "every ${VARIABLE} compose.yaml reads is in .env.example"


# --- systemd ----------------------------------------------------------------------------------


def unit(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` -> values (a key may repeat, as systemd allows)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_units_set_documented_settings_and_run_helpbot_commands(path: Path) -> None:
    service = unit(path)
    env = dict(v.split("=", 1) for v in service.get("Service.Environment", []))
    assert env["HELPBOT_HOME"] == HOME
    assert service["Service.StateDirectory"] == ["helpbot"]  # systemd makes /var/lib/helpbot
    assert_settings(set(env), path.name)
    (start,) = service["Service.ExecStart"]
    program, *args = shlex.split(start)
    assert program == "/opt/helpbot/bin/helpbot"
    assert_command(args, path.name)
    assert service["Service.User"] == ["helpbot"]


def test_the_service_is_hardened() -> None:
    service = unit(ROOT / "deploy" / "helpbot.service")
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictNamespaces": "yes",
        "SystemCallArchitectures": "native",
    }.items():
        assert service[f"Service.{key}"] == [value], key
    assert "@system-service" in service["Service.SystemCallFilter"]
    timer = unit(ROOT / "deploy" / "helpbot-purge.timer")
    assert timer["Timer.OnCalendar"] == ["daily"]
    assert (ROOT / "deploy" / "helpbot-purge.service").is_file()  # the timer's unit


def test_systemd_analyze_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    helpbot = shutil.which("helpbot") or str(ROOT / ".venv" / "bin" / "helpbot")
    copies = []
    for path in [*UNITS, *(ROOT / "deploy").glob("*.timer")]:
        copy = tmp_path / path.name  # ExecStart must name an executable that exists here
        copy.write_text(path.read_text().replace("/opt/helpbot/bin/helpbot", helpbot))
        copies.append(str(copy))
    verify = subprocess.run([analyze, "verify", *copies], capture_output=True, text=True)
    assert (verify.returncode, verify.stderr) == (0, "")
    # Exposure on systemd's 0-100 scale (10.0 shown as "10.0 UNSAFE"); 20 is "2.0 OK".
    for copy in (c for c in copies if c.endswith(".service")):
        security = subprocess.run(
            [analyze, "security", "--offline=yes", "--threshold=20", copy],
            capture_output=True,
            text=True,
        )
        assert security.returncode == 0, security.stdout[-400:]


# --- docs/deploy.md and the README --------------------------------------------------------------


def deploy_guide() -> str:
    return (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


def test_the_guide_covers_what_production_needs() -> None:
    guide = deploy_guide()
    for needed in (
        "TELEGRAM_MODE=polling",
        "TELEGRAM_MODE=webhook",
        "BITRIX_EVENT_MODE=fetch",
        "TLS",
        "TELEGRAM_WEBHOOK_URL=https://",
        "pg_dump",
        ".backup",
        "helpbot db upgrade",
        "several replicas",
        "--no-migrate",
        "helpbot db purge",
        "RETENTION_DAYS",
        METRICS_PATH,
        "scrape_configs",
        "helpbot_queue_oldest_wait_seconds",
        "helpbot doctor",
    ):
        assert needed in guide, needed


def test_every_helpbot_command_in_the_guide_exists() -> None:
    guide = deploy_guide()
    commands = re.findall(r"`helpbot ([^`]+)`", guide)
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", guide, re.S))
    commands += re.findall(r"(?:^|/bin/|run --rm )helpbot ([^\n#]*)", shell, re.M)
    assert len(commands) > 10
    for command in commands:
        args = [a for a in shlex.split(command) if a not in ("COMMAND",)]
        assert_command(args or ["--help"], f"docs/deploy.md: helpbot {command}")


async def test_the_sample_prometheus_files_parse_and_name_real_metrics() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", deploy_guide(), re.S)
    loaded = [yaml.safe_load(block) for block in blocks]
    scrape = next(b for b in loaded if "scrape_configs" in b)
    assert scrape["scrape_configs"][0]["metrics_path"] == METRICS_PATH
    rules = next(b for b in loaded if "groups" in b)["groups"][0]["rules"]
    exposed = await Metrics.create().registry.expose()
    for rule in rules:
        for metric in re.findall(r"helpbot_\w+", rule["expr"]):
            assert f"# TYPE {metric} " in exposed, metric
    assert any("helpbot_queue_oldest_wait_seconds" in rule["expr"] for rule in rules)


def test_the_readme_starts_troubleshooting_with_doctor_and_points_to_the_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    troubleshooting = readme.split("## Troubleshooting", 1)[1]
    first_step = troubleshooting.strip().splitlines()[0]
    assert "helpbot doctor" in first_step
    assert "docs/deploy.md" in readme
