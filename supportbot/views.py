from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from supportbot.metrics import may_read_operations_detail
from supportbot.selectors import system_health


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """ok (200) when everything is up; degraded (200) when the database is up but Redis or the
    workers are not — pages and chat still work, jobs wait or fail visibly, so a load balancer
    should keep sending traffic; unhealthy (503) when the database is down.

    Anyone may probe it, so anonymous callers get each component's ok only: the details name
    hosts, versions and exception text, which are for staff and the metrics token.
    """
    checks = system_health()
    if all(check["ok"] for check in checks.values()):
        status = "ok"
    elif checks["database"]["ok"] and checks["pgvector"]["ok"]:
        status = "degraded"
    else:
        status = "unhealthy"
    if not may_read_operations_detail(request):
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "unhealthy" else 200)


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("chat:index")
    return render(request, "home.html")
