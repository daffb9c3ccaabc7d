"""Settings are read from the environment; bad values stop startup with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_django(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # A production-like environment: nothing the test process itself set (the browser tests set
    # DJANGO_ALLOW_ASYNC_UNSAFE for Playwright while they run) leaks into the child.
    dropped = {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update({"DJANGO_SETTINGS_MODULE": "supportbot.settings", **env_overrides})
    command = args or ("-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)")
    return subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_debug_off_without_secret_key_refuses_to_start_with_one_line():
    result = run_django({"DEBUG": "0"})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY" in lines[0] and "DEBUG" in lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "expected_words"),
    [
        ("DEBUG", "maybe", "boolean"),
        ("CELERY_TASK_TIME_LIMIT", "soon", "whole number"),
        ("DATABASE_URL", "mysql://root@localhost/shop", "PostgreSQL URL"),
        ("REDIS_URL", "localhost:6379", "Redis URL"),
        ("LOG_LEVEL", "LOUD", "one of"),
    ],
)
def test_invalid_value_names_the_variable_and_what_is_expected(variable, value, expected_words):
    result = run_django({"DEBUG": "1", variable: value})
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0] and expected_words in lines[0]


def test_values_are_parsed_from_the_environment():
    result = run_django(
        {"DEBUG": "false", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "shop.example, support.example"},
        "-c",
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.ALLOWED_HOSTS, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['shop.example', 'support.example'] True 31536000"


def test_check_deploy_passes_with_production_settings():
    result = run_django(
        {"DEBUG": "0", "SECRET_KEY": "k3y-" + "a1B2c3D4e5" * 6, "ALLOWED_HOSTS": "support.example"},
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_assistant_brain_accepts_only_its_choices_and_llm_needs_an_endpoint():
    bad = run_django({"DEBUG": "1", "ASSISTANT_BRAIN": "gpt"})
    assert (
        bad.returncode != 0 and "ASSISTANT_BRAIN='gpt' is invalid; expected one of: auto, llm, offline." in bad.stderr
    )
    unconfigured = run_django({"DEBUG": "1", "ASSISTANT_BRAIN": "llm", "LLM_BASE_URL": "", "LLM_MODEL": ""})
    assert (
        unconfigured.returncode != 0 and "ASSISTANT_BRAIN=llm needs LLM_BASE_URL and LLM_MODEL" in unconfigured.stderr
    )
