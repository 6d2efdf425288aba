"""A week of demo history, so the console and the dashboard have something to show.

Deterministic (a fixed random seed) and idempotent (one idempotency key per ticket).
Times are relative to the first seeding: tickets spread over the last seven days,
most answered and resolved by an agent, some rated, a few closed by the bot alone,
and a handful still waiting, one of them past its SLA and one close to it.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ticketing.enums import AuthorType, Category, Channel, Language, TicketStatus
from ticketing.models import SatisfactionRating, TicketMessage, utcnow
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.repositories import agents as agents_repo
from ticketing.repositories import ratings as ratings_repo
from ticketing.repositories import tickets as tickets_repo
from ticketing.routing import RoutingPolicy
from ticketing.schemas import CustomerCreate, TicketCreate
from ticketing.services import tickets as tickets_service
from ticketing.services.history import change_fields

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)
HISTORY_TICKETS = 42

# Who answers which category in the demo (they work its queue).
ANSWERERS = {
    Category.TECHNICAL_SUPPORT: ["wang.fang", "chen.jie"],
    Category.AFTER_SALES: ["li.na"],
    Category.BILLING: ["sam.taylor"],
    Category.ACCOUNT_SECURITY: ["chen.jie"],
    Category.COMPLAINTS: ["li.na", "zhao.min"],
    Category.GENERAL: ["wang.fang", "sam.taylor"],
}
PROBLEMS = {
    (Category.TECHNICAL_SUPPORT, "zh"): "宽带晚上经常掉线，网速很慢",
    (Category.TECHNICAL_SUPPORT, "en"): "My Wi-Fi keeps dropping every evening",
    (Category.AFTER_SALES, "zh"): "新买的路由器有一个网口坏了，想换货",
    (Category.AFTER_SALES, "en"): "The router I bought has a broken port, I'd like a replacement",
    (Category.BILLING, "zh"): "这个月的账单比平时多了 30 元",
    (Category.BILLING, "en"): "My bill this month is 30 yuan higher than usual",
    (Category.ACCOUNT_SECURITY, "zh"): "收到陌生的登录验证码，担心账号被盗",
    (Category.ACCOUNT_SECURITY, "en"): "I got a login code I didn't ask for",
    (Category.COMPLAINTS, "zh"): "上门安装的师傅迟到了两个小时",
    (Category.COMPLAINTS, "en"): "The technician was two hours late",
    (Category.GENERAL, "zh"): "想了解一下千兆套餐的价格",
    (Category.GENERAL, "en"): "How much is the gigabit plan?",
}
REPLIES = {
    "zh": "您好，已经收到您的问题，正在为您处理。",
    "en": "Hello, I have your request and I'm on it.",
}


def _customers() -> list[CustomerCreate]:
    return [
        CustomerCreate(channel=Channel.REST, external_id="demo-li", language=Language.ZH),
        CustomerCreate(channel=Channel.REST, external_id="demo-sam", language=Language.EN),
        CustomerCreate(
            channel=Channel.WECHAT, external_id="oDemoWeChatOpenId0001", language=Language.ZH
        ),
    ]


def seed_history(
    session: Session,
    *,
    vault: Vault,
    policy: RoutingPolicy,
    now: datetime | None = None,
) -> int:
    """Create the demo week (what is missing of it); returns how many tickets were created."""
    moment = now or utcnow()
    rng = random.Random(20261128)
    customers = _customers()
    categories = list(ANSWERERS)
    channels = [Channel.REST, Channel.WEB, Channel.WECHAT, Channel.WECHAT, Channel.VOICE]
    created_count = 0
    plan: list[tuple[str, timedelta, str]] = [
        (f"seed-history-{i}", timedelta(minutes=rng.randint(60 * 9, 60 * 24 * 7 - 120)), "done")
        for i in range(HISTORY_TICKETS)
    ]
    # Still waiting now: one past its first-response target, one near it, three fresh.
    plan += [
        ("seed-live-breach", timedelta(hours=5), "breach"),
        ("seed-live-warning", timedelta(minutes=200), "warning"),
        ("seed-live-1", timedelta(minutes=25), "waiting"),
        ("seed-live-2", timedelta(minutes=12), "waiting"),
        ("seed-live-3", timedelta(minutes=4), "waiting"),
    ]
    for key, age, kind in plan:
        # One generator per ticket: a re-run draws the same values for every ticket.
        rng = random.Random(key)
        customer = rng.choice(customers)
        language = customer.language or Language.ZH
        category = {
            "breach": Category.ACCOUNT_SECURITY,
            "warning": Category.BILLING,
        }.get(kind) or rng.choice(categories)
        channel = Channel.WECHAT if customer.channel is Channel.WECHAT else rng.choice(channels)
        created_at = moment - age
        creation = tickets_service.create_ticket(
            session,
            vault=vault,
            principal=BOT,
            payload=TicketCreate(
                customer=customer,
                description=PROBLEMS[(category, language.value)],
                category=category,
                channel=channel,
                language=language,
            ),
            idempotency_key=key,
            policy=policy,
            now=created_at,
            assign=False,
        )
        if not creation.created:
            continue
        created_count += 1
        if kind != "done":
            continue
        ticket = creation.ticket
        if rng.random() < 0.12:
            # The customer cancelled through the bot: closed, no human involved.
            change_fields(
                session,
                ticket=ticket,
                actor=BOT.name,
                changes={
                    "status": TicketStatus.CLOSED,
                    "closed_at": created_at + timedelta(minutes=6),
                },
                now=created_at + timedelta(minutes=6),
            )
            continue
        agent = agents_repo.get_by_username(session, rng.choice(ANSWERERS[category]))
        assert agent is not None
        first_after = timedelta(minutes=rng.choice([3, 6, 9, 14, 22, 35, 50, 80, 150, 300]))
        resolve_after = first_after + timedelta(
            minutes=rng.choice([20, 45, 90, 180, 400, 900, 1700])
        )
        answered, resolved = created_at + first_after, created_at + resolve_after
        if resolved > moment:
            resolved = moment - timedelta(minutes=5)
        tickets_repo.add_message(
            session,
            TicketMessage(
                ticket_id=ticket.id,
                author_type=AuthorType.AGENT,
                author_name=agent.username,
                body=REPLIES[language.value],
                public=True,
                created_at=answered,
            ),
        )
        change_fields(
            session,
            ticket=ticket,
            actor=f"staff:{agent.username}",
            changes={
                "assignee_id": agent.id,
                "assigned_at": created_at + first_after / 2,
                "first_responded_at": answered,
                "status": TicketStatus.RESOLVED,
                "resolved_at": resolved,
            },
            now=resolved,
        )
        if rng.random() < 0.65:
            ratings_repo.add(
                session,
                SatisfactionRating(
                    ticket_id=ticket.id,
                    customer_id=ticket.customer_id,
                    score=rng.choice([5, 5, 5, 4, 4, 4, 3, 2, 5, 4, 1]),
                    created_at=resolved + timedelta(minutes=rng.randint(2, 90)),
                ),
            )
    session.flush()
    return created_count
