from datetime import UTC, datetime, timedelta

import pytest

from ticketing.enums import Category, Priority
from ticketing.routing import PolicyError, default_policy, parse_policy


class TestRoute:
    @pytest.mark.parametrize(
        ("category", "queue", "priority"),
        [
            (Category.TECHNICAL_SUPPORT, "technical_support", Priority.NORMAL),
            (Category.AFTER_SALES, "after_sales", Priority.NORMAL),
            (Category.BILLING, "billing", Priority.NORMAL),
            (Category.ACCOUNT_SECURITY, "account_security", Priority.HIGH),
            (Category.COMPLAINTS, "complaints", Priority.HIGH),
            (Category.GENERAL, "general", Priority.LOW),
        ],
    )
    def test_category_defaults(self, category: Category, queue: str, priority: Priority) -> None:
        route = default_policy().route(category)
        assert (route.queue_key, route.priority) == (queue, priority)

    def test_urgency_raises_priority(self) -> None:
        route = default_policy().route(Category.GENERAL, urgency=Priority.URGENT)
        assert route.priority is Priority.URGENT

    def test_urgency_never_lowers_priority(self) -> None:
        route = default_policy().route(Category.COMPLAINTS, urgency=Priority.LOW)
        assert route.priority is Priority.HIGH


class TestSlaPolicy:
    @pytest.mark.parametrize(
        ("priority", "first_response", "resolution"),
        [
            (Priority.URGENT, 15, 240),
            (Priority.HIGH, 60, 480),
            (Priority.NORMAL, 240, 1440),
            (Priority.LOW, 480, 2880),
        ],
    )
    def test_dues(self, priority: Priority, first_response: int, resolution: int) -> None:
        start = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
        dues = default_policy().sla.dues(priority, start=start)
        assert dues.first_response_due_at == start + timedelta(minutes=first_response)
        assert dues.resolution_due_at == start + timedelta(minutes=resolution)


class TestParsePolicy:
    def _data(self) -> dict:
        return {
            "queues": {c.value: {"name_en": c.value, "name_zh": c.value} for c in Category},
            "categories": {c.value: {"queue": c.value, "priority": "low"} for c in Category},
            "sla": {p.value: {"first_response": 1, "resolution": 2} for p in Priority},
        }

    def test_valid(self) -> None:
        assert parse_policy(self._data()).route(Category.BILLING).queue_key == "billing"

    def test_missing_category_is_refused(self) -> None:
        data = self._data()
        del data["categories"]["billing"]
        with pytest.raises(PolicyError, match="billing"):
            parse_policy(data)

    def test_route_to_unknown_queue_is_refused(self) -> None:
        data = self._data()
        data["categories"]["billing"]["queue"] = "nowhere"
        with pytest.raises(PolicyError, match="nowhere"):
            parse_policy(data)

    def test_missing_sla_is_refused(self) -> None:
        data = self._data()
        del data["sla"]["urgent"]
        with pytest.raises(PolicyError, match="urgent"):
            parse_policy(data)


class TestPriority:
    def test_highest(self) -> None:
        assert Priority.highest(Priority.LOW, None, Priority.HIGH) is Priority.HIGH
