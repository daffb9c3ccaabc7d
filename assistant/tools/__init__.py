"""Tools the assistant can call. Importing this package registers every tool.

Modules: `store` (the tau-bench retail tools over orders services/selectors, including
transfer_to_human_agents), `knowledge_tools` (search_knowledge_base), `catalog_tools`
(search_products, check_stock, subscribe_restock_alert), `support_tools` (track_order).
"""

# Importing registers: store (tau-bench retail tools), catalog_tools and support_tools (the assistant's own).
from assistant.tools import catalog_tools, knowledge_tools, store, support_tools  # noqa: F401
from assistant.tools.registry import (
    REGISTRY,
    Tool,
    ToolContext,
    ToolOutcome,
    all_tools,
    call_tool,
    get_tool,
    tool,
)

__all__ = ["REGISTRY", "Tool", "ToolContext", "ToolOutcome", "all_tools", "call_tool", "get_tool", "tool"]
