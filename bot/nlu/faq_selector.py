"""FAQ answers picked by a logistic-regression topic classifier.

Rasa's ``ResponseSelector`` trains a small neural network (DIET) to match a question with
one of the ``faq/<topic>`` answers. On this desk's data it trained for several minutes and
picked fewer topics right on the validation split than logistic regression over the same
features (BENCHMARKS.md). This component is that logistic regression: trained on the
questions of one retrieval intent, labelled by topic, it fills the message's
``response_selector`` property exactly as ``ResponseSelector`` does, so the ``utter_faq``
retrieval action, the REST API and the evaluation read it unchanged.
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
)
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data import util
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.classifier import DeskIntentClassifier

logger = logging.getLogger(__name__)

_META = "selector.json"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class FaqTopicSelector(DeskIntentClassifier):
    """Chooses the ``<retrieval_intent>/<topic>`` answer for every message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The classifier's options plus the retrieval intent it answers and the ranking length."""
        return {
            **DeskIntentClassifier.get_default_config(),
            "retrieval_intent": "faq",
            "ranking_length": 5,
        }

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
    ) -> None:
        super().__init__(config, name, model_storage, resource)
        self.retrieval_intent: str = self.config["retrieval_intent"]
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self.all_retrieval_intents: list[str] = []

    def train(self, training_data: TrainingData) -> Resource:
        """Fit on the questions of the retrieval intent, labelled ``faq/<topic>``."""
        examples = [
            e
            for e in training_data.intent_examples
            if e.get(INTENT) == self.retrieval_intent and e.get(INTENT_RESPONSE_KEY) and e.get(TEXT)
        ]
        topics = {e.get(INTENT_RESPONSE_KEY) for e in examples}
        if len(topics) < 2:
            raise ValueError(
                f"{self.name}: the retrieval intent '{self.retrieval_intent}' needs questions "
                f"for at least two topics, found {len(topics)}"
            )
        self._fit(self._create_X(examples), [e.get(INTENT_RESPONSE_KEY) for e in examples])
        prefix = f"utter_{self.retrieval_intent}/"
        self.responses = {k: v for k, v in training_data.responses.items() if k.startswith(prefix)}
        self.all_retrieval_intents = sorted(training_data.retrieval_intents)
        self.persist()
        return self._resource

    def persist(self) -> None:
        """The classifier (skops, by the parent) and the answers it points to (JSON)."""
        super().persist()
        with self._model_storage.write_to(self._resource) as model_dir:
            (model_dir / _META).write_text(
                json.dumps(
                    {"responses": self.responses, "retrieval_intents": self.all_retrieval_intents},
                    ensure_ascii=False,
                ),
                encoding="utf-8",
            )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> FaqTopicSelector:
        """The trained selector, or an untrained one that answers nothing."""
        component = super().load(config, model_storage, resource, execution_context, **kwargs)
        assert isinstance(component, FaqTopicSelector)
        try:
            with model_storage.read_from(resource) as model_dir:
                meta = json.loads((model_dir / _META).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError):
            logger.debug("%s has no trained state; it will not select answers", cls.__name__)
            return component
        component.responses = meta["responses"]
        component.all_retrieval_intents = meta["retrieval_intents"]
        return component

    def process(self, messages: list[Message]) -> list[Message]:
        """Set ``response_selector[<retrieval_intent>]`` on every message."""
        for message, ranking in self._rankings(messages):
            top, confidence = ranking[0]
            utter_action = util.intent_response_key_to_template_key(top)
            ranked = [
                {
                    "id": zlib.crc32(key.encode("utf-8")),
                    PREDICTED_CONFIDENCE_KEY: p,
                    INTENT_RESPONSE_KEY: key,
                }
                for key, p in self._cut(ranking)
            ]
            prediction = {
                RESPONSE_SELECTOR_PREDICTION_KEY: {
                    RESPONSE_SELECTOR_RESPONSES_KEY: self.responses.get(utter_action, []),
                    PREDICTED_CONFIDENCE_KEY: confidence,
                    INTENT_RESPONSE_KEY: top,
                    RESPONSE_SELECTOR_UTTER_ACTION_KEY: utter_action,
                },
                RESPONSE_SELECTOR_RANKING_KEY: ranked,
            }
            properties = message.get(RESPONSE_SELECTOR_PROPERTY_NAME, {})
            properties[RESPONSE_SELECTOR_RETRIEVAL_INTENTS] = self.all_retrieval_intents
            properties[self.retrieval_intent] = prediction
            message.set(RESPONSE_SELECTOR_PROPERTY_NAME, properties, add_to_output=True)
        return messages
