"""The dial-in dialogue: greeting, language, access code, and every way it can end.

A pure state machine in the style of the broker's session core: `Dialogue.handle(event,
now)` returns effects (play these prompts, stop playing, check this code, connect, hang
up), `next_deadline()` says when it next wants a `Tick`. No I/O and no clock: the call
driver in `gateway.call` feeds it key presses, prompt ends, the broker's answers and the
time, and runs the effects. Every transition is in `_TABLE`; a pair not in it raises
`InvalidIvrTransition` naming both.

Choices, so a caller can be told them:
- German first; the star key (`*`) switches to English and back. Not 9: 9 is a digit of
  the access code, and a code may begin with it.
- The access code is `ACCESS_CODE_DIGITS` (nine) digits. It is checked as soon as the
  ninth digit arrives; `#` ends a shorter entry early (such an entry counts as a wrong
  code without asking the broker; `#` alone repeats the request). A `#` typed after
  the ninth digit out of habit is ignored.
- Three wrong codes: a polite goodbye and hang-up (later: the team's drop-in queue).
- No key for `first_digit_timeout` after the request: "we received no input" and the
  request again, twice; then goodbye. A pause of `inter_digit_timeout` in the middle of
  a code ends the entry as `#` would.
- A key pressed while a prompt plays stops it (barge-in) and counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from broker.credentials import ACCESS_CODE_DIGITS
from gateway.admission import AdmissionErrorCode


class Prompt(StrEnum):
    """Spoken prompts; each exists as `prompts/<language>_<name>.wav`."""

    WELCOME = "welcome"
    ENTER_CODE = "enter_code"
    WRONG_CODE = "wrong_code"
    NO_INPUT = "no_input"
    CONNECTING = "connecting"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    LOCKED_OUT = "locked_out"
    SESSION_GONE = "session_gone"
    TECHNICAL = "technical"
    CALL_ENDED = "call_ended"
    GOODBYE = "goodbye"


LANGUAGES = ("de", "en")


class State(StrEnum):
    COLLECTING = "collecting"  # greeting or request playing, or waiting for keys
    CHECKING = "checking"  # the broker is checking the code
    CONNECTING = "connecting"  # admitted; the WebRTC leg is being set up
    CONNECTED = "connected"  # bridged: caller and counsellor hear each other
    CLOSING = "closing"  # a last prompt plays, then we hang up
    DONE = "done"


class EndReason(StrEnum):
    """Why the dialogue hung up (for the log; the broker learns its own reasons)."""

    TOO_MANY_ATTEMPTS = "too_many_attempts"
    LOCKED_OUT = "locked_out"
    SESSION_GONE = "session_gone"
    UNAVAILABLE = "unavailable"
    NO_INPUT = "no_input"
    DIALOGUE_TOO_LONG = "dialogue_too_long"
    BRIDGE_FAILED = "bridge_failed"
    SESSION_ENDED = "session_ended"


# --- inputs -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Answered:
    """The call is answered and media flows: greet."""


@dataclass(frozen=True, slots=True)
class Key:
    key: str  # one of 0-9 * # A-D


@dataclass(frozen=True, slots=True)
class PromptDone:
    """The prompts of `Play(play_id)` played to their end (not reported when stopped)."""

    play_id: int


@dataclass(frozen=True, slots=True)
class Tick:
    """`next_deadline()` has passed."""


@dataclass(frozen=True, slots=True)
class Admitted:
    """The broker accepted the code."""


@dataclass(frozen=True, slots=True)
class Refused:
    code: AdmissionErrorCode


@dataclass(frozen=True, slots=True)
class Bridged:
    """The WebRTC leg to the counsellor is up."""


@dataclass(frozen=True, slots=True)
class BridgeFailed:
    """The WebRTC leg could not be set up or failed."""


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The broker ended the phone leg (session over, switched back to video)."""

    reason: str


@dataclass(frozen=True, slots=True)
class PhoneGone:
    """The phone side is gone (BYE, CANCEL, RTP timeout): nothing more to say."""


Event = Answered | Key | PromptDone | Tick | Admitted | Refused | Bridged | BridgeFailed \
    | SessionEnded | PhoneGone


# --- effects ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Play:
    """Play these prompts in this language, replacing whatever plays now."""

    play_id: int
    prompts: tuple[Prompt, ...]
    language: str


@dataclass(frozen=True, slots=True)
class StopPlaying:
    pass


@dataclass(frozen=True, slots=True)
class CheckCode:
    code: str
    language: str


@dataclass(frozen=True, slots=True)
class Connect:
    """Set up the WebRTC leg with the admission the broker gave."""


@dataclass(frozen=True, slots=True)
class HangUp:
    reason: EndReason


Effect = Play | StopPlaying | CheckCode | Connect | HangUp


class InvalidIvrTransition(Exception):
    """An event the dialogue cannot take in its state: a bug in the driver."""

    code = "invalid_ivr_transition"

    def __init__(self, state: State, event: Event) -> None:
        super().__init__(f'Cannot handle {type(event).__name__} in state "{state}"')
        self.state = state
        self.event = event


@dataclass(frozen=True, slots=True)
class IvrConfig:
    code_length: int = ACCESS_CODE_DIGITS
    max_attempts: int = 3
    first_digit_timeout: float = 10.0
    inter_digit_timeout: float = 5.0
    max_reprompts: int = 2
    dialogue_limit: float = 180.0  # the whole greeting-to-admission part, at most
    closing_limit: float = 30.0  # a last prompt that never reports its end
    default_language: str = "de"
    language_key: str = "*"
    submit_key: str = "#"


@dataclass
class Dialogue:
    config: IvrConfig = field(default_factory=IvrConfig)
    state: State = State.COLLECTING
    language: str = ""
    digits: str = ""
    attempts: int = 0  # wrong codes so far
    reprompts: int = 0  # "no input" re-prompts so far
    end_reason: EndReason | None = None
    _play_id: int = 0
    _playing: bool = False
    _started_at: float | None = None
    _waiting_since: float | None = None  # a prompt ended, or the last key came
    _closing_since: float = 0.0

    def __post_init__(self) -> None:
        if not self.language:
            self.language = self.config.default_language

    # -- driving -------------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Effect]:
        handler = _TABLE.get((self.state, type(event)))
        if handler is None:
            raise InvalidIvrTransition(self.state, event)
        return handler(self, event, now)

    def next_deadline(self) -> float | None:
        c = self.config
        if self.state is State.COLLECTING:
            limits: list[float] = []
            if self._started_at is not None:
                limits.append(self._started_at + c.dialogue_limit)
            if not self._playing and self._waiting_since is not None:
                wait = c.inter_digit_timeout if self.digits else c.first_digit_timeout
                limits.append(self._waiting_since + wait)
            return min(limits) if limits else None
        if self.state is State.CLOSING:
            return self._closing_since + c.closing_limit
        return None

    # -- handlers ------------------------------------------------------------------------

    def _answered(self, event: Event, now: float) -> list[Effect]:
        if self._started_at is not None:
            return []
        self._started_at = now
        return [self._play(now, Prompt.WELCOME, Prompt.ENTER_CODE)]

    def _key(self, event: Event, now: float) -> list[Effect]:
        assert isinstance(event, Key)
        c = self.config
        out: list[Effect] = []
        if self._playing:
            self._playing = False
            out.append(StopPlaying())
        self._waiting_since = now
        if event.key == c.language_key:
            self.language = "en" if self.language == "de" else "de"
            self.digits = ""
            return [self._play(now, Prompt.ENTER_CODE)]
        if event.key == c.submit_key:
            if not self.digits:
                return [self._play(now, Prompt.ENTER_CODE)]
            return self._wrong(now)
        if event.key.isdigit():
            self.digits += event.key
            if len(self.digits) >= c.code_length:
                self.state = State.CHECKING
                code, self.digits = self.digits, ""
                return [*out, CheckCode(code, self.language)]
        return out

    def _prompt_done(self, event: Event, now: float) -> list[Effect]:
        assert isinstance(event, PromptDone)
        if event.play_id != self._play_id or not self._playing:
            return []  # an older prompt, replaced or stopped since
        self._playing = False
        if self.state is State.CLOSING:
            return self._finish()
        if self.state is State.COLLECTING:
            self._waiting_since = now
        return []

    def _collecting_tick(self, event: Event, now: float) -> list[Effect]:
        c = self.config
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        assert self._started_at is not None
        if now >= self._started_at + c.dialogue_limit:
            return self._close(now, EndReason.DIALOGUE_TOO_LONG, Prompt.GOODBYE)
        if self.digits:  # a pause inside a code: take it as submitted
            return self._wrong(now)
        if self.reprompts >= c.max_reprompts:
            return self._close(now, EndReason.NO_INPUT, Prompt.NO_INPUT, Prompt.GOODBYE)
        self.reprompts += 1
        return [self._play(now, Prompt.NO_INPUT, Prompt.ENTER_CODE)]

    def _closing_tick(self, event: Event, now: float) -> list[Effect]:
        if now < self._closing_since + self.config.closing_limit:
            return []
        return self._finish()

    def _admitted(self, event: Event, now: float) -> list[Effect]:
        self.state = State.CONNECTING
        return [self._play(now, Prompt.CONNECTING), Connect()]

    def _refused(self, event: Event, now: float) -> list[Effect]:
        assert isinstance(event, Refused)
        if event.code is AdmissionErrorCode.WRONG_CODE:
            self.state = State.COLLECTING
            return self._wrong(now)
        if event.code is AdmissionErrorCode.LOCKED_OUT:
            return self._close(now, EndReason.LOCKED_OUT, Prompt.LOCKED_OUT)
        if event.code is AdmissionErrorCode.SESSION_GONE:
            return self._close(now, EndReason.SESSION_GONE, Prompt.SESSION_GONE)
        return self._close(now, EndReason.UNAVAILABLE, Prompt.TECHNICAL)

    def _bridged(self, event: Event, now: float) -> list[Effect]:
        self.state = State.CONNECTED
        return []

    def _bridge_failed(self, event: Event, now: float) -> list[Effect]:
        return self._close(now, EndReason.BRIDGE_FAILED, Prompt.TECHNICAL)

    def _session_ended(self, event: Event, now: float) -> list[Effect]:
        return self._close(now, EndReason.SESSION_ENDED, Prompt.CALL_ENDED)

    def _phone_gone(self, event: Event, now: float) -> list[Effect]:
        self.state = State.DONE
        self._playing = False
        return []

    def _ignore(self, event: Event, now: float) -> list[Effect]:
        return []

    # -- helpers -------------------------------------------------------------------------

    def _play(self, now: float, *prompts: Prompt) -> Play:
        self._play_id += 1
        self._playing = True
        self._waiting_since = None
        return Play(self._play_id, prompts, self.language)

    def _wrong(self, now: float) -> list[Effect]:
        self.attempts += 1
        self.digits = ""
        self.reprompts = 0
        if self.attempts >= self.config.max_attempts:
            return self._close(now, EndReason.TOO_MANY_ATTEMPTS,
                               Prompt.WRONG_CODE, Prompt.TOO_MANY_ATTEMPTS)
        return [self._play(now, Prompt.WRONG_CODE, Prompt.ENTER_CODE)]

    def _close(self, now: float, reason: EndReason, *prompts: Prompt) -> list[Effect]:
        self.state = State.CLOSING
        self.end_reason = reason
        self._closing_since = now
        return [self._play(now, *prompts)]

    def _finish(self) -> list[Effect]:
        self.state = State.DONE
        self._playing = False
        assert self.end_reason is not None
        return [HangUp(self.end_reason)]


_TABLE: dict[tuple[State, type], Callable[[Dialogue, Event, float], list[Effect]]] = {
    (State.COLLECTING, Answered): Dialogue._answered,
    (State.COLLECTING, Key): Dialogue._key,
    (State.COLLECTING, PromptDone): Dialogue._prompt_done,
    (State.COLLECTING, Tick): Dialogue._collecting_tick,
    (State.COLLECTING, PhoneGone): Dialogue._phone_gone,
    (State.CHECKING, Key): Dialogue._ignore,  # e.g. the habitual `#` after nine digits
    (State.CHECKING, PromptDone): Dialogue._prompt_done,
    (State.CHECKING, Tick): Dialogue._ignore,
    (State.CHECKING, Admitted): Dialogue._admitted,
    (State.CHECKING, Refused): Dialogue._refused,
    (State.CHECKING, PhoneGone): Dialogue._phone_gone,
    (State.CONNECTING, Key): Dialogue._ignore,
    (State.CONNECTING, PromptDone): Dialogue._prompt_done,
    (State.CONNECTING, Tick): Dialogue._ignore,
    (State.CONNECTING, Bridged): Dialogue._bridged,
    (State.CONNECTING, BridgeFailed): Dialogue._bridge_failed,
    (State.CONNECTING, SessionEnded): Dialogue._session_ended,
    (State.CONNECTING, PhoneGone): Dialogue._phone_gone,
    (State.CONNECTED, Key): Dialogue._ignore,  # keys during the talk are not ours
    (State.CONNECTED, PromptDone): Dialogue._prompt_done,
    (State.CONNECTED, Tick): Dialogue._ignore,
    (State.CONNECTED, BridgeFailed): Dialogue._bridge_failed,
    (State.CONNECTED, SessionEnded): Dialogue._session_ended,
    (State.CONNECTED, PhoneGone): Dialogue._phone_gone,
    (State.CLOSING, Key): Dialogue._ignore,
    (State.CLOSING, PromptDone): Dialogue._prompt_done,
    (State.CLOSING, Tick): Dialogue._closing_tick,
    (State.CLOSING, BridgeFailed): Dialogue._ignore,
    (State.CLOSING, SessionEnded): Dialogue._ignore,
    (State.CLOSING, Bridged): Dialogue._ignore,
    (State.CLOSING, PhoneGone): Dialogue._phone_gone,
    (State.DONE, Key): Dialogue._ignore,
    (State.DONE, PromptDone): Dialogue._ignore,
    (State.DONE, Tick): Dialogue._ignore,
    (State.DONE, BridgeFailed): Dialogue._ignore,
    (State.DONE, SessionEnded): Dialogue._ignore,
    (State.DONE, PhoneGone): Dialogue._ignore,
    (State.DONE, Admitted): Dialogue._ignore,  # the phone went while the broker checked
    (State.DONE, Refused): Dialogue._ignore,
    (State.DONE, Bridged): Dialogue._ignore,
}
