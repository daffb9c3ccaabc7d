"""Tickets in Django admin: the list staff triage from and the page they work a ticket on.

Every change staff make here goes through tickets.staff_services, so it is recorded as a
TicketEvent and has its side effects (chat message, email, hand back) — the admin form's
status/priority/assignee fields included (see `TicketAdmin.save_model`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from assistant import staff as staff_assist
from supportbot.errors import ApplicationError
from tickets import dashboard_views, staff_services
from tickets.models import Ticket, TicketEvent
from tickets.services import SUMMARY_REQUESTED
from tickets.staff_selectors import (
    customer_context,
    sla_breached_q,
    ticket_events,
    ticket_sla_state,
    ticket_summary_pending,
    ticket_transcript,
)

# The admin index links to the analytics dashboard.
admin.site.index_template = "admin/tickets/index_with_dashboard.html"

DRAFT_SESSION_KEY = "ticket-reply-draft-{pk}"


class SlaBreachedFilter(admin.SimpleListFilter):
    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("breached", "Breached"), ("ok", "Within SLA")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if self.value() == "breached":
            return queryset.filter(sla_breached_q())
        if self.value() == "ok":
            return queryset.exclude(sla_breached_q())
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        staff = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")
        return [
            ("me", "Assigned to me"),
            ("none", "Unassigned"),
            *[(str(user.pk), user.get_username()) for user in staff],
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        value = self.value()
        if value == "me":
            return queryset.filter(assignee=request.user.pk)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value and value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset


class ReplyForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), max_length=staff_services.REPLY_MAX_CHARS, label="Message"
    )
    visibility = forms.ChoiceField(
        choices=[
            ("public", "Public reply (emailed, shown in the chat and My tickets)"),
            ("note", "Internal note (staff only)"),
        ],
        widget=forms.RadioSelect,
        initial="public",
    )


class TicketEventInline(admin.TabularInline):
    model = TicketEvent
    extra = 0
    fields = ("created_at", "kind", "author", "old_value", "new_value", "text", "emailed_at")
    readonly_fields = fields
    can_delete = False
    ordering = ("created_at", "id")
    verbose_name_plural = "History"
    classes = ("collapse",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _staff(request: HttpRequest) -> AbstractBaseUser:
    """The acting staff user; admin_view has already required an active staff login."""
    user = request.user
    assert isinstance(user, AbstractBaseUser)
    return user


def _apply(request: HttpRequest, queryset: QuerySet[Ticket], action: Any, done: str) -> None:
    """Run a service per selected ticket; one refusal doesn't stop the others."""
    ok = 0
    for ticket in queryset.select_related(None).only("pk", "number"):
        try:
            action(ticket)
        except ApplicationError as error:
            messages.error(request, f"{ticket.number}: {error.message}")
        else:
            ok += 1
    if ok:
        messages.success(request, f"{ok} ticket(s) {done}.")


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    # Seven columns fit a 1280 px screen beside the filters: the subject gets the room, long
    # ones are cut with the whole text in a tooltip, and one SLA column says where it stands.
    list_display = ("number", "subject_cell", "customer_cell", "status", "priority", "assignee", "sla_cell")
    list_display_links = ("number", "subject_cell")
    list_filter = ("status", "priority", AssigneeFilter, SlaBreachedFilter, "category")
    search_fields = ("number", "customer__email", "customer__handle", "subject", "summary", "events__text")
    list_select_related = ("customer", "assignee")
    raw_id_fields = ("customer", "conversation")
    readonly_fields = (
        "number",
        "customer",
        "conversation",
        "sla_due_at",
        "created_at",
        "updated_at",
        "resolved_at",
        "csat_score",
        "csat_comment",
    )
    fieldsets = (
        (None, {"fields": ("number", "subject", "category", ("status", "priority", "assignee"))}),
        (
            "Timing and satisfaction",
            {"fields": (("created_at", "sla_due_at", "resolved_at"), ("csat_score", "csat_comment"))},
        ),
        ("Links", {"classes": ("collapse",), "fields": ("customer", "conversation")}),
    )
    inlines = [TicketEventInline]
    actions = ["assign_to_me", "resolve", "priority_urgent", "priority_high", "priority_medium", "priority_low"]
    change_form_template = "admin/tickets/ticket/change_form.html"
    date_hierarchy = "created_at"

    class Media:
        css = {"all": ("tickets/admin.css",)}

    @admin.display(description="Subject", ordering="subject")
    def subject_cell(self, ticket: Ticket) -> str:
        return format_html(
            '<span class="ticket-subject" title="{}">{}</span>', ticket.subject, Truncator(ticket.subject).chars(70)
        )

    @admin.display(description="Customer", ordering="customer__last_name")
    def customer_cell(self, ticket: Ticket) -> str:
        customer = ticket.customer
        return format_html('<span title="{}">{}</span>', customer.email, customer.full_name or customer.handle)

    @admin.display(description="SLA", ordering="sla_due_at")
    def sla_cell(self, ticket: Ticket) -> str:
        sla = ticket_sla_state(ticket=ticket)
        return format_html(
            '<span class="sla-{}" title="Due {}">{}</span>',
            sla.state,
            timezone.localtime(ticket.sla_due_at).strftime("%Y-%m-%d %H:%M"),
            sla.text,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tickets come from conversations (escalation); staff don't invent them.
        return False

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "assignee":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- bulk actions -------------------------------------------------------------------

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        _apply(
            request,
            queryset,
            lambda t: staff_services.ticket_assign(ticket_id=t.pk, actor=_staff(request), assignee=_staff(request)),
            "assigned to you",
        )

    @admin.action(description="Resolve (hands the chat back to the assistant)", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        _apply(
            request,
            queryset,
            lambda t: staff_services.ticket_resolve(ticket_id=t.pk, actor=_staff(request)),
            "resolved",
        )

    def _priority(self, request: HttpRequest, queryset: QuerySet[Ticket], priority: str) -> None:
        _apply(
            request,
            queryset,
            lambda t: staff_services.ticket_change_priority(ticket_id=t.pk, actor=_staff(request), priority=priority),
            f"set to {priority} priority",
        )

    @admin.action(description="Change priority → urgent", permissions=["change"])
    def priority_urgent(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._priority(request, queryset, Ticket.Priority.URGENT)

    @admin.action(description="Change priority → high", permissions=["change"])
    def priority_high(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._priority(request, queryset, Ticket.Priority.HIGH)

    @admin.action(description="Change priority → medium", permissions=["change"])
    def priority_medium(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._priority(request, queryset, Ticket.Priority.MEDIUM)

    @admin.action(description="Change priority → low", permissions=["change"])
    def priority_low(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._priority(request, queryset, Ticket.Priority.LOW)

    # --- the change form: tracked fields go through the services --------------------------

    def save_model(self, request: HttpRequest, obj: Ticket, form: forms.ModelForm, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        changed = set(form.changed_data)
        plain = [name for name in ("subject", "category") if name in changed]
        if plain:
            Ticket.objects.filter(pk=obj.pk).update(**{name: getattr(obj, name) for name in plain})
        try:
            if "assignee" in changed:
                staff_services.ticket_assign(ticket_id=obj.pk, actor=_staff(request), assignee=obj.assignee)
            if "priority" in changed:
                staff_services.ticket_change_priority(ticket_id=obj.pk, actor=_staff(request), priority=obj.priority)
            if "status" in changed:
                staff_services.ticket_change_status(ticket_id=obj.pk, actor=_staff(request), status=obj.status)
        except ApplicationError as error:
            messages.error(request, error.message)
        obj.refresh_from_db()

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/reply/", wrap(self.reply_view), name="tickets_ticket_reply"),
            path("<int:pk>/suggest/", wrap(self.suggest_view), name="tickets_ticket_suggest"),
            path("<int:pk>/summary/", wrap(self.summary_view), name="tickets_ticket_summary"),
            path("dashboard/", wrap(dashboard_views.dashboard), name="tickets_dashboard"),
            path("dashboard.csv", wrap(dashboard_views.dashboard_csv), name="tickets_dashboard_csv"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        ticket = Ticket.objects.select_related("customer", "assignee", "conversation").filter(pk=object_id).first()
        if ticket is not None and self.has_view_permission(request, ticket):
            draft = request.session.pop(DRAFT_SESSION_KEY.format(pk=ticket.pk), None)
            events = list(ticket_events(ticket=ticket))
            # Who wrote the summary on show: the last stored one's source ("llm" or "offline");
            # none stored yet means the extractive summary made at escalation.
            written = [
                event.new_value
                for event in events
                if event.kind == TicketEvent.Kind.SUMMARY and event.new_value != SUMMARY_REQUESTED
            ]
            extra_context.update(
                title=f"Ticket {ticket.number} · {ticket.customer.full_name}",
                subtitle=Truncator(ticket.subject).chars(120),
                sla=ticket_sla_state(ticket=ticket),
                summary_by_llm=bool(written) and written[-1] == "llm",
                ticket=ticket,
                transcript=ticket_transcript(ticket=ticket),
                events=events,
                context=customer_context(ticket=ticket),
                reply_form=ReplyForm(initial={"text": draft["text"]} if draft else None),
                draft=draft,
                summary_pending=ticket_summary_pending(ticket=ticket),
                can_change=self.has_change_permission(request, ticket),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _back(self, ticket_pk: int) -> HttpResponseRedirect:
        # No #anchor: the reply box sits at the top of the page now, and jumping to it would
        # scroll the message saying what happened out of view.
        return HttpResponseRedirect(reverse("admin:tickets_ticket_change", args=[ticket_pk]))

    def _changeable(self, request: HttpRequest, pk: int) -> Ticket:
        ticket = get_object_or_404(Ticket, pk=pk)
        if not self.has_change_permission(request, ticket):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        return ticket

    def reply_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return self._back(pk)
        ticket = self._changeable(request, pk)
        form = ReplyForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                messages.error(request, f"{field}: {' '.join(str(error) for error in errors)}")
            return self._back(ticket.pk)
        try:
            if form.cleaned_data["visibility"] == "public":
                staff_services.ticket_reply(ticket_id=ticket.pk, author=_staff(request), text=form.cleaned_data["text"])
                messages.success(request, f"Reply sent to {ticket.customer.email} and posted in the chat.")
            else:
                staff_services.ticket_note(ticket_id=ticket.pk, author=_staff(request), text=form.cleaned_data["text"])
                messages.success(request, "Internal note added.")
        except ApplicationError as error:
            messages.error(request, error.message)
        return self._back(ticket.pk)

    def suggest_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return self._back(pk)
        ticket = self._changeable(request, pk)
        draft = staff_assist.reply_suggest(ticket=ticket, author=_staff(request))
        request.session[DRAFT_SESSION_KEY.format(pk=ticket.pk)] = {
            "text": draft.text,
            "source": draft.source,
            "citations": draft.citations,
        }
        messages.info(request, "A suggested reply is in the reply box — edit it before sending.")
        return self._back(ticket.pk)

    def summary_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        # Queued, not made here: with an LLM configured a summary can take as long as
        # LLM_RETRY_BUDGET, and a web worker held that long serves nobody else; the job also
        # retries a provider outage, which a click could not. The page says it is on the way.
        if request.method != "POST":
            return self._back(pk)
        ticket = self._changeable(request, pk)
        try:
            staff_services.ticket_summary_request(ticket_id=ticket.pk, actor=_staff(request))
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.info(
                request,
                "A new summary is being written; it replaces this one in a few seconds — reload the page to see it.",
            )
        return self._back(ticket.pk)
