"""The spoken prompts: read once from `prompts/*.wav`, kept as 16-bit PCM at 8 kHz.

The files are generated offline by `gateway.make_prompts` (A-law WAVs) or recorded
(16-bit PCM WAVs at 8 kHz mono also work). All of them are read at start-up, so a
missing or broken file stops the gateway at once instead of silencing a caller later.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from aiortp.codecs.g711 import PcmaCodec, PcmuCodec

from gateway.ivr import LANGUAGES, Prompt

PROMPT_DIR = Path(__file__).with_name("prompts")
RATE = 8000
_FORMAT_PCM, _FORMAT_ALAW, _FORMAT_ULAW = 1, 6, 7


class PromptFileError(ValueError):
    """A prompt file is missing or not 8 kHz mono PCM16 / A-law / µ-law."""

    code = "prompt_file"


@dataclass(frozen=True, slots=True)
class Voice:
    """Every prompt in every language, as 16-bit little-endian PCM at 8 kHz."""

    pcm: dict[tuple[str, Prompt], bytes]

    def get(self, language: str, prompt: Prompt) -> bytes:
        return self.pcm[(language, prompt)]

    def seconds(self, language: str, prompt: Prompt) -> float:
        return len(self.pcm[(language, prompt)]) / 2 / RATE


def load_voice(directory: Path = PROMPT_DIR) -> Voice:
    pcm: dict[tuple[str, Prompt], bytes] = {}
    for language in LANGUAGES:
        for prompt in Prompt:
            path = directory / f"{language}_{prompt}.wav"
            try:
                pcm[(language, prompt)] = read_wav(path.read_bytes())
            except (OSError, ValueError) as exc:
                raise PromptFileError(f"{path.name}: {exc}") from exc
    return Voice(pcm)


def read_wav(data: bytes) -> bytes:
    """A WAV file's samples as 16-bit PCM (8 kHz mono PCM16, A-law or µ-law only)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if kind == b"fmt " and len(body) >= 16:
            tag, channels, rate = struct.unpack_from("<HHI", body)
            bits = struct.unpack_from("<H", body, 14)[0]
            fmt = (tag, channels, rate, bits)
        elif kind == b"data":
            if fmt is None:
                raise ValueError("data before fmt")
            return _decode(fmt, body)
        pos += 8 + size + (size & 1)
    raise ValueError("no data chunk")


def _decode(fmt: tuple[int, int, int, int], body: bytes) -> bytes:
    tag, channels, rate, bits = fmt
    if channels != 1 or rate != RATE:
        raise ValueError(f"want 8000 Hz mono, got {rate} Hz with {channels} channels")
    if tag == _FORMAT_PCM and bits == 16:
        return body[: len(body) - len(body) % 2]
    if tag == _FORMAT_ALAW and bits == 8:
        return bytes(PcmaCodec().decode(body))
    if tag == _FORMAT_ULAW and bits == 8:
        return bytes(PcmuCodec().decode(body))
    raise ValueError(f"unsupported WAV format {tag} with {bits} bits")
