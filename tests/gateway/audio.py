"""Test-side audio: tones, G.711 by table, Goertzel, RTP and pcap files, an RTP listener.

Written independently of the gateway's own code (the keys in a pcap are packed here,
not by `gateway.dtmf`), so a test cannot pass because both sides share one mistake.
"""

from __future__ import annotations

import asyncio
import struct
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RATE = 8000
FRAME = 160


def tone(freq: float, seconds: float, amplitude: float = 0.3, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


# --- G.711 by the ITU tables (numpy, independent of aiortp and aiortc) ---------------

def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -sample, sample).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, a & 0x0F
    sample = np.where(exponent == 0, (mantissa << 4) + 8,
                      ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, sample, -sample).astype(np.int16)


ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
# encode by nearest decoded value (exact enough for a test tone)
_ULAW_ORDER = np.argsort(ULAW_DECODE)
_ALAW_ORDER = np.argsort(ALAW_DECODE)


def _encode(samples: np.ndarray, table: np.ndarray, order: np.ndarray) -> bytes:
    sorted_values = table[order]
    idx = np.clip(np.searchsorted(sorted_values, samples), 1, 255)
    left, right = sorted_values[idx - 1], sorted_values[idx]
    pick = np.where(np.abs(samples - left) <= np.abs(samples - right), idx - 1, idx)
    return order[pick].astype(np.uint8).tobytes()


def ulaw_encode(samples: np.ndarray) -> bytes:
    return _encode(samples, ULAW_DECODE, _ULAW_ORDER)


def alaw_encode(samples: np.ndarray) -> bytes:
    return _encode(samples, ALAW_DECODE, _ALAW_ORDER)


def decode(payload: bytes, payload_type: int) -> np.ndarray:
    table = ULAW_DECODE if payload_type == 0 else ALAW_DECODE
    return table[np.frombuffer(payload, np.uint8)]


def goertzel_share(samples: np.ndarray, freq: float, rate: int = RATE) -> float:
    """The share of the signal's power at `freq` (1.0: a pure tone at that frequency).

    A single-bin DFT (what the Goertzel filter computes), as one numpy dot product."""
    x = samples.astype(np.float64)
    energy = float(np.sum(x * x))
    if x.size == 0 or energy == 0.0:
        return 0.0
    n = x.size
    k = round(n * freq / rate)
    bin_ = np.dot(x, np.exp(-2j * np.pi * k * np.arange(n) / n))
    return float(2 * abs(bin_) ** 2 / (n * energy))


def has_tone(samples: np.ndarray, freq: float, rate: int = RATE, block: float = 0.1,
             min_blocks: int = 3, share: float = 0.6, min_rms: float = 300.0) -> bool:
    """At least `min_blocks` blocks of `block` seconds dominated by `freq`."""
    size = int(block * rate)
    hits = 0
    for i in range(0, samples.size - size + 1, size):
        part = samples[i:i + size]
        if np.sqrt(np.mean(part.astype(np.float64) ** 2)) >= min_rms and \
                goertzel_share(part, freq, rate) >= share:
            hits += 1
    return hits >= min_blocks


# --- RTP and pcap --------------------------------------------------------------------

def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                       ts & 0xFFFFFFFF, ssrc) + payload


def key_event(key: str, end: bool, duration: int) -> bytes:
    event = "0123456789*#".index(key)
    return struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)


@dataclass
class RtpStream:
    """RTP packets with send times (seconds from the start), built up in order."""

    pt: int
    ssrc: int
    seq: int = 1000
    ts: int = 50_000
    at: float = 0.0
    packets: list[tuple[float, bytes]] = field(default_factory=list)

    def audio(self, payloads: list[bytes]) -> RtpStream:
        for i, payload in enumerate(payloads):
            self.packets.append((self.at, rtp(self.pt, self.seq, self.ts, self.ssrc, payload,
                                              marker=i == 0)))
            self.seq, self.ts, self.at = self.seq + 1, self.ts + FRAME, self.at + 0.02
        return self

    def keys(self, keys: str, event_pt: int = 101, press: float = 0.1,
             gap: float = 0.06) -> RtpStream:
        """RFC 4733: a growing duration every 20 ms, the end packet three times."""
        for key in keys:
            start_ts, steps = self.ts, round(press / 0.02)
            for i in range(steps):
                self.packets.append((self.at, rtp(event_pt, self.seq, start_ts, self.ssrc,
                                                  key_event(key, False, (i + 1) * FRAME),
                                                  marker=i == 0)))
                self.seq, self.at = self.seq + 1, self.at + 0.02
            for _ in range(3):
                self.packets.append((self.at, rtp(event_pt, self.seq, start_ts, self.ssrc,
                                                  key_event(key, True, steps * FRAME))))
                self.seq = self.seq + 1
            self.at += gap
            self.ts = start_ts + steps * FRAME + round(gap * RATE)
        return self

    def pause(self, seconds: float) -> RtpStream:
        self.at += seconds
        self.ts += round(seconds * RATE)
        return self


def write_pcap(path: Path, packets: list[tuple[float, bytes]], dport: int = 6000) -> None:
    """A pcap (Ethernet, IPv4, UDP) as SIPp's play_pcap_audio reads it: it sends each
    UDP payload to the far end's media port at the recorded times."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    base = 1_700_000_000.0
    for at, payload in packets:
        udp = struct.pack("!HHHH", 6000, dport, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        t = base + at
        sec = int(t)
        out.append(struct.pack("<IIII", sec, round((t - sec) * 1e6), len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


class RtpListener(asyncio.DatagramProtocol):
    """Where a caller's SDP points: collects the RTP the gateway sends to the phone."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, bytes]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append((time.monotonic(), data))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def audio(self, payload_type: int) -> np.ndarray:
        """The received audio of one payload type, decoded, in arrival order."""
        parts = [decode(d[12:], payload_type) for _, d in self.packets
                 if len(d) > 12 and d[1] & 0x7F == payload_type]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def rtp_listener() -> RtpListener:
    loop = asyncio.get_running_loop()
    _, listener = await loop.create_datagram_endpoint(RtpListener, local_addr=("127.0.0.1", 0))
    return listener
