"""Generate the spoken prompts offline: `python -m gateway.make_prompts`.

Run by hand after changing a text, with espeak-ng installed (`apt-get install
espeak-ng`); the generated files are committed, so neither the gateway nor its tests
need espeak-ng (nor any network voice service: a caller's dial-in never leaves the
building). Each prompt becomes `prompts/<language>_<name>.wav`: 8 kHz mono G.711 A-law
(a standard WAVE_FORMAT_ALAW file, half the size of 16-bit PCM, and what the phone
leg carries anyway), silence trimmed, level normalised. Recorded prompts can replace
these files one by one; `gateway.voice` reads 16-bit PCM WAVs as well.
"""

from __future__ import annotations

import argparse
import io
import shutil
import struct
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
from aiortp.codecs.g711 import PcmaCodec

from gateway.ivr import Prompt

PROMPT_DIR = Path(__file__).with_name("prompts")
RATE = 8000
WORDS_PER_MINUTE = 155
PEAK = 0.5  # -6 dBFS: clear on a phone without clipping the A-law curve
GAP_SECONDS = 0.25  # between the parts of a two-language prompt

# (language, text): a prompt in one language may end with a sentence in the other
TEXTS: dict[Prompt, dict[str, list[tuple[str, str]]]] = {
    Prompt.WELCOME: {
        "de": [("de", "Willkommen bei der Telefonberatung Ihres Jobcenters."),
               ("en", "For English, press the star key.")],
        "en": [("en", "Welcome to your Jobcenter's telephone counselling."),
               ("de", "Für Deutsch drücken Sie die Sterntaste.")],
    },
    Prompt.ENTER_CODE: {
        "de": [("de", "Bitte geben Sie Ihren neunstelligen Zugangscode ein.")],
        "en": [("en", "Please enter your nine digit access code.")],
    },
    Prompt.WRONG_CODE: {
        "de": [("de", "Dieser Zugangscode ist leider nicht gültig.")],
        "en": [("en", "Sorry, this access code is not valid.")],
    },
    Prompt.NO_INPUT: {
        "de": [("de", "Wir haben keine Eingabe erhalten.")],
        "en": [("en", "We did not receive any input.")],
    },
    Prompt.CONNECTING: {
        "de": [("de", "Vielen Dank. Sie werden jetzt verbunden.")],
        "en": [("en", "Thank you. You are now being connected.")],
    },
    Prompt.TOO_MANY_ATTEMPTS: {
        "de": [("de", "Bitte wenden Sie sich an Ihr Jobcenter. Auf Wiederhören.")],
        "en": [("en", "Please contact your Jobcenter. Goodbye.")],
    },
    Prompt.LOCKED_OUT: {
        "de": [("de", "Es gab zu viele Versuche. Bitte versuchen Sie es später noch einmal. "
                      "Auf Wiederhören.")],
        "en": [("en", "There have been too many attempts. Please try again later. Goodbye.")],
    },
    Prompt.SESSION_GONE: {
        "de": [("de", "Dieser Beratungstermin ist bereits beendet. Auf Wiederhören.")],
        "en": [("en", "This counselling appointment has already ended. Goodbye.")],
    },
    Prompt.TECHNICAL: {
        "de": [("de", "Leider gibt es eine technische Störung. Bitte versuchen Sie es später "
                      "noch einmal. Auf Wiederhören.")],
        "en": [("en", "Sorry, there is a technical problem. Please try again later. Goodbye.")],
    },
    Prompt.CALL_ENDED: {
        "de": [("de", "Die Beratung ist beendet. Vielen Dank für Ihren Anruf. Auf Wiederhören.")],
        "en": [("en", "The counselling session has ended. Thank you for calling. Goodbye.")],
    },
    Prompt.GOODBYE: {
        "de": [("de", "Auf Wiederhören.")],
        "en": [("en", "Goodbye.")],
    },
}

VOICES = {"de": "de", "en": "en-gb"}


def speak(language: str, text: str) -> np.ndarray:
    """espeak-ng's voice for `text`, as float samples at 8 kHz."""
    program = shutil.which("espeak-ng") or "espeak-ng"
    out = subprocess.run(  # noqa: S603 - a fixed program with our own text
        [program, "-v", VOICES[language], "-s", str(WORDS_PER_MINUTE), "--stdout", text],
        check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    frame = av.AudioFrame.from_ndarray(np.frombuffer(frames, np.int16).reshape(1, -1),
                                       format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    chunks = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float64) / 32768.0


def trim(samples: np.ndarray, threshold: float = 0.01, keep: float = 0.05) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return samples[:0]
    pad = int(keep * RATE)
    return samples[max(0, loud[0] - pad): loud[-1] + pad]


def render(parts: list[tuple[str, str]]) -> bytes:
    """A prompt as 16-bit PCM at 8 kHz."""
    gap = np.zeros(int(GAP_SECONDS * RATE))
    pieces: list[np.ndarray] = []
    for i, (language, text) in enumerate(parts):
        if i:
            pieces.append(gap)
        pieces.append(trim(speak(language, text)))
    samples = np.concatenate(pieces)
    samples *= PEAK / max(float(np.max(np.abs(samples))), 1e-9)
    return (samples * 32767).astype("<i2").tobytes()


def write_alaw_wav(path: Path, pcm: bytes) -> None:
    """WAVE_FORMAT_ALAW (6), 8 kHz mono, with the fact chunk non-PCM formats carry."""
    data = PcmaCodec().encode(pcm)
    fmt = struct.pack("<HHIIHHH", 6, 1, RATE, RATE, 1, 8, 0)
    fact = struct.pack("<I", len(data))
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"fact" + struct.pack("<I", len(fact)) + fact
            + b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b""))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROMPT_DIR)
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is needed to generate prompts: apt-get install espeak-ng",
              file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for prompt, languages in TEXTS.items():
        for language, parts in languages.items():
            path = args.out / f"{language}_{prompt}.wav"
            write_alaw_wav(path, render(parts))
            total += path.stat().st_size
            print(f"{path.name}: {path.stat().st_size / RATE:.1f} s")
    print(f"{total / 1024:.0f} KiB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
