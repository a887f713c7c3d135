"""Auth use cases over in-memory fakes: the lockout, licences and rosters as versioned
identity events with an outbox, the patients' code and scan steps, client
registration, the development operator, and the subscribers."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from services.auth import clients, patients, physicians, subscribers
from services.auth.domain import ClientKind, Interaction, in_future
from services.auth.errors import (
    BadCredentials,
    BadRequest,
    LockedOut,
    NotOnRoster,
    OtpExhausted,
    OtpExpired,
    OtpWrong,
    PatientNotRegistered,
    ScanFailed,
    ScanRefused,
    Throttled,
)
from services.auth.handlers import Deps, relay
from services.auth.keys import SigningKeys
from services.auth.otp import FileOtpSender, RecordingOtpSender
from services.auth.settings import AuthSettings
from shared.broker import RecordingPublisher
from shared.coverage import HospitalState
from shared.errors import Transient
from shared.events import (
    ConsentGranted,
    HospitalRegistered,
    LicenceChanged,
    OperatorActed,
    PatientRegistered,
    PatientSignedIn,
    PhysicianLockedOut,
    RosterChanged,
    SignInFailed,
)
from tests.support.auth import (
    GOOD_SCAN,
    auth_settings,
    make_cid,
    memory_deps,
    new_key,
    public_jwks,
)
from tests.support.clock import Clock
from tests.support.events import envelope

pytestmark = pytest.mark.unit
LICENCE, PIN, HOSPITAL = "12345", "4321", "10670"
CID = make_cid("110170012345")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def deps(clock: Clock) -> Deps:
    found = memory_deps(auth_settings(auth_throttle_per_address="1000/minute"), clock)
    state = HospitalState(code=HOSPITAL, name="H", role="provider").model_dump(mode="json")
    await found.view.hospitals.apply(HOSPITAL, 1, state)
    await physicians.load_licence(found, "op", LICENCE, "Dr. A", PIN, True)
    await physicians.add_to_roster(found, "op", HOSPITAL, LICENCE)
    await found.patients.registered(CID)
    return found


def sent(deps: Deps) -> RecordingPublisher:
    assert isinstance(deps.publisher, RecordingPublisher)
    return deps.publisher


async def test_five_wrong_pins_lock_until_the_window_ends(deps: Deps, clock: Clock) -> None:
    for _ in range(5):
        with pytest.raises(BadCredentials):
            await physicians.sign_in(deps, "a", LICENCE, "0000", HOSPITAL)
    with pytest.raises(LockedOut):
        await physicians.sign_in(deps, "a", LICENCE, PIN, HOSPITAL)
    [locked] = sent(deps).of(PhysicianLockedOut)
    assert locked.data["failures"] == 5
    clock.now += timedelta(seconds=deps.settings.auth_failure_window_s)
    subject = await physicians.sign_in(deps, "a", LICENCE, PIN, HOSPITAL)
    assert subject.fhir_user == f"Practitioner/{LICENCE}" and subject.hospital == HOSPITAL


async def test_a_right_pin_gives_its_attempt_back(deps: Deps) -> None:
    for _ in range(4):
        with pytest.raises(BadCredentials):
            await physicians.sign_in(deps, "a", LICENCE, "0000", HOSPITAL)
    for _ in range(3):
        await physicians.sign_in(deps, "a", LICENCE, PIN, HOSPITAL)
    with pytest.raises(BadCredentials):
        await physicians.sign_in(deps, "a", LICENCE, "0000", HOSPITAL)
    with pytest.raises(LockedOut):
        await physicians.sign_in(deps, "a", LICENCE, "0000", HOSPITAL)


async def test_unknown_inactive_and_off_roster_physicians_are_refused(deps: Deps) -> None:
    with pytest.raises(BadCredentials):
        await physicians.sign_in(deps, "a", "99999", PIN, HOSPITAL)
    with pytest.raises(NotOnRoster):
        await physicians.sign_in(deps, "a", LICENCE, PIN, "11535")
    await physicians.remove_from_roster(deps, "op", HOSPITAL, LICENCE)
    with pytest.raises(NotOnRoster):
        await physicians.sign_in(deps, "a", LICENCE, PIN, HOSPITAL)
    await physicians.load_licence(deps, "op", LICENCE, None, None, False)
    with pytest.raises(BadCredentials):
        await physicians.sign_in(deps, "a", LICENCE, PIN, HOSPITAL)
    reasons = [e.data["reason"] for e in sent(deps).of(SignInFailed)]
    assert reasons == ["bad-credentials", "not-on-roster", "not-on-roster", "bad-credentials"]
    with pytest.raises(BadRequest):
        await physicians.sign_in(deps, "a", "12a45", PIN, HOSPITAL)


async def test_the_throttle_answers_before_anything_is_read() -> None:
    deps = memory_deps(auth_settings(auth_throttle_per_address="2/minute"))
    for _ in range(2):
        with pytest.raises(BadCredentials):
            await physicians.sign_in(deps, "10.0.0.1", LICENCE, PIN, HOSPITAL)
    with pytest.raises(Throttled):
        await physicians.sign_in(deps, "10.0.0.1", LICENCE, PIN, HOSPITAL)
    with pytest.raises(BadCredentials):
        await physicians.sign_in(deps, "10.0.0.2", LICENCE, PIN, HOSPITAL)


async def test_licences_and_rosters_are_versioned_full_states(deps: Deps) -> None:
    await physicians.load_licence(deps, "op", LICENCE, "Dr. A", None, None)  # no change
    await physicians.load_licence(deps, "op", LICENCE, None, None, False)
    licences = sent(deps).of(LicenceChanged)
    assert [(e.data["version"], e.data["state"]["active"]) for e in licences] == [
        (1, True),
        (2, False),
    ]
    assert [e.id for e in licences] == [f"identity-licences-{LICENCE}-{v}" for v in (1, 2)]
    [roster] = sent(deps).of(RosterChanged)
    assert roster.data["state"] == {"hospital": HOSPITAL, "licences": [LICENCE]}
    await physicians.load_licence(deps, "op", LICENCE, None, "9999", None)
    actions = [e.data["action"] for e in sent(deps).of(OperatorActed)]
    assert actions == ["licence.loaded", "licence.changed", "licence.pin_reset"]


async def test_an_identity_event_left_unpublished_is_relayed(deps: Deps, clock: Clock) -> None:
    class Down(RecordingPublisher):
        async def publish(self, topic: str, event: object) -> None:
            raise ConnectionError("broker down")

    deps.publisher = Down()
    with pytest.raises(ConnectionError):
        await physicians.load_licence(deps, "op", "55555", "Dr. B", "1111", True)
    deps.publisher = RecordingPublisher()
    clock.now += timedelta(seconds=10)
    assert await relay(deps) == 1
    assert sent(deps).of(LicenceChanged)[0].subject == "55555"
    assert await relay(deps) == 0


async def test_security_events_that_cannot_be_sent_refuse_the_action(deps: Deps) -> None:
    class Down(RecordingPublisher):
        async def publish(self, topic: str, event: object) -> None:
            raise ConnectionError("broker down")

    deps.publisher = Down()
    with pytest.raises(Transient):
        await physicians.sign_in(deps, "a", LICENCE, PIN, HOSPITAL)


def pending(deps: Deps) -> Interaction:
    now = deps.now()
    return Interaction("i-1", {}, "csrf", in_future(now, 600), "app", "patient/*.rs")


async def test_a_patient_needs_the_code_then_the_scan(deps: Deps) -> None:
    interaction = pending(deps)
    with pytest.raises(PatientNotRegistered):
        await patients.send_code(deps, interaction, "a", make_cid("210170012345"))
    await patients.send_code(deps, interaction, "a", CID)
    otp = deps.otp
    assert isinstance(otp, RecordingOtpSender)
    wrong = "000000" if otp.sent[CID] != "000000" else "111111"
    with pytest.raises(OtpWrong):
        await patients.check_code(deps, interaction, wrong)
    with pytest.raises(BadRequest):
        await patients.check_scan(deps, interaction, GOOD_SCAN)
    await patients.check_code(deps, interaction, otp.sent[CID])
    with pytest.raises(ScanFailed):
        await patients.check_scan(deps, interaction, "someone else")
    subject = await patients.check_scan(deps, interaction, GOOD_SCAN)
    assert subject.patient == CID and subject.session == interaction.session
    [signed_in] = sent(deps).of(PatientSignedIn)
    assert signed_in.data["session"] == interaction.session


async def test_codes_are_limited_per_code_and_per_phone(deps: Deps, clock: Clock) -> None:
    interaction = pending(deps)
    await patients.send_code(deps, interaction, "a", CID)
    for _ in range(5):
        with pytest.raises(OtpWrong):
            await patients.check_code(deps, interaction, "abcdef")
    with pytest.raises(OtpExhausted):
        await patients.check_code(deps, interaction, "abcdef")
    for _ in range(4):
        await patients.send_code(deps, pending(deps), "a", CID)
    with pytest.raises(OtpExhausted):
        await patients.send_code(deps, pending(deps), "a", CID)
    later = pending(deps)
    clock.now += timedelta(seconds=deps.settings.auth_failure_window_s)
    await patients.send_code(deps, later, "a", CID)
    clock.now += timedelta(seconds=deps.settings.auth_otp_ttl_s)
    with pytest.raises(OtpExpired):
        await patients.check_code(deps, later, "123456")


async def test_the_verifiers_refusal_is_passed_on(deps: Deps) -> None:
    interaction = pending(deps)
    await patients.send_code(deps, interaction, "a", CID)
    assert isinstance(deps.otp, RecordingOtpSender)
    await patients.check_code(deps, interaction, deps.otp.sent[CID])
    for _ in range(5):
        with pytest.raises(ScanFailed):
            await patients.check_scan(deps, interaction, "nope")
    with pytest.raises(ScanRefused):
        await patients.check_scan(deps, interaction, GOOD_SCAN)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"kind": "robot"}, "kind"),
        ({"kind": "smart-app"}, "redirect"),
        ({"kind": "smart-app", "redirect_uris": ["http://a/cb#x"]}, "fragment"),
        ({"kind": "smart-app", "redirect_uris": ["http://a/cb"], "scope": "system/*.rs"}, "system"),
        ({"kind": "hospital-system", "hospital": "10670"}, "jwk"),
        ({"kind": "hospital-system", "jwks": {"keys": [{"kty": "EC", "d": "x"}]}}, "public"),
        ({"kind": "operator-tool", "jwks": {"keys": [{"kty": "oct", "k": "A" * 43}]}}, "rsa"),
        ({"kind": "operator-tool", "jwks": public_jwks(new_key())}, "roles"),
        ({"kind": "smart-app", "client_id": "A B", "redirect_uris": ["http://a/cb"]}, "client_id"),
    ],
)
def test_registrations_are_checked(body: dict[str, object], words: str) -> None:
    with pytest.raises(BadRequest) as refused:
        clients.new_client(body)
    assert words in refused.value.detail.lower()


async def test_the_development_operator_key_stays_on_this_machine(
    deps: Deps, tmp_path: Path
) -> None:
    path = await clients.bootstrap_operator(deps, "dev-operator", str(tmp_path))
    assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
    first = await clients.read_client(deps, "dev-operator")
    again = await clients.bootstrap_operator(deps, "dev-operator", str(tmp_path))
    assert again == path and (await clients.read_client(deps, "dev-operator")) == first
    assert first.roles == ("operator", "auditor") and first.jwks is not None
    assert all("d" not in key for key in first.jwks["keys"]), "only the public half is stored"


async def test_a_production_operator_comes_with_its_public_keys(deps: Deps) -> None:
    jwks = public_jwks(new_key())
    assert await clients.bootstrap_operator(deps, "alice", "/nonexistent", jwks) is None
    assert (await clients.read_client(deps, "alice")).jwks == jwks


async def test_the_portal_is_a_confidential_app_with_exact_redirects(
    deps: Deps, tmp_path: Path
) -> None:
    uris = ["http://127.0.0.1:8007/callback"]
    path = await clients.bootstrap_portal(deps, "healthlink-portal", uris, str(tmp_path))
    assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
    portal = await clients.read_client(deps, "healthlink-portal")
    assert portal.kind is ClientKind.APP and not portal.public and portal.jwks is not None
    assert (
        portal.redirect_uris == tuple(uris)
        and portal.scope == "launch/patient openid fhirUser online_access user/*.rs patient/*.rs"
    )
    assert all("d" not in key for key in portal.jwks["keys"]), "only the public half is stored"
    await clients.update_client(deps, "op", "healthlink-portal", None, active=False)
    await clients.bootstrap_portal(deps, "healthlink-portal", uris, str(tmp_path))
    assert not (await clients.read_client(deps, "healthlink-portal")).active, "stays off"
    jwks = public_jwks(new_key())
    assert await clients.bootstrap_portal(deps, "p2", uris, "/nonexistent", jwks) is None
    assert (await clients.read_client(deps, "p2")).jwks == jwks


async def test_the_file_sender_writes_a_private_file(tmp_path: Path) -> None:
    sender = FileOtpSender(tmp_path)
    await sender.send(CID, "123456")
    assert sender.path(CID).read_text().strip() == "123456"
    assert stat.S_IMODE(sender.path(CID).stat().st_mode) == 0o600


async def test_subscribers_keep_hospitals_and_registered_patients(deps: Deps) -> None:
    other = make_cid("510170012345")
    state = HospitalState(code="11535", name="B", role="consumer")
    await subscribers.on_hospital_event(
        deps, envelope(HospitalRegistered(version=1, state=state), "11535")
    )
    registered = PatientRegistered(cid=other, birth_date="1970-01-01", registered_at=deps.now())
    await subscribers.on_consent_event(deps, envelope(registered, other))
    granted = ConsentGranted.model_validate({"version": 1, "state": {"cid": other}})
    await subscribers.on_consent_event(deps, envelope(granted, other))
    assert await deps.view.hospital("11535") is not None
    assert await deps.patients.is_registered(other)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"auth_signing_keys": '{"keys": []}'},
        {
            "auth_signing_keys": '{"keys": []}',
            "auth_otp_sender": "webhook",
            "auth_otp_webhook_url": "https://otp",
            "auth_bootstrap_operator": None,
        },
    ],
)
def test_production_refuses_development_parts(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        AuthSettings(
            environment="production", token_secret="x" * 40, admin_token="y" * 40, **changes
        )


def test_production_signs_with_the_first_given_key_and_publishes_all() -> None:
    new, old = new_key(), new_key()
    private = {"keys": [k.as_dict(private=True) | {"kid": k.kid} for k in (new, old)]}
    settings = AuthSettings(
        environment="production",
        token_secret="x" * 40,
        admin_token="y" * 40,
        auth_signing_keys=json.dumps(private),
        auth_otp_sender="webhook",
        auth_otp_webhook_url="https://otp.example/send",
        auth_issuer="https://auth.example",
        auth_audience="https://fhir.example/fhir",
        auth_bootstrap_operator="alice",
        auth_bootstrap_operator_jwks=json.dumps(public_jwks(old)),
        auth_portal_client_jwks=json.dumps(public_jwks(old)),
    )
    keys = SigningKeys.from_settings(settings)
    assert keys.signer.kid == new.kid
    assert [k["kid"] for k in keys.public_jwks()["keys"]] == [new.kid, old.kid]
    assert all("d" not in k for k in keys.public_jwks()["keys"])
