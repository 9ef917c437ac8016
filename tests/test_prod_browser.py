"""A person in the production shape's UI, in a real browser (Debian's chromium through chromedriver).

Logs in through the React login page, opens contrail_features, finds its last run successful, opens
the run's Contrail report tab and, from the quality gate's Details tab, its Quality report extra link.
Screenshots of each step go to test-artifacts/ (CI keeps them).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
GATE = "check_raw"  # the raw-data quality gate of contrail_features


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromedriver are missing: apt-get install chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def wait_for(driver, condition, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(condition)


def text_present(text: str):
    return lambda d: text in d.find_element("tag name", "body").text


def shot(driver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


@pytest.fixture(scope="module")
def logged_in(browser, prod_runs):
    from selenium.webdriver.common.by import By

    url = prod_runs.shape.url
    browser.get(url)
    password = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=password]"))[0]
    username = browser.find_elements(By.CSS_SELECTOR, "input:not([type=password])")[0]
    shot(browser, "01-login")
    username.send_keys("admin")
    password.send_keys(prod_runs.shape.password("admin"))
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda d: "/auth/login" not in d.current_url and d.get_cookie("_token"))
    return browser, url


def last_features_run(prod_runs):
    """The last features run that gated days: an event arriving after the last build queues a run that finds
    nothing stale and skips everything, and its page has no report and no gate to link."""
    import airflow_client.client as af

    import prod_shape

    tis = af.TaskInstanceApi(prod_shape.client(prod_runs.shape.url, prod_runs.admin_token))
    for run in sorted(prod_runs.runs["contrail_features"], key=lambda r: r.queued_at, reverse=True):
        if tis.get_task_instance("contrail_features", run.dag_run_id, GATE).state == "success":
            return run
    raise AssertionError("no contrail_features run gated a day")


def test_the_login_page_refuses_a_wrong_password(browser, prod_runs):
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(prod_runs.shape.url)
    password = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=password]"))[0]
    browser.find_elements(By.CSS_SELECTOR, "input:not([type=password])")[0].send_keys("admin")
    password.send_keys("not-the-password")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda d: "invalid" in d.find_element(By.TAG_NAME, "body").text.lower()
             or "error" in d.find_element(By.TAG_NAME, "body").text.lower(), 30)
    assert browser.get_cookie("_token") is None


def test_the_features_dags_last_run_shows_success(logged_in, prod_runs):
    driver, url = logged_in
    run = last_features_run(prod_runs)
    assert run.state == "success"
    driver.get(f"{url}/dags/contrail_features")
    wait_for(driver, text_present("contrail_features"))
    shot(driver, "02-contrail_features")
    driver.get(f"{url}/dags/contrail_features/runs/{run.dag_run_id}")
    wait_for(driver, text_present(run.dag_run_id))
    wait_for(driver, lambda d: "success" in d.find_element("tag name", "body").text.lower())
    shot(driver, "03-last-run")


def test_the_run_page_opens_the_contrail_report(logged_in, prod_runs):
    from selenium.webdriver.common.by import By

    driver, url = logged_in
    run = last_features_run(prod_runs)
    driver.get(f"{url}/dags/contrail_features/runs/{run.dag_run_id}")
    tab = wait_for(driver, lambda d: [e for e in d.find_elements(By.XPATH, "//*[normalize-space(text())='Contrail report']")])
    tab[0].click()
    frame = wait_for(driver, lambda d: d.find_elements(By.TAG_NAME, "iframe"))[0]
    driver.switch_to.frame(frame)
    try:
        # the report names the run's days (it reads every day's verdicts, manifest and figures from the lake: on a
        # machine busy with other work this took over 60 s once, and over 180 s beside `make run` and both test shards)
        wait_for(driver, text_present(prod_runs.nightly_day), timeout=300)
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "quality" in body.lower() and "passed" in body.lower()
    finally:
        driver.switch_to.default_content()
    shot(driver, "04-contrail-report")


def test_the_quality_gates_extra_link_opens_its_quality_report(logged_in, prod_runs):
    from selenium.webdriver.common.by import By

    driver, url = logged_in
    run = last_features_run(prod_runs)
    driver.get(f"{url}/dags/contrail_features/runs/{run.dag_run_id}/tasks/{GATE}/details")  # extra links: the Details tab
    link = wait_for(driver, lambda d: d.find_elements(By.XPATH, "//a[normalize-space(.)='Quality report']"), 90)[0]
    shot(driver, "05-gate-details")
    href = link.get_attribute("href")
    assert href.startswith(f"{url}/contrail/lake/reports/quality/"), href
    before = set(driver.window_handles)
    link.click()
    wait_for(driver, lambda d: len(d.window_handles) > len(before) or d.current_url == href)
    new = set(driver.window_handles) - before
    if new:
        driver.switch_to.window(new.pop())
    wait_for(driver, text_present("Expectation"))  # Great Expectations' data docs, served from the lake
    shot(driver, "06-quality-report")
