"""Configuration: defaults with no file, every bad key or value named, secrets only from env."""

import pytest

from messagehub_tui.config import load_settings, parse_duration
from messagehub_tui.errors import ConfigError
from tests.conftest import write


def test_no_file_means_outbox_defaults(home):
    settings = load_settings(home)
    assert settings.email.transport == "outbox"
    assert settings.sms.transport == "outbox"
    assert settings.schedule.misfire_grace == 900
    assert settings.db_path == home / "messagehub.db"


def test_full_file_is_read(home):
    write(home / "messagehub.toml", """
[email]
transport = "smtp"
host = "mail.test"
security = "tls"
from = "News <news@example.com>"
rate = 5
timeout = "10s"
unsubscribe = "mailto:u@example.com, https://example.com/u/{{ email }}"
[sms]
transport = "twilio"
account_sid = "AC0123456789abcdef0123456789abcdef"
from = "+15005550006"
default_region = "us"
[schedule]
misfire_grace = "5m"
""")
    settings = load_settings(home, environ={"MESSAGEHUB_SMTP_PASSWORD": "pw", "TWILIO_AUTH_TOKEN": "tok"})
    assert settings.email.effective_port == 465
    assert settings.email.rate == 5.0 and settings.email.timeout == 10.0
    assert settings.email.password == "pw" and settings.sms.auth_token == "tok"
    assert settings.sms.default_region == "US"
    assert settings.schedule.misfire_grace == 300
    assert "pw" not in repr(settings) and "tok" not in repr(settings)


@pytest.mark.parametrize("text, named", [
    ("[email]\nhots = \"x\"\n", "unknown key [email] hots"),
    ("[mail]\n", "unknown section [mail]"),
    ("[email]\nport = \"25\"\n", "[email] port must be a port number"),
    ("[email]\nsecurity = \"ssl\"\n", "[email] security must be one of"),
    ("[sms]\nfrom = \"5550006\"\n", "[sms] from must be an E.164 number"),
    ("[schedule]\nmisfire_grace = \"soon\"\n", "[schedule] misfire_grace expected a duration"),
    ("[email]\ntransport = \"smtp\"\n", "[email] from is required"),
    ("[sms]\ntransport = \"twilio\"\n", "[sms] account_sid is required"),
    ("[email\n", "not valid TOML"),
    ("[email]\npassword = \"secret\"\n", "unknown key [email] password"),
    ("[email]\nfrom = \"newsletter\"\n", "[email] from must be an email address"),
])
def test_bad_config_names_the_key_and_file(home, text, named):
    write(home / "messagehub.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(home)
    assert named in str(caught.value)
    assert str(home / "messagehub.toml") in str(caught.value)
    assert "secret" not in str(caught.value)


def test_bad_config_stops_the_cli_with_its_name(cli, home):
    write(home / "messagehub.toml", "[email]\nconections = 3\n")
    code, out, err = cli("lists")
    assert code == 1
    assert "unknown key [email] conections" in err and "Traceback" not in err


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200),
                                           ("1d", 86400), ("250ms", 0.25), (30, 30)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_home_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MESSAGEHUB_HOME", str(tmp_path))
    assert load_settings().home == tmp_path.resolve()


def test_the_readme_example_is_a_valid_configuration(home):
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    write(home / "messagehub.toml", example)
    settings = load_settings(home)
    assert settings.email.sender == "Example News <news@example.com>"
    assert settings.delivery.retry_max == 3600
