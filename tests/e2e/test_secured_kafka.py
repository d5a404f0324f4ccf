"""End to end on a secured broker: TLS with a certificate made here, and a SCRAM-SHA-512 login.

`wirewatch broker --tls-cert --tls-key --user` runs in its own process; the worker (faust and
aiokafka), `wirewatch ingest` (kafka-python) and this test's kafka-python consumer all connect
with credentials. A wrong password and an untrusted certificate must each end in one line that
says which, with exit code 5, not a traceback and not an endless retry.
"""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from streams.broker import free_port, terminate
from streams.kafka_security import KafkaSecurity
from tests.harness import REPO, Pipeline, alert_ids_in_slack, wait_for
from wirewatch.local_stack import spawn_cli

pytestmark = pytest.mark.e2e

USER, PASSWORD = "wirewatch-svc", "correct horse battery staple"
SAMPLE = REPO / "config" / "sample-news.jsonl"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def _ca(directory: Path, label: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(label)).issuer_name(_name(label)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256()))
    (directory / f"{label}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test CA, a broker certificate it signs (for 127.0.0.1 and localhost), and a second, unrelated CA."""
    directory = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key = _ca(directory, "test-ca")
    _ca(directory, "other-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(_name("wirewatch test broker")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(san, critical=False).sign(ca_key, hashes.SHA256()))
    (directory / "broker.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, directory / "broker-key.pem")
    return directory


@pytest.fixture(scope="module")
def secured_broker(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("secured-broker") / "broker.log"
    proc = spawn_cli(["broker", "--port", str(port), "--partitions", "4", "--tls-cert", str(pki / "broker.pem"),
                      "--tls-key", str(pki / "broker-key.pem"), "--user", f"{USER}:{PASSWORD}"], env=_env({}), log_path=log_path)
    try:
        wait_for(lambda: "topics ready" in log_path.read_text(errors="replace") or proc.poll() is not None, 60, "the secured broker")
        assert proc.poll() is None, log_path.read_text(errors="replace")
        yield f"kafka://127.0.0.1:{port}"
    finally:
        terminate(proc)


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_KAFKA_")}
    env.update(HF_HUB_OFFLINE="1", **extra)
    return env


def _client_env(pki: Path, password: str = PASSWORD, ca: str = "test-ca") -> dict[str, str]:
    return {"WIREWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "WIREWATCH_KAFKA_SSL_CAFILE": str(pki / f"{ca}.pem"),
            "WIREWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "WIREWATCH_KAFKA_SASL_USERNAME": USER,
            "WIREWATCH_KAFKA_SASL_PASSWORD": password}


def _ingest(broker_url: str, env: dict[str, str], prefix: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wirewatch", "ingest", str(SAMPLE)], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=_env({"WIREWATCH_BROKER": broker_url, "WIREWATCH_TOPIC_PREFIX": prefix, **env}))


def test_worker_ingest_and_a_consumer_all_log_in_and_the_seed_story_arrives(secured_broker: str, pki: Path, tmp_path: Path) -> None:
    security = KafkaSecurity("SASL_SSL", ca_file=pki / "test-ca.pem", mechanism="SCRAM-SHA-512", username=USER, password=PASSWORD)
    pipe = Pipeline(broker_url=secured_broker, workdir=tmp_path, extra_env=_client_env(pki), security=security).start()
    try:
        pipe.wait_worker_ready(120)
        done = _ingest(secured_broker, _client_env(pki), pipe.prefix)
        assert done.returncode == 0, done.stderr
        assert "ingested 6 items" in done.stdout
        alerts = wait_for(lambda: len(got := pipe.read_topic(pipe.names.alerts)) >= 3 and got, 120, "the seed story's three alerts")
        assert {r.key.decode() for r in alerts} <= set(alert_ids_in_slack(wait_for(
            lambda: (m := pipe.slack_messages()) and sum(len(v) for v in m.values()) >= 3 and m, 60, "three Slack posts")))
        assert "broker 127.0.0.1" in pipe.worker_log() and "SCRAM-SHA-512" in pipe.worker_log()
        assert PASSWORD not in pipe.worker_log()
    finally:
        pipe.close()


@pytest.mark.parametrize(("password", "ca", "says"), [
    ("not the password", "test-ca", "login as 'wirewatch-svc'"),
    (PASSWORD, "other-ca", "is not trusted by WIREWATCH_KAFKA_SSL_CAFILE="),
])
def test_wrong_password_or_untrusted_certificate_ends_in_one_line(secured_broker: str, pki: Path, password: str, ca: str, says: str) -> None:
    started = time.monotonic()
    done = _ingest(secured_broker, _client_env(pki, password, ca))
    assert done.returncode == 5, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr and password not in done.stderr
    assert time.monotonic() - started < 30


def test_a_worker_with_a_wrong_password_exits_with_code_5(secured_broker: str, pki: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "worker.log"
    env = _env({"WIREWATCH_BROKER": secured_broker, "WIREWATCH_DATA_DIR": str(tmp_path), "WIREWATCH_HTTP_PORT": str(free_port()),
                **_client_env(pki, "not the password")})
    proc = spawn_cli(["worker"], env, log_path)
    try:
        code = proc.wait(timeout=60)
    finally:
        terminate(proc)
    text = log_path.read_text(errors="replace")
    assert code == 5, text[-2000:]
    assert "refused" in text and "Traceback" not in text
