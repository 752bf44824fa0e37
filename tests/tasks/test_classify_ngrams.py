"""The n-gram model beside the network (NBSVM): its terms, its NB ratios by the formula, its folded weights
giving scikit-learn's own probabilities, the mix chosen on validation, and the whole carried through saving,
loading and ONNX."""

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="fitting the n-gram model needs scikit-learn (the data extra)")

from lstmkit.tasks.classify.ngrams import MIXES, NgramModel, _ratio, terms
from tests.tasks.test_classify import FAST, toy_frame


def test_terms_are_distinct_lowercased_unigrams_and_bigrams():
    assert terms("Not bad, not BAD!") == sorted({"not", "bad", "!", "not bad", "bad not", "bad !"})


def test_nb_ratio_is_the_log_of_normalised_smoothed_counts():
    from scipy import sparse

    x = sparse.csr_matrix(np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], dtype=float))
    pos = np.array([True, False, False])
    p, q = np.array([2.0, 1, 2]), np.array([2.0, 3, 2])  # 1 + counts in the positive rows / the others
    np.testing.assert_allclose(_ratio(x, pos, 1.0), np.log((p / p.sum()) / (q / q.sum())))


def test_folded_weights_give_scikit_learns_probabilities():
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    df = toy_frame(300)
    texts, y = list(df["review"]), (df["label"] == "pos").to_numpy().astype(int)
    model = NgramModel.fit(texts, y, 2)
    vec = CountVectorizer(analyzer=terms, binary=True, min_df=2)
    x = vec.fit_transform(texts).astype(float)
    r = _ratio(x, y == 1, 1.0)
    clf = LogisticRegression(max_iter=3000).fit(x @ sparse.diags(r), y)
    new = ["the film was superb", "awful plot and a grim film", "quite"]
    expected = clf.predict_proba(vec.transform(new) @ sparse.diags(r))
    np.testing.assert_allclose(model.probabilities(new), expected, atol=1e-5)
    assert model.weights[model.vocab["superb"], 0] > 0 > model.weights[model.vocab["awful"], 0]


def test_the_mix_is_chosen_on_validation_and_round_trips():
    df = toy_frame(300)
    texts, y = list(df["review"]), (df["label"] == "pos").to_numpy().astype(int)
    model = NgramModel.fit(texts[:200], y[:200], 2)
    coin = np.full((100, 2), 0.5)  # a network that knows nothing: the n-gram model should take over
    np.testing.assert_array_equal(model.mixed(coin, texts[200:], 0.0), coin)
    np.testing.assert_allclose(model.mixed(coin, texts[200:], 1.0), model.probabilities(texts[200:]), atol=1e-6)
    by_mix = model.choose_mix(coin, texts[200:], y[200:])
    assert model.mix > 0 and set(by_mix) == {str(w) for w in MIXES}
    again = NgramModel.from_dict(model.to_dict())
    np.testing.assert_allclose(again.mixed(coin, texts[200:]), model.mixed(coin, texts[200:]), atol=1e-5)


def test_a_text_classifier_carries_its_ngram_model_through_saving_and_onnx(tmp_path):
    import lstmkit
    from lstmkit.registry import export_model, load_onnx
    from lstmkit.tasks.classify import Classifier

    c = Classifier(text_col="review", out=str(tmp_path / "r"), **{**FAST, "epochs": 1}).fit(toy_frame(400))
    assert c.config.ngrams == "on" and c.report["ngrams"]["mix"] in MIXES
    table = {r["method"]: r["accuracy"] for r in c.report["table"]}
    assert {"tfidf_logreg", "nbsvm"} <= set(table) and table["nbsvm"] > 0.9  # one word carries the label
    texts = ["the film was really superb", "a dire plot", "quite"]
    loaded = lstmkit.load(c.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.probabilities(loaded.examples(texts)), c.probabilities(c.examples(texts)))
    export_model(loaded, tmp_path / "onnx")
    onnx = load_onnx(tmp_path / "onnx")
    np.testing.assert_allclose(onnx.predict(texts)["p_pos"], c.predict(texts)["p_pos"], atol=1e-5)
    off = Classifier(text_col="review", ngrams="off", out=str(tmp_path / "o"), **{**FAST, "epochs": 1})
    off.fit(toy_frame(400))
    assert off.encoding.ngram is None and "ngrams" not in off.report
