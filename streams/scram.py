"""SCRAM (RFC 5802, RFC 7677) and PLAIN logins: the broker gateway's side and the access check's side.

The server keeps, per user, only the salted keys, never the password. A failed login says only
that the credentials were refused, never which half was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
ITERATIONS = 4096
_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
_PROCESS_SECRET = secrets.token_bytes(32)
MAX_ITERATIONS = 1_000_000  # a broker asking for more is not worth the CPU


class LoginRefused(Exception):
    """The credentials did not check out (the message is safe to send to the client)."""


def _hmac(key: bytes, data: bytes, algorithm: str) -> bytes:
    return hmac.new(key, data, algorithm).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def _fields(message: str) -> dict[str, str]:
    out = {}
    for part in message.split(","):
        if len(part) >= 2 and part[1] == "=":
            out[part[0]] = part[2:]
    return out


@dataclass(frozen=True)
class StoredUser:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def store_user(password: str, mechanism: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> StoredUser:
    algorithm = _HASHES[mechanism]
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac(algorithm, password.encode(), salt, iterations)
    client_key = _hmac(salted, b"Client Key", algorithm)
    return StoredUser(salt, iterations, hashlib.new(algorithm, client_key).digest(), _hmac(salted, b"Server Key", algorithm))


class ServerLogin:
    """One client's login, one token at a time: `step(token)` returns the reply, raises LoginRefused,
    and sets `user` once the client is authenticated."""

    def __init__(self, mechanism: str, passwords: dict[str, str], scram_users: dict[str, StoredUser], secret: bytes = b""):
        self.mechanism = mechanism
        self.secret = secret or _PROCESS_SECRET
        self.passwords = passwords
        self.scram_users = scram_users
        self.user: str | None = None
        self._name = ""
        self._state: tuple[str, str, str, StoredUser] | None = None  # (client-first-bare, server-first, nonce, user)

    def step(self, token: bytes) -> bytes:
        if self.mechanism == "PLAIN":
            return self._plain(token)
        if self._state is None:
            return self._first(token.decode("utf-8", "replace"))
        return self._final(token.decode("utf-8", "replace"))

    def _plain(self, token: bytes) -> bytes:
        parts = token.split(b"\x00")
        if len(parts) != 3:
            raise LoginRefused("malformed PLAIN token")
        name, password = parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
        expected = self.passwords.get(name)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise LoginRefused("Authentication failed: invalid credentials")
        self.user = name
        return b""

    def _first(self, message: str) -> bytes:
        if not message.startswith(("n,", "y,")):
            raise LoginRefused("SCRAM: channel binding is not supported")
        bare = message.split(",", 2)[2] if message.count(",") >= 2 else ""
        fields = _fields(bare)
        name, client_nonce = fields.get("n", "").replace("=2C", ",").replace("=3D", "="), fields.get("r", "")
        if not name or not client_nonce:
            raise LoginRefused("SCRAM: malformed client-first message")
        stored = self.scram_users.get(name) or self._decoy(name)
        nonce = client_nonce + secrets.token_urlsafe(18)
        server_first = f"r={nonce},s={base64.b64encode(stored.salt).decode()},i={stored.iterations}"
        self._state = (bare, server_first, nonce, stored)
        self._name = name
        return server_first.encode()

    def _decoy(self, name: str) -> StoredUser:
        """Keys for a name that is not a user: the same salt at every attempt, as a real user's
        would be, so two attempts do not reveal that the name is unknown; no PBKDF2 spent on it."""
        algorithm = _HASHES[self.mechanism]
        seed = _hmac(self.secret, name.encode(), algorithm)
        return StoredUser(seed[:16], ITERATIONS, _hmac(seed, b"stored", algorithm), _hmac(seed, b"server", algorithm))

    def _final(self, message: str) -> bytes:
        assert self._state is not None
        bare, server_first, nonce, stored = self._state
        fields = _fields(message)
        if fields.get("r") != nonce or "p" not in fields or ",p=" not in message:
            raise LoginRefused("SCRAM: malformed client-final message")
        algorithm = _HASHES[self.mechanism]
        auth_message = f"{bare},{server_first},{message.rsplit(',p=', 1)[0]}".encode()
        try:
            proof = base64.b64decode(fields["p"], validate=True)
        except ValueError:
            raise LoginRefused("SCRAM: malformed proof") from None
        client_key = _xor(proof, _hmac(stored.stored_key, auth_message, algorithm))
        if self._name not in self.scram_users or not hmac.compare_digest(hashlib.new(algorithm, client_key).digest(), stored.stored_key):
            raise LoginRefused("Authentication failed during authentication due to invalid credentials with SASL mechanism " + self.mechanism)
        self.user = self._name
        return f"v={base64.b64encode(_hmac(stored.server_key, auth_message, algorithm)).decode()}".encode()


class ClientLogin:
    """The client's side, for the access check: yields tokens to send, given the server's replies."""

    def __init__(self, mechanism: str, username: str, password: str):
        self.mechanism, self.username, self.password = mechanism, username, password
        self._nonce = secrets.token_urlsafe(18)
        self._expected_signature = b""

    def first(self) -> bytes:
        if self.mechanism == "PLAIN":
            return b"\x00" + self.username.encode() + b"\x00" + self.password.encode()
        name = self.username.replace("=", "=3D").replace(",", "=2C")
        self._bare = f"n={name},r={self._nonce}"
        return f"n,,{self._bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode("utf-8", "replace")
        fields = _fields(text)
        if not fields.get("r", "").startswith(self._nonce):
            raise LoginRefused(f"SCRAM: the broker's nonce does not extend ours ({text[:80]!r})")
        algorithm = _HASHES[self.mechanism]
        try:
            salt, iterations = base64.b64decode(fields["s"], validate=True), int(fields["i"])
        except (KeyError, ValueError):
            raise LoginRefused(f"SCRAM: malformed server-first message ({text[:80]!r})") from None
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise LoginRefused(f"SCRAM: the broker asks for {iterations} iterations")
        salted = hashlib.pbkdf2_hmac(algorithm, self.password.encode(), salt, iterations)
        client_key = _hmac(salted, b"Client Key", algorithm)
        without_proof = f"c=biws,r={fields['r']}"
        auth_message = f"{self._bare},{text},{without_proof}".encode()
        signature = _hmac(hashlib.new(algorithm, client_key).digest(), auth_message, algorithm)
        self._expected_signature = _hmac(_hmac(salted, b"Server Key", algorithm), auth_message, algorithm)
        return f"{without_proof},p={base64.b64encode(_xor(client_key, signature)).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        fields = _fields(server_final.decode("utf-8", "replace"))
        if "e" in fields:
            raise LoginRefused(f"SCRAM: the broker refused the login ({fields['e']})")
        try:
            signature = base64.b64decode(fields.get("v", ""), validate=True)
        except ValueError:
            signature = b""
        if not hmac.compare_digest(signature, self._expected_signature):
            raise LoginRefused("SCRAM: the broker could not prove it knows the password (server signature mismatch)")
