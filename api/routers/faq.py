"""FAQ answers: staff read them, supervisors rewrite them, the bot asks for the current one.

An edit is what the bot says on the next turn (Rasa reads the answer here each time,
``bot/nlg.py``); no retraining. New topics and new ways of asking still need training.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.auth import BotOrStaff, StaffOnly, SupervisorOnly
from api.deps import SessionDep
from ticketing.services import faq as faq_service

router = APIRouter(prefix="/faq", tags=["faq"])

Topic = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9_]+$")]
LanguageCode = Literal["zh", "en"]


class FaqAnswerRead(BaseModel):
    """One topic's answer in one language, as the bot says it now."""

    topic: str
    language: str
    text: str
    trained_text: str = Field(description="The answer in the trained model's domain.")
    edited: bool = Field(description="Whether a supervisor's text replaces the trained one.")
    version: int = Field(description="Send it back when editing; 0 = never edited.")
    updated_by: str | None
    updated_at: datetime | None


class FaqTopicRead(BaseModel):
    """What the bot answers for one topic, per language."""

    topic: str
    texts: dict[str, str]


class FaqAnswerEdit(BaseModel):
    """A supervisor's rewrite, made against the version they read."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"version": 0, "text": "退款会在 1-3 个工作日内原路退回。"}]
        },
    )

    version: int = Field(ge=0)
    text: str = Field(min_length=1, max_length=faq_service.MAX_ANSWER_CHARACTERS)


_COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Your role may not do this"},
}


@router.get("", response_model=list[FaqAnswerRead], responses=_COMMON)
def list_answers(session: SessionDep, _principal: StaffOnly) -> list[FaqAnswerRead]:
    """Every FAQ topic in both languages: the current text and the trained one."""
    return [FaqAnswerRead(**vars(a)) for a in faq_service.list_answers(session)]


@router.get(
    "/{topic}",
    response_model=FaqTopicRead,
    responses={**_COMMON, 404: {"description": "No such topic (`faq_topic_not_found`)"}},
)
def read_topic(topic: Topic, session: SessionDep, _principal: BotOrStaff) -> FaqTopicRead:
    """What the bot answers for this topic now, per language (the bot reads it each time)."""
    return FaqTopicRead(topic=topic, texts=faq_service.current_answers(session, topic))


@router.put(
    "/{topic}/{language}",
    response_model=FaqAnswerRead,
    responses={
        **_COMMON,
        404: {"description": "No such topic (`faq_topic_not_found`)"},
        409: {"description": "Edited meanwhile (`version_conflict`): reload and edit again"},
        422: {"description": "Empty or too long; `details` names the field"},
    },
)
def edit_answer(
    topic: Topic,
    language: LanguageCode,
    payload: FaqAnswerEdit,
    session: SessionDep,
    principal: SupervisorOnly,
) -> FaqAnswerRead:
    """Rewrite one answer; live on the bot's next answer. Audited."""
    answer = faq_service.edit(
        session,
        principal=principal,
        topic=topic,
        language=language,
        text=payload.text,
        version=payload.version,
    )
    return FaqAnswerRead(**vars(answer))


@router.delete(
    "/{topic}/{language}",
    response_model=FaqAnswerRead,
    responses={**_COMMON, 404: {"description": "No such topic (`faq_topic_not_found`)"}},
)
def reset_answer(
    topic: Topic, language: LanguageCode, session: SessionDep, principal: SupervisorOnly
) -> FaqAnswerRead:
    """Back to the trained answer. Audited."""
    answer = faq_service.reset(session, principal=principal, topic=topic, language=language)
    return FaqAnswerRead(**vars(answer))
