"""``python -m ticketing.seed``: demo queues, agents, customers and tickets. Idempotent."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ticketing import privacy_text
from ticketing.db import Database
from ticketing.enums import (
    AgentPresence,
    AuthorType,
    Category,
    Channel,
    Language,
    StaffRole,
    TicketStatus,
)
from ticketing.models import Agent
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.repositories import agents as agents_repo
from ticketing.repositories import queues as queues_repo
from ticketing.routing import RoutingPolicy, default_policy
from ticketing.schemas import CustomerCreate, TicketCreate, TranscriptLine
from ticketing.seed_history import seed_history
from ticketing.services import history
from ticketing.services import staff as staff_service
from ticketing.services import tickets as tickets_service
from ticketing.services.customers import resolve_customer
from ticketing.services.queues import ensure_queue
from ticketing.settings import get_settings

SEED_PRINCIPAL = Principal(name="seed", role=Role.ADMIN)


@dataclass(frozen=True)
class DemoAgent:
    username: str
    display_name: str
    languages: list[str]
    queues: list[str]
    capacity: int
    presence: AgentPresence
    role: StaffRole = StaffRole.AGENT


@dataclass(frozen=True)
class DemoTicket:
    key: str
    payload: TicketCreate
    status: TicketStatus
    assignee: str | None = None


AGENTS = [
    DemoAgent(
        "wang.fang", "王芳", ["zh"], ["technical_support", "general"], 6, AgentPresence.ONLINE
    ),
    DemoAgent(
        "li.na", "李娜", ["zh", "en"], ["after_sales", "complaints"], 5, AgentPresence.ONLINE
    ),
    DemoAgent("sam.taylor", "Sam Taylor", ["en"], ["billing", "general"], 4, AgentPresence.AWAY),
    DemoAgent(
        "chen.jie",
        "陈杰",
        ["zh", "en"],
        ["account_security", "technical_support", "complaints"],
        3,
        AgentPresence.OFFLINE,
    ),
    DemoAgent(
        "zhao.min",
        "赵敏",
        ["zh", "en"],
        ["complaints", "general", "supervisors"],
        2,
        AgentPresence.ONLINE,
        StaffRole.SUPERVISOR,
    ),
    DemoAgent("admin", "Desk admin", ["en", "zh"], [], 0, AgentPresence.OFFLINE, StaffRole.ADMIN),
]

LI = CustomerCreate(
    channel=Channel.REST,
    external_id="demo-li",
    language=Language.ZH,
    phone="13812345678",
    display_name="李雷",
)
SAM = CustomerCreate(
    channel=Channel.REST, external_id="demo-sam", language=Language.EN, email="sam@example.com"
)
MEI = CustomerCreate(
    channel=Channel.WECHAT, external_id="oDemoWeChatOpenId0001", language=Language.ZH
)

TICKETS = [
    DemoTicket(
        "seed-ticket-1",
        TicketCreate(
            customer=LI,
            description="我的宽带从昨天开始就连不上了，路由器的灯一直是红色的。",
            category=Category.TECHNICAL_SUPPORT,
            channel=Channel.REST,
            language=Language.ZH,
            transcript=[
                TranscriptLine(author_type=AuthorType.CUSTOMER, body="宽带连不上了"),
                TranscriptLine(author_type=AuthorType.BOT, body="请问是从什么时候开始的？"),
            ],
        ),
        TicketStatus.OPEN,
        assignee="wang.fang",
    ),
    DemoTicket(
        "seed-ticket-2",
        TicketCreate(
            customer=SAM,
            description="I was charged twice for my November bill.",
            category=Category.BILLING,
            channel=Channel.REST,
            language=Language.EN,
        ),
        TicketStatus.PENDING,
        assignee="sam.taylor",
    ),
    DemoTicket(
        "seed-ticket-3",
        TicketCreate(
            customer=MEI,
            description="快递到了，但是新买的路由器开不了机。",
            category=Category.AFTER_SALES,
            channel=Channel.WECHAT,
            language=Language.ZH,
        ),
        TicketStatus.NEW,
    ),
    DemoTicket(
        "seed-ticket-4",
        TicketCreate(
            customer=LI,
            description="有人试图登录我的账号，我收到了陌生的验证码短信。",
            category=Category.ACCOUNT_SECURITY,
            channel=Channel.REST,
            language=Language.ZH,
        ),
        TicketStatus.ESCALATED,
        assignee="chen.jie",
    ),
]


def seed_demo_data(
    session: Session,
    *,
    vault: Vault,
    policy: RoutingPolicy | None = None,
    staff_password: str | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Create whatever part of the demo data is missing; existing rows are left alone.

    Staff accounts get ``staff_password`` if they have none yet; without it they are
    created unable to log in.
    """
    privacy_text.bind_vault(session, vault)
    policy = policy or default_policy()
    for definition in policy.queues:
        ensure_queue(session, definition)
    say(f"[seed] queues: {len(policy.queues)} present")

    created_agents = 0
    password_hash = staff_service.hash_password(staff_password) if staff_password else None
    for agent in AGENTS:
        existing = agents_repo.get_by_username(session, agent.username)
        if existing is None:
            agents_repo.add(
                session,
                Agent(
                    username=agent.username,
                    display_name=agent.display_name,
                    languages=agent.languages,
                    capacity=agent.capacity,
                    presence=agent.presence,
                    role=agent.role,
                    password_hash=password_hash,
                    active=True,
                    queues=queues_repo.list_by_keys(session, agent.queues),
                ),
            )
            created_agents += 1
        elif existing.password_hash is None and password_hash is not None:
            existing.password_hash = password_hash
    say(f"[seed] staff: {created_agents} created, {len(AGENTS) - created_agents} already there")
    if password_hash is None:
        say("[seed] no DESK_DEMO_PASSWORD: staff accounts cannot log in until given a password")

    for customer in (LI, SAM, MEI):
        resolve_customer(
            session,
            vault=vault,
            channel=customer.channel,
            external_id=customer.external_id,
            language=customer.language,
            phone=customer.phone,
            email=customer.email,
            display_name=customer.display_name,
        )
    say("[seed] customers: 3 present")

    for demo in TICKETS:
        creation = tickets_service.create_ticket(
            session,
            vault=vault,
            principal=SEED_PRINCIPAL,
            payload=demo.payload,
            idempotency_key=demo.key,
            policy=policy,
            assign=False,  # the demo tickets get the states listed above
        )
        ticket = creation.ticket
        if creation.created:
            assignee = (
                agents_repo.get_by_username(session, demo.assignee) if demo.assignee else None
            )
            history.change_fields(
                session,
                ticket=ticket,
                actor=SEED_PRINCIPAL.name,
                changes={
                    "status": demo.status,
                    "assignee_id": assignee.id if assignee else None,
                },
            )
        state = "created" if creation.created else "already there"
        say(f"[seed] ticket {ticket.number} ({ticket.status}): {state}")

    created = seed_history(session, vault=vault, policy=policy)
    say(f"[seed] a week of history for the console and dashboard: {created} tickets created")


def main() -> None:
    """Seed the database named by DATABASE_URL in one transaction."""
    settings = get_settings()
    database = Database.from_settings(settings)
    try:
        with database.sessions.begin() as session:
            seed_demo_data(
                session,
                vault=Vault.from_settings(settings),
                staff_password=os.environ.get("DESK_DEMO_PASSWORD") or None,
            )
        print("[seed] done", flush=True)
    finally:
        database.dispose()


if __name__ == "__main__":
    main()
