"""People services on both databases: an account's keys and clients scoped to it and to the
member's role, and deleting an account with everything in it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from tests.support import slowed

from beacon.core import auth
from beacon.core.db import Database
from beacon.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from beacon.core.models import Account, ApiKey
from beacon.core.permissions import Role
from beacon.messaging.models import OAuthClient
from beacon.people import credentials, invitations, repository, service
from beacon.people.models import Invitation, Membership
from beacon.people.service import Member
from beacon.pixel import service as pixel_service
from beacon.pixel.models import PixelCampaign
from beacon.pixel.schemas import CampaignCreate

PASSWORD = "a long enough password"


def _member(db: Database, account: str, email: str, role: Role) -> Member:
    with db.transaction() as session:
        ensured = service.ensure_member(
            session=session, account_name=account, email=email, role=role, password=PASSWORD
        )
        found = auth.find_account(session=session, name=account)
        assert found is not None
        return Member(ensured.user.id, ensured.user.email, "", found.id, account, role)


def test_keys_and_clients_belong_to_the_members_account(db: Database) -> None:
    admin = _member(db, "acme", "admin@acme.example", Role.admin)
    stranger = _member(db, "globex", "admin@globex.example", Role.admin)
    with db.transaction() as session:
        mine = credentials.create_key(session=session, member=admin)
        theirs = credentials.create_key(session=session, member=stranger)
        client = credentials.create_client(session=session, member=admin, scopes=["campaigns:read"])
    with db.transaction() as session:
        assert [k.prefix for k in credentials.list_keys(session=session, member=admin)] == [
            mine.prefix
        ]
        assert [c.client_id for c in credentials.list_clients(session=session, member=admin)] == [
            client.client_id
        ]
        with pytest.raises(NotFound):
            credentials.revoke_key(session=session, member=admin, prefix=theirs.prefix)
        with pytest.raises(NotFound):
            credentials.revoke_client(session=session, member=stranger, client_id=client.client_id)
    with db.transaction() as session:
        credentials.revoke_key(session=session, member=admin, prefix=mine.prefix)
        credentials.revoke_client(session=session, member=admin, client_id=client.client_id)
    with db.transaction() as session:
        assert auth.authenticate_api_key(session=session, presented=mine.key) is None
        assert auth.authenticate_api_key(session=session, presented=theirs.key) is not None
        # Revoked already (a double click on Revoke, the form posted again): no error, and
        # it stays revoked; the other account's key is still not found.
        credentials.revoke_key(session=session, member=admin, prefix=mine.prefix)
        credentials.revoke_client(session=session, member=admin, client_id=client.client_id)
        assert auth.authenticate_api_key(session=session, presented=mine.key) is None
        with pytest.raises(NotFound):
            credentials.revoke_key(session=session, member=admin, prefix=theirs.prefix)


def test_credentials_need_an_admin(db: Database) -> None:
    analyst = _member(db, "acme", "analyst@acme.example", Role.analyst)
    with db.transaction() as session:
        for call in (
            lambda: credentials.create_key(session=session, member=analyst),
            lambda: credentials.list_keys(session=session, member=analyst),
            lambda: credentials.create_client(session=session, member=analyst, scopes=["x"]),
            lambda: credentials.list_clients(session=session, member=analyst),
        ):
            with pytest.raises(Forbidden):
                call()
    admin = _member(db, "acme", "admin@acme.example", Role.admin)
    with db.transaction() as session, pytest.raises(ValidationFailed):
        credentials.create_client(session=session, member=admin, scopes=["nonsense:scope"])


def test_deleting_an_account_removes_everything_in_it_and_nothing_else(db: Database) -> None:
    owner = _member(db, "doomed", "owner@doomed.example", Role.owner)
    admin = _member(db, "doomed", "admin@doomed.example", Role.admin)
    survivor = _member(db, "kept", "owner@kept.example", Role.owner)
    _member(db, "kept", "admin@doomed.example", Role.viewer)  # also in another account
    with db.transaction() as session:
        for member in (owner, survivor):
            credentials.create_key(session=session, member=member)
            credentials.create_client(session=session, member=member, scopes=["campaigns:read"])
            pixel_service.create_campaign(
                session=session,
                account_id=member.account_id,
                data=CampaignCreate.model_validate({"name": "c", "use_case": "other"}),
            )
        invitations.invite(
            session=session, member=owner, email="new@doomed.example", role=Role.viewer
        )

    with db.transaction() as session:
        with pytest.raises(Forbidden):
            service.delete_account(session=session, member=admin, confirmation="doomed")
        with pytest.raises(ValidationFailed):
            service.delete_account(session=session, member=owner, confirmation="Doomed!")
    with db.transaction() as session:
        service.delete_account(session=session, member=owner, confirmation=" doomed ")

    with db.transaction() as session:
        assert session.get(Account, owner.account_id) is None
        assert session.get(Account, survivor.account_id) is not None
        for model in (ApiKey, OAuthClient, PixelCampaign, Membership, Invitation):
            left = session.scalar(
                select(func.count()).select_from(model).where(model.account_id == owner.account_id)
            )
            kept = session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.account_id == survivor.account_id)
            )
            assert left == 0, model.__name__
            assert kept >= (0 if model is Invitation else 1), model.__name__
        accounts = service.accounts_of(session=session, user_id=admin.user_id)
        assert [name for _, name, _ in accounts] == ["kept"]


def test_a_key_goes_to_the_members_account_even_if_its_name_has_spaces(db: Database) -> None:
    # Names are now trimmed when an account is made; one made before, " acme", must still get
    # its own keys, never those of the account "acme".
    with db.transaction() as session:
        session.add(Account(name=" acme"))
    spaced = _member(db, " acme", "ana@spaced.example", Role.admin)
    plain = _member(db, "acme", "bo@acme.example", Role.admin)
    assert spaced.account_id != plain.account_id

    with db.transaction() as session:
        issued = credentials.create_key(session=session, member=spaced)

    assert issued.account_id == spaced.account_id


def _invite(db: Database, member: Member, email: str, role: Role) -> str:
    with db.transaction() as session:
        return invitations.invite(session=session, member=member, email=email, role=role).token


def _pending(db: Database, member: Member) -> list[str]:
    with db.transaction() as session:
        return [i.email for i in invitations.pending(session=session, member=member)]


def test_invitations_end_with_the_inviters_right_to_send_them(db: Database) -> None:
    # An admin about to be removed could invite addresses of their own as admin and come back
    # through those links afterwards: invitations outlived the right that made them.
    owner = _member(db, "acme", "owner@acme.example", Role.owner)
    leaving = _member(db, "acme", "leaving@acme.example", Role.admin)
    demoted = _member(db, "acme", "demoted@acme.example", Role.owner)
    disabled = _member(db, "acme", "disabled@acme.example", Role.admin)
    staying = _member(db, "acme", "staying@acme.example", Role.admin)
    backdoor = _invite(db, leaving, "back@elsewhere.example", Role.admin)
    as_owner = _invite(db, demoted, "owner2@elsewhere.example", Role.owner)
    as_viewer = _invite(db, demoted, "viewer2@elsewhere.example", Role.viewer)
    from_disabled = _invite(db, disabled, "other@elsewhere.example", Role.viewer)
    kept = _invite(db, staying, "new@elsewhere.example", Role.analyst)

    with db.transaction() as session:
        service.remove_member(session=session, member=owner, user_id=leaving.user_id)
        service.change_role(session=session, member=owner, user_id=demoted.user_id, role=Role.admin)
        service.disable_user(session=session, email=disabled.email)

    assert sorted(_pending(db, owner)) == ["new@elsewhere.example", "viewer2@elsewhere.example"]
    for token in (backdoor, as_owner, from_disabled):
        with db.transaction() as session, pytest.raises(NotFound):
            invitations.look_up(session=session, token=token)
    with db.transaction() as session:
        assert invitations.look_up(session=session, token=kept).role == Role.analyst
        assert invitations.look_up(session=session, token=as_viewer).role == Role.viewer
    with db.transaction() as session:
        service.change_role(
            session=session, member=owner, user_id=staying.user_id, role=Role.analyst
        )
    assert _pending(db, owner) == ["viewer2@elsewhere.example"]


def test_two_owners_demoting_each_other_at_once_leave_an_owner(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request counted the owners (two), then demoted the other: both passed the check
    and the account was left without an owner."""
    first = _member(db, "acme", "one@acme.example", Role.owner)
    second = _member(db, "acme", "two@acme.example", Role.owner)
    slowed(monkeypatch, repository, "members_of_account", seconds=0.3)

    def demote(member: Member, other: Member) -> str:
        try:
            with db.transaction() as session:
                service.change_role(
                    session=session, member=member, user_id=other.user_id, role=Role.admin
                )
        except Conflict:
            return "refused"
        return "demoted"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda pair: demote(*pair), [(first, second), (second, first)]))
    assert outcomes == ["demoted", "refused"]
    with db.transaction() as session:
        roles = [m.role for m, _ in repository.members_of_account(session, first.account_id)]
    assert sorted(roles) == ["admin", "owner"]


def test_a_name_cannot_reverse_the_email_shown_beside_it(db: Database) -> None:
    """U+202E (right-to-left override) in a member's name reversed the email the members table
    shows after it; the bidirectional controls are dropped, the letters kept."""
    with db.transaction() as session:
        user = service.create_user(
            session=session,
            email="eve@example.com",
            password="correct horse battery staple",
            name="Eve \u202emoc.elpmaxe@nimda\u202c \u2067x\u2069\u200f",
        )
        assert user.name == "Eve moc.elpmaxe@nimda x"
