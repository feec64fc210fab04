"""The one builder of Kafka client options: settings in, library options out, secrets from
files, and errors that name the variable to fix."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from pipeline.config.settings import Settings
from pipeline.config.variables import SettingsError
from pipeline.ops.kafka_security import KafkaSecurity, explain


def secure_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    return {
        "CW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CW_KAFKA_USERNAME": "worker",
        "CW_KAFKA_PASSWORD_FILE": str(password),
        **extra,
    }


def test_plaintext_needs_nothing() -> None:
    security = KafkaSecurity.from_settings(Settings())
    assert security.kafka_python() == {"security_protocol": "PLAINTEXT"}
    assert security.faust() == {}


def test_sasl_options_carry_the_password_from_its_file(tmp_path: Path) -> None:
    security = KafkaSecurity.from_settings(Settings.from_env(secure_env(tmp_path)))
    options = security.aiokafka()
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "worker"
    assert options["sasl_plain_password"] == "s3cret"
    assert "s3cret" not in repr(security)
    credentials = security.faust()["broker_credentials"]
    assert credentials.username == "worker"
    assert credentials.protocol.value == "SASL_PLAINTEXT"


def test_sasl_ssl_verifies_the_broker_with_the_ca_file(tmp_path: Path) -> None:
    env = secure_env(tmp_path, CW_KAFKA_SECURITY_PROTOCOL="SASL_SSL")
    options = KafkaSecurity.from_settings(Settings.from_env(env)).kafka_python()
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert options["ssl_check_hostname"] is True


def test_sasl_without_a_user_names_the_missing_settings() -> None:
    settings = Settings.from_env({"CW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    with pytest.raises(SettingsError, match="CW_KAFKA_USERNAME and CW_KAFKA_PASSWORD_FILE"):
        KafkaSecurity.from_settings(settings)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CW_KAFKA_SASL_MECHANISM", "MD5", "CW_KAFKA_SASL_MECHANISM='MD5': must be one of"),
        ("CW_KAFKA_PASSWORD_FILE", "/nonexistent/pw", "CW_KAFKA_PASSWORD_FILE='/nonexistent/pw'"),
        ("CW_KAFKA_SECURITY_PROTOCOL", "SASL_SSL", "CW_KAFKA_CA_FILE="),
    ],
)
def test_unusable_values_name_their_variable(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    env = secure_env(tmp_path, **{variable: value})
    if variable == "CW_KAFKA_SECURITY_PROTOCOL":
        not_pem = tmp_path / "ca.pem"
        not_pem.write_text("not a certificate")
        env["CW_KAFKA_CA_FILE"] = str(not_pem)
    with pytest.raises(SettingsError, match=message):
        KafkaSecurity.from_settings(Settings.from_env(env)).kafka_python()


def test_an_empty_password_file_is_refused(tmp_path: Path) -> None:
    env = secure_env(tmp_path)
    Path(env["CW_KAFKA_PASSWORD_FILE"]).write_text("\n")
    with pytest.raises(SettingsError, match="the file is empty"):
        KafkaSecurity.from_settings(Settings.from_env(env)).aiokafka()


def test_refusals_are_explained_by_kind() -> None:
    from kafka.errors import SaslAuthenticationFailedError, TopicAuthorizationFailedError

    security = KafkaSecurity("SASL_SSL", username="connector", password_file="/x")
    denied = explain(TopicAuthorizationFailedError("t"), security, topic="cw.status")
    assert "user 'connector'" in denied
    assert "topic 'cw.status'" in denied
    wrong = explain(SaslAuthenticationFailedError("bad"), security)
    assert "CW_KAFKA_PASSWORD_FILE" in wrong
    assert explain(ValueError("other"), security) == "ValueError: other"


def test_the_influx_token_can_come_from_a_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("writer:pw\n")
    settings = Settings.from_env({"CW_INFLUX_TOKEN_FILE": str(token)})
    assert settings.influx_token == "writer:pw"
    with pytest.raises(SettingsError, match="CW_INFLUX_TOKEN_FILE='/nonexistent'"):
        Settings.from_env({"CW_INFLUX_TOKEN_FILE": "/nonexistent"})


KAFKA_CLIENTS = {
    "KafkaProducer",
    "KafkaConsumer",
    "KafkaAdminClient",
    "AIOKafkaProducer",
    "AIOKafkaConsumer",
    "App",  # faust.App
}


def test_every_kafka_client_in_the_code_gets_the_security_options() -> None:
    """A client built without ``**`` options (from pipeline.ops.kafka_security) would connect
    without credentials and fail only in production."""
    import ast

    root = Path(__file__).resolve().parents[2]
    bare = []
    for path in [*root.glob("pipeline/**/*.py"), *root.glob("connectors/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in KAFKA_CLIENTS and not any(k.arg is None for k in node.keywords):
                bare.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    assert bare == []


def test_an_unreachable_broker_is_not_a_refusal() -> None:
    """Connectors start and spool when Kafka is down; only refused credentials stop them."""
    from pipeline.ops.kafka_security import PLAINTEXT, check_access

    assert check_access("127.0.0.1:1, [127.0.0.1]:1", PLAINTEXT, timeout_s=2) is False
