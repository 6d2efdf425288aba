"""The handoff policy: while an agent has the conversation, the bot only relays.

When the customer asked for a person, ``action_request_human`` sets the
``handoff_ticket`` slot. From then on every customer message goes to
``action_relay_to_agent`` (appended to the ticket thread for the agent, and the
customer told their place in the queue while they wait) instead of being answered
by the bot, whatever NLU made of it. The desk's relay clears the slot when the agent
resolves the ticket, and triggers ``ticket_resolved``: the rules take over again.

An agent's reply arrives as the external intent ``agent_reply``, at any time (also
for tickets the bot opened without a handoff); its entities fill the ``agent_message``
and ``agent_name`` slots, and ``utter_agent_reply`` says it on the customer's channel
(a response, not a custom action: replies get through even when the action server
is down).

The policy predicts with certainty and a priority above the RulePolicy's, so the
ensemble always follows it when it has something to say; otherwise it abstains.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME, USER_INTENT_RESTART
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

HANDOFF_SLOT = "handoff_ticket"
AGENT_REPLY_INTENT = "agent_reply"
RELAY_ACTION = "action_relay_to_agent"
DELIVER_ACTION = "utter_agent_reply"
# Intents that keep their usual handling even during a handoff.
PASS_THROUGH_INTENTS = frozenset(
    {USER_INTENT_RESTART, "session_start", "ticket_resolved", "handed_back"}
)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class HandoffPolicy(Policy):
    """Routes messages to the agent during a handoff and the agent's replies back."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Above the RulePolicy (6): a handoff overrides rules and stories."""
        return {"priority": 7}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        featurizer: Any = None,
    ) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)

    def train(
        self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        """Nothing to learn: the behaviour is the same for every desk."""
        with self._model_storage.write_to(self._resource):
            pass
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        """``action_listen`` after relaying, the relay after a message, else nothing."""
        action = next_action(tracker)
        probabilities = self._default_predictions(domain)
        if action is not None and action in domain.action_names_or_texts:
            probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities)


def next_action(tracker: DialogueStateTracker) -> str | None:
    """What the handoff asks for next in this conversation, or None to let others decide."""
    latest = tracker.latest_action_name
    if latest in (RELAY_ACTION, DELIVER_ACTION):
        return ACTION_LISTEN_NAME
    # Only right after a message (slot extraction adds no action of its own).
    if latest != ACTION_LISTEN_NAME:
        return None
    message = tracker.latest_message
    if not isinstance(message, UserUttered) or not message.intent:
        return None
    intent = message.intent.get("name")
    if intent == AGENT_REPLY_INTENT:
        return DELIVER_ACTION
    if intent in PASS_THROUGH_INTENTS or not tracker.get_slot(HANDOFF_SLOT):
        return None
    return RELAY_ACTION
