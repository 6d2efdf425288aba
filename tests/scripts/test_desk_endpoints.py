"""The endpoints `scripts/desk.py` writes for Rasa, read back the way `rasa run` reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.utils import AvailableEndpoints

from scripts.desk import write_endpoints


def test_custom_actions_get_the_domain_only_when_they_need_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_ACTION_SECRET", "s" * 32)  # Rasa fills ${...} from its environment
    monkeypatch.setenv("DESK_API_URL", "http://127.0.0.1:8123")
    endpoints = AvailableEndpoints.read_endpoints(str(write_endpoints(tmp_path, 5055, None)))
    assert endpoints.action is not None
    assert endpoints.action.url == "http://127.0.0.1:5055/webhook"
    assert endpoints.action.kwargs.get("enable_selective_domain") is True
    # Responses from the desk's generator, which asks this API for FAQ answers.
    assert endpoints.nlg is not None
    assert (endpoints.nlg.type, endpoints.nlg.url) == (
        "bot.nlg.DeskNaturalLanguageGenerator",
        "http://127.0.0.1:8123",
    )


def test_the_hand_run_endpoints_say_the_same() -> None:
    root = Path(__file__).resolve().parents[2]
    endpoints = AvailableEndpoints.read_endpoints(str(root / "bot" / "endpoints.yml"))
    assert endpoints.action is not None
    assert endpoints.action.kwargs.get("enable_selective_domain") is True
    assert (
        endpoints.nlg is not None and endpoints.nlg.type == "bot.nlg.DeskNaturalLanguageGenerator"
    )
