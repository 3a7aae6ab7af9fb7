"""Which address the limits key on (`signaling.clientaddr`): the peer, or behind our own
reverse proxies the nearest address none of them added. Whatever a client writes into
X-Forwarded-For must not let it pick its own key (and so escape its rate limit or lock out
someone else)."""

from __future__ import annotations

import ipaddress

import pytest

from signaling.clientaddr import client_address, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])
PROXY = "10.0.0.2"
CLIENT = "203.0.113.7"


# ---------------------------------------------------------------- parse_networks


def test_parse_networks_reads_cidrs_and_single_addresses() -> None:
    """Configured proxies may be networks or single hosts, IPv4 or IPv6."""
    nets = parse_networks(["10.0.0.0/8", " 192.0.2.1 ", "2001:db8::/32"])
    assert nets == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.1/32"),
                    ipaddress.ip_network("2001:db8::/32"))


def test_parse_networks_skips_blanks_and_tolerates_host_bits() -> None:
    """An empty setting means no proxy; "10.1.2.3/8" is read as 10.0.0.0/8."""
    assert parse_networks([]) == ()
    assert parse_networks(["", "  "]) == ()
    assert parse_networks(["10.1.2.3/8"]) == (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "proxy.internal", "10.0.0", "::/129"])
def test_parse_networks_refuses_garbage(cidr: str) -> None:
    """A typo in the trusted-proxy setting stops start-up instead of trusting nothing."""
    with pytest.raises(ValueError):  # ipaddress's own error
        parse_networks([cidr])


# ---------------------------------------------------------------- no proxy trusted


@pytest.mark.parametrize("header", [None, "", "198.51.100.1", "198.51.100.1, 10.0.0.3"])
def test_without_trusted_proxies_the_peer_is_the_client(header: str | None) -> None:
    """With no proxy configured, X-Forwarded-For is ignored: nobody can choose their key."""
    assert client_address(CLIENT, header, ()) == CLIENT


@pytest.mark.parametrize("header", ["198.51.100.1", "10.0.0.3", "198.51.100.1, 10.0.0.3",
                                    "garbage", "fd00::1"])
def test_untrusted_peer_cannot_spoof(header: str) -> None:
    """A client talking to us directly cannot pretend to be someone else via the header."""
    assert client_address(CLIENT, header, PROXIES) == CLIENT


@pytest.mark.parametrize("peer", [None, ""])
def test_no_peer(peer: str | None) -> None:
    """Without a peer address (e.g. a Unix socket) all such clients share one key."""
    assert client_address(peer, CLIENT, PROXIES) == "?"
    assert client_address(peer, None, ()) == "?"


# ---------------------------------------------------------------- behind trusted proxies


def test_trusted_proxy_gives_the_address_it_saw() -> None:
    """Behind our proxy, the client is the address the proxy appended."""
    assert client_address(PROXY, CLIENT, PROXIES) == CLIENT


def test_trusted_proxy_without_header_is_the_client() -> None:
    """A proxy that forwards nothing: the proxy itself is all we know."""
    assert client_address(PROXY, None, PROXIES) == PROXY
    assert client_address(PROXY, "", PROXIES) == PROXY
    assert client_address(PROXY, " , ,", PROXIES) == PROXY


def test_spoofed_hops_left_of_the_real_one_are_ignored() -> None:
    """A client that writes its own X-Forwarded-For still gets its real address."""
    header = f"1.1.1.1, 10.9.9.9, 198.51.100.200, {CLIENT}"  # all but the last by the client
    assert client_address(PROXY, header, PROXIES) == CLIENT


def test_chain_of_trusted_proxies_is_skipped() -> None:
    """Load balancer → ingress → broker: every hop of ours is skipped, nearest first."""
    header = f"198.51.100.9, {CLIENT}, 10.1.1.1, 10.2.2.2"
    assert client_address(PROXY, header, PROXIES) == CLIENT


def test_all_hops_trusted_gives_the_first() -> None:
    """A client inside our own network (all hops ours) is the leftmost hop."""
    assert client_address(PROXY, "10.5.5.5, 10.1.1.1", PROXIES) == "10.5.5.5"


@pytest.mark.parametrize(
    "header",
    [f"{CLIENT}, not-an-ip", f"{CLIENT}, 1.2.3.4:5678", f"{CLIENT}, unknown",
     f"{CLIENT}, 999.1.1.1", f"{CLIENT}, _hidden", "garbage, 10.1.1.1"],
)
def test_garbage_nearest_hop_falls_back_to_the_proxy(header: str) -> None:
    """An unreadable nearest hop cannot be used as a key; the proxy's own address is."""
    assert client_address(PROXY, header, PROXIES) == PROXY


def test_whitespace_and_empty_hops_are_ignored() -> None:
    """Spacing and empty list entries do not change whose address it is."""
    assert client_address(PROXY, f" ,{CLIENT} ,, 10.1.1.1 ,", PROXIES) == CLIENT


def test_ipv6_clients_and_proxies() -> None:
    """IPv6 works throughout: trusted IPv6 proxies, IPv6 clients keyed by their /64."""
    assert client_address("fd00::2", "2001:db8::7", PROXIES) == "2001:db8::/64"
    assert client_address("fd00::2", "2001:db8::7, fd00::9", PROXIES) == "2001:db8::/64"
    assert client_address(PROXY, f"2001:db8::7, {CLIENT}", PROXIES) == CLIENT
    assert client_address("2001:db8:0:1::66", "2001:db8::7", PROXIES) == "2001:db8:0:1::/64"


def test_one_address_one_key() -> None:
    """Writing the same address differently (case, zeros) cannot make a fresh key, and
    nor can moving to another address of the same /64."""
    for spelling in ("2001:DB8::7", "2001:db8:0:0:0:0:0:7", "2001:0db8::0007",
                     "2001:db8::ffff:1234"):
        assert client_address(PROXY, spelling, PROXIES) == "2001:db8::/64"


def test_ipv4_mapped_proxies_are_recognised() -> None:
    """A trusted proxy reaching us as ::ffff:a.b.c.d is still the trusted proxy."""
    assert client_address(f"::ffff:{PROXY}", CLIENT, PROXIES) == CLIENT


def test_long_header_of_genuine_hops() -> None:
    """A long but honest chain still yields the address the proxy appended."""
    header = ", ".join(["198.51.100.1"] * 150 + [CLIENT])
    assert len(header) > 2048
    assert client_address(PROXY, header, PROXIES) in (CLIENT, PROXY)
    assert client_address(PROXY, header, PROXIES) != "198.51.100.1"


def test_huge_header_is_cheap() -> None:
    """A megabyte of commas is handled (and bounded), not a slow path."""
    assert client_address(PROXY, "," * 1_000_000, PROXIES) == PROXY
    assert client_address(PROXY, "1.1.1.1," * 100_000, PROXIES) in ("1.1.1.1", PROXY)


def test_padding_cannot_push_the_real_address_out() -> None:
    """A client cannot choose its key by padding X-Forwarded-For past the length cap."""
    spoofed = "198.51.100.66"
    sent_by_client = " " * (2047 - len(spoofed)) + spoofed + ","  # exactly 2048 characters
    header = f"{sent_by_client}, {CLIENT}"  # the proxy appends the address it saw
    assert client_address(PROXY, header, PROXIES) in (CLIENT, PROXY)
