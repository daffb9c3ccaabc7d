"""Natural-language understanding for the offline assistant: intents, entities, sentiment.

    understand(text) -> Understanding(intent, confidence, ranking, entities, sentiment)

The intent model is trained by `manage.py train_nlu` from assistant/nlu/intents.json and cached
under NLU_MODEL_DIR; `eval_nlu` measures it, `classify_intents` runs it over stdin.
"""

from assistant.nlu.classifier import IntentModel, IntentPrediction, get_intent_model
from assistant.nlu.entities import Amount, Entities, OptionMention, PaymentRef, ProductMention, extract_entities
from assistant.nlu.pipeline import Understanding, understand, understand_many

__all__ = [
    "Amount",
    "Entities",
    "IntentModel",
    "IntentPrediction",
    "OptionMention",
    "PaymentRef",
    "ProductMention",
    "Understanding",
    "extract_entities",
    "get_intent_model",
    "understand",
    "understand_many",
]
