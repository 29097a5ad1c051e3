"""The router on a small synthetic data set with the hash embedder (no model needed)."""
import random

import numpy as np
import pytest

from kb.triage import Router, evaluate, normalize_text, stratified_split, tfidf_baseline
from kb.triage.text import join_fields
from search import load_embedder

VOCAB = {
    "network": "vpn wifi network cable router switch latency connection",
    "mail": "outlook email inbox calendar mailbox attachment signature",
    "printing": "printer toner paper scanner tray jam print",
    "access": "password locked account login reset unlock credentials",
}
FILLER = "please help hi team thanks regards urgent issue since today".split()


def make_tickets(n_per_class=25, seed=0):
    rng = random.Random(seed)
    texts, labels = [], []
    for label, words in VOCAB.items():
        for _ in range(n_per_class):
            body = rng.choices(words.split(), k=4) + rng.choices(FILLER, k=4)
            rng.shuffle(body)
            texts.append(f"received from: user{rng.randint(1, 999)}@example.com\n" + " ".join(body)
                         + f" ticket {rng.randint(100000, 999999)}")
            labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def trained():
    texts, labels = make_tickets()
    return Router(load_embedder("hash")).fit(texts, labels), texts, labels


def test_learns_separable_classes(trained):
    router, _, _ = trained
    test_texts, test_labels = make_tickets(n_per_class=8, seed=1)
    result = evaluate(router, test_texts, test_labels)
    assert result["accuracy"] >= 0.9 and result["macro_f1"] >= 0.9
    assert result["top3_accuracy"] >= result["accuracy"]
    assert result["baseline_accuracy"] == pytest.approx(0.25)
    assert result["train_rows"] == 100 and result["test_rows"] == 32


def test_top3_has_probabilities_and_contains_the_truth(trained):
    router, _, _ = trained
    top = router.predict_top(["my printer is out of toner", "cannot connect to vpn over wifi"], k=3)
    assert [len(row) for row in top] == [3, 3]
    for row, truth in zip(top, ["printing", "network"]):
        assert truth in [label for label, _ in row]
        probs = [p for _, p in row]
        assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
    full = router.predict_proba(["outlook inbox"])
    assert full.shape == (1, 4) and full.sum() == pytest.approx(1.0)


def test_save_load_round_trip_gives_the_same_predictions(trained, tmp_path):
    router, texts, _ = trained
    path = tmp_path / "router.joblib"
    router.save(path)
    again = Router.load(path, load_embedder("hash"))
    assert again.predict_top(texts[:10], k=3) == router.predict_top(texts[:10], k=3)
    with pytest.raises(ValueError, match="embedder"):
        Router.load(path, load_embedder("hash-64"))


def test_rejects_bad_training_data():
    with pytest.raises(ValueError):
        Router(load_embedder("hash")).fit(["a", "b"], ["x", "x"])
    with pytest.raises(ValueError):
        Router(load_embedder("hash")).fit(["a", "b"], ["x"])
    with pytest.raises(RuntimeError):
        Router(load_embedder("hash")).predict_top(["a"])


def test_normalisation_strips_senders_addresses_and_ids():
    text = "Received from: jane.doe@corp.example\n\nVPN fails for bob@x.org, ticket 12345678, see https://x.y/z"
    out = normalize_text(text)
    assert "@" not in out and "12345678" not in out and "received" not in out and "http" not in out
    assert out.startswith("vpn fails for") and out == out.lower()
    assert join_fields(["vpn down", "vpn down"]) == "vpn down"
    assert join_fields(["vpn dow", "received: x\nvpn down today"]) == "received: x\nvpn down today"


def test_tfidf_baseline_and_split():
    texts, labels = make_tickets()
    train, test = stratified_split(list(zip(texts, labels)), labels, test_fraction=0.2, seed=42)
    base = tfidf_baseline([t for t, _ in train], [l for _, l in train], [t for t, _ in test], [l for _, l in test])
    assert set(base) == {"accuracy", "macro_f1"} and base["accuracy"] > 0.8


def test_stratified_split_keeps_singletons_in_training():
    labels = ["a"] * 10 + ["b"] * 5 + ["c"]
    rows = list(range(len(labels)))
    train, test = stratified_split(rows, labels, test_fraction=0.2, seed=7)
    assert sorted(train + test) == rows and not set(train) & set(test)
    assert [labels[i] for i in test].count("a") == 2 and [labels[i] for i in test].count("b") == 1
    assert 15 in train
    assert stratified_split(rows, labels, test_fraction=0.2, seed=7) == (train, test)
    assert np.array_equal(sorted(test), test)  # input order kept


@pytest.mark.real_model
def test_real_model_routes_a_paraphrase_with_no_shared_words():
    """The embedding view is what generalises beyond the training wording."""
    texts, labels = make_tickets(n_per_class=10)
    router = Router(load_embedder(None), calibrate=False).fit(texts, labels)
    top = router.predict_top(["my laptop cannot reach the internet at home", "forgot my passphrase, sign-in denied"], k=3)
    assert [row[0][0] for row in top] == ["network", "access"], top
