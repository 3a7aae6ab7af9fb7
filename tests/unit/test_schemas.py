"""Payload validation: sizes, unknown fields, types, versions and display-name cleaning."""

from __future__ import annotations

from typing import Any

import pytest

from broker.errors import BadInput, ErrorCode
from broker.events import Capabilities
from broker.types import PROTOCOL_VERSION, Channel, EndReason
from signaling import schemas

SID = "sess-abcdef12"


def code_of(call: Any) -> ErrorCode:
    with pytest.raises(BadInput) as info:
        call()
    return info.value.code


# ---------------------------------------------------------------- envelope


@pytest.mark.parametrize("data", [None, {}, {"v": PROTOCOL_VERSION}])
def test_payload_accepts_empty_and_current_version(data: Any) -> None:
    """No payload, an empty one, or one with the current version are fine."""
    assert schemas.payload(data, {"x"}) in ({}, {"v": PROTOCOL_VERSION})


@pytest.mark.parametrize("data", ["text", 42, [1, 2], True])
def test_payload_must_be_an_object(data: Any) -> None:
    """A non-object payload is BAD_REQUEST."""
    assert code_of(lambda: schemas.payload(data, set())) is ErrorCode.BAD_REQUEST


def test_payload_refuses_unknown_fields_and_names_them() -> None:
    """Unknown fields are refused, listed in the message."""
    with pytest.raises(BadInput) as info:
        schemas.payload({"session": SID, "evil": 1, "more": 2}, {"session"})
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert "evil" in info.value.message and "more" in info.value.message


def test_payload_unknown_field_message_is_bounded() -> None:
    """A flood of unknown field names does not produce a flood of a message."""
    data = {f"field{i:04d}": i for i in range(500)}
    with pytest.raises(BadInput) as info:
        schemas.payload(data, set())
    assert len(info.value.message) < 300


@pytest.mark.parametrize("version", [0, 2, 99, "1", None, 1.5])
def test_payload_wrong_version_is_unsupported(version: Any) -> None:
    """Any version but the current one is UNSUPPORTED_VERSION."""
    data = {"v": version}
    assert code_of(lambda: schemas.payload(data, set())) is ErrorCode.UNSUPPORTED_VERSION


# ---------------------------------------------------------------- text and ids


def test_text_limits() -> None:
    """At the limit passes; one over is PAYLOAD_TOO_LARGE; wrong type or missing is refused."""
    assert schemas.text({"k": "x" * 10}, "k", 10) == "x" * 10
    assert code_of(lambda: schemas.text({"k": "x" * 11}, "k", 10)) is ErrorCode.PAYLOAD_TOO_LARGE
    assert code_of(lambda: schemas.text({"k": 5}, "k", 10)) is ErrorCode.BAD_REQUEST
    assert code_of(lambda: schemas.text({}, "k", 10)) is ErrorCode.BAD_REQUEST
    assert schemas.text({}, "k", 10, required=False) is None


@pytest.mark.parametrize("value", ["abcdefgh", "A" * 64, "a-b_c-1234", SID])
def test_session_id_accepts_ids(value: str) -> None:
    """8 to 64 URL-safe characters make a session id."""
    assert schemas.session_id({"session": value}) == value


@pytest.mark.parametrize(
    "value",
    ["abcdefg", "A" * 65, "abc def gh", "abcdefgh\n", "../../etc", "abcdéfgh", 12345678, None],
)
def test_session_id_refuses_anything_else(value: Any) -> None:
    """Short, long, spaced, non-ASCII or non-string ids are refused."""
    assert code_of(lambda: schemas.session_id({"session": value})) is ErrorCode.BAD_REQUEST


# ---------------------------------------------------------------- signal


def test_offer_sdp_of_64_kib_passes() -> None:
    """An SDP of exactly 64 KiB is accepted and relayed as is."""
    sdp = "v" * (64 * 1024)
    assert schemas.signal({"type": "offer", "sdp": sdp}, with_session=False) == {
        "type": "offer",
        "sdp": sdp,
    }


@pytest.mark.parametrize("kind", ["offer", "answer"])
def test_sdp_one_over_64_kib_is_too_large(kind: str) -> None:
    """64 KiB + 1 is PAYLOAD_TOO_LARGE."""
    data = {"type": kind, "sdp": "v" * (64 * 1024 + 1)}
    assert code_of(lambda: schemas.signal(data, with_session=False)) is ErrorCode.PAYLOAD_TOO_LARGE


def test_answer_without_sdp_is_refused() -> None:
    """An offer or answer needs its SDP."""
    assert code_of(lambda: schemas.signal({"type": "answer"}, with_session=False)) is (
        ErrorCode.BAD_REQUEST
    )


def _cand(
    text: str = "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host", **extra: Any
) -> dict[str, Any]:
    return {"candidate": text, "sdpMid": "0", "sdpMLineIndex": 0, **extra}


def test_candidate_of_2_kib_passes_and_is_reduced_to_known_keys() -> None:
    """A 2 KiB candidate passes; the relayed dict has exactly the four known keys."""
    out = schemas.signal({"type": "candidate", "candidate": _cand("c" * 2048)}, with_session=False)
    assert out == {
        "type": "candidate",
        "candidate": {
            "candidate": "c" * 2048,
            "sdpMid": "0",
            "sdpMLineIndex": 0,
            "usernameFragment": None,
        },
    }


def test_candidate_one_over_2_kib_is_too_large() -> None:
    """2 KiB + 1 is PAYLOAD_TOO_LARGE."""
    data = {"type": "candidate", "candidate": _cand("c" * 2049)}
    assert code_of(lambda: schemas.signal(data, with_session=False)) is ErrorCode.PAYLOAD_TOO_LARGE


def test_end_of_candidates_is_none() -> None:
    """A null candidate means end of candidates and is relayed as None."""
    out = schemas.signal({"type": "candidate", "candidate": None}, with_session=False)
    assert out == {"type": "candidate", "candidate": None}


@pytest.mark.parametrize(
    "candidate",
    [
        "candidate:1 1 udp ...",  # a bare string
        ["x"],
        _cand(extra="x"),
        {"candidate": "c"},  # neither sdpMid nor sdpMLineIndex
        _cand(sdpMLineIndex=256),
        _cand(sdpMLineIndex=-1),
        _cand(sdpMLineIndex=True),
        _cand(sdpMLineIndex=1.0),
        _cand(sdpMLineIndex="0"),
        _cand(sdpMid=0),
        _cand(usernameFragment=7),
        {"sdpMid": "0"},  # no candidate text
    ],
)
def test_bad_candidates_are_refused(candidate: Any) -> None:
    """Candidates must be objects of the four known, correctly typed keys."""
    data = {"type": "candidate", "candidate": candidate}
    assert code_of(lambda: schemas.signal(data, with_session=False)) is ErrorCode.BAD_REQUEST


def test_candidate_sub_limits() -> None:
    """sdpMid is at most 64 characters and usernameFragment at most 256."""
    ok = _cand(sdpMid="m" * 64, usernameFragment="u" * 256)
    assert schemas.signal({"type": "candidate", "candidate": ok}, with_session=False)
    for extra in ({"sdpMid": "m" * 65}, {"usernameFragment": "u" * 257}):
        data = {"type": "candidate", "candidate": _cand(**extra)}
        assert code_of(lambda d=data: schemas.signal(d, with_session=False)) is (
            ErrorCode.PAYLOAD_TOO_LARGE
        )


def test_bye_carries_nothing_else() -> None:
    """A bye relays only its type, whatever else was (allowedly) sent."""
    assert schemas.signal({"type": "bye", "sdp": "x"}, with_session=False) == {"type": "bye"}


@pytest.mark.parametrize("kind", ["hello", None, 1, "OFFER"])
def test_signal_type_must_be_known(kind: Any) -> None:
    """Only offer, answer, candidate and bye are relayed."""
    data = {"type": kind}
    assert code_of(lambda: schemas.signal(data, with_session=False)) is ErrorCode.BAD_REQUEST


def test_signal_session_field_only_where_expected() -> None:
    """A session field is accepted for staff (with_session) and refused for customers."""
    data = {"type": "bye", "session": SID}
    assert schemas.signal(data, with_session=True) == {"type": "bye"}
    assert code_of(lambda: schemas.signal(data, with_session=False)) is ErrorCode.BAD_REQUEST


def test_signal_refuses_unknown_fields_and_versions() -> None:
    """The envelope rules apply to signals too."""
    extra = {"type": "bye", "ip": "192.0.2.1"}
    assert code_of(lambda: schemas.signal(extra, with_session=False)) is ErrorCode.BAD_REQUEST
    old = {"type": "bye", "v": 0}
    assert code_of(lambda: schemas.signal(old, with_session=False)) is (
        ErrorCode.UNSUPPORTED_VERSION
    )


# ---------------------------------------------------------------- join and display names


def test_join_defaults() -> None:
    """An empty join is an unnamed German speaker with full capabilities."""
    assert schemas.join({}) == ("", "de", Capabilities())


def test_join_reads_all_fields() -> None:
    """Name, language and capabilities are read and typed."""
    name, language, caps = schemas.join(
        {
            "v": 1,
            "name": "Olena",
            "language": "uk",
            "capabilities": {"webrtc": True, "camera": False, "microphone": True},
        }
    )
    assert (name, language) == ("Olena", "uk")
    assert caps == Capabilities(webrtc=True, camera=False, microphone=True)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"language": "xx"}, ErrorCode.BAD_REQUEST),
        ({"language": None}, ErrorCode.BAD_REQUEST),
        ({"name": 5}, ErrorCode.BAD_REQUEST),
        ({"name": "n" * 257}, ErrorCode.PAYLOAD_TOO_LARGE),
        ({"capabilities": []}, ErrorCode.BAD_REQUEST),
        ({"capabilities": {"camera": 1}}, ErrorCode.BAD_REQUEST),
        ({"capabilities": {"camera": "false"}}, ErrorCode.BAD_REQUEST),
        ({"capabilities": {"screen": True}}, ErrorCode.BAD_REQUEST),
        ({"email": "a@b.de"}, ErrorCode.BAD_REQUEST),
        ({"v": 2}, ErrorCode.UNSUPPORTED_VERSION),
    ],
)
def test_join_refusals(data: dict[str, Any], code: ErrorCode) -> None:
    """Wrong languages, types, sizes, fields and versions are refused with their code."""
    assert code_of(lambda: schemas.join(data)) is code


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Anna", "Anna"),
        ("  Anna   Schmidt  ", "Anna Schmidt"),
        ("Anna\u202eadimS", "AnnaadimS"),  # right-to-left override
        ("\u2066Anna\u2069", "Anna"),  # bidi isolates
        ("An\u200bna", "Anna"),  # zero-width space
        ("Anna\x00", "Anna"),
        ("\x1b[31mAnna", "[31mAnna"),  # terminal escape loses its ESC
        ("Ann\u0061\u0308", "Ann\u00e4"),  # NFC: a + combining diaeresis → ä
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # escaping is the page's
        ("Ayşe Yılmaz", "Ayşe Yılmaz"),
        ("محمد", "محمد"),
        ("", ""),
        (None, ""),
    ],
)
def test_display_name_cleaning(raw: str | None, clean: str) -> None:
    """Control, format and bidi-override characters go; HTML stays text; spaces collapse."""
    assert schemas.display_name(raw) == clean


@pytest.mark.parametrize("sep", ["\n", "\r\n", "\t", "\u2028", "\u2029", "\x0b"])
def test_display_name_has_no_line_breaks(sep: str) -> None:
    """Line and paragraph breaks never survive into a name; both words do."""
    out = schemas.display_name(f"Anna{sep}Schmidt")
    assert "Anna" in out and "Schmidt" in out
    assert all(ch not in out for ch in "\n\r\t\x0b\u2028\u2029")


def test_display_name_is_truncated_to_64() -> None:
    """Names are cut to 64 characters after cleaning."""
    assert schemas.display_name("x" * 200) == "x" * 64
    assert schemas.display_name("\u202e" * 100 + "y" * 70) == "y" * 64


def test_join_cleans_the_name() -> None:
    """join runs the display-name cleaning on what the customer typed."""
    name, _, _ = schemas.join({"name": "\u202eEvil\x00 \n Name" + "z" * 100})
    assert name.startswith("Evil")
    assert len(name) == 64
    assert "\u202e" not in name and "\x00" not in name and "\n" not in name


# ---------------------------------------------------------------- channel, media, outcome


@pytest.mark.parametrize("to", list(Channel), ids=str)
def test_channel_accepts_every_channel(to: Channel) -> None:
    """video, audio and phone are channels."""
    assert schemas.channel({"to": str(to)}) is to


@pytest.mark.parametrize("to", ["fax", "", None, 1, "VIDEO"])
def test_channel_refuses_others(to: Any) -> None:
    """Anything else is BAD_REQUEST."""
    assert code_of(lambda: schemas.channel({"to": to})) is ErrorCode.BAD_REQUEST


def test_media_state_reads_state_and_stats() -> None:
    """connected/failed plus up to eight numeric stats, as floats."""
    assert schemas.media_state({"state": "connected"}) == (True, {})
    ok, stats = schemas.media_state({"state": "failed", "stats": {"rtt": 12, "loss": 0.5}})
    assert ok is False
    assert stats == {"rtt": 12.0, "loss": 0.5}
    assert all(type(v) is float for v in stats.values())
    eight = {f"k{i}": i for i in range(8)}
    assert len(schemas.media_state({"state": "connected", "stats": eight})[1]) == 8


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"state": "up"},
        {"state": "connected", "stats": []},
        {"state": "connected", "stats": {f"k{i}": i for i in range(9)}},
        {"state": "connected", "stats": {"k" * 33: 1}},
        {"state": "connected", "stats": {"rtt": "12"}},
        {"state": "connected", "stats": {"rtt": True}},
        {"state": "connected", "stats": {"rtt": float("nan")}},
        {"state": "connected", "stats": {"rtt": None}},
    ],
)
def test_media_state_refusals(data: dict[str, Any]) -> None:
    """Unknown states, too many or badly typed stats are BAD_REQUEST."""
    assert code_of(lambda: schemas.media_state(data)) is ErrorCode.BAD_REQUEST


def test_outcome_default_and_choices() -> None:
    """The outcome defaults to completed and is one of the three counsellor outcomes."""
    assert schemas.outcome({}) is EndReason.COMPLETED
    assert schemas.outcome({"outcome": "connection_failed"}) is EndReason.CONNECTION_FAILED
    assert schemas.outcome({"outcome": "customer_left"}) is EndReason.CUSTOMER_LEFT


@pytest.mark.parametrize("value", ["timeout", "no_show", "interrupted", "cancelled", "", 1])
def test_outcome_refuses_broker_decided_reasons(value: Any) -> None:
    """Reasons the broker decides are not outcomes a client may send."""
    assert code_of(lambda: schemas.outcome({"outcome": value})) is ErrorCode.BAD_REQUEST


def test_bad_input_is_also_a_value_error() -> None:
    """Callers may catch ValueError as well as BrokerError."""
    with pytest.raises(ValueError, match="unknown field"):
        schemas.payload({"x": 1}, set())
