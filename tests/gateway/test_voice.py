"""The committed prompts: every one there, readable, 8 kHz, of a sensible length."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from gateway.ivr import LANGUAGES, Prompt
from gateway.voice import PROMPT_DIR, PromptFileError, load_voice, read_wav
from tests.gateway.audio import tone, write_wav


def test_every_prompt_exists_in_both_languages_and_is_speech_sized() -> None:
    voice = load_voice()
    for language in LANGUAGES:
        for prompt in Prompt:
            seconds = voice.seconds(language, prompt)
            assert 0.4 <= seconds <= 8.0, (language, prompt, seconds)
            pcm = np.frombuffer(voice.get(language, prompt), np.int16)
            assert 3000 < np.max(np.abs(pcm)) < 32767  # audible, not clipped
    total = sum(p.stat().st_size for p in PROMPT_DIR.glob("*.wav"))
    assert total < 1_000_000  # A-law keeps them small


def test_pcm16_prompts_work_too(tmp_path: Path) -> None:
    write_wav(tmp_path / "x.wav", tone(440.0, 0.1))
    assert len(read_wav((tmp_path / "x.wav").read_bytes())) == 1600


def test_a_missing_or_wrong_prompt_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(PromptFileError) as missing:
        load_voice(tmp_path)
    assert missing.value.code == "prompt_file"
    for language in LANGUAGES:
        for prompt in Prompt:
            write_wav(tmp_path / f"{language}_{prompt}.wav", tone(440.0, 0.1), rate=16000)
    with pytest.raises(PromptFileError, match="8000 Hz mono"):
        load_voice(tmp_path)


def test_garbage_is_no_wav() -> None:
    with pytest.raises(ValueError, match="not a WAV"):
        read_wav(b"RIFX" + bytes(40))
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)  # float samples
    data = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + \
        b"data" + struct.pack("<I", 0)
    with pytest.raises(ValueError, match="unsupported WAV format 3"):
        read_wav(data)
