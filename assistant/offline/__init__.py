"""The offline assistant: the default brain when no LLM is configured.

`respond(BrainRequest) -> BrainReply` plugs into assistant.turn. It understands the
message with assistant.nlu, keeps per-conversation dialogue state (chat.models_offline), fills
task forms, calls the same tools as the LLM path (consequential ones become PendingActions)
and answers policy questions from the help center with citations.
"""

from assistant.offline.manager import respond

__all__ = ["respond"]
