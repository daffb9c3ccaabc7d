"""The intent training data: assistant/nlu/intents.json, written by the project.

Format: {"intents": {label: {"description": str, "train": [utterance, ...], "eval": [...]}}}.
The train and eval lists of a label are disjoint, and no utterance belongs to two labels —
an evaluation figure on utterances the classifier was trained on would say nothing.

A second evaluation split lives in its own file, assistant/nlu/intents_situations.json
({"intents": {label: [utterance, ...]}}): messages written from customers' situations by
someone who had not read the training phrases. The eval list above was written beside the
training phrases and shares their habits, so it flatters the model; this one measures
phrasings nobody tuned for. Nothing in it may also be in intents.json.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

# The labels the offline assistant acts on; the data file must define each of them.
REQUIRED_LABELS: tuple[str, ...] = (
    "cancel_order",
    "change_order",
    "change_shipping_address",
    "check_cancellation_fee",
    "check_invoice",
    "check_payment_methods",
    "check_refund_policy",
    "complaint",
    "contact_customer_service",
    "contact_human_agent",
    "create_account",
    "delete_account",
    "delivery_options",
    "delivery_period",
    "edit_account",
    "get_invoice",
    "get_refund",
    "newsletter_subscription",
    "payment_issue",
    "place_order",
    "recover_password",
    "registration_problems",
    "review",
    "set_up_shipping_address",
    "switch_account",
    "track_order",
    "track_refund",
    "product_inquiry",
    "stock_check",
    "restock_alert",
    "exchange_item",
    "return_item",
    "product_recommendation",
    "product_comparison",
    "greeting",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "out_of_scope",
)


class IntentDataError(ValueError):
    """The data file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class IntentData:
    path: Path
    # sha256 of the file's bytes: the trained model's cache key includes it.
    digest: str
    labels: list[str]
    descriptions: dict[str, str]
    train: list[tuple[str, str]]  # (utterance, label)
    eval: list[tuple[str, str]]


def default_data_path() -> Path:
    return Path(__file__).resolve().parent / "intents.json"


def default_situations_path() -> Path:
    return Path(__file__).resolve().parent / "intents_situations.json"


def file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError as exc:
        raise IntentDataError(f"The intent data file {path} does not exist.") from exc


def load_intent_data(path: Path | None = None, *, require_all_labels: bool = True) -> IntentData:
    """Read and check the data file. Raises IntentDataError naming what is wrong."""
    path = path or default_data_path()
    raw = path.read_bytes() if path.exists() else None
    if raw is None:
        raise IntentDataError(f"The intent data file {path} does not exist.")
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise IntentDataError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}.") from exc
    intents = document.get("intents") if isinstance(document, dict) else None
    if not isinstance(intents, dict) or not intents:
        raise IntentDataError(f'{path} must be an object with a non-empty "intents" object.')
    train: list[tuple[str, str]] = []
    evaluation: list[tuple[str, str]] = []
    descriptions: dict[str, str] = {}
    owner: dict[str, str] = {}
    for label, spec in intents.items():
        if not isinstance(spec, dict):
            raise IntentDataError(f"{path}: intent {label!r} must be an object with train and eval lists.")
        descriptions[label] = str(spec.get("description", ""))
        for split, target in (("train", train), ("eval", evaluation)):
            utterances = spec.get(split, [])
            if not isinstance(utterances, list) or not all(isinstance(u, str) and u.strip() for u in utterances):
                raise IntentDataError(f"{path}: intent {label!r} field {split!r} must be a list of non-empty strings.")
            for utterance in utterances:
                key = normalize_for_dedup(utterance)
                previous = owner.get(key)
                if previous is not None and previous != f"{label}/{split}":
                    raise IntentDataError(
                        f"{path}: the utterance {utterance!r} appears in {previous} and in {label}/{split}; "
                        "train and eval must be disjoint and each utterance must have one label."
                    )
                owner[key] = f"{label}/{split}"
                target.append((utterance, label))
        if not spec.get("train"):
            raise IntentDataError(f"{path}: intent {label!r} has no training utterances.")
    if require_all_labels:
        missing = [label for label in REQUIRED_LABELS if label not in intents]
        if missing:
            raise IntentDataError(f"{path} lacks the intent(s): {', '.join(missing)}.")
    return IntentData(
        path=path,
        digest=hashlib.sha256(raw).hexdigest(),
        labels=sorted(intents),
        descriptions=descriptions,
        train=train,
        eval=evaluation,
    )


def normalize_for_dedup(text: str) -> str:
    return " ".join(text.lower().split())


def load_situation_split(data: IntentData, path: Path | None = None) -> list[tuple[str, str]]:
    """The second eval split as (utterance, label), checked against `data`.

    Raises IntentDataError when the file is missing or malformed, names a label `data` lacks,
    or repeats an utterance of `data` (train or eval) or of another label.
    """
    path = path or default_situations_path()
    if not path.exists():
        raise IntentDataError(f"The situations eval file {path} does not exist.")
    try:
        document = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise IntentDataError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}.") from exc
    intents = document.get("intents") if isinstance(document, dict) else None
    if not isinstance(intents, dict) or not intents:
        raise IntentDataError(f'{path} must be an object with a non-empty "intents" object.')
    unknown = sorted(set(intents) - set(data.labels))
    if unknown:
        raise IntentDataError(f"{path} names intent(s) {data.path.name} does not define: {', '.join(unknown)}.")
    owner = {normalize_for_dedup(text): f"{label} in {data.path.name}" for text, label in [*data.train, *data.eval]}
    split: list[tuple[str, str]] = []
    for label, utterances in intents.items():
        if not isinstance(utterances, list) or not all(isinstance(u, str) and u.strip() for u in utterances):
            raise IntentDataError(f"{path}: intent {label!r} must be a list of non-empty strings.")
        for utterance in utterances:
            key = normalize_for_dedup(utterance)
            previous = owner.get(key)
            if previous is not None:
                raise IntentDataError(
                    f"{path}: the utterance {utterance!r} of {label} is also under {previous}; "
                    "this split must hold only utterances the classifier never saw."
                )
            owner[key] = f"{label} in {path.name}"
            split.append((utterance, label))
    return split
