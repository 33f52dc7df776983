"""The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by Playwright; nothing
downloads a browser): opened by the public without a token, it follows a request filed through
the API without a reload; its labels are whole, its time axis has ticks, its as-of picker is
bounded by the process's days and says when a day ends. Screenshots go to test-artifacts/
(laptop 1366×900 and phone 390×844)."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.citizens import at, credential, request

# Its subject is the dashboard in a browser, not storage: run once, on SQLite (tests/conftest.py).
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.any_backend]

CHROMIUM = os.environ.get("LNERE_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("LNERE_ARTIFACTS_DIR", Path(__file__).resolve().parent.parent / "test-artifacts"))
# As Debian's chromium must run here: as root without its sandbox, and without the background
# connections that this machine's closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]




async def _labels_whole_and_a_time_axis(page) -> None:
    """Every bar's label shows whole (wrapped, never cut), and requests per day have a time axis
    whose text is at least 10 px on screen, and a text alternative."""
    cut = await page.evaluate("""[...document.querySelectorAll('.bar .name')]
        .filter((e) => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1
                       || getComputedStyle(e).textOverflow === 'ellipsis')
        .map((e) => e.textContent)""")
    assert not cut, f"labels cut: {cut}"
    ticks = await page.locator("#per-day svg text.tick").all_text_contents()
    assert any("oct" in t for t in ticks), ticks  # the month on the time axis
    assert any(t == "0" for t in ticks) and len(ticks) >= 3, ticks  # the y axis from 0
    smallest = await page.evaluate("""Math.min(...[...document.querySelectorAll('#per-day svg text')]
        .map((e) => e.getBoundingClientRect().height))""")
    assert smallest >= 10, f"the time axis's text is {smallest:.1f} px high"
    label = await page.locator("#per-day svg").get_attribute("aria-label")
    assert "SIILNERE recibidas por día" in label and "5 de octubre de 2020" in label


async def test_the_dashboard_follows_new_requests_without_a_reload(api, tmp_path):
    from playwright.async_api import async_playwright, expect

    assert Path(CHROMIUM).exists(), f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rng = random.Random(21)
    async with async_playwright() as playwright, httpx.AsyncClient(base_url=api.base_url, timeout=60) as http:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # The page runs under the API's Content-Security-Policy: anything it blocks is a failure.
            blocked: list[str] = []
            page = await browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
            await page.goto(f"{api.base_url}/")
            # The public reads the published figures without a token: no login asked.
            await expect(page.locator("#logout")).to_have_text("Acceso del personal")
            assert not await page.locator("#login[open]").count()
            received = page.locator("#total-received")
            await page.select_option("#process", api.process)  # the test's own process
            await expect(page.locator("#total-received")).to_have_text("0")
            position_before = await page.locator("#log-position").text_content()
            await page.evaluate("window.notReloaded = true")

            citizen = credential(rng, sex="H")
            body = {k: v for k, v in request(citizen, when=at("2020-10-05 10:00"), channel="SRVE",
                                             country="CA", state="14", modality="internet").items() if k != "kind"}
            filed = await http.post(f"/api/v1/processes/{api.process}/requests", json=body,
                                    headers=api.auth("operator"))
            assert filed.status_code == 200, filed.text
            recorded = time.monotonic()  # the request is in the event store: the dashboard follows
            await expect(page.locator("#total-received")).to_have_text("1", timeout=15_000)
            shown_after = time.monotonic() - recorded
            print(f"the dashboard showed the new request {shown_after:.2f} s after it was recorded")
            # Within about a second (the runner polls, the API long-polls; room for a loaded CI).
            assert shown_after < 2.5, f"the dashboard took {shown_after:.2f} s to show a recorded request"
            assert await page.evaluate("window.notReloaded") is True  # the same page, not a reload
            assert await received.text_content() == "1"
            assert await page.locator("#log-position").text_content() != position_before
            assert "al día" in await page.locator("#log-head").text_content()
            assert "SRVE" in await page.locator("#by-channel").text_content()
            assert "Canadá" in await page.locator("#by-country").text_content()
            assert "Jalisco" in await page.locator("#by-entity").text_content()
            # INETEL's attention and the CPVE's statistics follow the same way.
            attention = {"at": at("2020-10-05 11:00").isoformat(), "service": "vmre", "topic": "VOTE_INTENTION",
                         "channel": "twitter", "origin": "mexico", "command_id": "ticket-dashboard"}
            assert (await http.post(f"/api/v1/processes/{api.process}/attentions", json=attention,
                                    headers=api.auth("operator"))).status_code == 200
            cpve = {"at": at("2020-10-05 12:00").isoformat(), "credential": credential(rng, activated=False),
                    "office": "EMB_MADRID", "state_of_reference": "09"}
            assert (await http.post(f"/api/v1/processes/{api.process}/commands/request_cpve", json=cpve,
                                    headers=api.auth("operator"))).status_code == 200
            await expect(page.locator("#cpve-offices")).to_contain_text("Embajada de México en España",
                                                                        timeout=15_000)
            assert "Residentes en el Extranjero" in await page.locator("#attention").text_content()
            assert "Twitter" in await page.locator("#attention-channel").text_content()
            assert "Ciudad de México" in await page.locator("#cpve-states").text_content()
            await page.click("text=Tabla completa")  # the full table of 4.1.2
            assert "1 Canadá" in await page.locator("#country-entity tbody").text_content()
            async with page.expect_download() as download:
                await page.click("[data-format=csv]")
            saved = ARTIFACTS / "report.csv"
            await (await download.value).save_as(saved)
            assert "by_channel,SIILNERE,SRVE,1" in saved.read_text()
            async with page.expect_download() as download:
                await page.click("[data-format=excel]")
            saved = ARTIFACTS / "reporte-excel.csv"
            await (await download.value).save_as(saved)
            content = saved.read_bytes()
            assert content.startswith(b"\xef\xbb\xbfProceso electoral,Cifras al,Cuadro,")  # a BOM, INE's words
            assert "SIILNERE por entidad de referencia" in content.decode("utf-8-sig")
            assert "Canadá" in content.decode("utf-8-sig")
            await _labels_whole_and_a_time_axis(page)
            await page.screenshot(path=str(ARTIFACTS / "dashboard-laptop.png"), full_page=True)

            # The as-of picker: the process's days only, and when a day ends.
            assert await page.locator("#as-of").get_attribute("min") == "2020-09-01"
            assert await page.locator("#as-of").get_attribute("max") == "2021-06-06"  # election day (past)
            assert "23:59 hora del centro" in await page.locator("#as-of-help").text_content()
            await page.fill("#as-of", "2019-12-31")
            await expect(page.locator("#as-of-help")).to_contain_text("Elija un día del 1 de septiembre de 2020")
            await expect(page.locator("#total-received")).to_have_text("1")  # still the live figures
            # As of a day before the request: the figures of that day, its cut-off in words.
            await page.fill("#as-of", "2020-10-04")
            await expect(page.locator("#total-received")).to_have_text("0")
            assert await page.locator("#as-of-label").text_content() == (
                "Cifras al 4 de octubre de 2020, 23:59 hora del centro.")
            assert "hora del centro" in await page.locator("#updated").text_content()
            await page.click("#live")
            await expect(page.locator("#total-received")).to_have_text("1")

            # Staff log in from the same page; their token is then sent.
            await page.click("#logout")
            await page.wait_for_selector("#login[open]")
            await page.fill("#token", api.tokens["viewer"])
            await page.click("#login-form button[type=submit]")
            await expect(page.locator("#logout")).to_have_text("Salir")
            await expect(page.locator("#total-received")).to_have_text("1")

            # The process chosen is kept in the address: that link opens on it. With no choice in
            # the address, the page opens on the process that holds the data (this test's own).
            assert f"proceso={api.process}" in page.url
            phone = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            await phone.goto(f"{api.base_url}/?proceso=pel-2020-2021")
            await expect(phone.locator("#process")).to_have_value("pel-2020-2021")
            await phone.goto(f"{api.base_url}/")
            await expect(phone.locator("#process")).to_have_value(api.process)
            await expect(phone.locator("#total-received")).to_have_text("1")
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the phone layout scrolls sideways ({width} px)"
            await _labels_whole_and_a_time_axis(phone)
            await phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
            favicon = await http.get("/favicon.ico")
            assert favicon.status_code == 200 and favicon.headers["content-type"].startswith("image/svg+xml")
            assert not blocked, blocked
        finally:
            await browser.close()
    assert (ARTIFACTS / "dashboard-laptop.png").stat().st_size > 10_000
