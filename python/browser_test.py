"""The run viewer and the live clinic in a real browser: Debian's headless Chromium driven
through ChromeDriver (WebDriver, via Selenium). Opens each page, checks what it shows, plays a
consultation as the doctor, watches a live run to its last verdict, and saves screenshots.

    python python/browser_test.py http://127.0.0.1:8080/?token=T RUN_PATH SCREENSHOT_DIR [REPORT_HTML]

The address is the one `medsim serve` printed (its token lets the page start runs).

With REPORT_HTML (written by `medsim report`), the same checks run on the file, offline.
"""

import os
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

printed, run, shots = sys.argv[1], sys.argv[2], sys.argv[3]
base, _, query = printed.rstrip("/").partition("/?")
base = base.rstrip("/")
token = query.split("token=", 1)[1] if "token=" in query else ""
report = sys.argv[4] if len(sys.argv) > 4 else None
os.makedirs(shots, exist_ok=True)
options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
    options.add_argument(flag)
driver = webdriver.Chrome(options=options, service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")))
wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,))


def shows(d, element_id, text):
    """Whether the element (redrawn as the page updates) is there and contains the text."""
    found = d.find_elements(By.ID, element_id)
    return bool(found) and text in found[0].text.lower()


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

    # An ablation arm: the ablation's table and its accuracy-cost Pareto chart, drawn.
    driver.get(base + "/#/run/ablation/0-baseline")
    chart = wait.until(ready.presence_of_element_located((By.ID, "pareto")))
    wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", chart) > 0)
    assert "budget=200" in driver.find_element(By.ID, "ablation").text
    shot("ablation-arm")

    # Two runs compared case by case: the paired table and McNemar's test.
    driver.get(base + "/")
    wait.until(ready.presence_of_element_located((By.ID, "runs")))
    for name in (run, run + "-bad"):
        driver.find_element(By.CSS_SELECTOR, f'input.pick[data-run="{name}"]').click()
    driver.find_element(By.ID, "compare").click()
    verdict = wait.until(ready.presence_of_element_located((By.ID, "mcnemar")))
    assert "3 paired episodes" in verdict.text and "p = " in verdict.text, verdict.text
    pairs = driver.find_element(By.ID, "pairs").text
    assert "A correct" in pairs and "B wrong" in pairs, pairs
    shot("compare")

    # The live clinic: a run of four episodes started from the page, watched until every
    # episode's verdict is on screen.
    driver.get(f"{base}/?token={token}#/live")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#live-cases option")) >= 4)
    Select(driver.find_element(By.ID, "live-protocol")).select_by_value("agentclinic")
    driver.find_element(By.ID, "live-limit").send_keys("4")
    shot("live-form")
    driver.find_element(By.ID, "live-start").click()
    WebDriverWait(driver, 120).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".clinic .badge.done")) == 4)
    badges = [badge.text for badge in driver.find_elements(By.CSS_SELECTOR, ".clinic .badge.done")]
    assert all(badge in ("CORRECT", "INCORRECT") for badge in badges), badges
    assert len(driver.find_elements(By.CSS_SELECTOR, ".clinic svg .room")) == 4 * 5, "five rooms in each clinic"
    wait.until(ready.presence_of_element_located((By.ID, "recorded")))
    assert "4/4 finished" in driver.find_element(By.ID, "live-counts").text
    assert driver.find_elements(By.CSS_SELECTOR, "#live-transcript .event[data-type=verdict]")
    shot("live-run")

    # A whole consultation played as the doctor: ask, order a test found by autocompletion,
    # diagnose; the models play the patient and the judge; the verdict comes on screen.
    driver.get(f"{base}/?token={token}#/live")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#live-cases option")) >= 4)
    Select(driver.find_element(By.ID, "live-cases")).select_by_value("endo-01")
    Select(driver.find_element(By.ID, "live-seat")).select_by_value("doctor")
    Select(driver.find_element(By.ID, "live-protocol")).select_by_value("agentclinic")
    driver.find_element(By.ID, "live-start").click()
    wait.until(ready.element_to_be_clickable((By.ID, "seat-ask")))
    driver.find_element(By.ID, "seat-question").send_keys("What brings you in today?")
    driver.find_element(By.ID, "seat-ask").click()
    wait.until(lambda d: shows(d, "seat-response", "thirsty"))
    tests = driver.find_element(By.ID, "seat-tests")
    tests.send_keys("gluc")
    wait.until(lambda d: any("glucose" in option.get_attribute("value").lower() for option in d.find_elements(By.CSS_SELECTOR, "#test-names option")))
    suggestion = next(option.get_attribute("value") for option in driver.find_elements(By.CSS_SELECTOR, "#test-names option") if "glucose" in option.get_attribute("value").lower())
    tests.clear()
    tests.send_keys(suggestion)
    shot("live-doctor-order")
    driver.find_element(By.ID, "seat-order").click()
    wait.until(lambda d: shows(d, "seat-response", "glucose"))
    driver.find_element(By.ID, "seat-diagnosis").send_keys("Diabetic ketoacidosis")
    driver.find_element(By.ID, "seat-differential").send_keys("Hyperosmolar hyperglycaemic state")
    driver.find_element(By.ID, "seat-diagnose").click()
    badge = WebDriverWait(driver, 60).until(ready.presence_of_element_located((By.CSS_SELECTOR, ".clinic .badge.done")))
    assert badge.text == "CORRECT", badge.text
    wait.until(ready.presence_of_element_located((By.ID, "recorded")))
    events = [event.get_attribute("data-type") for event in driver.find_elements(By.CSS_SELECTOR, "#live-transcript .event")]
    for kind in ("utterance", "test_order", "test_results", "diagnosis", "verdict"):
        assert kind in events, (kind, events)
    shot("live-doctor")

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
    print(f"browser: run list, run summary with chart and filters, transcript, comparison, a live run to every verdict, a consultation played as the doctor, error page{' and the HTML report' if report else ''} checked; screenshots in {shots}")
finally:
    driver.quit()
