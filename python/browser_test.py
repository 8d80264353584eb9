"""The run viewer in a real browser: Debian's headless Chromium driven through ChromeDriver
(WebDriver, via Selenium). Opens each page, checks what it shows, and saves screenshots.

    python python/browser_test.py http://127.0.0.1:8080 RUN_PATH SCREENSHOT_DIR [REPORT_HTML]

With REPORT_HTML (written by `medsim report`), the same checks run on the file, offline.
"""

import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

base, run, shots = sys.argv[1], sys.argv[2], sys.argv[3]
report = sys.argv[4] if len(sys.argv) > 4 else None
os.makedirs(shots, exist_ok=True)
options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
    options.add_argument(flag)
driver = webdriver.Chrome(options=options, service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")))
wait = WebDriverWait(driver, 20)


def shot(name):
    driver.save_screenshot(os.path.join(shots, f"{name}.png"))


try:
    # The run list: the run, and the damaged one with its reason.
    driver.get(base + "/")
    table = wait.until(ready.presence_of_element_located((By.ID, "runs")))
    rows = table.find_elements(By.CSS_SELECTOR, "tr.link")
    assert any(run in row.text for row in rows), [row.text for row in rows]
    assert "run.json" in table.text and "broken" in table.text, table.text
    shot("runs")

    # The run: summary cards, the accuracy chart drawn, the episode list and its filters.
    next(row for row in rows if run in row.text).click()
    cards = wait.until(ready.presence_of_element_located((By.ID, "summary")))
    assert "accuracy" in cards.text and "episodes" in cards.text, cards.text
    bars = driver.find_elements(By.CSS_SELECTOR, "#by-tag rect.bar")
    assert len(bars) >= 2, "the accuracy-by-tag chart has bars"
    episodes = driver.find_elements(By.CSS_SELECTOR, "#episodes tr.link")
    assert len(episodes) == 3, [row.text for row in episodes]
    Select(driver.find_element(By.ID, "outcome")).select_by_value("correct")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#episodes tr.link")) == 1)
    shot("run")

    # The transcript of the correct episode: every kind of event shown, the verdict last.
    driver.find_element(By.CSS_SELECTOR, "#episodes tr.link").click()
    transcript = wait.until(ready.presence_of_element_located((By.ID, "transcript")))
    kinds = [event.get_attribute("data-type") for event in transcript.find_elements(By.CLASS_NAME, "event")]
    for kind in ("episode_started", "utterance", "diagnosis", "verdict", "episode_ended"):
        assert kind in kinds, (kind, kinds)
    assert "CORRECT" in transcript.text, transcript.text
    shot("transcript")

    # A run that is not there: a clear message, not a blank page.
    driver.get(base + "/#/run/no-such-run")
    error = wait.until(ready.presence_of_element_located((By.ID, "error")))
    assert "no run.json" in error.text, error.text
    shot("missing-run")
    if report:
        # The self-contained report: no server, the same pages from the embedded data.
        driver.get("file://" + os.path.abspath(report))
        table = wait.until(ready.presence_of_element_located((By.ID, "runs")))
        table.find_element(By.CSS_SELECTOR, "tr.link").click()
        wait.until(ready.presence_of_element_located((By.ID, "summary")))
        assert len(driver.find_elements(By.CSS_SELECTOR, "#by-tag rect.bar")) >= 2
        rows = driver.find_elements(By.CSS_SELECTOR, "#episodes tr.link")
        assert len(rows) == 3, [row.text for row in rows]
        rows[0].click()
        transcript = wait.until(ready.presence_of_element_located((By.ID, "transcript")))
        assert "verdict" in [event.get_attribute("data-type") for event in transcript.find_elements(By.CLASS_NAME, "event")]
        shot("report-transcript")
    print(f"browser: run list, run summary with chart and filters, transcript, error page{' and the HTML report' if report else ''} checked; screenshots in {shots}")
finally:
    driver.quit()
