"""The customer chat page, its floating widget, and the buttons inside the thread.

Thin views over `chat.services` (turns, confirmations) and `chat.portal_selectors` (reads).
Every form works without JavaScript (POST, then redirect back to the conversation); with
htmx the same endpoints answer with named partials of `chat/chat.html`. htmx error
responses are always an error partial retargeted to the error area, never an empty swap.

Sending with htmx streams the answer: the POST validates, rate-limits and hands the turn to
`stream` through a PendingTurn row (database, not cache: see `chat.services.turns`), and answers
at once with the customer's bubble and a typing indicator; the indicator opens an EventSource on
`stream`, which claims the turn, runs it and sends the answer's tokens as they come, then the
rendered messages. A turn whose stream never connects is answered by a worker task; GETs only show it.
"""

from chat.views.pages import conversation_detail, index, widget
from chat.views.sending import send, stream
from chat.views.thread import action_decide, feedback, restock_subscribe

__all__ = ["action_decide", "conversation_detail", "feedback", "index", "restock_subscribe", "send", "stream", "widget"]
