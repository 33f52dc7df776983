"""Every setting, documented from its declaration (``lnere.settings.Settings``):
``python -m lnere.cli.settings_docs`` writes ``docs/settings.md`` and the example file
``docs/lnere.env.example``; a test fails while either differs from the declarations."""

from __future__ import annotations

import sys
from pathlib import Path

from lnere.settings import ENV_PREFIX, Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"
TABLE, EXAMPLE = DOCS / "settings.md", DOCS / "lnere.env.example"
# Read before the settings themselves: where the others come from.
SOURCES = {
    "LNERE_CONFIG": "a TOML file of settings (keys: the names below in lower case, e.g. `data_dir`); "
                    "default `./lnere.toml` when there is one",
    "LNERE_SECRETS_DIR": "a folder of secret files, one per setting, named `lnere_<name>` "
                         "(e.g. `/run/secrets/lnere_journey_key`): a platform's mounted secrets",
}


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    if not field.repr:
        return "—"
    value = field.default
    return "—" if value is None else f"`{value}`"


def settings_table() -> str:
    rows = ["| variable | default | what it sets |", "|---|---|---|"]
    rows += [f"| `{name}` | — | {what} |" for name, what in SOURCES.items()]
    for name, field in Settings.model_fields.items():
        secret = " **Secret.**" if not field.repr and "secret" not in (field.description or "") else ""
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {_default(name)} | {field.description}.{secret} |")
    return "\n".join(rows)


def settings_markdown() -> str:
    return (
        "# Settings\n\n"
        "<!-- written by python -m lnere.cli.settings_docs from lnere/settings.py: edit there -->\n\n"
        "Every lnere process reads the same settings, first to last from: the command line's flags, "
        "the environment (`LNERE_<NAME>`), the TOML file of `LNERE_CONFIG` (or `./lnere.toml`), a secret "
        "file in `LNERE_SECRETS_DIR`, the default. An example: `docs/lnere.env.example`. The secrets, "
        "unless given, are made once in `DATA_DIR/secrets.json` (mode 0600) for the embedded stack; a "
        "deployment gives them from its secret store (`docs/deployment.md`).\n\n"
        f"{settings_table()}\n"
    )


def env_example() -> str:
    lines = ["# lnere settings: copy to .env (or export them); every line is optional.",
             "# Written by python -m lnere.cli.settings_docs; docs/settings.md says what each sets.", ""]
    for name, field in Settings.model_fields.items():
        lines.append(f"# {field.description}")
        if not field.repr:
            lines.append(f"# {ENV_PREFIX}{name.upper()}=  (a secret: better a file in LNERE_SECRETS_DIR)")
        else:
            value = "" if field.default is None else field.default
            lines.append(f"# {ENV_PREFIX}{name.upper()}={value}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TABLE.write_text(settings_markdown(), encoding="utf-8")
    EXAMPLE.write_text(env_example(), encoding="utf-8")
    sys.stdout.write(f"{TABLE} and {EXAMPLE} written\n")
