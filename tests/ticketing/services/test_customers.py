from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ticketing.enums import Channel, IdentityKind
from ticketing.models import Customer, Identity
from ticketing.privacy import Vault
from ticketing.services.customers import (
    contact_summary,
    find_by_identity,
    resolve,
    resolve_customer,
)


class TestResolveCustomer:
    def test_first_sight_creates_customer_with_identity(
        self, session: Session, vault: Vault
    ) -> None:
        customer = resolve_customer(
            session, vault=vault, channel=Channel.REST, external_id="sender-1", language="en"
        )
        identities = session.scalars(select(Identity)).all()
        assert customer.language == "en"
        assert [(i.kind, i.customer_id) for i in identities] == [(IdentityKind.REST, customer.id)]

    def test_same_identity_is_same_customer(self, session: Session, vault: Vault) -> None:
        first = resolve_customer(session, vault=vault, channel=Channel.REST, external_id="s-1")
        again = resolve_customer(session, vault=vault, channel=Channel.REST, external_id="s-1")
        assert again.id == first.id
        assert session.scalar(select(func.count()).select_from(Customer)) == 1

    def test_known_phone_links_new_channel_identity(self, session: Session, vault: Vault) -> None:
        on_rest = resolve_customer(
            session,
            vault=vault,
            channel=Channel.REST,
            external_id="li",
            phone="13812345678",
            contact_verified=True,
        )
        on_wechat = resolve_customer(
            session,
            vault=vault,
            channel=Channel.WECHAT,
            external_id="openid-li",
            phone="+86 138 1234 5678",
            contact_verified=True,
        )
        assert on_wechat.id == on_rest.id
        kinds = {i.kind for i in session.scalars(select(Identity))}
        assert kinds == {IdentityKind.REST, IdentityKind.PHONE, IdentityKind.WECHAT_OPENID}

    def test_known_email_links_case_insensitively(self, session: Session, vault: Vault) -> None:
        first = resolve_customer(
            session,
            vault=vault,
            channel=Channel.REST,
            external_id="a",
            email="sam@example.com",
            contact_verified=True,
        )
        second = resolve_customer(
            session,
            vault=vault,
            channel=Channel.WEB,
            external_id="b",
            email="SAM@example.com",
            contact_verified=True,
        )
        assert second.id == first.id

    def test_a_typed_in_contact_never_links_two_people(
        self, session: Session, vault: Vault
    ) -> None:
        owner = resolve_customer(
            session,
            vault=vault,
            channel=Channel.VOICE,
            external_id="call-1",
            phone="13812345678",
            contact_verified=True,
        )
        claimant = resolve_customer(
            session, vault=vault, channel=Channel.WEB, external_id="someone", phone="13812345678"
        )
        assert claimant.id != owner.id
        # Even a verified claim does not attach to a phone that was itself only typed in.
        typed = resolve_customer(
            session, vault=vault, channel=Channel.REST, external_id="t", email="x@example.com"
        )
        verified = resolve_customer(
            session,
            vault=vault,
            channel=Channel.WEB,
            external_id="v",
            email="x@example.com",
            contact_verified=True,
        )
        assert verified.id != typed.id

    def test_unknown_contact_makes_a_new_customer(self, session: Session, vault: Vault) -> None:
        first = resolve_customer(
            session, vault=vault, channel=Channel.REST, external_id="a", phone="13812345678"
        )
        second = resolve_customer(
            session, vault=vault, channel=Channel.REST, external_id="b", phone="13900001111"
        )
        assert second.id != first.id

    def test_personal_values_are_stored_encrypted_only(
        self, session: Session, vault: Vault
    ) -> None:
        resolve_customer(
            session,
            vault=vault,
            channel=Channel.REST,
            external_id="li",
            phone="13812345678",
            email="li@example.com",
            display_name="李雷",
        )
        session.commit()
        stored = " ".join(
            f"{i.value_hash} {i.value_enc}" for i in session.scalars(select(Identity))
        ) + " ".join(str(c.display_name_enc) for c in session.scalars(select(Customer)))
        for plaintext in ("13812345678", "li@example.com", "李雷"):
            assert plaintext not in stored
        phone = session.scalar(select(Identity).where(Identity.kind == IdentityKind.PHONE))
        assert phone is not None
        assert vault.decrypt(phone.value_enc) == "+8613812345678"


class TestResolveWithTheCallersLookup:
    """``resolve(channel_owner=...)``: the API's authentication already looked it up."""

    def test_a_known_owner_is_not_looked_up_again(self, session: Session, vault: Vault) -> None:
        first = resolve_customer(session, vault=vault, channel=Channel.REST, external_id="s-1")
        again = resolve(
            session, vault=vault, channel=Channel.REST, external_id="s-1", channel_owner=first.id
        )
        assert (again.customer.id, again.created) == (first.id, False)

    def test_a_stale_nobody_finds_the_customer_who_came_first(
        self, session: Session, vault: Vault
    ) -> None:
        # As when another request created the customer after this one's lookup.
        first = resolve_customer(session, vault=vault, channel=Channel.REST, external_id="s-1")
        again = resolve(
            session, vault=vault, channel=Channel.REST, external_id="s-1", channel_owner=None
        )
        assert (again.customer.id, again.created) == (first.id, False)
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
        assert session.scalar(select(func.count()).select_from(Identity)) == 1

    def test_first_sight_says_created(self, session: Session, vault: Vault) -> None:
        resolved = resolve(
            session, vault=vault, channel=Channel.WEB, external_id="w-1", display_name="Sam"
        )
        assert resolved.created
        assert vault.decrypt(resolved.customer.display_name_enc or "") == "Sam"
        identities = session.scalars(select(Identity)).all()
        assert [(i.kind, i.customer_id) for i in identities] == [
            (IdentityKind.WEB_SESSION, resolved.customer.id)
        ]


class TestFindByIdentity:
    def test_contact_summary_is_masked(self, session: Session, vault: Vault) -> None:
        resolve_customer(
            session,
            vault=vault,
            channel=Channel.REST,
            external_id="li",
            phone="13812345678",
            email="zhang@example.com",
        )
        customer = find_by_identity(session, vault=vault, channel=Channel.REST, external_id="li")
        summary = contact_summary(customer, vault=vault)
        assert summary.phone_masked == "138****5678"
        assert summary.email_masked == "z***@example.com"
        assert summary.has_phone and summary.has_email
