"""A person's path through the pages, in headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium), against gunicorn and a runner started as processes: upload, live progress on
the jobs page without a reload, the job page, a transcript line that plays the audio, the SRT
download; a search whose hit plays from its segment, and a line edited in place. A screenshot and
the page's HTML go to tests/artifacts/ when it fails.

Nothing reaches out: the system chromedriver is given explicitly, so Selenium Manager (which would
look drivers up and send usage statistics) never runs, and SE_AVOID_STATS/SE_OFFLINE are set."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import srt
from conftest import wait_for
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.driver_finder import DriverFinder
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.slow  # see the marker's description in pyproject.toml


ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
NAME = "-Interview März (sample ×6).wav"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1000")


@pytest.fixture
def chromedriver(monkeypatch: pytest.MonkeyPatch) -> Service:
    """Debian's chromedriver as Selenium's driver service, with Selenium told to stay offline."""
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    monkeypatch.setenv("SE_OFFLINE", "true")
    return Service(executable_path=CHROMEDRIVER)


def chromium_options() -> webdriver.ChromeOptions:
    """Options naming Debian's Chromium binary (so Selenium need not look for a browser)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    return options


def test_selenium_uses_the_system_chromedriver_and_stays_offline(chromedriver):
    assert os.environ["SE_AVOID_STATS"] == "true" and os.environ["SE_OFFLINE"] == "true"
    assert chromedriver.path == CHROMEDRIVER
    finder = DriverFinder(chromedriver, chromium_options())
    assert finder.get_driver_path() == CHROMEDRIVER, "a driver path given: Selenium Manager is skipped"


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest, chromedriver: Service) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile; downloads go to tmp_path/downloads."""
    options = chromium_options()
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=chromedriver, options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(60)
    driver.downloads = downloads  # type: ignore[attr-defined]
    failed_before = request.session.testsfailed
    yield driver
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
        (ARTIFACTS / f"{request.node.name}.html").write_text(driver.page_source)
    driver.quit()


def row_state(driver: webdriver.Chrome) -> tuple[str, float | None] | None:
    """(status, progress value or None) of the first job row, read from the live page."""
    return driver.execute_script("""
        const row = document.querySelector('#job-rows tr[data-status]');
        if (!row) return null;
        const bar = row.querySelector('progress');
        return [row.dataset.status, bar ? parseFloat(bar.getAttribute('value')) : null];""")


def test_upload_watch_progress_play_a_line_and_download_srt(browser, web_server, runners, media, tmp_path):
    web = web_server()
    runners("browser-runner", extra_env={"SPOOLSCRIBE_PROGRESS_INTERVAL": "0.2"})
    recording = tmp_path / NAME
    shutil.copyfile(media / "long.wav", recording)  # sample.wav six times: 180 s, progress to watch

    browser.get(web.url + "/upload")
    browser.find_element(By.ID, "files").send_keys(str(recording))
    browser.find_element(By.ID, "upload-button").click()
    wait_for(lambda: browser.current_url == web.url + "/" and row_state(browser), 60, what="the jobs page with the job")
    assert browser.find_element(By.CSS_SELECTOR, "#job-rows td.name a").text == NAME
    browser.execute_script("window.stillTheSamePage = true;")

    seen: list[float] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status, progress = row_state(browser)
        if status == "running" and progress is not None and 0 < progress < 1 and progress not in seen:
            seen.append(progress)
        if status in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert status == "succeeded", f"the job ended {status}"
    assert len(seen) >= 2 and seen == sorted(seen), f"progress seen: {seen}"
    assert browser.execute_script("return window.stillTheSamePage === true;"), "the page must not reload"
    assert browser.find_element(By.CSS_SELECTOR, "#job-rows .badge").text == "succeeded"

    browser.find_element(By.CSS_SELECTOR, "#job-rows td.name a").click()
    lines = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#lines li[data-start]"), 30,
                     what="the transcript lines")
    line = lines[len(lines) // 2]
    start = float(line.get_attribute("data-start"))
    line.click()
    wait_for(lambda: browser.execute_script(
        "const p = document.getElementById('player'); return !p.paused && p.currentTime >= arguments[0];", start),
        15, what="the audio to play from the clicked line")
    wait_for(lambda: "playing" in line.get_attribute("class"), 15, what="the line to be marked as playing")

    browser.find_element(By.LINK_TEXT, "Download SRT").click()
    srt_file = browser.downloads / NAME.replace(".wav", ".srt")
    wait_for(srt_file.exists, 30, what=f"{srt_file.name} to be downloaded")
    cues = list(srt.parse(srt_file.read_text(encoding="utf-8")))
    starts = [round(float(element.get_attribute("data-start")), 1) for element in lines]
    assert len(cues) == len(lines) and [round(c.start.total_seconds(), 1) for c in cues] == starts
    assert "Hello" in cues[0].content and cues[-1].end.total_seconds() <= 180.5


def test_files_dropped_on_the_upload_form_are_taken(browser, web_server):
    web = web_server()
    browser.get(web.url + "/upload")
    names = browser.execute_script("""
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(2048)], "dropped one.wav", {type: "audio/wav"}));
        transfer.items.add(new File([new Uint8Array(10)], "two.mp3", {type: "audio/mpeg"}));
        const zone = document.getElementById("drop");
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        const highlighted = zone.classList.contains("over");
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        return [highlighted, Array.from(document.getElementById("files").files).map(f => f.name)];""")
    assert names == [True, ["dropped one.wav", "two.mp3"]]
    listed = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#chosen li")]
    assert listed == ["dropped one.wav (2.0 KiB)", "two.mp3 (10 bytes)"]


def test_search_a_phrase_click_the_hit_to_hear_it_and_fix_a_word_in_place(browser, web_server, transcribed):
    web = web_server()
    job = transcribed(["Good morning everyone.", "We met Mr. Schmit yesterday.", "The budget is final.",
                       "Everyone agreed on the budget for München.", "Thanks for coming."], name="board meeting.flac")
    browser.get(web.url + "/")
    box = browser.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    box.send_keys('"budget for munchen"' + Keys.ENTER)
    hits = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#results a.hit"), 30, what="the search results")
    assert len(hits) == 1 and browser.find_element(By.CSS_SELECTOR, "#results mark").text == "budget for München"
    assert "board meeting.flac" in browser.find_element(By.CSS_SELECTOR, "#results h2").text
    hits[0].click()
    wait_for(lambda: browser.execute_script(
        "const p = document.getElementById('player'); return p && p.readyState >= 1 && p.currentTime >= 6"
        " && p.currentTime < 8.5;"), 30, what="the player to stand at the segment's start (6 s)")
    assert "target" in browser.find_element(By.ID, "segment-3").get_attribute("class")

    line = browser.find_element(By.ID, "segment-1")
    line.find_element(By.CSS_SELECTOR, "button.edit").click()
    text = line.find_element(By.CSS_SELECTOR, ".text")
    text.send_keys("We met Mr. Schmidt yesterday." + Keys.ENTER)  # the whole text is selected: replaced
    wait_for(lambda: line.find_element(By.CSS_SELECTOR, ".note").text == "saved", 30, what="the edit to be saved")
    assert line.get_attribute("data-version") == "1"
    other = browser.find_element(By.ID, "segment-2")
    other.find_element(By.CSS_SELECTOR, "button.edit").click()
    other.find_element(By.CSS_SELECTOR, ".text").send_keys("Nonsense" + Keys.ESCAPE)
    assert other.find_element(By.CSS_SELECTOR, ".text").text == "The budget is final."
    assert other.get_attribute("data-version") == "0"

    txt = Path(next(path for path in job.outputs if path.endswith(".txt"))).read_text(encoding="utf-8")
    assert "We met Mr. Schmidt yesterday." in txt and "Schmit" not in txt and "Nonsense" not in txt
    browser.get(web.url + "/search?q=schmidt")
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results mark")] == ["Schmidt"]
