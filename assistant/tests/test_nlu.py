"""The offline assistant's understanding: entities, the data file, training, caching and the commands."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assistant.nlu import classifier
from assistant.nlu.catalog import forget_catalog_index, get_catalog_index
from assistant.nlu.data import IntentDataError, load_intent_data, load_situation_split
from assistant.nlu.entities import Amount, PaymentRef, extract_entities
from orders.tests.factories import ProductFactory, VariantFactory


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("where is #W1234567", ["#W1234567"]),
        ("order W7654321 please", ["#W7654321"]),
        ("my order number is 2345678", ["#W2345678"]),
        ("w 3456789 and #W4567890", ["#W3456789", "#W4567890"]),
        ("item 1234567890 is broken", []),
        ("it cost $1234567.00", []),
    ],
)
def test_order_ids_in_every_form(text: str, expected: list[str]) -> None:
    assert extract_entities(text).order_ids == expected


def test_payment_methods_reasons_amounts_contacts() -> None:
    entities = extract_entities("refund it to the Visa ending 4321 — I ordered it by mistake")
    assert entities.payment_methods == [PaymentRef(kind="credit_card", brand="visa", last_four="4321")]
    assert entities.reasons == ["ordered by mistake"]
    assert extract_entities("put it on my gift card").payment_methods == [PaymentRef(kind="gift_card")]
    assert extract_entities("back to the original payment method").payment_methods == [PaymentRef(kind="original")]
    assert extract_entities("i dont need it anymore").reasons == ["no longer needed"]
    assert extract_entities("something under $150").amounts == [Amount(value=150.0, kind="max")]
    assert extract_entities("budget is 80 bucks").budget == 80.0
    found = extract_entities("I'm sam@example.com, zip 78701")
    assert found.emails == ["sam@example.com"] and found.zips == ["78701"]
    assert extract_entities("no, the other order").order_refs == ["other"]
    assert extract_entities("what about my last order?").order_refs == ["latest"]
    assert extract_entities("can I get it in size M").sizes == ["m"]


@pytest.mark.django_db
def test_catalog_words_match_with_typos_and_synonyms() -> None:
    forget_catalog_index()
    shirt = ProductFactory(name="T-Shirt", product_type="T-Shirt")
    VariantFactory(product=shirt, options={"color": "blue", "size": "M"})
    keyboard = ProductFactory(name="Mechanical Keyboard", product_type="Mechanical Keyboard")
    VariantFactory(product=keyboard, options={"switch type": "linear", "backlight": "RGB"})
    index = get_catalog_index()
    found = extract_entities("do u have the blue tshirt or a mechanicle keybord with linear switches", index)
    assert {pid for mention in found.products for pid in mention.product_ids} == {shirt.product_id, keyboard.product_id}
    assert {option.value for option in found.options} >= {"blue", "linear"}
    # A new product is seen without a restart: the index notices the catalog changed.
    lamp = ProductFactory(name="Desk Lamp", product_type="Desk Lamp")
    assert extract_entities("a desk lamp", get_catalog_index()).products[0].product_ids == (lamp.product_id,)


def _write(path: Path, intents: dict) -> Path:
    path.write_text(json.dumps({"intents": intents}))
    return path


def test_data_loader_rejects_overlap_between_train_and_eval(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.json", {"greeting": {"train": ["hi there"], "eval": ["Hi  there"]}})
    with pytest.raises(IntentDataError, match="disjoint"):
        load_intent_data(bad, require_all_labels=False)
    with pytest.raises(IntentDataError, match="lacks the intent"):
        load_intent_data(_write(tmp_path / "few.json", {"greeting": {"train": ["hi"]}}))


def test_project_data_covers_every_label_with_enough_examples() -> None:
    data = load_intent_data()
    situations = load_situation_split(data)
    for label in data.labels:
        assert sum(1 for _, owner in data.train if owner == label) >= 30, label
        assert sum(1 for _, owner in data.eval if owner == label) >= 10, label
        assert sum(1 for _, owner in situations if owner == label) >= 5, label


def test_situation_split_refuses_utterances_the_classifier_saw_and_unknown_labels(tmp_path: Path) -> None:
    data = load_intent_data(
        _write(tmp_path / "data.json", {"greeting": {"train": ["hi there"], "eval": ["good morning"]}}),
        require_all_labels=False,
    )
    for seen in ("Hi  there", "GOOD MORNING"):
        path = tmp_path / "seen.json"
        path.write_text(json.dumps({"intents": {"greeting": ["hey you", seen]}}))
        with pytest.raises(IntentDataError, match="never saw"):
            load_situation_split(data, path)
    path.write_text(json.dumps({"intents": {"track_order": ["it never came"]}}))
    with pytest.raises(IntentDataError, match="does not define: track_order"):
        load_situation_split(data, path)
    path.write_text(json.dumps({"intents": {"greeting": ["hey you"]}}))
    assert load_situation_split(data, path) == [("hey you", "greeting")]


SMALL = {
    "track_order": {
        "train": ["where is my order", "track my package", "has my parcel shipped", "wheres my stuff"],
        "eval": [],
    },
    "greeting": {"train": ["hello", "hi there", "good morning", "hey"], "eval": []},
    "cancel_order": {
        "train": ["cancel my order", "please cancel it", "i want to cancel", "stop the order"],
        "eval": [],
    },
}


def test_train_nlu_caches_by_data_and_skips_when_fresh(tmp_path: Path, settings) -> None:
    settings.NLU_MODEL_DIR = tmp_path / "models"
    data_file = _write(tmp_path / "small.json", SMALL)
    out = io.StringIO()
    call_command("train_nlu", "--data", str(data_file), stdout=out)
    assert "Trained 3 intents on 12 examples" in out.getvalue()
    models = list((tmp_path / "models").glob("intent-model-*.joblib"))
    assert len(models) == 1
    out = io.StringIO()
    call_command("train_nlu", "--data", str(data_file), "--if-stale", stdout=out)
    assert "up to date" in out.getvalue()
    # Changed data → a new key, retrained, the old model pruned.
    small_more = {**SMALL, "greeting": {"train": [*SMALL["greeting"]["train"], "yo"], "eval": []}}
    _write(data_file, small_more)
    out = io.StringIO()
    call_command("train_nlu", "--data", str(data_file), "--if-stale", stdout=out)
    assert "Trained 3 intents on 13 examples" in out.getvalue()
    assert [p.name for p in (tmp_path / "models").glob("intent-model-*.joblib")] != [models[0].name]
    classifier.forget_loaded_models()
    model = classifier.get_intent_model(data_file)
    prediction = model.predict(["could you cancel my order please"])[0]
    assert prediction.intent == "cancel_order"
    assert prediction.ranking[0][0] == "cancel_order"
    assert prediction.ranking == sorted(prediction.ranking, key=lambda pair: -pair[1])


def test_train_nlu_names_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CommandError, match="broken.json is not valid JSON"):
        call_command("train_nlu", "--data", str(broken))


@pytest.mark.django_db
def test_classify_intents_writes_one_json_line_per_input(monkeypatch, capsys) -> None:
    lines = ["where is my order #W1234567??", "", "i want to talk to a real person", "cancel it, I ordered by mistake"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    call_command("classify_intents")
    output = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in output]
    assert [r["text"] for r in records] == lines
    assert set(records[0]) == {"text", "intent", "confidence", "sentiment", "entities"}
    assert records[0]["intent"] == "track_order" and records[0]["entities"]["order_ids"] == ["#W1234567"]
    assert records[2]["intent"] == "contact_human_agent"
    assert records[3]["intent"] == "cancel_order" and records[3]["entities"]["reasons"] == ["ordered by mistake"]
    assert 0 <= records[0]["confidence"] <= 1 and records[0]["sentiment"]["label"] in {
        "negative",
        "neutral",
        "positive",
    }


def test_eval_nlu_meets_the_targets_on_both_held_out_splits() -> None:
    out = io.StringIO()
    call_command("eval_nlu", stdout=out)
    report = out.getvalue()
    assert report.index("Eval split (intents.json)") < report.index("Situations split (intents_situations.json)")
    accuracies = [float(value) for value in re.findall(r"Accuracy\s+([\d.]+)", report)]
    macro_f1s = [float(value) for value in re.findall(r"Macro-F1\s+([\d.]+)", report)]
    assert len(accuracies) == len(macro_f1s) == 2, report
    # The split written beside the training phrases, then the one written from situations:
    # phrasings nobody tuned for score lower, and that is the figure to raise.
    assert accuracies[0] >= 0.95 and macro_f1s[0] >= 0.95, report
    assert accuracies[1] >= 0.92 and macro_f1s[1] >= 0.92, report
    assert "Most confused" in report or accuracies == [1.0, 1.0]


@pytest.mark.django_db
def test_catalog_shape_is_checked_at_most_every_few_seconds(settings, django_assert_num_queries) -> None:
    forget_catalog_index()
    ProductFactory(name="Trail Backpack", product_type="Backpack")
    settings.NLU_CATALOG_CHECK_SECONDS = 60
    first = get_catalog_index()  # builds: shape check + two catalog reads
    with django_assert_num_queries(0):
        assert get_catalog_index() is first  # checked a moment ago: no query
    settings.NLU_CATALOG_CHECK_SECONDS = 0
    ProductFactory(name="Camp Stove", product_type="Stove")
    with django_assert_num_queries(3):  # the shape changed: one check, then the rebuild
        rebuilt = get_catalog_index()
    assert rebuilt is not first
    with django_assert_num_queries(1):  # unchanged: the check alone
        assert get_catalog_index() is rebuilt
