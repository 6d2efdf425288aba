"""Intent classification by logistic regression over one or more views of the features.

Rasa's ``LogisticRegressionClassifier`` fixes scikit-learn's ``C`` at 1.0 and feeds it raw
n-gram counts. With several thousand sparse n-gram features and a few hundred examples per
intent, C = 1 regularises too hard: rare but decisive words ("guarantee", "质保") are
shrunk towards zero. This component is the same classifier with ``C`` in the config, a
choice of how the sparse features are weighted (``sparse_weighting``) and how much the
dense word vectors count (``dense_weight``), and optionally several such ``views``,
each a logistic regression of its own, their probabilities averaged. Every choice was
made on validation splits of the training data (BENCHMARKS.md), never on the held-out
sets.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack, vstack
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.utils.extmath import softmax

from bot.nlu.dense import one_blas_thread

logger = logging.getLogger(__name__)

#: How the sentence-level sparse features (n-gram counts, regex and lexical flags) are
#: weighted before the fit: Rasa's raw counts, or log(1 + count) scaled to unit length
#: per message, so that a long message does not weigh more than a short one.
_WEIGHTINGS = ("counts", "log_l2")
_VIEW_KEYS = frozenset({"C", "sparse_weighting", "dense_weight"})


@dataclass(frozen=True)
class View:
    """One way of looking at the features, with its own logistic regression."""

    sparse_weighting: str
    dense_weight: float
    C: float


def parse_views(config: dict[str, Any], name: str) -> list[View]:
    """The ``views`` of the config, each defaulting to the top-level options; one view
    made of the top-level options when there are none. Bad values are a clear error."""
    specs = config.get("views") or [{}]
    if not isinstance(specs, list) or not all(isinstance(v, dict) for v in specs):
        raise ValueError(f"{name}: views must be a list of mappings")
    views = []
    for spec in specs:
        unknown = set(spec) - _VIEW_KEYS
        if unknown:
            raise ValueError(f"{name}: unknown view option(s) {', '.join(sorted(unknown))}")
        merged = {key: spec.get(key, config[key]) for key in _VIEW_KEYS}
        view = View(
            str(merged["sparse_weighting"]), float(merged["dense_weight"]), float(merged["C"])
        )
        if view.C <= 0:
            raise ValueError(f"{name}: C must be positive, got {view.C}")
        if view.dense_weight < 0:
            raise ValueError(f"{name}: dense_weight must not be negative")
        if view.sparse_weighting not in _WEIGHTINGS:
            raise ValueError(
                f"{name}: sparse_weighting must be one of {', '.join(_WEIGHTINGS)}, "
                f"got {view.sparse_weighting!r}"
            )
        views.append(view)
    return views


# Up to this many messages at once (a customer's message being served) are predicted block
# by block (``_predict_proba_by_block``); training and batch evaluation use the matrix.
DENSE_PREDICTION_ROWS = 8


# The last few messages' combined sentence features, by message: the intent classifier and
# the FAQ selector read the same message one after the other, and Rasa combines its
# featurizers' outputs anew on every call. An entry counts only for the same object with
# the same number of features (a featurizer adding more makes it stale).
_RECENT: dict[int, tuple[Message, int, csr_matrix, np.ndarray]] = {}
_RECENT_SIZE = 16


def _sentence_features(message: Message) -> tuple[csr_matrix, np.ndarray]:
    """One message's sparse sentence features (a CSR row, float64) and dense ones (a
    1 x n float64 array), remembered for the next component that asks."""
    entry = _RECENT.get(id(message))
    if entry is not None and entry[0] is message and entry[1] == len(message.features):
        return entry[2], entry[3]
    sparse = message.get_sparse_features(attribute=TEXT)[1]
    vectors = message.get_dense_features(attribute=TEXT)[1]
    row = csr_matrix(sparse.features if sparse else []).astype(np.float64)
    dense = (
        np.asarray(vectors.features, dtype=np.float64).reshape(1, -1)
        if vectors
        else np.zeros((1, 0))
    )
    if len(_RECENT) >= _RECENT_SIZE:
        _RECENT.clear()
    _RECENT[id(message)] = (message, len(message.features), row, dense)
    return row, dense


def _probabilities(lr: LogisticRegression, scores: np.ndarray) -> np.ndarray:
    """What ``lr.predict_proba`` makes of its decision scores (scikit-learn 1.1): a softmax
    for a multinomial fit, the logistic function normalised per row for one-vs-rest."""
    ovr = lr.multi_class in ("ovr", "warn") or (
        lr.multi_class == "auto" and (lr.classes_.size <= 2 or lr.solver == "liblinear")
    )
    if scores.shape[1] == 1:
        scores = scores[:, 0]
    if ovr:
        prob = expit(scores)
        if prob.ndim == 1:
            return np.vstack([1 - prob, prob]).T
        return prob / prob.sum(axis=1, keepdims=True)
    return softmax(scores if scores.ndim == 2 else np.c_[-scores, scores], copy=False)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class DeskIntentClassifier(LogisticRegressionClassifier):
    """``LogisticRegressionClassifier`` with ``C``, feature weighting and views configurable."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Rasa's defaults plus the options of one view, and no further views."""
        return {
            **LogisticRegressionClassifier.get_default_config(),
            "C": 1.0,
            "sparse_weighting": "counts",
            "dense_weight": 1.0,
            "views": [],
        }

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
    ) -> None:
        super().__init__(config, name, model_storage, resource)
        self.views = parse_views(self.config, name)
        self.regressions = [self._logistic_regression(view) for view in self.views]
        # Rasa's attribute: the first view's regression (its classes are every view's).
        self.clf = self.regressions[0]

    def _logistic_regression(self, view: View) -> LogisticRegression:
        return LogisticRegression(
            C=view.C,
            solver=self.config["solver"],
            max_iter=self.config["max_iter"],
            class_weight="balanced",
            tol=self.config["tol"],
            random_state=self.config["random_state"],
        )

    def _fitted(self) -> bool:
        return hasattr(self.clf, "classes_")

    def _view_columns(self, X: csr_matrix) -> list[csr_matrix]:
        """``X`` cut into the views' column blocks, in the order of ``self.views``."""
        width = X.shape[1] // len(self.views)
        return [X[:, i * width : (i + 1) * width] for i in range(len(self.views))]

    def _predict_proba(self, X: csr_matrix) -> np.ndarray:
        """Class probabilities in the order of ``self.clf.classes_``: the mean over views."""
        return np.mean(
            [
                lr.predict_proba(part)
                for lr, part in zip(self.regressions, self._view_columns(X), strict=True)
            ],
            axis=0,
        )

    def _rankings(self, messages: list[Message]) -> list[tuple[Message, list[tuple[str, float]]]]:
        """Each message with every label and its probability, most likely first; nothing
        when the classifier was never fitted."""
        if not messages or not self._fitted():
            return []
        with one_blas_thread(len(messages)):
            if len(messages) <= DENSE_PREDICTION_ROWS:
                probabilities = self._predict_proba_by_block(messages)
            else:
                probabilities = self._predict_proba(self._create_X(messages))
        labels = list(self.clf.classes_)
        return [
            (message, sorted(zip(labels, map(float, row), strict=True), key=lambda lp: -lp[1]))
            for message, row in zip(messages, probabilities, strict=True)
        ]

    def _cut(self, ranking: list[Any]) -> list[Any]:
        """The first ``ranking_length`` entries (all when it is 0)."""
        length = int(self.config["ranking_length"])
        return ranking[:length] if length > 0 else ranking

    def process(self, messages: list[Message]) -> list[Message]:
        """The most likely intent and the ranking, as Rasa's classifier sets them."""
        for message, ranking in self._rankings(messages):
            entries = [{"name": name, "confidence": p} for name, p in ranking]
            message.set("intent", entries[0], add_to_output=True)
            message.set("intent_ranking", self._cut(entries), add_to_output=True)
        return messages

    def _sentence_blocks(self, messages: list[Message]) -> tuple[csr_matrix, np.ndarray]:
        """The messages' sparse sentence features (one CSR row each) and their dense ones."""
        sparse_rows, dense_rows = [], []
        for message in messages:
            sparse, dense = _sentence_features(message)
            sparse_rows.append(sparse)
            dense_rows.append(dense)
        return vstack(sparse_rows).tocsr(), np.vstack(dense_rows)

    @staticmethod
    def _weigh(counts: csr_matrix, view: View) -> csr_matrix:
        """The sparse block as ``view`` weights it."""
        if view.sparse_weighting != "log_l2":
            return counts
        weighted = counts.copy()
        weighted.data = np.log1p(np.abs(weighted.data)) * np.sign(weighted.data)
        return normalize(weighted, norm="l2", axis=1)

    def _create_X(self, messages: list[Message]) -> csr_matrix:
        """Sentence features of every message, once per view side by side: the sparse block
        weighted, then the dense one times ``dense_weight``. With one view of ``counts`` and
        1.0 this is Rasa's matrix."""
        counts, dense_rows = self._sentence_blocks(messages)
        dense_block = csr_matrix(dense_rows)
        blocks = []
        for view in self.views:
            blocks += [self._weigh(counts, view), dense_block * view.dense_weight]
        return hstack(blocks).tocsr()

    def _coefficients(self, lr: LogisticRegression, width: int) -> tuple[np.ndarray, np.ndarray]:
        """A regression's weights cut at ``width`` into the sparse block's and the dense
        block's, each transposed into contiguous memory; kept until the regression is
        fitted or loaded again."""
        cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = self.__dict__.setdefault(
            "_coefficient_blocks", {}
        )
        cached = cache.get(id(lr))
        if cached is None or cached[0] is not lr.coef_:
            coef = lr.coef_
            cached = (
                coef,
                np.ascontiguousarray(coef[:, :width].T),
                np.ascontiguousarray(coef[:, width:].T),
            )
            cache[id(lr)] = cached
        return cached[1], cached[2]

    def _predict_proba_by_block(self, messages: list[Message]) -> np.ndarray:
        """``_predict_proba(_create_X(messages))`` for the few messages being served,
        without building the matrix: each view's scores are the sparse rows times the
        sparse block's weights (only their non-zero entries count) plus the dense rows times
        the dense block's. Densifying the n-gram columns (two views of ~100,000) and
        multiplying every weight cost more than the rest of the classifier."""
        counts, dense_rows = self._sentence_blocks(messages)
        probabilities = []
        for view, lr in zip(self.views, self.regressions, strict=True):
            sparse_coef, dense_coef = self._coefficients(lr, counts.shape[1])
            scores = (
                np.asarray(self._weigh(counts, view) @ sparse_coef)
                + (dense_rows * view.dense_weight) @ dense_coef
                + lr.intercept_
            )
            probabilities.append(_probabilities(lr, scores))
        return np.mean(probabilities, axis=0)

    def _fit(self, X: csr_matrix, y: list[str]) -> None:
        """Fit every view's regression on its columns; a fit that stops at ``max_iter`` is
        reported once as information.

        With config.yml every fit converges within 1,000 iterations on an 80 % validation
        split; on the whole training data the raw-count intent view stops at the cap. The
        cap is a deliberate time limit, so it is logged, not warned about on every training
        run.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            for lr, part in zip(self.regressions, self._view_columns(X), strict=True):
                lr.fit(part, y)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            logger.info(
                "%s stopped at max_iter=%s before tol=%s (a time limit, see BENCHMARKS.md)",
                self.name,
                self.config["max_iter"],
                self.config["tol"],
            )
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def persist(self) -> None:
        """Every view's regression, as one list in Rasa's skops file."""
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self.regressions, model_dir / f"{self._resource.name}.skops")

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> DeskIntentClassifier:
        """The trained regressions, loaded as Rasa does: only scikit-learn's own types are
        trusted. A file with anything else, or with another number of views than the
        config, leaves the component untrained (and says so)."""
        import skops.io as sio

        component = cls(config, execution_context.node_name, model_storage, resource)
        try:
            with model_storage.read_from(resource) as model_dir:
                path = model_dir / f"{resource.name}.skops"
                untrusted = sio.get_untrusted_types(file=path)
                if untrusted:
                    logger.warning(
                        "%s: not loading %s: untrusted types %s", cls.__name__, path.name, untrusted
                    )
                    return component
                loaded = sio.load(path, trusted=[])
        except (ValueError, FileNotFoundError):
            logger.debug("%s has no trained state in %s", cls.__name__, resource.name)
            return component
        regressions = loaded if isinstance(loaded, list) else [loaded]
        if len(regressions) != len(component.views) or not all(
            isinstance(lr, LogisticRegression) for lr in regressions
        ):
            logger.warning(
                "%s: %s holds %d regressions for %d views; retrain the model",
                cls.__name__,
                resource.name,
                len(regressions),
                len(component.views),
            )
            return component
        component.regressions = regressions
        component.clf = regressions[0]
        return component

    def train(self, training_data: TrainingData) -> Resource:
        """Fit on every example with an intent and a text, then persist."""
        X, y = self._create_training_matrix(training_data)
        if X.shape[0] == 0:
            logger.debug("%s: no training data, nothing to fit", self.name)
            return self._resource
        self._fit(X, y)
        self.persist()
        return self._resource
