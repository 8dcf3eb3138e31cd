"""The status pages in a real browser (Debian's headless Chromium) against gunicorn.

A customer goes through the welcome page's one-time reveal and checks their tier with the
key; an operator reads a user's subscriptions and events. Both with JavaScript switched
off, as the pages run no script. Every page is also measured as served: it asks for nothing
but its own server, fits a 375 px wide phone, meets WCAG AA contrast in the light and the
dark colour scheme, and its screenshot (under the test's temp dir) is not blank.
"""
from __future__ import annotations

import base64
import dataclasses
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from subsvc import simulate as sim
from tests.browser import (
    DESKTOP,
    PAGE_LOAD_SECONDS,
    PHONE,
    assert_not_blank,
    chrome,
    color_scheme,
    horizontal_overflow,
    low_contrast,
    requested_urls,
    require_browser,
)
from tests.conftest import ADMIN_TOKEN, BACKENDS, BUSINESS, PRO
from tests.server import Server, fresh_database, gunicorn

pytestmark = [pytest.mark.server, pytest.mark.browser]


@dataclasses.dataclass
class Site:
    server: Server
    shots: Path
    customers: dict[str, sim.Customer]

    def url(self, path: str, **query: str) -> str:
        return self.server.url + path + ("?" + urllib.parse.urlencode(query) if query else "")


def subscribe(server: Server, name: str, price: str = PRO, **sub_fields: Any) -> sim.Customer:
    """A checkout that just completed (within WELCOME_REVEAL_HOURS), and its subscription."""
    c = sim.Customer.make(name)
    start = int(time.time()) - 60
    session = sim.checkout_session(customer=c.customer, subscription=c.subscription,
                                   email=c.email, client_reference_id=c.external_id,
                                   tier="pro", session_id=c.session, created=start - 60)
    sub = sim.subscription(customer=c.customer, sub_id=c.subscription, price_id=price,
                           period_start=start, period_end=sim.add_interval(start), **sub_fields)
    for event in (sim.event("checkout.session.completed", session, created=start),
                  sim.event("customer.subscription.created", sub, created=start + 1)):
        assert server.post_event(event).body["status"] == "processed"
    return c


def upgraded(server: Server) -> tuple[sim.Customer, sim.Customer]:
    """Pro, cancelled; then business, set to cancel at period end: (business, pro)."""
    old = subscribe(server, "ops")
    now = int(time.time())
    ended = sim.subscription(customer=old.customer, sub_id=old.subscription, status="canceled",
                             price_id=PRO, period_start=now - 60, period_end=now + 3600)
    new = dataclasses.replace(old, subscription=sim.new_id("sub"))
    business = sim.subscription(customer=new.customer, sub_id=new.subscription, price_id=BUSINESS,
                                period_start=now, period_end=sim.add_interval(now),
                                cancel_at_period_end=True)
    for event in (sim.event("customer.subscription.deleted", ended, created=now),
                  sim.event("customer.subscription.created", business, created=now + 1)):
        assert server.post_event(event).body["status"] == "processed"
    return new, old


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    require_browser()
    workdir = tmp_path_factory.mktemp(f"browser-{request.param}")
    with fresh_database(request.param, workdir) as url, gunicorn(url, workdir, workers=2) as server:
        ops, ops_before = upgraded(server)
        customers = {"ada": subscribe(server, "ada"), "ops": ops, "ops-before": ops_before,
                     "look": subscribe(server, "look")}
        yield Site(server, workdir / "screenshots", customers)
        assert server.alarms() == []


@pytest.fixture
def no_js(site: Site, tmp_path: Path) -> Iterator[Any]:
    driver = chrome(tmp_path / "profile-no-js", javascript=False)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def with_js(site: Site, tmp_path: Path) -> Iterator[Any]:
    driver = chrome(tmp_path / "profile-js", javascript=True)
    try:
        yield driver
    finally:
        driver.quit()


def shoot(driver: Any, site: Site, name: str) -> Path:
    """The whole page (not only the window) as a PNG under the test's temp dir; not blank."""
    site.shots.mkdir(exist_ok=True)
    png = site.shots / f"{name}.png"
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    png.write_bytes(base64.b64decode(shot["data"]))
    assert_not_blank(png)
    return png


def text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def all_texts(driver: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, css)]


def press(driver: Any, css: str) -> None:
    """Click a form's button and wait (bounded) until the page it leads to has replaced it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    button = driver.find_element(By.CSS_SELECTOR, css)
    button.click()
    WebDriverWait(driver, PAGE_LOAD_SECONDS).until(replaced(button))


def replaced(element: Any) -> Any:
    """staleness_of(element), also when ChromeDriver asks about the node while the old
    document is being torn down: it then answers "Node with given id does not belong to the
    document" (a plain WebDriverException) instead of a stale reference. Both say the page
    that held the element is gone."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.expected_conditions import staleness_of

    stale = staleness_of(element)

    def gone(driver: Any) -> bool:
        try:
            return bool(stale(driver))
        except WebDriverException as exc:
            if "does not belong to the document" in (exc.msg or ""):
                return True
            raise
    return gone


def type_into(driver: Any, css: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.CSS_SELECTOR, css)
    field.clear()
    field.send_keys(value)


def basic_auth(driver: Any) -> None:
    """Send the operator's Basic credentials with every request of this browser."""
    token = base64.b64encode(f"ops:{ADMIN_TOKEN}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                           {"headers": {"Authorization": f"Basic {token}"}})


def reveal_key(driver: Any, site: Site, c: sim.Customer, prefix: str) -> str:
    """The welcome link opened, the button pressed; the key as the page shows it."""
    driver.get(site.url("/status/welcome", session_id=c.session))
    assert text(driver, "h1") == "Welcome aboard"
    assert all_texts(driver, ".secret") == []
    shoot(driver, site, f"{prefix}welcome-offer")
    press(driver, "form button[type=submit]")
    assert "won't be shown again" in text(driver, "main")
    shoot(driver, site, f"{prefix}welcome-revealed")
    return text(driver, "code.secret")


def test_javascript_is_off_in_the_no_js_browser(no_js: Any) -> None:
    no_js.get("data:text/html,<title>static</title><script>document.title='script ran'</script>")
    assert no_js.title == "static"


def test_a_customer_reveals_the_key_once_then_reads_the_tier(site: Site, no_js: Any) -> None:
    c = site.customers["ada"]
    key = reveal_key(no_js, site, c, "")
    assert key.startswith("sk_subsvc_")

    no_js.get(site.url("/status/welcome", session_id=c.session))  # the link opened again
    assert text(no_js, "h1") == "Your API key was already shown"
    assert key not in no_js.page_source
    shoot(no_js, site, "welcome-already-shown")

    no_js.get(site.url("/status"))
    shoot(no_js, site, "lookup")
    type_into(no_js, "#api_key", "sk_subsvc_not-a-real-key-at-all-000000")
    press(no_js, "button[type=submit]")
    assert "not valid" in text(no_js, "#key-error")
    shoot(no_js, site, "lookup-wrong-key")

    type_into(no_js, "#api_key", key)
    press(no_js, "button[type=submit]")
    assert text(no_js, "h1") == "Your subscription"
    assert (text(no_js, "#tier"), text(no_js, "#paid")) == ("pro", "Yes")
    assert text(no_js, "#subscription-status") == "active"
    assert key not in no_js.page_source and key[:16] in text(no_js, "#account")
    shoot(no_js, site, "status")


def test_an_operator_reads_subscriptions_and_events(site: Site, no_js: Any) -> None:
    c = site.customers["ops"]
    business, pro = c.subscription, site.customers["ops-before"].subscription
    basic_auth(no_js)
    no_js.get(site.url("/status/users"))
    type_into(no_js, "#email", c.email)
    press(no_js, "button[type=submit]")
    assert text(no_js, "h1") == "User status"
    assert text(no_js, "#reason") == (f"On business because subscription {business} "
                                      f"is active on price {BUSINESS}.")
    assert all_texts(no_js, "#subscriptions .card-title") == [
        f"{business} active decides the tier", f"{pro} canceled"]
    assert "Cancels at the end of the current period" in text(no_js, "#cancel-notice")
    rows = [row.split() for row in all_texts(no_js, "#events tbody tr")]
    assert [row[3] for row in rows] == [
        "customer.subscription.created", "customer.subscription.deleted",
        "customer.subscription.created", "checkout.session.completed"]
    assert {row[5] for row in rows} == {"processed"}
    shoot(no_js, site, "operator")


PAGES = [
    ("lookup", "/status", {}),
    ("operator-lookup", "/status/users", {}),
    ("not-found", "/status/nope", {}),
    ("welcome-bad-link", "/status/welcome", {}),
    ("welcome-pending", "/status/welcome", {"session_id": "cs_test_a1NotArrivedYet"}),
]


def visit_every_page(driver: Any, site: Site, prefix: str) -> Iterator[str]:
    """Each kind of page in turn (yielding its name while it is shown)."""
    for name, path, query in PAGES:
        driver.get(site.url(path, **query))
        yield name
    driver.get(site.url("/status"))
    type_into(driver, "#api_key", "sk_subsvc_not-a-real-key-at-all-000000")
    press(driver, "button[type=submit]")
    yield "lookup-wrong-key"
    key = reveal_key(driver, site, site.customers["look"], prefix)
    yield "welcome-revealed"
    driver.get(site.url("/status"))
    type_into(driver, "#api_key", key)
    press(driver, "button[type=submit]")
    yield "status"
    driver.get(site.url("/status/welcome", session_id=site.customers["look"].session))
    yield "welcome-already-shown"
    driver.get(site.url("/status/users", email=site.customers["ops"].email))
    yield "operator"


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_pages_load_nothing_else_fit_the_screen_and_meet_contrast(
        site: Site, with_js: Any, size: tuple[int, int]) -> None:
    driver = with_js
    driver.set_window_size(*size)
    basic_auth(driver)
    requested_urls(driver)
    prefix = f"{size[0]}-"
    site.customers["look"] = subscribe(site.server, f"look{size[0]}")
    problems: dict[str, Any] = {}
    for name in visit_every_page(driver, site, prefix):
        assert driver.execute_script("return window.innerWidth") == size[0]
        foreign = [url for url in requested_urls(driver)
                   if not url.startswith(site.server.url + "/")]
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        if foreign or resources:
            problems[f"{name}: requests"] = foreign + resources
        if overflow := horizontal_overflow(driver):
            problems[f"{name}: wider than the window by"] = overflow
        for scheme in ("light", "dark"):
            color_scheme(driver, scheme)
            if bad := low_contrast(driver):
                problems[f"{name} ({scheme}): contrast"] = bad
            shoot(driver, site, f"{prefix}{name}-{scheme}")
        color_scheme(driver, "light")
    assert problems == {}
