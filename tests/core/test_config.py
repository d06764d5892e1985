"""Settings: secrets stay hidden, bounds and paired settings are checked at start with a
message naming the ``BEACON_*`` variables, and the README's table is the generated one."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field, SecretStr
from tests.support import run_cli

from beacon.core import config_docs
from beacon.core.config import Settings, SettingsError, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def _no_beacon_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets reaches the settings (not the developer's own BEACON_*)."""
    import os

    for name in list(os.environ):
        if name.startswith("BEACON_"):
            monkeypatch.delenv(name)


def test_secrets_are_hidden_but_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEACON_SMTP_URL", "smtp://mailer:pw-smtp@mail.example:587")
    monkeypatch.setenv("BEACON_DATABASE_URL", "postgresql+psycopg://beacon:pw-db@db/beacon")
    monkeypatch.setenv("BEACON_ACTIVATION_WEBHOOK_URL", "https://dsp.example/deals")
    monkeypatch.setenv("BEACON_ACTIVATION_WEBHOOK_SECRET", "pw-webhook")
    settings = load_settings()
    shown = f"{settings!r} {settings} {settings.model_dump()}"
    assert "pw-" not in shown
    assert isinstance(settings.smtp_url, SecretStr)
    assert settings.smtp_url.get_secret_value() == "smtp://mailer:pw-smtp@mail.example:587"
    assert settings.effective_database_url == "postgresql+psycopg://beacon:pw-db@db/beacon"
    assert settings.activation_webhook_secret is not None
    assert settings.activation_webhook_secret.get_secret_value() == "pw-webhook"


def test_an_empty_database_url_means_the_sqlite_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="")
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'beacon.db').resolve()}"


def test_webhook_url_without_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEACON_ACTIVATION_WEBHOOK_URL", "https://dsp.example/deals")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert "BEACON_ACTIVATION_WEBHOOK_SECRET must be set" in message
    assert "BEACON_ACTIVATION_WEBHOOK_URL" in message


@pytest.mark.parametrize("prefix", ["x" * 190, "acme deals", "", "-acme"])
def test_a_deal_id_prefix_that_cannot_make_a_deal_id_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    # A 190-character prefix left no room for a segment id in a 200-character deal id (the
    # activation then never completed on PostgreSQL); a space is no deal id a DSP takes.
    monkeypatch.setenv("BEACON_DEAL_ID_PREFIX", prefix)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "BEACON_DEAL_ID_PREFIX" in str(refused.value)


def test_partial_sms_account_is_refused_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BEACON_SMS_ACCOUNT_SID", "AC42")
    monkeypatch.setenv("BEACON_SMS_AUTH_TOKEN", "tok-secret")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert "BEACON_SMS_FROM_NUMBER must be set as well" in message
    assert "BEACON_SMS_ACCOUNT_SID, BEACON_SMS_AUTH_TOKEN is set" in message
    assert "tok-secret" not in message


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("smtp://user:pw-secret@relay.internal:25?starttls=false", True),
        ("smtp://user:pw-secret@relay.internal:25?STARTTLS=off", True),
        ("smtp://user:pw-secret@relay.internal:25?starttls=false&plaintext_login=true", False),
        ("smtp://user:pw-secret@relay.internal:587?starttls=true", False),
        ("smtp://user:pw-secret@relay.internal:25", False),  # STARTTLS when offered
        ("smtps://user:pw-secret@relay.internal", False),
        ("smtp://relay.internal:25?starttls=false", False),  # no credentials to protect
    ],
)
def test_credentials_an_smtp_url_could_only_send_in_clear_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, url: str, refused: bool
) -> None:
    """Such a URL can never send (credentials go only over TLS, or with plaintext_login=true):
    refused at start rather than every recipient failing as unreachable at the first run."""
    monkeypatch.setenv("BEACON_SMTP_URL", url)
    if not refused:
        assert load_settings().smtp_url is not None
        return
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "BEACON_SMTP_URL has credentials and starttls=false" in message
    assert "plaintext_login=true" in message and "pw-secret" not in message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("smtp://user:pw-secret@relay.internal:25?starttls=maybe", "starttls in BEACON_SMTP_URL"),
        ("smtp://user:pw-secret@relay.internal:25?plaintext_login=sure", "plaintext_login in"),
        ("http://user:pw-secret@relay.internal", "must look like smtp://"),
        ("smtp://user:pw-secret@relay.internal:99999", "the port in BEACON_SMTP_URL"),
        ("smtp://user:pw-secret@relay.internal:twentyfive", "the port in BEACON_SMTP_URL"),
        # urllib's own errors quote the netloc, credentials and all: never passed on
        ("smtp://user:pw-secret\uff20x@relay.internal:25", "must look like smtp://"),
        ("smtp://user:pw-secret@[relay.internal:25", "must look like smtp://"),
    ],
)
def test_an_smtp_url_no_sender_can_parse_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    """The start check parses the URL as the senders do (one parser, ``core.smtp``): a URL
    they cannot read was accepted at start, then failed every email run and every test send
    from the console's template page."""
    monkeypatch.setenv("BEACON_SMTP_URL", url)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert says in str(error.value) and "pw-secret" not in str(error.value)


def test_a_complete_sms_account_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    account = {"ACCOUNT_SID": "AC42", "AUTH_TOKEN": "t", "FROM_NUMBER": "+15005550006"}
    for name, value in account.items():
        monkeypatch.setenv(f"BEACON_SMS_{name}", value)
    assert load_settings().sms_from_number == "+15005550006"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("BEACON_JOB_LEASE_SECONDS", "0", "greater than or equal to 1"),
        ("BEACON_JOB_LEASE_SECONDS", "7200", "less than or equal to 3600"),
        ("BEACON_JOB_MAX_ATTEMPTS", "0", "greater than or equal to 1"),
        ("BEACON_WORKER_POLL_INTERVAL", "0", "greater than 0"),
        ("BEACON_MESSAGING_BATCH_SIZE", "1000000", "less than or equal to 100000"),
        ("BEACON_CLASSIFICATION_TICK_URLS", "0", "greater than or equal to 1"),
        ("BEACON_MESSAGING_SCHEDULER_INTERVAL_SECONDS", "-1", "greater than 0"),
        # "inf" seconds, or a year's thousands, overflowed datetime arithmetic: a 500 on
        # every classify request of a stored URL
        ("BEACON_CLASSIFICATION_GIVEN_UP_RETRY_SECONDS", "inf", "a finite number"),
        ("BEACON_CLASSIFICATION_GIVEN_UP_RETRY_SECONDS", "1e12", "less than or equal to 31536000"),
        ("BEACON_CLASSIFICATION_RETRY_MAX_SECONDS", "nan", "a finite number"),
        ("BEACON_CLASSIFICATION_TTL_HOURS", "1e9", "less than or equal to 87600"),
    ],
)
def test_job_settings_out_of_bounds_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert f"{variable}: Input should be {expected}" in str(refused.value)


def test_a_lower_bound_above_its_upper_bound_is_refused() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(classification_retry_base_seconds=600, classification_retry_max_seconds=60)
    assert "BEACON_CLASSIFICATION_RETRY_BASE_SECONDS (600.0) must not exceed " in str(refused.value)


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("trusted_proxies", "10.0.0.0/8,10.0.0.0/33", "'10.0.0.0/33' is not a network"),
        ("rate_limit", "lots", "'lots' is not a rate"),
        ("anonymous_rate_limit", "120 a minute", "'120 a minute' is not a rate"),
        ("console_login_limit_per_email", "5 per quarter hour", "is not a rate"),
        ("console_login_limit_per_ip", "", "'' is not a rate"),
        ("messaging_write_rate_limit", "fast", "'fast' is not a rate"),
    ],
)
def test_unparseable_proxies_and_rates_are_refused_at_start(
    setting: str, value: str, named: str
) -> None:
    # Both used to be read at first use: a bad rate answered 500 to every request (or every
    # sign-in), a bad proxy network crashed `beacon serve` with a traceback after it had
    # already printed the first-start API key.
    with pytest.raises(SettingsError) as refused:
        load_settings(**{setting: value})
    message = str(refused.value)
    assert f"BEACON_{setting.upper()}" in message
    assert named in message


def test_serve_refuses_a_bad_proxy_network_before_anything_else(tmp_path: Path) -> None:
    env = {"BEACON_DATA_DIR": str(tmp_path / "var"), "BEACON_TRUSTED_PROXIES": "10.0.0.0/33"}
    refused = run_cli("serve", "--port", "9", env=env)
    assert refused.returncode == 2
    assert "BEACON_TRUSTED_PROXIES" in refused.stderr
    assert "Traceback" not in refused.stderr and "X-API-Key" not in refused.stdout
    assert not (tmp_path / "var" / "beacon.db").exists()


def test_defaults_pass_their_own_checks() -> None:
    settings = load_settings()
    assert settings.job_lease_seconds == 30.0 and settings.activation_webhook_url is None


def test_the_cli_refuses_bad_settings_without_a_traceback(tmp_path: Path) -> None:
    env = {
        "BEACON_DATA_DIR": str(tmp_path / "var"),
        "BEACON_DATABASE_URL": "",
        "BEACON_ACTIVATION_WEBHOOK_URL": "https://dsp.example/deals",
    }
    result = run_cli("db", "upgrade", env=env)
    assert result.returncode == 2
    assert "BEACON_ACTIVATION_WEBHOOK_SECRET must be set" in result.stderr
    assert "Traceback" not in result.stderr
    out_of_bounds = run_cli("db", "upgrade", env={**env, "BEACON_JOB_MAX_ATTEMPTS": "0"})
    assert out_of_bounds.returncode == 2
    assert "BEACON_JOB_MAX_ATTEMPTS: Input should be greater than" in out_of_bounds.stderr
    assert not (tmp_path / "var" / "beacon.db").exists()


@pytest.mark.parametrize("url", ["garbage", "postgresql+psycopg://u:hunter2pw@db:notaport/x"])
def test_a_malformed_database_url_is_refused_without_a_traceback_or_the_secret(
    tmp_path: Path, url: str
) -> None:
    # It was parsed at first use: a SQLAlchemy ArgumentError/ValueError traceback.
    env = {"BEACON_DATA_DIR": str(tmp_path / "var"), "BEACON_DATABASE_URL": url}
    result = run_cli("keys", "list", env=env)
    assert result.returncode == 2, result.stderr
    assert "BEACON_DATABASE_URL: not a database URL" in result.stderr
    assert "Traceback" not in result.stderr and "hunter2pw" not in result.stderr


def test_the_readme_configuration_table_is_the_generated_one() -> None:
    """Run scripts/gen_config_table.py after changing a setting."""
    readme = README.read_text(encoding="utf-8")
    assert config_docs.render_readme(readme) == readme


def test_the_table_renders_defaults_bounds_and_shown_defaults() -> None:
    table = config_docs.config_table()
    assert "| `BEACON_JOB_LEASE_SECONDS` | `30` | " in table
    assert "on a claimed job; at least 1, at most 3600 |" in table
    assert "| `BEACON_DATABASE_URL` | `sqlite:///<data dir>/beacon.db` |" in table
    assert "| `BEACON_SMTP_URL` | unset |" in table
    assert "| `BEACON_TRUSTED_PROXIES` | empty |" in table
    assert "| `BEACON_FETCH_RESPECT_ROBOTS` | `true` |" in table
    assert len(table.splitlines()) == 2 + len(Settings.model_fields)


def test_a_new_setting_reaches_the_table_and_a_stale_readme_is_detected() -> None:
    class Extended(Settings):
        example_limit: int = Field(default=1, ge=1, le=64, description="example things")

    table = config_docs.config_table(Extended)
    assert table.splitlines()[-1] == (
        "| `BEACON_EXAMPLE_LIMIT` | `1` | example things; at least 1, at most 64 |"
    )
    readme = README.read_text(encoding="utf-8")
    assert config_docs.render_readme(readme, table) != readme


def test_a_setting_without_description_cannot_be_documented() -> None:
    class Undocumented(Settings):
        mystery: int = 3

    with pytest.raises(config_docs.MissingDescription, match="BEACON_MYSTERY"):
        config_docs.config_table(Undocumented)


def test_a_readme_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        config_docs.render_readme("# no table here\n")


def test_the_script_checks_and_rewrites_a_readme(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_config_table.py"
    stale = tmp_path / "README.md"
    stale.write_text(f"intro\n{config_docs.START}\n| old |\n{config_docs.END}\nrest\n")
    check = [sys.executable, str(script), "--readme", str(stale), "--check"]
    assert subprocess.run(check, capture_output=True).returncode == 1
    subprocess.run([sys.executable, str(script), "--readme", str(stale)], check=True)
    assert subprocess.run(check, capture_output=True).returncode == 0
    text = stale.read_text()
    assert text.startswith("intro\n") and text.endswith("\nrest\n") and "| old |" not in text


def test_classify_refuses_bad_settings_without_a_traceback(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>Football results.</p></body></html>")
    env = {
        "BEACON_CLASSIFICATION_RETRY_BASE_SECONDS": "600",
        "BEACON_CLASSIFICATION_RETRY_MAX_SECONDS": "60",
    }
    result = run_cli("classify", str(page), env=env)
    assert result.returncode == 2
    assert "BEACON_CLASSIFICATION_RETRY_BASE_SECONDS (600.0) must not exceed " in result.stderr
    assert "Traceback" not in result.stderr


def test_a_copy_wraps_a_secret_given_as_a_plain_string() -> None:
    base = Settings(database_url="sqlite://")
    copy = base.model_copy(update={"smtp_url": "smtp://user:pw@mail.test:25", "log_level": "DEBUG"})
    assert isinstance(copy.smtp_url, SecretStr)
    assert copy.smtp_url.get_secret_value() == "smtp://user:pw@mail.test:25"
    assert "pw" not in repr(copy) and copy.log_level == "DEBUG"
    assert base.smtp_url is None
