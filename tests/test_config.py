"""Configuration: defaults with no file, every bad key or value named, secrets only from env."""

import os

import pytest

from messagehub_tui.config_checks import parse_duration
from messagehub_tui.config_load import load_settings
from messagehub_tui.errors import ConfigError
from tests.conftest import write


def test_no_file_means_outbox_defaults(home):
    settings = load_settings(home)
    assert settings.email.transport == "outbox"
    assert settings.sms.transport == "outbox"
    assert settings.schedule.misfire_grace == 900
    assert settings.schedule.restart_delays == (5.0, 20.0)
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
restart_delays = ["1s", "1m", 90]
""")
    settings = load_settings(home, environ={"MESSAGEHUB_SMTP_PASSWORD": "pw",
                                            "TWILIO_AUTH_TOKEN": "tok"})
    assert settings.email.effective_port == 465
    assert settings.email.rate == 5.0 and settings.email.timeout == 10.0
    assert settings.email.password == "pw" and settings.sms.auth_token == "tok"
    assert settings.sms.default_region == "US"
    assert settings.schedule.misfire_grace == 300
    assert settings.schedule.restart_delays == (1.0, 60.0, 90.0)
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
    ("[sms]\nfrom = \"+15005550006\"\nmessaging_service_sid = \"MG" + "0" * 32 + "\"\n",
     "[sms] from and messaging_service_sid are both set: keep one (from: that number sends; "
     "messaging_service_sid: the service picks a number from its pool)"),
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


def test_doctor_refuses_both_sms_senders_in_one_line(cli, home):
    write(home / "messagehub.toml", '[sms]\nfrom = "+15005550006"\n'
                                    'messaging_service_sid = "MG' + "0" * 32 + '"\n')
    code, out, err = cli("doctor")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        f"messagehub-tui: {home / 'messagehub.toml'}: [sms] from and messaging_service_sid are "
        "both set: keep one (from: that number sends; messaging_service_sid: the service picks "
        "a number from its pool)"]


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
    # every key of every section is shown, set to its default or as a commented example
    from messagehub_tui.config_load import _SCHEMA
    for section, (_, keys) in _SCHEMA.items():
        body = example.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
        for key in keys:
            assert re.search(rf"^(# )?{key} = ", body, re.M), f"[{section}] {key}"


@pytest.mark.parametrize("text, named", [
    ("[email]\nrate = nan\n", "[email] rate must be a number of messages per second from 0 "
                              "(unlimited) to 10000, not nan"),
    ("[email]\nrate = inf\n", "[email] rate must be a number of messages per second"),
    ("[email]\nrate = 1e308\n", "[email] rate must be a number of messages per second"),
    ("[email]\nrate = -1\n", "[email] rate must be a number of messages per second"),
    ("[sms]\nrate = -inf\n", "[sms] rate must be a number of messages per second"),
    ("[email]\ntimeout = nan\n", "[email] timeout expected a duration such as \"15m\", got nan"),
    ("[email]\ntimeout = inf\n", "[email] timeout expected a duration"),
    ("[sms]\ntimeout = 86400\n", "[sms] timeout must be more than zero and at most 1h"),
    ("[schedule]\nmisfire_grace = nan\n", "[schedule] misfire_grace expected a duration"),
    ("[schedule]\nrestart_delays = \"5s\"\n", "[schedule] restart_delays must be a list of 1 "
                                              "to 10 durations, such as [\"5s\", \"20s\"], "
                                              "not '5s'"),
    ("[schedule]\nrestart_delays = []\n", "[schedule] restart_delays must be a list of 1 to 10"),
    ("[schedule]\nrestart_delays = [\"5s\", \"2d\"]\n",
     "[schedule] restart_delays entry 2: must be more than zero and at most 1h"),
    ("[schedule]\nrestart_delays = [0]\n",
     "[schedule] restart_delays entry 1: must be more than zero and at most 1h"),
    ("[schedule]\nrestart_delays = [\"5s\", nan]\n",
     "[schedule] restart_delays entry 2: expected a duration such as \"15m\", got nan"),
    ("[schedule]\nmisfire_grace = 1e300\n", "[schedule] misfire_grace a duration cannot be "
                                            "longer than 366d"),
    ("[delivery]\nretry_max = \"99999999999d\"\n", "[delivery] retry_max a duration cannot be"),
    ("[email]\nconnections = 1000000\n",
     "[email] connections must be a whole number from 1 to 100"),
    ("[sms]\nconnections = 101\n", "[sms] connections must be a whole number from 1 to 100"),
    ("[delivery]\nprocesses = 65\n",
     "[delivery] processes must be \"auto\" or a whole number from 1 to 64"),
    ("[delivery]\nprocesses = \"all\"\n",
     "[delivery] processes must be \"auto\" or a whole number from 1 to 64"),
    ("[delivery]\nbatch_size = 9223372036854775807\n", "[delivery] batch_size must be a whole"),
    ("[email]\nhost = \"mail\\u0000.test\"\n", "[email] host must not contain a NUL character"),
    ("[email]\nunsubscribe = \"mailto:u@example.com, https://example.com/u/{{ email }\"\n",
     "[email] unsubscribe does not compile ('https://example.com/u/{{ email }'): line 1: "),
    ("[email]\nunsubscribe = \"https://example.com/u/{% if %}\"\n",
     "[email] unsubscribe does not compile"),
    ("[sms]\ndefault_region = \"XX\"\n", "[sms] default_region must be a region code the phone "
                                         "number library knows, such as \"US\" or \"GB\"; 'XX'"),
    ("[email]\nhost = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    ("[email]\nhost = " + "{a=" * 100_000 + "1" + "}" * 100_000 + "\n", "nested too deeply"),
])
def test_nonsense_values_are_refused_with_their_key(home, text, named):
    write(home / "messagehub.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(home)
    assert named in str(caught.value)
    assert str(caught.value).startswith(f"{home / 'messagehub.toml'}: ")
    assert "\n" not in str(caught.value)


def test_bounds_themselves_are_accepted(home):
    write(home / "messagehub.toml", """
[email]
rate = 10000
connections = 100
timeout = "1h"
unsubscribe = "https://example.com/u?e={{ email|urlencode }}"
[sms]
rate = 0
default_region = "gb"
[schedule]
misfire_grace = "366d"
[delivery]
processes = 64
""")
    settings = load_settings(home)
    assert settings.email.rate == 10000 and settings.email.connections == 100
    assert settings.sms.default_region == "GB" and settings.delivery.processes == 64
    assert settings.schedule.misfire_grace == 366 * 86400


def _processes_on(cores: set[int], home) -> int:
    """[delivery] processes as a fresh interpreter bound to `cores` reads it from `home`."""
    import subprocess
    import sys

    code = ("import sys; from messagehub_tui.config_load import load_settings; "
            "print(load_settings(sys.argv[1]).delivery.processes)")
    return int(subprocess.run([sys.executable, "-c", code, str(home)], check=True, text=True,
                              capture_output=True,
                              preexec_fn=lambda: os.sched_setaffinity(0, cores)).stdout)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_processes_default_to_one_per_usable_core_at_most_four(home):
    usable = sorted(os.sched_getaffinity(0))
    assert _processes_on({usable[0]}, home) == 1  # no file: the default is "auto"
    assert _processes_on(set(usable), home) == min(len(usable), 4)
    write(home / "messagehub.toml", '[delivery]\nprocesses = "auto"\n')
    assert _processes_on({usable[0]}, home) == 1
    write(home / "messagehub.toml", "[delivery]\nprocesses = 3\n")
    assert _processes_on({usable[0]}, home) == 3  # a number is kept as it is


def test_the_cli_refuses_nonsense_config_and_campaign_rates(tmp_path):
    import subprocess
    import sys

    def run(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(tmp_path),
                               *args], input=stdin, capture_output=True, text=True, timeout=120)

    write(tmp_path / "people.csv", "email\nann@example.com\n")
    assert run("import", str(tmp_path / "people.csv")).returncode == 0
    for rate, shown in (("nan", "nan"), ("inf", "inf"), ("1e9", "1000000000.0"), ("-1", "-1.0")):
        created = run("create", "--name", "n", "--channel", "email", "--list", "people",
                      "--subject", "s", "--body", "-", "--rate", rate, stdin="hi")
        assert created.returncode == 2, rate  # a usage error: the value is the command line's
        assert created.stderr == ("messagehub-tui create: argument --rate: rate must be a number "
                                  "of messages per second from 0 (unlimited) to 10000, not "
                                  f"{shown} (usage: messagehub-tui create --help)\n")
    assert run("campaigns", "--json").stdout.strip() == "[]"
    write(tmp_path / "messagehub.toml", "[email]\nrate = nan\n")
    refused = run("lists")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "[email] rate must be a number of messages per second" in refused.stderr
    write(tmp_path / "messagehub.toml", "[sms]\ndefault_region = \"XX\"\n")
    refused = run("lists")
    assert refused.returncode == 1 and "[sms] default_region" in refused.stderr
    assert "Traceback" not in refused.stderr
    write(tmp_path / "messagehub.toml", "x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    refused = run("lists")
    assert refused.returncode == 1 and "nested too deeply" in refused.stderr
    assert "Traceback" not in refused.stderr
