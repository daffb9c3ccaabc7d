"""The LLM side of the assistant: the provider client (`client`), the brain (`brain`) and the
redaction of what is sent (`redaction`). Import the module you need; this package imports none,
so the offline path never loads the HTTP client."""
