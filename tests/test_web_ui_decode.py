"""Temporal's Web UI, as ``lnere up`` serves it, in headless Chromium (Debian's, driven by
Playwright): a journey's payloads are ciphertext to anyone, and readable to a reviewer who
logged in at the API's ``/codec/`` page, for as long as the session lasts. Each decode is
logged with the reviewer and the journey, never the data."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from tests.citizens import at, credential
from tests.conftest import backend_env
from tests.test_cli_end_to_end import Stack
from tests.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

# Its subject is the Web UI decoding through the codec, not storage: run once, on SQLite (tests/conftest.py).
pytestmark = pytest.mark.any_backend


@pytest.fixture
def up(tmp_path, postgres_cluster):
    stack = Stack(tmp_path / "data", backend_env(postgres_cluster))
    stack.up()
    yield stack
    if stack.process and stack.process.poll() is None:
        stack.down()


def test_the_web_ui_shows_a_journey_decrypted_to_a_logged_in_reviewer_only(up, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    citizen = credential(random.Random(31))
    clave, surname = citizen["clave"], citizen["holder"]["paternal_surname"]
    recorded = tmp_path / "credential.json"
    recorded.write_text(json.dumps({"at": at("2020-09-20 09:00").isoformat(), "credential": citizen}))
    journey = up.json("credential", "record", str(recorded))["workflow_id"]
    reviewer = up.json("staff", "add", "ana.reviewer", "--role", "reviewer")["token"]
    operator = up.json("staff", "add", "beto.operator", "--role", "operator")["token"]
    api, ui = f"http://127.0.0.1:{up.api_port}", f"http://127.0.0.1:{up.ui_port}"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            answers: list[int] = []
            page.on("response", lambda r: answers.append(r.status) if "/codec/decode" in r.url else None)
            # The Web UI's Data Encoder settings, as the /codec/ page tells a reviewer to set
            # them: this stack's endpoint, with cross-origin credentials (the session cookie).
            page.goto(f"{ui}/")
            page.evaluate("""endpoint => {
                localStorage.setItem("endpoint", JSON.stringify(endpoint));
                localStorage.setItem("includeCredentials", "true");
                localStorage.setItem("overrideRemoteCodecConfiguration", "true");
            }""", f"{api}/codec")

            def open_update_payload() -> None:
                answers.clear()
                page.goto(f"{ui}/namespaces/default/workflows/{journey}")
                page.get_by_text("Event History").first.click()
                page.get_by_text("Update Accepted").first.click()
                # The UI decodes each payload it shows: wait for its first call (a loaded machine
                # takes its time), then a little for the others.
                for _ in range(120):
                    if answers:
                        break
                    page.wait_for_timeout(250)
                page.wait_for_timeout(1000)

            def codec_page_says(token: str, expected: str) -> None:
                page.goto(f"{api}/codec/")
                page.fill("#codec-token", token)
                page.click("#codec-login button[type=submit]")
                expect(page.locator("#codec-status")).to_contain_text(expected)

            open_update_payload()  # nobody logged in
            assert answers and set(answers) == {401}
            assert clave not in page.content() and surname not in page.content()

            codec_page_says(operator, "No se inició la sesión")  # an operator reads no personal data
            open_update_payload()
            assert set(answers) == {401} and clave not in page.content()

            codec_page_says(reviewer, "Sesión iniciada: ana.reviewer")
            open_update_payload()
            decrypted = page.get_by_text(re.compile(clave)).first
            expect(decrypted).to_be_visible()
            assert 200 in answers and surname in page.content()
            decrypted.scroll_into_view_if_needed()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "web-ui-decoded-for-a-reviewer.png"))

            page.goto(f"{api}/codec/")
            page.click("#codec-logout")
            expect(page.locator("#codec-status")).to_contain_text("Sin sesión")
            open_update_payload()
            assert set(answers) == {401} and clave not in page.content()
        finally:
            browser.close()

    # Who decoded which journey is logged; the data never are.
    log = (up.data_dir.parent / "up.log").read_text()
    decodes = [json.loads(line) for line in log.splitlines() if '"codec call"' in line]
    assert decodes and {(d["staff"], d["via"]) for d in decodes} == {("ana.reviewer", "session")}
    assert all(d["journeys"] == [journey] for d in decodes)
    assert clave not in log and surname not in log
