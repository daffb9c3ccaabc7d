from pathlib import Path

import yaml

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
    result = subprocess.run(["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
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
