"""The review desk in headless Chromium (Debian's /usr/bin/chromium driven by Playwright), as a
DERFE reviewer uses it: sign in with the staff token once, take the next expediente, read the
citizen's data and documents (zoom, a PDF's second page), record inconsistencies with a reason
by keyboard alone, and see the journey and the figures move. A rule's refusal shows in Spanish
and records nothing; HTML in names and file names renders inert; another reviewer cannot open
what one holds; a viewer cannot use the desk; a signed-out session's cookie is refused. axe-core
finds no serious or critical violation. Screenshots at 1366×900 and 390×844 in test-artifacts/."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.desk import desk_api, file_with_documents
from tests.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

# Its subject is the desk in a browser; the desk's storage (claims) is checked on both backends
# by tests/test_review_desk.py.
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.any_backend]

SIZES = {"laptop": (1366, 900), "phone": (390, 844)}
HOSTILE_NAME = "<script>document.title='pwned'</script><b>Ana</b>"
HOSTILE_FILE = "<img src=x onerror=alert(1)>.jpg"


async def sign_in(page, base_url: str, token: str) -> None:
    await page.goto(f"{base_url}/desk/")
    assert "/desk/entrar" in page.url  # no session: the sign-in page
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/bandeja**", timeout=10_000)


async def no_serious_violation(page, where: str) -> None:
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, f"{where}: " + "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in serious)


async def shots(page, name: str) -> None:
    for size, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(ARTIFACTS / f"desk-{name}-{size}.png"), full_page=True)
    await page.set_viewport_size({"width": 1366, "height": 900})


async def test_a_reviewer_takes_reads_and_decides_at_the_desk(dev_env, settings):
    from playwright.async_api import async_playwright, expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rng = random.Random(25)
    async with desk_api(dev_env, settings) as (api, http, process):
        oldest = await file_with_documents(api, http, process, rng, days_ago=10,
                                           names={"CREDENTIAL_FRONT": HOSTILE_FILE},
                                           holder={"given_names": HOSTILE_NAME})
        second = await file_with_documents(api, http, process, rng, days_ago=8)
        await file_with_documents(api, http, process, rng, days_ago=6)
        api.stack.wait_for_projection()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 1366, "height": 900})
                page = await context.new_page()
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("dialog", lambda d: errors.append(f"dialog {d.message}"))
                await sign_in(page, api.base_url, api.tokens["reviewer"])
                cookie = next(c for c in await context.cookies() if c["name"] == "lnere_desk")
                assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/desk"
                await expect(page.locator("table tbody tr")).to_have_count(3)
                await expect(page.locator(".deadline")).to_contain_text("faltan 15 días")
                await expect(page.locator("select[name=canal] option[value=SRVE]")).to_have_text("SRVE (3)")
                await no_serious_violation(page, "inbox")
                await shots(page, "inbox")

                # The next expediente is the oldest request (LGIPE art. 335).
                await page.click("text=Tomar el siguiente expediente")
                await page.wait_for_url(f"**/desk/expedientes/{oldest}")
                await expect(page.locator(".facts")).to_contain_text(HOSTILE_NAME)  # shown as text
                assert await page.title() != "pwned" and await page.locator(".facts b").count() == 0
                await expect(page.locator(".filename").first).to_have_text(HOSTILE_FILE)
                assert await page.locator("figure img[src='x']").count() == 0
                images = page.locator("figure.doc img")
                await expect(images).to_have_count(4)
                loaded = await images.evaluate_all("(all) => all.map((i) => i.complete && i.naturalWidth > 0)")
                assert all(loaded), loaded
                first = page.locator("figure.doc").first
                await first.locator("button[data-zoom='1.25']").click()
                assert "125%" in (await first.locator("img").get_attribute("style") or "")
                await first.locator("button[data-rotate]").click()
                assert "rotate(90deg)" in (await first.locator("img").get_attribute("style") or "")
                pdf = page.locator("figure.doc", has=page.locator("button[data-page]")).first
                await pdf.locator("button[data-page='1']").click()
                await expect(pdf.locator("[data-page-number]")).to_have_text("2")
                await expect(pdf.locator("img")).to_have_attribute("src", f"/desk/expedientes/{oldest}/documentos/"
                                                                         f"{await pdf_id(pdf)}?pagina=2")
                await pdf.locator("img").evaluate("(i) => i.decode()")
                await no_serious_violation(page, "expediente")
                await shots(page, "expediente")

                # A rule's refusal: a decision dated before the request was filed. In Spanish, nothing recorded.
                events_before = len(api.stack.registry.history(oldest))
                await page.check("input[value=inconsistencies]")
                await page.check("input[value=SIGNATURE_MISSING]")
                early = (datetime.now(UTC).astimezone(process.tz) - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M")
                await page.fill("#at", early)
                await page.click("text=Registrar decisión")
                await expect(page.locator("#rechazo")).to_contain_text("anterior al último movimiento del expediente")
                await expect(page.locator("#rechazo")).to_contain_text("No se registró nada")
                assert len(api.stack.registry.history(oldest)) == events_before
                await shots(page, "refusal")

                # By keyboard alone: the outcome, a reason, the time, and "decide and take the next".
                await page.fill("#at", datetime.now(UTC).astimezone(process.tz).strftime("%Y-%m-%dT%H:%M"))
                await page.locator("input[value=inconsistencies]").focus()
                await page.keyboard.press("Space")
                await page.locator("input[value=ADDRESS_PROOF_MISSING]").focus()
                await page.keyboard.press("Space")
                await page.locator("button[name=siguiente]").focus()
                await page.keyboard.press("Enter")
                await page.wait_for_url(f"**/desk/expedientes/{second}")
                status = (await http.get(f"/api/v1/journeys/{oldest}", headers=api.auth("reviewer"))).json()["status"]
                assert status["analysis_status"] == "inconsistencies"
                decided = [e for e in api.stack.registry.history(oldest) if type(e).__name__ == "ReviewDecided"]
                # The reason kept from the refused try, and the one added by keyboard.
                assert [(e.reviewer, e.outcome, sorted(e.reasons)) for e in decided] == [
                    ("reviewer.1", "inconsistencies", ["ADDRESS_PROOF_MISSING", "SIGNATURE_MISSING"])]
                api.stack.wait_for_projection()
                figures = (await http.get(f"/api/v1/processes/{process.id}/figures",
                                          headers=api.auth("viewer"))).json()
                assert figures["report"]["analysis_status"] == {"received": 3, "meets_requirements": 0,
                                                                "inconsistencies": 1, "in_review": 2, "rejected": 0}

                # Another reviewer cannot open what reviewer.1 holds; a viewer cannot use the desk.
                other = await (await browser.new_context()).new_page()
                await sign_in(other, api.base_url, api.tokens["reviewer.2"])
                await other.goto(f"{api.base_url}/desk/expedientes/{second}")
                await expect(other.locator(".notice")).to_have_text("Otra persona revisa este expediente.")
                assert await other.locator(".facts").count() == 0
                viewer = await (await browser.new_context()).new_page()
                await viewer.goto(f"{api.base_url}/desk/entrar")
                await viewer.fill("#token", api.tokens["viewer"])
                await viewer.click("button[type=submit]")
                await expect(viewer.locator("h1")).to_have_text("Sin acceso")

                # Signing out ends the session on the server: the same cookie is refused after.
                await page.click("text=Cerrar sesión")
                await expect(page.locator(".notice")).to_have_text("Sesión cerrada.")
                stale = await http.get(f"/desk/expedientes/{second}",
                                       headers={"cookie": f"lnere_desk={cookie['value']}"})
                assert stale.status_code == 303 and "/desk/entrar" in stale.headers["location"]
                # The refused decision's page answered 422 (Chromium notes it); nothing else went wrong.
                assert errors == ["Failed to load resource: the server responded with a status of 422 "
                                  "(Unprocessable Entity)"], errors
            finally:
                await browser.close()


async def pdf_id(figure) -> str:
    return (await figure.locator("img").get_attribute("data-src")).rsplit("/", 1)[-1]


async def test_a_citizen_checks_their_request_on_the_public_page(dev_env, settings):
    from playwright.async_api import async_playwright, expect

    from tests.citizens import credential, request
    from tests.test_api import body

    rng = random.Random(28)
    async with desk_api(dev_env, settings) as (api, http, process):
        citizen = credential(rng)
        when = datetime.now(UTC).astimezone(process.tz) - timedelta(days=10)
        filed = await http.post(f"/api/v1/processes/{process.id}/requests", headers=api.auth("operator"),
                                json={**body(request(citizen, when=when)), "credential": citizen})
        assert filed.status_code == 200, filed.text
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 390, "height": 844})
                await page.goto(f"{api.base_url}/consulta?proceso={process.id}")
                await no_serious_violation(page, "status form")
                # By keyboard: the fields in order, then Enter.
                await page.locator("#folio").focus()
                await page.keyboard.type(filed.json()["folio"])
                await page.keyboard.press("Tab")
                await page.keyboard.type(citizen["clave"])
                await page.locator("#nacimiento").fill(citizen["holder"]["birth_date"])
                await page.keyboard.press("Enter")
                await expect(page.locator("#estatus")).to_have_text("En revisión")
                await no_serious_violation(page, "status answer")
                await shots(page, "status")
            finally:
                await browser.close()
