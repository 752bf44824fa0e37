"""`Classifier`: the Python face of the classification task: fit, evaluate (beside the baselines), predict
(probabilities), explain, save, load, and the inference protocol.

    from lstmkit.tasks.classify import Classifier
    c = Classifier(epochs=3).fit("trump-tweets")      # which phone sent the tweet
    c.report["table"]                                 # lstmkit vs majority vs TF-IDF + logistic regression
    c.predict(["Crooked Hillary is going down!"])
    c.explain("Thank you Iowa!").html()

Only `fit` touches the training engine; loading, predicting and explaining import no training framework.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmkit.data.labelled import Labelled
from lstmkit.data.timeseries import DataError
from lstmkit.deploy.protocol import Probe, RequestError
from lstmkit.engine.config import RunConfig, TrainConfig
from lstmkit.errors import UsageError
from lstmkit.tasks.classify import SPEC
from lstmkit.tasks.classify.baselines import baselines
from lstmkit.tasks.classify.config import ClassifyConfig
from lstmkit.tasks.classify.explain import Explanation, integrated_gradients
from lstmkit.tasks.classify.features import Encoding, stratified_split
from lstmkit.tasks.classify.metrics import multi_label_scores, scores
from lstmkit.tasks.classify.model import ClassifierNet
from lstmkit.tasks.classify.predictor import ClassifyPredictor, read_examples
from lstmkit.tasks.classify.task import NAME, build_model
from lstmkit.tasks.spec import saved_run, saved_state

Data = str | Path | pd.DataFrame | Labelled
log = logging.getLogger(__name__)


class TorchClassifyNetwork:
    """The predictor's network interface over the PyTorch ClassifierNet (numpy in and out, no gradients)."""

    def __init__(self, net: ClassifierNet, multi_label: bool) -> None:
        self.net, self.multi_label = net.eval(), multi_label

    @torch.no_grad()
    def probabilities(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        logits = self.net(torch.from_numpy(x), torch.from_numpy(lengths)).float()  # (B, C)
        return (torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, -1)).numpy()


class Classifier:
    """An LSTM classifier of texts or numeric sequences: `Classifier().fit("data.csv").predict(df)`.

    Options are ClassifyConfig fields (data columns, tokenizer, model) and TrainConfig fields (epochs, lr, ...)."""

    task = SPEC.name
    capabilities = SPEC.capabilities
    primary = True  # False after fit in a distributed run's extra processes (the first one reports)

    def __init__(
        self, *, config: ClassifyConfig | None = None, train: TrainConfig | None = None, **options: Any
    ) -> None:
        run = SPEC.resolve(config, train, options, where="Classifier")
        self.config, self.train_config = run.task, run.train
        self.net: ClassifierNet | None = None
        self.encoding: Encoding | None = None
        self.run_dir: Path | None = None
        self.report: dict[str, Any] = {}

    # ---- training and evaluation

    def examples(self, data: Data, need_labels: bool = True) -> Labelled:
        """`data` as labelled examples, read with this model's column names (a list: texts)."""
        return read_examples(self.config, data, need_labels)

    def splits(self, data: Data, hold_out_test: bool = True) -> tuple[Labelled, Labelled, Labelled]:
        """(train, validation, test): stratified and seeded; the test split is --test-data when given, else the
        dataset's own (UCR archive sets), else a stratified share (none with `hold_out_test` False)."""
        c = self.config
        full = self.examples(data)
        strata = [""] * len(full) if full.multi_label else full.labels  # label sets: a seeded random split
        given = self.examples(c.test_data) if c.test_data else full.test  # a file, or the dataset's own split
        share = c.test_fraction if hold_out_test else 0.0
        if given is not None:
            train_idx, val_idx = stratified_split(strata, (c.val_fraction,), c.split_seed_or(self.train_config.seed))
            test = given
        else:
            train_idx, val_idx, test_idx = stratified_split(
                strata, (c.val_fraction, share), c.split_seed_or(self.train_config.seed)
            )
            test = full.take(test_idx)
        train, val = full.take(train_idx), full.take(val_idx)
        if len(val) == 0 or (len(test) == 0 and share > 0):
            raise DataError(
                f"{full.source}: {len(full)} examples leave an empty validation or test split; give more data"
            )
        return train, val, test

    def fit(self, data: Data | None = None) -> Classifier:
        """Train on `data` (default: the config's), select on its validation split, then score the test split
        beside the baselines trained on the same training split (`self.report`). A set too small for a
        meaningful test split (under folds.MIN_TEST examples) is cross-validated instead (folds.py), and the
        model kept is trained on all of it but its validation split."""
        from lstmkit.engine.trainer import fit
        from lstmkit.tasks.classify.folds import cross_validate, fold_count
        from lstmkit.tasks.classify.task import ClassifyTask

        source = data if data is not None else self.config.data
        if source is None:
            raise UsageError("no data to train on: pass a file, a folder or a built-in dataset (--data)")
        if isinstance(source, (str, Path)):
            self.config = dataclasses.replace(self.config, data=str(source))
        full = self.examples(source)
        given_test = bool(self.config.test_data) or full.test is not None
        c = self.config
        folds = fold_count(full, c.test_fraction, given_test, c.folds) if self.train_config.world_size == 1 else 0
        train, val, test = self.splits(full, hold_out_test=not folds)
        self.report = {}
        pretrained, tokenizer = self._pretrained(train)
        c = self.config = self.config.resolved(train.kind)
        series_choice = self._series_norm(train)
        c = self.config
        self.encoding = Encoding.fit(
            train, c.tokenizer, c.vocab_size, c.max_length, c.normalize, tokenizer, series_norm=c.series_norm == "on"
        )
        result = fit(ClassifyTask(c, train, val, self.encoding, pretrained), self.train_config)
        self.run_dir, self.primary = result.run_dir, result.primary
        if not result.primary:
            return self  # a distributed run's extra process: the first one holds the model
        self.net, self.run_dir = result.model.eval(), result.run_dir
        ngrams = self._fit_ngrams(train, val)
        vectors = self.report.get("vectors")
        if folds:
            self.report = cross_validate(self, full, folds, result.run_dir / "folds")
        else:
            checked = self._against_baselines(train, val)
            self.report = self.evaluate(test, train=train) if len(test) else {}  # test_fraction 0: the caller's
            self.report["validation"] = checked
        self.report.update({"vectors": vectors} if vectors else {})
        self.report.update({"ngrams": ngrams} if ngrams else {})
        self.report.update({"series_norm": series_choice} if series_choice else {})
        self.report["val"] = {k.removeprefix("val_"): v for k, v in result.metrics.items()}
        self.report["steps"] = result.steps
        return self

    def _against_baselines(self, train: Labelled, val: Labelled) -> dict[str, Any]:
        """The kept model beside the baselines (fitted on the same training split) on the validation split: what
        a user can act on before the test split is read; a warning when a baseline is ahead there."""
        enc = self._ready()[1]
        rows = self.score(val, self.probabilities(val), baselines(train, val, enc.classes, enc.counts))["table"]
        best = max(rows[1:], key=lambda r: r["accuracy"])
        if best["accuracy"] > rows[0]["accuracy"]:
            log.warning(
                "on the validation split the %s baseline (accuracy %.3f) is ahead of the network (%.3f): it will "
                "likely win on test too; train longer (--epochs, --max-time) or use the baseline for this data",
                best["method"],
                best["accuracy"],
                rows[0]["accuracy"],
            )
        table = [{"method": r["method"], "accuracy": r["accuracy"]} for r in rows]
        return {"n": len(val), "table": table, "verdict": verdict(rows)}

    def _series_norm(self, train: Labelled) -> dict[str, Any] | None:
        """Numbers: z-normalise series by series? `auto` decides on the training series' scale spread
        (encoding.scale_spread); the config records the decision and the report says why."""
        from lstmkit.tasks.classify.encoding import SPREAD_LIMIT, scale_spread

        c = self.config
        if train.kind != "numeric":
            if c.series_norm == "on":
                raise UsageError("--series-norm on reads numeric sequences; these examples are texts")
            return None
        spread = scale_spread(train.seqs)
        use = c.series_norm == "on" or (c.series_norm == "auto" and spread > SPREAD_LIMIT)
        self.config = dataclasses.replace(c, series_norm="on" if use else "off")
        log.info(
            "series normalisation %s: the training series' scales differ %.1f-fold (90th/10th percentile of "
            "their std; auto turns it on above %g)",
            "on" if use else "off",
            spread,
            SPREAD_LIMIT,
        )
        return {"on": use, "scale_spread": round(spread, 1), "asked": c.series_norm}

    def _fit_ngrams(self, train: Labelled, val: Labelled) -> dict[str, Any] | None:
        """Texts: the NB-weighted n-gram regression fitted on the training split and its share in the mix
        chosen on the validation split (ngrams.py); the config records whether it is used."""
        c, enc = self.config, self._ready()[1]
        usable = train.kind == "text" and not train.multi_label
        if c.ngrams == "on" and not usable:
            raise UsageError("--ngrams on reads single-label texts; these examples are not")
        use = usable and c.ngrams != "off" and _has_sklearn(required=c.ngrams == "on")
        self.config = dataclasses.replace(c, ngrams="on" if use else "off")
        if not use:
            return None
        from lstmkit.tasks.classify.ngrams import NgramModel

        model = NgramModel.fit(train.texts, enc.targets(train).numpy(), len(enc.classes))
        y_val = enc.targets(val).numpy()
        by_mix = model.choose_mix(self.probabilities(val), val.texts, y_val)  # the network alone: no ngram yet
        enc.set_ngram(model)
        return {"mix": model.mix, "terms": len(model.vocab), "val_accuracy_by_mix": by_mix}

    def _pretrained(self, train: Labelled) -> tuple[dict[str, torch.Tensor] | None, dict[str, Any] | None]:
        """With --init-from: the language model's embedding (a padding row in front) and LSTM weights, and its
        tokenizer; the config takes the LM's sizes (a unidirectional LSTM, as the LM reads)."""
        if self.config.vectors:
            return self._vectors(train)
        if not self.config.init_from:
            return None, None
        if train.texts is None:
            raise UsageError("--init-from starts from a language model: it needs texts, not numeric sequences")
        from lstmkit.tasks.lm import SPEC as LM  # a language model of the lm task starts the encoder

        lm = LM.load(self.config.init_from)
        lc = lm.config
        self.config = dataclasses.replace(
            self.config,
            tokenizer=lm.tokenizer.kind,
            embedding_size=lc.embedding_size,
            hidden_size=lc.hidden_size,
            num_layers=lc.num_layers,
            bidirectional=False,
        )
        weights = lm.net.state_dict()
        emb = weights["embed.weight"]
        tensors = {"embed.weight": torch.cat([torch.zeros_like(emb[:1]), emb])}  # id 0 is padding here
        tensors.update({k: v for k, v in weights.items() if k.startswith("rnn.")})
        return tensors, lm.tokenizer.to_dict()

    def _vectors(self, train: Labelled) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """With --vectors: a word tokenizer of the training texts and an embedding whose rows are the file's
        vectors where it has the word, random (at the vectors' scale) where it has not."""
        from lstmkit.data.tokenizers import WordTokenizer
        from lstmkit.data.vectors import read_vectors

        if train.texts is None:
            raise UsageError("--vectors are word vectors: they need texts, not numeric sequences")
        tok = WordTokenizer.fit("\n".join(train.texts), self.config.vocab_size)
        table, found = read_vectors(self.config.vectors, tok.vocab())
        if not found.any():
            raise DataError(f"{self.config.vectors} has none of the training texts' words; is it the right file?")
        rng = np.random.default_rng(self.train_config.seed)
        table[~found] = rng.normal(0, table[found].std(), size=(int((~found).sum()), table.shape[1]))
        self.config = dataclasses.replace(self.config, tokenizer="word", embedding_size=table.shape[1])
        self.report["vectors"] = {"file": self.config.vectors, "found": int(found.sum()), "vocabulary": len(found)}
        emb = torch.from_numpy(np.concatenate([np.zeros((1, table.shape[1]), np.float32), table]))  # id 0: padding
        return {"embed.weight": emb}, tok.to_dict()

    def _ready(self) -> tuple[ClassifierNet, Encoding]:
        if self.net is None or self.encoding is None:
            raise UsageError("this Classifier is not trained: call fit(data) or lstmkit.load(path) first")
        return self.net, self.encoding

    @property
    def predictor(self) -> ClassifyPredictor:
        """Prediction over this PyTorch network: the code the ONNX runtime runs too (predictor.py)."""
        net, enc = self._ready()
        return ClassifyPredictor(TorchClassifyNetwork(net, enc.multi_label), enc, self.config)

    def probabilities(self, ex: Labelled) -> np.ndarray:
        """(N, C) class probabilities, in the order of `classes` (multi-label: one independent one per class)."""
        return self.predictor.probabilities(ex)

    def decide(self, probs: np.ndarray) -> list[str]:
        """Each row's prediction: the likeliest class, or (multi-label) the classes at or over the threshold."""
        return self.predictor.decide(probs)

    @property
    def classes(self) -> list[str]:
        return self._ready()[1].classes

    def evaluate(self, data: Data | None = None, train: Labelled | None = None) -> dict[str, Any]:
        """Scores on `data` (labelled): accuracy, macro-F1, per class, confusion, ECE, and the baselines in one
        table (majority always; TF-IDF + logistic regression or 1-NN when the training split is at hand)."""
        enc = self._ready()[1]
        if data is None:
            raise UsageError("evaluate needs labelled data (a file with a label column)")
        ex = self.examples(data)
        probs = self.probabilities(ex)
        if train is not None:
            base = baselines(train, ex, enc.classes, enc.counts)
        elif enc.multi_label:  # the classes most training examples had
            base = {"majority": np.repeat((np.asarray(enc.counts) > enc.n_train / 2)[None], len(ex), 0)}
        else:
            base = {"majority": np.full(len(ex), int(np.argmax(enc.counts)))}
        return self.score(ex, probs, base)

    def score(self, ex: Labelled, probs: np.ndarray, base: dict[str, np.ndarray]) -> dict[str, Any]:
        """The report of `probs` (N, C) on labelled `ex` beside the baselines' predictions, and which row won."""
        enc = self._ready()[1]
        y = enc.targets(ex).numpy()
        score = partial(multi_label_scores, threshold=self.config.threshold) if enc.multi_label else scores
        mine = score(y, probs, enc.classes)
        rows = [{"method": "lstmkit", "accuracy": mine["accuracy"], "macro_f1": mine["macro_f1"], "ece": mine["ece"]}]
        for name, pred in base.items():
            s = score(y, pred.astype(float) if enc.multi_label else np.eye(len(enc.classes))[pred], enc.classes)
            rows.append({"method": name, "accuracy": s["accuracy"], "macro_f1": s["macro_f1"], "ece": None})
        return {
            "test": mine,
            "table": rows,
            "verdict": verdict(rows),
            "classes": enc.classes,
            "split": ex.source,
            "y": y.tolist(),
            "probs": probs.tolist(),
        }

    # ---- prediction and explanation

    def predict(self, data: Data) -> pd.DataFrame:
        """The input's columns (a label column is left alone) plus `prediction` and one `p_<class>` per class."""
        return self.predictor.predict(data)

    def explain(self, example: str | np.ndarray | list, target: str | None = None, steps: int = 64) -> Explanation:
        """Integrated-gradients scores of one text (or (T, F) sequence) for `target` (default: the prediction)."""
        net, enc = self._ready()
        ex = self.examples(
            [example]
            if isinstance(example, str)
            else Labelled(
                [""],
                seqs=[np.asarray(example, dtype=np.float32).reshape(len(example), -1)],
                source="the given sequence",
            )
        )
        x = enc.inputs(ex)[0][None]  # (1, T) or (1, T, F)
        probs = self.probabilities(ex)[0]
        k = int(probs.argmax()) if target is None else enc.classes.index(target)
        s, at_x, at_0 = integrated_gradients(net, x, k, steps)
        labels = enc.token_text(x[0].tolist()) if enc.kind == "text" else ["#"] * x.shape[1]
        attention = None
        if net.pooling == "attention":
            with torch.no_grad():
                out, _ = net.rnn(net.inputs(x), lengths=torch.tensor([x.shape[1]]))
                attention = net.pool(out, torch.tensor([x.shape[1]]))[1][0].tolist()
        return Explanation(labels, s.tolist(), enc.classes[k], float(probs[k]), at_x - at_0, attention)

    # ---- the inference protocol (deploy.protocol)

    def schema(self) -> dict[str, Any]:
        return self.predictor.schema()

    def predict_records(self, records_: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.predictor.predict_records(records_)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predictor.predict_frame(frame)

    def probe(self, inputs: dict[str, Any] | None = None) -> Probe:
        """The LSTM reading one example (`inputs["text"]`, or `["x"]`), each step labelled (tokens for texts),
        and the cross-entropy of the predicted class as the loss."""
        net, enc = self._ready()
        if not inputs:
            raise RequestError("a classifier's probe reads one example: pass --text TEXT (or --input FILE)")
        ex = (
            Labelled([""], texts=[inputs["text"]])
            if "text" in inputs
            else Labelled([""], seqs=[np.asarray(inputs["x"], dtype=np.float32)])
        )
        x = enc.inputs(ex)[0][None]
        lengths = torch.tensor([x.shape[1]])
        e = net.inputs(x).detach()  # (1, T, E): what the LSTM reads
        target = torch.tensor([int(self.probabilities(ex)[0].argmax())])

        def loss_of_output(out: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.cross_entropy(net.classify(out, e, lengths), target)

        labels = [enc.token_text(x[0].tolist())] if enc.kind == "text" else None
        return Probe(net.rnn, e, None, loss_of_output, labels, "the predicted class's cross-entropy")

    def save(self, path: str | Path) -> Path:
        from lstmkit.deploy.saved_model import save_model

        net, enc = self._ready()
        return save_model(
            path,
            task=NAME,
            config=RunConfig(self.config, self.train_config).to_dict(),
            tensors=net.state_dict(),
            state={"encoding": enc.to_dict()},
        )


def _has_sklearn(required: bool) -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        if required:
            raise UsageError("--ngrams on needs scikit-learn: pip install 'lstmkit[data]'") from None
        log.warning("scikit-learn is not installed: no n-gram model beside the network (pip install 'lstmkit[data]')")
        return False
    return True


def verdict(rows: list[dict[str, Any]]) -> str:
    """One plain sentence: which row of the table scored the highest accuracy, and by how much."""
    mine = rows[0]["accuracy"]
    best = max(rows[1:], key=lambda r: r["accuracy"], default=None)
    if best is None:
        return f"lstmkit: accuracy {mine:.3f} (no baseline to compare)"
    if mine >= best["accuracy"]:
        return f"lstmkit won: accuracy {mine:.3f}, the best baseline {best['method']} {best['accuracy']:.3f}"
    return (
        f"{best['method']} won: accuracy {best['accuracy']:.3f} against lstmkit's {mine:.3f}; on this data "
        "the baseline is the better classifier"
    )


def load_saved(saved: Any, device: torch.device) -> Classifier:
    """Rebuild a Classifier exactly as it was trained (the saved-model loader of this task)."""
    from lstmkit.deploy.saved_model import load_weights

    cfg, train = saved_run(saved, ClassifyConfig)
    if "conv" not in saved.config["task"]:  # saved before the convolutional branch existed
        cfg = dataclasses.replace(cfg, conv="off")
    c = Classifier(config=cfg, train=train)
    c.encoding = Encoding.from_dict(saved_state(saved, "encoding", "classes, tokenizer"))
    c.net = load_weights(build_model(cfg, c.encoding), saved).to(device).eval()
    return c
