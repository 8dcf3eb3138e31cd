"""Debian's headless Chromium, driven through selenium, for the browser tests.

The system browser and driver only: the driver's path is given, so selenium-manager (which
would download a browser) never runs. Without them the browser tests skip, saying why,
unless SUBSVC_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""
from __future__ import annotations

import json
import os
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Root in a container needs --no-sandbox; the rest keep Chromium from calling home.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")
PAGE_LOAD_SECONDS = 30
DESKTOP, PHONE = (1280, 900), (375, 812)


def missing_browser() -> str | None:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        return (f"no {CHROMIUM} or {CHROMEDRIVER}: apt-get install chromium chromium-driver "
                "(.ci/run does)")
    if find_spec("selenium") is None:
        return "selenium is not installed: make install-test"
    return None


def require_browser() -> None:
    reason = missing_browser()
    if reason is None:
        return
    if os.environ.get("SUBSVC_REQUIRE_BROWSER", "").strip() == "1":
        pytest.fail(f"SUBSVC_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def chrome(profile: Path, *, javascript: bool, size: tuple[int, int] = DESKTOP) -> Any:
    """A fresh headless Chromium with its own profile; its page's network events are logged."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2})
    service = Service(executable_path=str(CHROMEDRIVER),
                      log_output=str(profile.with_suffix(".chromedriver.log")))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(PAGE_LOAD_SECONDS)
    return driver


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page asked for since the last call (Chromium's DevTools network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


# WCAG 2.x relative luminance and contrast of every visible text against the background
# it is painted on (semi-transparent layers blended down to the page's white).
CONTRAST_JS = r"""
const parse = (c) => {
  const m = /rgba?\(([^)]+)\)/.exec(c);
  if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
};
const over = (top, under) => ({r: top.r * top.a + under.r * (1 - top.a),
  g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1});
const lum = (c) => {
  const f = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
};
const backdrop = (el) => {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
  }
  let bg = {r: 255, g: 255, b: 255, a: 1};
  for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
  return bg;
};
const out = [];
const seen = new Set();
const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walk.nextNode()) {
  const el = walk.currentNode.parentElement;
  if (!walk.currentNode.textContent.trim() || seen.has(el)) continue;
  seen.add(el);
  const cs = getComputedStyle(el), box = el.getBoundingClientRect();
  if (cs.visibility === "hidden" || box.width < 2 || box.height < 2) continue;
  const bg = backdrop(el), fg = over(parse(cs.color), bg);
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
  out.push({text: walk.currentNode.textContent.trim().slice(0, 40), color: cs.color,
            background: `rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)})`,
            ratio: (hi + 0.05) / (lo + 0.05),
            needed: size >= 24 || (bold && size >= 18.66) ? 3 : 4.5});
}
return out;
"""


def low_contrast(driver: Any) -> list[dict[str, Any]]:
    return [text for text in driver.execute_script(CONTRAST_JS) if text["ratio"] < text["needed"]]


def horizontal_overflow(driver: Any) -> int:
    """How many CSS pixels the page is wider than the window (0: no horizontal scroll)."""
    return int(driver.execute_script(
        "return document.scrollingElement.scrollWidth - window.innerWidth"))


def color_scheme(driver: Any, scheme: str) -> None:
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": scheme}]})


def assert_not_blank(png: Path) -> None:
    """A screenshot with something drawn on it: many colours, none covering nearly all."""
    from PIL import Image

    with Image.open(png) as image:
        pixels = image.convert("RGB")
        colors = pixels.getcolors(maxcolors=pixels.width * pixels.height) or []
    assert len(colors) > 16, f"{png.name}: {len(colors)} colours"
    assert max(count for count, _ in colors) < 0.97 * pixels.width * pixels.height, png.name
