"""Settings: one typed table, read once, with errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings, SettingsError, example_env
from tests.harness import REPO


def test_the_example_env_file_is_generated_from_the_table() -> None:
    assert (REPO / "config" / "settings.example.env").read_text() == example_env(), "run `wirewatch settings --write config/settings.example.env`"
    for field in Settings.model_fields.values():
        assert field.description, f"{field.validation_alias} has no description"


def test_every_variable_is_read_and_empty_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIREWATCH_PARTITIONS", "7")
    monkeypatch.setenv("WIREWATCH_PRESEARCH", "off")
    monkeypatch.setenv("WIREWATCH_WATCHLISTS", "")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    settings = Settings.from_env()
    assert settings.partitions == 7 and settings.presearch is False
    assert settings.watchlists_dir == Path("config/watchlists")
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(("name", "value"), [("WIREWATCH_PARTITIONS", "four"), ("WIREWATCH_PARTITIONS", "0"),
                                            ("WIREWATCH_LOG_FORMAT", "xml"), ("WIREWATCH_PRESEARCH", "maybe")])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"^{name}='{value}': "):
        Settings.from_env()


def test_the_token_never_shows_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value")
    settings = Settings.from_env()
    assert settings.slack_token == "xoxb-secret-value" and "xoxb" not in repr(settings)


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("WIREWATCH_APP_ID=from-file\nWIREWATCH_TOPIC_PREFIX=file.\nUNRELATED=1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WIREWATCH_TOPIC_PREFIX", "env.")
    settings = Settings.from_env()
    assert settings.app_id == "from-file" and settings.topic_prefix == "env."


def test_cli_flags_override_without_touching_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    from wirewatch.cli import main

    monkeypatch.delenv("WIREWATCH_WATCHLISTS", raising=False)
    assert main(["watchlists", "check", "--watchlists", str(tmp_path / "missing")]) == 1
    assert "WIREWATCH_WATCHLISTS" not in os.environ
    monkeypatch.setenv("WIREWATCH_PARTITIONS", "x")
    assert main(["settings"]) == 2


def test_blank_values_read_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIREWATCH_BROKER", "   ")
    monkeypatch.setenv("WIREWATCH_APP_ID", "  team-a  ")
    settings = Settings.from_env()
    assert settings.broker == "" and settings.app_id == "team-a"


@pytest.mark.parametrize("raw", ["kafka://a:9092,b:9092", "kafka://a:9092;b:9092", " kafka://a:9092 , b:9092 ,"])
def test_broker_lists_take_commas_or_semicolons(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("WIREWATCH_BROKER", raw)
    settings = Settings.from_env()
    assert settings.broker == "kafka://a:9092;b:9092"  # the form faust reads
    assert settings.bootstrap_servers == ["a:9092", "b:9092"]


def test_kafka_security_settings_must_be_complete(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WIREWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(SettingsError, match="SASL_SSL needs WIREWATCH_KAFKA_SASL_USERNAME and WIREWATCH_KAFKA_SASL_PASSWORD"):
        Settings.from_env()
    monkeypatch.setenv("WIREWATCH_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("WIREWATCH_KAFKA_SASL_PASSWORD", "pw-123")
    monkeypatch.setenv("WIREWATCH_KAFKA_SSL_CAFILE", str(tmp_path / "missing.pem"))
    with pytest.raises(SettingsError, match="WIREWATCH_KAFKA_SSL_CAFILE=.*missing.pem: no such file"):
        Settings.from_env()
    (tmp_path / "ca.pem").write_text("x")
    monkeypatch.setenv("WIREWATCH_KAFKA_SSL_CAFILE", str(tmp_path / "ca.pem"))
    settings = Settings.from_env()
    assert "pw-123" not in repr(settings) and "pw-123" not in settings.kafka_security.describe()
    monkeypatch.setenv("WIREWATCH_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    with pytest.raises(SettingsError, match="does not log in"):
        Settings.from_env()


def test_one_security_table_feeds_every_client_library() -> None:
    from streams.kafka_security import KafkaSecurity

    assert KafkaSecurity().client_options() == {"security_protocol": "PLAINTEXT"}
    assert KafkaSecurity().faust_credentials() is None
    sasl = KafkaSecurity("SASL_SSL", mechanism="SCRAM-SHA-256", username="svc", password="pw").client_options()
    assert sasl["security_protocol"] == "SASL_SSL" and sasl["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (sasl["sasl_plain_username"], sasl["sasl_plain_password"]) == ("svc", "pw") and sasl["ssl_context"] is not None
    credentials = KafkaSecurity("SASL_PLAINTEXT", mechanism="PLAIN", username="svc", password="pw").faust_credentials()
    assert credentials.mechanism.value == "PLAIN" and credentials.protocol.value == "SASL_PLAINTEXT"
    assert KafkaSecurity("SSL").faust_credentials().protocol.value == "SSL"
