"""Settings come from the places docs/settings.md names, in its order, and every one is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from lnere.settings import Settings

pytestmark = pytest.mark.fast


def test_every_setting_is_documented_and_the_documents_are_current():
    from lnere.cli.settings_docs import EXAMPLE, TABLE, env_example, settings_markdown

    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
    assert TABLE.read_text(encoding="utf-8") == settings_markdown(), "python -m lnere.cli.settings_docs"
    assert EXAMPLE.read_text(encoding="utf-8") == env_example(), "python -m lnere.cli.settings_docs"
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "docs/settings.md" in readme


def test_flags_then_environment_then_config_file_then_secret_files_then_defaults(tmp_path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("LNERE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert Settings().api_port == 8000 and Settings().journey_key is None

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "lnere_journey_key").write_text("ab" * 32 + "\n")
    (secrets / "lnere_api_port").write_text("8004")
    monkeypatch.setenv("LNERE_SECRETS_DIR", str(secrets))
    assert Settings().journey_key == "ab" * 32  # a mounted secret file, its newline dropped
    assert Settings().api_port == 8004

    (tmp_path / "lnere.toml").write_text('api_port = 8003\ndata_dir = "from-toml"\n')
    assert Settings().api_port == 8003 and Settings().data_dir == Path("from-toml")

    monkeypatch.setenv("LNERE_API_PORT", "8002")
    assert Settings().api_port == 8002
    assert Settings.from_env(api_port=8001, data_dir=None).api_port == 8001  # a flag; None: not given
    assert Settings.from_env(data_dir=None).data_dir == Path("from-toml")

    monkeypatch.setenv("LNERE_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ValueError, match="missing.toml"):
        Settings()


def test_a_wrong_value_is_named(tmp_path, monkeypatch):
    from pydantic import ValidationError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LNERE_API_PORT", "eighty")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert raised.value.errors()[0]["loc"] == ("api_port",)
