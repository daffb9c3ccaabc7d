"""`manage.py call_tools FILE`: replay assistant tool calls from JSON lines, one JSON result line each.

Input lines: {"name": "...", "arguments": {...}} calls a tool; {"scenario": "NAME"} starts a
new scenario. Output: exactly one JSON line per call on stdout, {"name", "ok", "result"|"error"};
anything else (logs, progress) goes to stderr so the output can be diffed or piped.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from assistant.tools import ToolContext, call_tool
from orders.interchange import shop_export
from orders.models import Customer

_SCENARIO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """Point stdout log handlers at stderr while the command runs (stdout carries only results)."""
    moved = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is sys.stdout:
            moved.append(handler)
            handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler in moved:
            handler.setStream(sys.stdout)


class Command(BaseCommand):
    help = "Run tool calls from JSON lines (FILE or - for stdin) and print one JSON result line per call."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON-lines file of calls, or - to read stdin.")
        parser.add_argument(
            "--as-user",
            metavar="HANDLE",
            help="Act as this customer: anything touching another customer's data is refused.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Roll back each scenario after it ends.")
        parser.add_argument(
            "--export",
            metavar="DIR",
            type=Path,
            help="Write each scenario's final state to DIR/NAME/ (before any rollback).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        customer = None
        if options["as_user"]:
            customer = Customer.objects.filter(handle=options["as_user"]).first()
            if customer is None:
                raise CommandError(f"--as-user: there is no customer with handle {options['as_user']!r}.")
        context = ToolContext(customer=customer, channel="cli")
        stream: IO[str] = sys.stdin if options["file"] == "-" else self._open(options["file"])
        with _logs_to_stderr():
            try:
                for name, lines in self._scenarios(stream):
                    self._run_scenario(name, lines, context, dry_run=options["dry_run"], export=options["export"])
            finally:
                if stream is not sys.stdin:
                    stream.close()

    def _open(self, path: str) -> IO[str]:
        try:
            return open(path, encoding="utf-8")  # noqa: SIM115 - closed in handle()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc

    def _scenarios(self, stream: IO[str]) -> Iterator[tuple[str, list[tuple[int, Any]]]]:
        """Group parsed lines by scenario (lines before the first marker form scenario 'default')."""
        name = "default"
        calls: list[tuple[int, Any]] = []
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                line: Any = json.loads(raw)
            except json.JSONDecodeError as exc:
                line = {"_error": f"line {number} is not valid JSON ({exc.msg})."}
            if isinstance(line, dict) and set(line) == {"scenario"}:
                if calls or name != "default":
                    yield name, calls
                if not isinstance(line["scenario"], str) or not _SCENARIO_NAME.match(line["scenario"]):
                    raise CommandError(
                        f"line {number}: a scenario name is letters, digits, '_', '.' or '-' (got {line['scenario']!r})."
                    )
                name, calls = line["scenario"], []
                continue
            calls.append((number, line))
        if calls or name != "default":
            yield name, calls

    def _run_scenario(
        self, name: str, calls: list[tuple[int, Any]], context: ToolContext, *, dry_run: bool, export: Path | None
    ) -> None:
        with transaction.atomic():
            for number, line in calls:
                self._emit(self._call(number, line, context))
            if export is not None:
                shop_export(directory=export / name)
            if dry_run:
                transaction.set_rollback(True)

    def _call(self, number: int, line: Any, context: ToolContext) -> dict[str, Any]:
        if isinstance(line, dict) and "_error" in line:
            return {"name": None, "ok": False, "error": {"code": "invalid_input", "message": line["_error"]}}
        if not isinstance(line, dict) or not isinstance(line.get("name"), str) or set(line) - {"name", "arguments"}:
            message = f'line {number} must be {{"name": ..., "arguments": {{...}}}} or {{"scenario": ...}}.'
            return {
                "name": line.get("name") if isinstance(line, dict) else None,
                "ok": False,
                "error": {"code": "invalid_input", "message": message},
            }
        return call_tool(line["name"], line.get("arguments", {}), context=context).as_dict()

    def _emit(self, payload: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(payload, default=str, ensure_ascii=False))
