"""The assistant: the brain behind every chat channel.

`assistant.turn.chat_turn` answers one customer message; `assistant.types` holds the types the
turn and both brains share (the LLM brain in `assistant.llm`, the offline one in
`assistant.offline`); tools, actions, NLU and the staff-side drafting live beside them. No models:
conversations and their messages belong to the chat app.
"""
