"""The bot's contract file is the live API's: the fake the action tests use is checked
against tests/data/bot_api_contract.json, so that file must say what the API says."""

from __future__ import annotations

import json

from tests.support_service.bot_contract import CONTRACT, live_contract


def test_the_bot_contract_is_the_live_apis() -> None:
    recorded = json.loads(CONTRACT.read_text(encoding="utf-8"))
    live = json.loads(json.dumps(live_contract()))
    assert recorded == live, (
        "the API's contract with the action server changed: check actions/desk_api.py and "
        "tests/actions/fake_api.py, then run "
        "`PYTHONPATH=. .venv/bin/python -m tests.support_service.bot_contract --write`"
    )
