"""Settings: defaults, a CB_ environment overlay with types, unknown keys refused, secret files."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from broker.config import ConfigError, Settings, load_settings


def test_defaults_without_environment() -> None:
    """An empty environment gives the dataclass defaults."""
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.grace_seconds == 30.0
    assert settings.no_show_after_seconds == 900.0
    assert settings.data_dir == Path("data")
    assert settings.allowed_origins == ()
    assert settings.ice_servers == ()
    assert settings.base_url == "http://127.0.0.1:8080"


def test_settings_are_frozen() -> None:
    """Settings cannot be changed once loaded."""
    settings = load_settings(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]


def test_environment_overlay_converts_types() -> None:
    """CB_ variables overlay the defaults, each converted to its field's type."""
    settings = load_settings(
        environ={
            "CB_HOST": "0.0.0.0",
            "CB_PORT": "9000",
            "CB_GRACE_SECONDS": "12.5",
            "CB_DATA_DIR": "/var/lib/cb",
            "CB_PUBLIC_URL": "https://beratung.example.de/",
            "CB_ALLOWED_ORIGINS": "https://a.example.de, https://b.example.de,,",
            "CB_ICE_SERVERS": '[{"urls": "stun:stun.example.de:3478"}]',
            "CB_SQLITE_SYNCHRONOUS": "FULL",
        }
    )
    assert settings.host == "0.0.0.0"
    assert settings.port == 9000 and type(settings.port) is int
    assert settings.grace_seconds == 12.5 and type(settings.grace_seconds) is float
    assert settings.data_dir == Path("/var/lib/cb")
    assert settings.allowed_origins == ("https://a.example.de", "https://b.example.de")
    assert settings.ice_servers == ({"urls": "stun:stun.example.de:3478"},)
    assert settings.sqlite_synchronous == "FULL"
    assert settings.base_url == "https://beratung.example.de"


def test_string_tuple_also_reads_a_json_list() -> None:
    """A tuple-of-strings setting accepts a JSON list as well as commas."""
    settings = load_settings(environ={"CB_ALLOWED_ORIGINS": '["https://a", " https://b "]'})
    assert settings.allowed_origins == ("https://a", "https://b")


def test_variables_without_prefix_are_ignored() -> None:
    """Only CB_ variables are read; the rest of the environment is none of our business."""
    settings = load_settings(environ={"PORT": "1", "HOME": "/root", "CBX_PORT": "2"})
    assert settings == Settings()


def test_unknown_cb_key_is_refused_naming_it() -> None:
    """A typo in a CB_ name is an error naming the variable, not a silent default."""
    with pytest.raises(ConfigError, match="CB_GRACE_SECOND"):
        load_settings(environ={"CB_GRACE_SECOND": "10"})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CB_PORT", "eighty"),
        ("CB_PORT", "80.5"),
        ("CB_GRACE_SECONDS", "soon"),
        ("CB_ICE_SERVERS", "stun:stun.example.de"),
        ("CB_ICE_SERVERS", '[{"urls": "stun:x"}, "turn:y"]'),
        ("CB_ICE_SERVERS", "[not json"),
    ],
)
def test_unreadable_value_is_refused_naming_the_key(key: str, value: str) -> None:
    """A value that does not fit its type is a ConfigError naming the variable."""
    with pytest.raises(ConfigError) as info:
        load_settings(environ={key: value})
    assert key in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CB_SQLITE_SYNCHRONOUS", "OFF"),
        ("CB_GRACE_SECONDS", "0"),
        ("CB_GRACE_SECONDS", "-5"),
        ("CB_EVENTS_PER_SECOND", "0"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_key(key: str, value: str) -> None:
    """Values that parse but make no sense are refused, naming the variable."""
    with pytest.raises(ConfigError, match=key):
        load_settings(environ={key: value})


def test_config_error_is_a_value_error() -> None:
    """Callers may catch ValueError."""
    with pytest.raises(ValueError, match="CB_NOPE"):
        load_settings(environ={"CB_NOPE": "1"})


def test_overrides_win_over_environment() -> None:
    """Keyword overrides (used by tests and the command line) beat the environment."""
    settings = load_settings(environ={"CB_PORT": "9000"}, port=7000, grace_seconds=1.0)
    assert settings.port == 7000
    assert settings.grace_seconds == 1.0


def test_overrides_are_validated_too() -> None:
    """A bad override is refused like a bad variable."""
    with pytest.raises(ConfigError, match="SQLITE_SYNCHRONOUS"):
        load_settings(environ={}, sqlite_synchronous="OFF")


def test_secret_from_file(tmp_path: Path) -> None:
    """CB_SECRET_FILE reads the secret from a file, trailing newline stripped."""
    path = tmp_path / "cb-secret"
    path.write_text("s3cr3t-" + "q" * 40 + "\n")
    settings = load_settings(environ={"CB_SECRET_FILE": str(path)})
    assert settings.secret == "s3cr3t-" + "q" * 40


def test_turn_secret_from_file(tmp_path: Path) -> None:
    """CB_TURN_SECRET_FILE keeps the TURN secret out of the environment too."""
    path = tmp_path / "turn"
    path.write_text("turn-" + "t" * 30 + "\n")
    settings = load_settings(environ={"CB_TURN_SECRET_FILE": str(path),
                                      "CB_TURN_URLS": "turn:turn.example:3478"})
    assert settings.turn_secret == "turn-" + "t" * 30
    assert "turn-" not in repr(settings)


def test_oidc_and_turn_settings_are_checked() -> None:
    """An identity provider needs its audience and key set (https), TURN needs its secret,
    and no shared-secret algorithm may be allowed for provider tokens."""
    for bad in ({"CB_OIDC_ISSUER": "https://idp.example/realms/jc"},
                {"CB_OIDC_ISSUER": "https://idp.example", "CB_OIDC_AUDIENCE": "cb",
                 "CB_OIDC_JWKS_URL": "http://idp.example/certs"},
                {"CB_OIDC_ALGORITHMS": "RS256,HS256"},
                {"CB_OIDC_ROLE_MAP": '["not", "an", "object"]'},
                {"CB_TURN_URLS": "turn:turn.example:3478"},
                {"CB_TURN_URLS": "turn:turn.example:3478", "CB_TURN_SECRET": "short"}):
        with pytest.raises(ConfigError):
            load_settings(environ=bad)
    ok = load_settings(environ={
        "CB_OIDC_ISSUER": "https://idp.example", "CB_OIDC_AUDIENCE": "cb",
        "CB_OIDC_JWKS_URL": "https://idp.example/certs",
        "CB_OIDC_ROLE_MAP": '{"jc-berater": "counsellor"}'})
    assert ok.oidc_role_map == {"jc-berater": "counsellor"}


def test_missing_secret_file_is_refused_naming_the_key(tmp_path: Path) -> None:
    """An unreadable secret file is a ConfigError naming CB_SECRET_FILE."""
    with pytest.raises(ConfigError, match="CB_SECRET_FILE"):
        load_settings(environ={"CB_SECRET_FILE": str(tmp_path / "absent")})


def test_secret_is_not_in_repr(tmp_path: Path) -> None:
    """Printing the settings never shows the secret."""
    settings = load_settings(environ={"CB_SECRET": "very-secret-value-" + "w" * 20})
    assert settings.secret.startswith("very-secret-value-")
    assert "very-secret-value" not in repr(settings)


def test_reads_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit mapping, os.environ is read."""
    for key in list(os.environ):
        if key.startswith("CB_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CB_PORT", "8123")
    assert load_settings().port == 8123
