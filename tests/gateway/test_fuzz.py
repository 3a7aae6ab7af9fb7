"""A SIP fuzz pass beside a live call: garbage, oversized and malformed messages, unknown
methods, a foreign source, an INVITE flood, TCP abuse. The gateway stays up, answers
what deserves an answer, logs counts (no address, no number, no traceback), and the
call keeps carrying audio both ways."""

from __future__ import annotations

import asyncio
import logging
import random
import socket

import numpy as np
import pytest

from gateway.guard import SipLimits
from tests.gateway.audio import has_tone
from tests.gateway.conftest import MakeGateway
from tests.gateway.counsellor import FakeAdmitter
from tests.gateway.rawphone import RawPhone
from tests.gateway.test_dialogs import admitted_call

pytestmark = pytest.mark.timeout(40)


def mutations(valid: bytes, rng: random.Random) -> list[bytes]:
    out = [valid[:n] for n in sorted(rng.sample(range(1, len(valid)), 40))]  # truncated
    for length in (b"99999999", b"-5", b"1e3", b"4294967296", b"70000", b""):
        out.append(valid.replace(b"Content-Length: ", b"Content-Length: " + length + b"\r\nX: "))
    out.append(valid.replace(b"\r\n", b"\n"))
    out.append(valid.replace(b"Via: ", b"Via: \x00\xff"))
    out.append(valid.replace(b"CSeq: 1 INVITE", b"CSeq: 99999999999999999999 INVITE"))
    out.append(valid.replace(b"CSeq: 1 INVITE", b"CSeq: INVITE"))
    out.append(valid.replace(b"From: ", b"From: <<<>>>"))
    out.append(valid.replace(b"Max-Forwards: 70", b"X: y\r\n" * 400 + b"Max-Forwards: 70"))
    out.append(valid.replace(b"m=audio", b"m=audio 1 2 3 4 5 6 7" + b" 8" * 500))
    out.append(valid + b"\x00" * 60000)  # oversized
    out.append(b"\r\n\r\n")  # keep-alive
    for _ in range(60):  # bytes flipped at random
        data = bytearray(valid)
        for _ in range(rng.randrange(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        out.append(bytes(data))
    out += [rng.randbytes(rng.randrange(0, 1500)) for _ in range(200)]
    return out


async def closed_unanswered(reader: asyncio.StreamReader) -> bool:
    """The server closed the connection without a word (a reset counts: we wrote first)."""
    try:
        return await asyncio.wait_for(reader.read(), 3) == b""
    except ConnectionResetError:
        return True


async def test_fuzz_pass_leaves_the_gateway_up_and_a_live_call_intact(
        make_gateway: MakeGateway, admitter: FakeAdmitter,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    limits = SipLimits(trunks=("127.0.0.1/32",), invite_rate=2.0, invite_burst=4,
                       max_message_bytes=4096, report_interval=0.0)
    gateway = await make_gateway(limits=limits)
    port, tcp_port = gateway.sip.udp_port, gateway.sip.tcp_port
    live = await admitted_call(gateway, admitter)
    talking = asyncio.create_task(live.talk(3.0))
    fuzzer = await RawPhone(port).open()
    rng = random.Random(4711)
    try:
        await asyncio.sleep(0.5)
        # 1. garbage and broken messages, paced a little so the live call's RTP interleaves
        valid = fuzzer.request("INVITE", fuzzer.sdp())
        for i, data in enumerate(mutations(valid, rng)):
            fuzzer.send(data)
            if i % 20 == 0:
                await asyncio.sleep(0.01)

        # 2. methods we do not do; REFER within the live call would transfer it: refused
        for method, status in (("FOO", 501), ("REGISTER", 405), ("MESSAGE", 405),
                               ("SUBSCRIBE", 405)):
            fuzzer.call_id = f"m-{method}"
            fuzzer.send(fuzzer.request(method, "x", content_type="text/plain"))
            assert (await fuzzer.final()).status_code == status, method
        live.cseq += 1
        live.send(live.request("REFER", extra="Refer-To: <sip:+4930999@203.0.113.1>"))
        assert (await live.final()).status_code == 405

        # 3. a source outside the trunk list hears nothing, over UDP and TCP
        foreign = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        foreign.bind(("127.0.0.2", 0))
        foreign.setblocking(False)
        foreign.sendto(fuzzer.request("OPTIONS", uri="sip:127.0.0.1"), ("127.0.0.1", port))
        await asyncio.sleep(0.3)
        with pytest.raises(BlockingIOError):
            foreign.recv(4096)
        foreign.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port,
                                                       local_addr=("127.0.0.2", 0))
        writer.write(fuzzer.request("OPTIONS", uri="sip:127.0.0.1"))
        assert await closed_unanswered(reader)
        writer.close()

        # 4. TCP: an endless header is cut off; a sound OPTIONS is answered
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
        writer.write(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n" + b"X-Junk: " + b"y" * 10000)
        assert await closed_unanswered(reader)
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
        writer.write(fuzzer.request("OPTIONS", uri="sip:127.0.0.1").replace(b"/UDP", b"/TCP"))
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)).startswith(
            b"SIP/2.0 200 OK")
        writer.close()

        # 5. an INVITE flood: the bucket (4, then 2/s) lets few through, the rest hear 503
        statuses: list[int] = []
        for i in range(30):
            fuzzer.call_id = f"flood-{i}"
            fuzzer.send(fuzzer.request("INVITE", fuzzer.sdp().replace("RTP/AVP 8 101",
                                                                      "RTP/AVP 18 101")))
        flood = {f"flood-{i}" for i in range(30)}
        async with asyncio.timeout(5):
            while len(statuses) < 30:
                resp = await fuzzer.responses.get()
                if resp.call_id in flood and resp.status_code >= 200:
                    statuses.append(resp.status_code)
        assert statuses.count(503) >= 24
        assert set(statuses) <= {503, 488}  # 488: through the bucket, but G.729 only
        assert all(r.headers.get_first("retry-after") for r in fuzzer.all_responses
                   if r.status_code == 503)

        # 6. still answering, and the live call still carries audio both ways
        fuzzer.call_id = "after"
        fuzzer.send(fuzzer.request("OPTIONS", uri="sip:127.0.0.1"))
        ok = await fuzzer.final()
        assert ok.status_code == 200 and "INFO" in ok.headers.get("allow")
        await talking
        counsellor = admitter.all[0].counsellor
        assert live.rtp is not None
        heard_before, got_before = len(counsellor.heard), len(live.rtp.packets)
        await live.talk(1.5, ssrc=0x5151)
        assert has_tone(np.concatenate(counsellor.heard[heard_before:]), 1000.0, 48000)
        assert len(live.rtp.packets) - got_before > 50
        assert has_tone(live.rtp.audio(8)[-8000:], 440.0)
        assert len(gateway.calls) == 1
    finally:
        talking.cancel()
        await live.bye()
        live.close()
        fuzzer.close()
    log = caplog.text
    assert "127.0.0.2" not in log and "4915112345678" not in log
    assert "Traceback" not in log
    assert "SIP input refused" in log and "foreign_source=" in log
