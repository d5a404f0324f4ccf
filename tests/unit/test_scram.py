"""SCRAM and PLAIN logins, both sides, and the SASL frames of the Kafka protocol, without a broker."""

from __future__ import annotations

import pytest

from streams import kafka_wire as wire
from streams.scram import ClientLogin, LoginRefused, ServerLogin, store_user

USERS = {"alice": "s3cret", "bob": "pa,ss=word"}


def _server(mechanism: str) -> ServerLogin:
    return ServerLogin(mechanism, dict(USERS), {name: store_user(pw, mechanism) for name, pw in USERS.items()} if mechanism != "PLAIN" else {})


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_scram_login_succeeds_and_both_sides_prove_the_password(mechanism: str, user: str) -> None:
    server, client = _server(mechanism), ClientLogin(mechanism, user, USERS[user])
    server_first = server.step(client.first())
    assert server.user is None
    client.verify(server.step(client.final(server_first)))
    assert server.user == user


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("mallory", "s3cret")])
def test_scram_refuses_a_wrong_password_and_an_unknown_user_alike(mechanism: str, user: str, password: str) -> None:
    server, client = _server(mechanism), ClientLogin(mechanism, user, password)
    server_first = server.step(client.first())
    with pytest.raises(LoginRefused, match="invalid credentials"):
        server.step(client.final(server_first))
    assert server.user is None


def test_scram_client_rejects_a_server_that_does_not_know_the_password() -> None:
    honest, client = _server("SCRAM-SHA-512"), ClientLogin("SCRAM-SHA-512", "alice", "s3cret")
    server_first = honest.step(client.first())
    client.final(server_first)
    with pytest.raises(LoginRefused, match="server signature"):
        client.verify(b"v=" + b"QUFBQQ==")


def test_scram_refuses_a_replayed_or_malformed_final_message() -> None:
    server, client = _server("SCRAM-SHA-256"), ClientLogin("SCRAM-SHA-256", "alice", "s3cret")
    server.step(client.first())
    with pytest.raises(LoginRefused, match="malformed"):
        server.step(b"c=biws,r=not-the-nonce,p=AAAA")


def test_plain_login() -> None:
    assert _server("PLAIN").step(b"\x00alice\x00s3cret") == b""
    for token in (b"\x00alice\x00wrong", b"\x00nobody\x00s3cret", b"garbage"):
        with pytest.raises(LoginRefused):
            _server("PLAIN").step(token)


@pytest.mark.parametrize("version", [0, 1, 2])
def test_sasl_authenticate_request_and_response_round_trip(version: int) -> None:
    raw = wire.request(wire.SASL_AUTHENTICATE, version, 42, wire.authenticate_body(b"token-bytes", version), client_id=b"c1")
    payload = raw[4:]
    header = wire.parse_header(payload)
    assert (header.api_key, header.api_version, header.correlation_id) == (wire.SASL_AUTHENTICATE, version, 42)
    assert wire.authenticate_bytes(payload, header) == b"token-bytes"
    if version < 2:
        response = wire.authenticate_response(42, version, wire.SASL_AUTHENTICATION_FAILED, "nope", b"")[4:]
        assert wire.parse_authenticate_response(response, version) == (wire.SASL_AUTHENTICATION_FAILED, "nope", b"")


def test_handshake_response_and_varints() -> None:
    assert wire.parse_handshake_response(wire.handshake_response(7, 0, ["PLAIN", "SCRAM-SHA-512"])[4:]) == (0, ["PLAIN", "SCRAM-SHA-512"])
    for value in (0, 1, 127, 128, 300, 1 << 20):
        assert wire.read_uvarint(wire.uvarint(value), 0) == (value, len(wire.uvarint(value)))
    with pytest.raises(wire.WireError):
        wire.parse_header(b"\x00\x01")


def test_an_unknown_name_gets_the_same_salt_each_time_like_a_real_user() -> None:
    users = {name: store_user(pw, "SCRAM-SHA-512") for name, pw in USERS.items()}  # built once, as the gateway does

    def salt_for(name: str) -> str:
        first = ServerLogin("SCRAM-SHA-512", {}, users).step(ClientLogin("SCRAM-SHA-512", name, "x").first()).decode()
        return dict(part.split("=", 1) for part in first.split(","))["s"]

    assert salt_for("mallory") == salt_for("mallory") and salt_for("alice") == salt_for("alice")
    assert salt_for("mallory") != salt_for("alice")
