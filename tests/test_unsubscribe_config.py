"""`unsubscribe_url` and the `[email] unsubscribe` key: errors say what to configure, and a link
template that names a variable no recipient has is refused before anything is sent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import write

HINT = ("it comes from [email] unsubscribe in messagehub.toml (email campaigns only), e.g. "
        "unsubscribe = \"https://example.com/unsubscribe?email={{ email|urlencode }}\", or from "
        "[web] public_url (one-click unsubscribe)")


def run(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          input=stdin, capture_output=True, text=True, timeout=120)


def create(home: Path, body: str) -> subprocess.CompletedProcess:
    return run(home, "create", "--name", "n", "--channel", "email", "--list", "people",
               "--subject", "s", "--body", "-", stdin=body)


def test_unsubscribe_url_without_the_key_says_what_to_configure(tmp_path):
    home = tmp_path / "home"
    write(tmp_path / "people.csv", "email,first_name\nann@example.com,Ann\n")
    assert run(home, "import", str(tmp_path / "people.csv"), "--list", "people").returncode == 0
    refused = create(home, "Hi {{ first_name }}\nLeave: {{ unsubscribe_url }}\n")
    assert refused.returncode == 1
    assert refused.stderr == ("messagehub-tui: body: line 2: no recipient can supply the "
                              f"variable 'unsubscribe_url'; {HINT}\n")

    write(home / "messagehub.toml",
          "[email]\nunsubscribe = \"https://example.com/u/{{ email }}\"\n")
    (home / "messagehub.toml").chmod(0o600)
    created = create(home, "Hi {{ first_name }}\nLeave: {{ unsubscribe_url }}\n")
    assert created.returncode == 0, created.stderr
    assert "https://example.com/u/ann@example.com" in run(home, "preview", "1").stdout

    (home / "messagehub.toml").unlink()
    preview = run(home, "preview", "1")
    assert preview.returncode == 1
    assert preview.stderr == ("messagehub-tui: cannot render the message for ann@example.com: "
                              f"body: 'unsubscribe_url' is undefined; {HINT}\n")
    launch = run(home, "launch", "1")
    assert launch.returncode == 1 and HINT in launch.stderr


def test_an_unsubscribe_link_needing_a_missing_field_is_refused_at_create(tmp_path):
    home = tmp_path / "home"
    write(tmp_path / "people.csv", "email,token\nann@example.com,t1\n")
    assert run(home, "import", str(tmp_path / "people.csv"), "--list", "people").returncode == 0
    write(home / "messagehub.toml",
          "[email]\nunsubscribe = \"mailto:u@example.com, https://example.com/u/{{ tokn }}\"\n")
    (home / "messagehub.toml").chmod(0o600)
    refused = create(home, "Hi")
    assert refused.returncode == 1
    assert refused.stderr == ("messagehub-tui: [email] unsubscribe: line 1: no recipient can "
                              "supply the variable 'tokn'\n")
    write(home / "messagehub.toml",
          "[email]\nunsubscribe = \"mailto:u@example.com, https://example.com/u/{{ token }}\"\n")
    assert create(home, "Hi").returncode == 0
