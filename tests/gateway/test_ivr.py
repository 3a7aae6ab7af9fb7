"""The dial-in dialogue as a pure state machine: a hand-moved clock, no sockets."""

from __future__ import annotations

import pytest

from gateway.admission import AdmissionErrorCode
from gateway.ivr import (
    Admitted,
    Answered,
    Bridged,
    BridgeFailed,
    CheckCode,
    Connect,
    Dialogue,
    Effect,
    EndReason,
    HangUp,
    InvalidIvrTransition,
    IvrConfig,
    Key,
    PhoneGone,
    Play,
    Prompt,
    PromptDone,
    Refused,
    SessionEnded,
    State,
    StopPlaying,
    Tick,
)

CODE = "123456789"


def state_of(d: Dialogue) -> State:
    """The state, read through a call so the type checker does not pin it."""
    return d.state


def plays(effects: list[Effect]) -> list[tuple[tuple[Prompt, ...], str]]:
    return [(e.prompts, e.language) for e in effects if isinstance(e, Play)]


def last_play(effects: list[Effect]) -> Play:
    return [e for e in effects if isinstance(e, Play)][-1]


def keys(d: Dialogue, digits: str, now: float) -> list[Effect]:
    out: list[Effect] = []
    for k in digits:
        out += d.handle(Key(k), now)
    return out


def started(config: IvrConfig | None = None) -> Dialogue:
    d = Dialogue(config or IvrConfig())
    assert plays(d.handle(Answered(), 0.0)) == [((Prompt.WELCOME, Prompt.ENTER_CODE), "de")]
    return d


def test_nine_digits_are_checked_at_once_and_a_habitual_hash_is_ignored() -> None:
    d = started()
    out = keys(d, CODE, 1.0)
    assert out[0] == StopPlaying()  # barge-in on the greeting
    assert out[-1] == CheckCode(CODE, "de")
    assert state_of(d) is State.CHECKING
    assert d.handle(Key("#"), 1.1) == []
    out = d.handle(Admitted(), 1.2)
    assert plays(out) == [((Prompt.CONNECTING,), "de")] and Connect() in out
    assert d.handle(Bridged(), 1.5) == [] and state_of(d) is State.CONNECTED
    assert d.next_deadline() is None


def test_star_switches_to_english_and_back_and_clears_the_entry() -> None:
    d = started()
    keys(d, "12", 1.0)
    assert plays(d.handle(Key("*"), 1.1)) == [((Prompt.ENTER_CODE,), "en")]
    assert keys(d, CODE, 1.2)[-1] == CheckCode(CODE, "en")
    d = started()
    d.handle(Key("*"), 1.0)
    assert plays(d.handle(Key("*"), 1.1)) == [((Prompt.ENTER_CODE,), "de")]


def test_three_wrong_codes_end_with_a_goodbye_then_hang_up() -> None:
    d = started()
    for attempt in (1, 2):
        keys(d, "999999999", float(attempt))
        out = d.handle(Refused(AdmissionErrorCode.WRONG_CODE), attempt + 0.1)
        assert plays(out) == [((Prompt.WRONG_CODE, Prompt.ENTER_CODE), "de")]
        assert state_of(d) is State.COLLECTING and d.attempts == attempt
    keys(d, "999999999", 3.0)
    out = d.handle(Refused(AdmissionErrorCode.WRONG_CODE), 3.1)
    goodbye = last_play(out)
    assert goodbye.prompts == (Prompt.WRONG_CODE, Prompt.TOO_MANY_ATTEMPTS)
    assert state_of(d) is State.CLOSING
    assert d.handle(Key("1"), 3.2) == []  # too late for keys
    assert d.handle(PromptDone(goodbye.play_id), 8.0) == [HangUp(EndReason.TOO_MANY_ATTEMPTS)]
    assert state_of(d) is State.DONE


def test_a_short_entry_ended_by_hash_is_a_wrong_code_without_asking_the_broker() -> None:
    d = started()
    out = keys(d, "1234#", 1.0)
    assert not any(isinstance(e, CheckCode) for e in out)
    assert plays(out) == [((Prompt.WRONG_CODE, Prompt.ENTER_CODE), "de")]
    assert d.attempts == 1


def test_hash_alone_repeats_the_request_and_costs_no_attempt() -> None:
    d = started()
    assert plays(d.handle(Key("#"), 1.0)) == [((Prompt.ENTER_CODE,), "de")]
    assert d.attempts == 0


@pytest.mark.parametrize(("code", "prompt", "reason"), [
    (AdmissionErrorCode.LOCKED_OUT, Prompt.LOCKED_OUT, EndReason.LOCKED_OUT),
    (AdmissionErrorCode.SESSION_GONE, Prompt.SESSION_GONE, EndReason.SESSION_GONE),
    (AdmissionErrorCode.UNAVAILABLE, Prompt.TECHNICAL, EndReason.UNAVAILABLE),
])
def test_each_refusal_has_its_own_prompt(code: AdmissionErrorCode, prompt: Prompt,
                                        reason: EndReason) -> None:
    d = started()
    keys(d, CODE, 1.0)
    play = last_play(d.handle(Refused(code), 1.1))
    assert play.prompts == (prompt,)
    assert d.handle(PromptDone(play.play_id), 5.0) == [HangUp(reason)]


def test_no_input_reprompts_twice_then_says_goodbye() -> None:
    config = IvrConfig(first_digit_timeout=10.0, max_reprompts=2)
    d = started(config)
    welcome = 1
    assert d.next_deadline() is not None  # only the dialogue's own limit while playing
    d.handle(PromptDone(welcome), 6.0)
    assert d.next_deadline() == 16.0
    assert d.handle(Tick(), 15.9) == []  # not yet
    out = d.handle(Tick(), 16.0)
    assert plays(out) == [((Prompt.NO_INPUT, Prompt.ENTER_CODE), "de")]
    d.handle(PromptDone(last_play(out).play_id), 20.0)
    out = d.handle(Tick(), 30.0)
    assert plays(out) == [((Prompt.NO_INPUT, Prompt.ENTER_CODE), "de")]
    d.handle(PromptDone(last_play(out).play_id), 34.0)
    out = d.handle(Tick(), 44.0)
    assert last_play(out).prompts == (Prompt.NO_INPUT, Prompt.GOODBYE)
    assert d.end_reason is EndReason.NO_INPUT


def test_a_pause_inside_a_code_ends_the_entry() -> None:
    d = started(IvrConfig(inter_digit_timeout=5.0))
    keys(d, "123", 1.0)
    assert d.next_deadline() == 6.0
    assert plays(d.handle(Tick(), 6.0)) == [((Prompt.WRONG_CODE, Prompt.ENTER_CODE), "de")]
    assert d.attempts == 1


def test_the_dialogue_has_a_time_limit_even_while_prompts_play() -> None:
    d = started(IvrConfig(dialogue_limit=60.0))
    assert d.next_deadline() == 60.0
    out = d.handle(Tick(), 60.0)
    assert last_play(out).prompts == (Prompt.GOODBYE,)
    assert d.end_reason is EndReason.DIALOGUE_TOO_LONG


def test_a_stopped_or_replaced_prompt_reports_nothing() -> None:
    d = started()
    d.handle(Key("1"), 1.0)  # barge-in stops the greeting (play 1)
    assert d.handle(PromptDone(1), 1.5) == []
    assert d.next_deadline() == 1.0 + d.config.inter_digit_timeout


def test_the_session_ending_while_connected_says_so_then_hangs_up() -> None:
    d = started()
    keys(d, CODE, 1.0)
    d.handle(Admitted(), 1.1)
    d.handle(Bridged(), 1.2)
    play = last_play(d.handle(SessionEnded("session_over"), 60.0))
    assert play.prompts == (Prompt.CALL_ENDED,)
    assert d.handle(PromptDone(play.play_id), 64.0) == [HangUp(EndReason.SESSION_ENDED)]


def test_a_failed_bridge_apologises_and_a_silent_closing_times_out() -> None:
    d = started(IvrConfig(closing_limit=20.0))
    keys(d, CODE, 1.0)
    d.handle(Admitted(), 1.1)
    assert last_play(d.handle(BridgeFailed(), 5.0)).prompts == (Prompt.TECHNICAL,)
    assert d.next_deadline() == 25.0
    assert d.handle(Tick(), 25.0) == [HangUp(EndReason.BRIDGE_FAILED)]


def test_the_phone_going_ends_everything_quietly() -> None:
    d = started()
    keys(d, CODE, 1.0)
    assert d.handle(PhoneGone(), 1.1) == []
    assert state_of(d) is State.DONE
    assert d.handle(Admitted(), 1.2) == []  # the broker answered too late
    assert d.next_deadline() is None


def test_an_impossible_event_names_state_and_event() -> None:
    d = started()
    with pytest.raises(InvalidIvrTransition, match='Cannot handle Bridged in state "collecting"'):
        d.handle(Bridged(), 1.0)
