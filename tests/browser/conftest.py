"""conftest.py: the dashboard's browser tests: headless Chromium driven by
selenium (/usr/bin/chromedriver) against a real redis-server and jobd
serving --http on 127.0.0.1 (the daemons from tests/pyfixtures.py).

- ``browser``: one Chromium for the session (Browser below); each test
  starts on about:blank with its console log drained and a 1280x900
  viewport.
- ``dash``: a factory: dash(types=..., workers=..., http={...}) starts a
  jobd with --http on a free port (``http`` adds -o http.KEY=VALUE) and
  returns a Dash (its base URL, the daemon, a protocol client, API reads).

JOBD_SCREENSHOTS=DIR: the tests that show a view worth a picture save it
there (docs/img for the README and docs/monitoring.md).
"""
import http.client
import json
import os
import re
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pyfixtures  # noqa: E402
from pyfixtures import free_port, jobd, redis_server, wait_until, workdir  # noqa: E402,F401

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (JavascriptException,  # noqa: E402
                                        StaleElementReferenceException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER") or "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1280, 900


class Browser:
    """Browser: the webdriver with the waits and reads the tests share."""

    def __init__(self, driver):
        self.d = driver

    def reset(self, width=WIDTH, height=HEIGHT, dark=False):
        self.d.get("about:blank")
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": False})
        self.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {
            "features": [{"name": "prefers-color-scheme",
                          "value": "dark" if dark else "light"}]})
        self.d.execute_cdp_cmd("Network.enable", {})
        self.d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
        self.d.get_log("browser")

    def send_header(self, name, value):
        """send_header: a header on every request of the page from now on
        (basic auth without the browser's prompt)."""
        self.d.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                               {"headers": {name: value}})

    def get(self, url):
        self.d.get(url)

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def find(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        """text: the element's text, or None when it is not there."""
        try:
            return self.js("var e = document.querySelector(arguments[0]);"
                           "return e ? e.textContent : null;", css)
        except JavascriptException:
            return None

    def wait(self, cond, timeout=20.0, msg=None):
        def safe():
            try:
                return cond()
            except (StaleElementReferenceException, JavascriptException):
                return None
        return wait_until(safe, timeout, interval=0.05, msg=msg)

    def wait_text(self, css, want, timeout=20.0):
        """wait_text: until css's text is want; returns it."""
        return self.wait(lambda: self.text(css) == want and want, timeout,
                         msg="%s to read %r (it reads %r)"
                         % (css, want, self.text(css)))

    def click(self, css):
        """click: css once it is clickable; again if a live update
        redrew it between the look-up and the click (stale element)."""
        def once():
            if not self.js(
                    "var e = document.querySelector(arguments[0]);"
                    "return !!e && !e.disabled && e.offsetParent !== null;",
                    css):
                return False
            self.find(css).click()
            return True
        self.wait(once, msg="%s to be clickable" % css)

    def logs(self):
        return self.d.get_log("browser")

    def errors(self):
        """errors: the console's SEVERE entries since the last read."""
        return [e for e in self.logs() if e.get("level") == "SEVERE"]

    def live(self, timeout=20.0):
        """live: wait until the page's stream is connected."""
        self.wait(lambda: self.js(
            "var c = document.getElementById('conn');"
            "return c && c.dataset.state === 'live';"), timeout,
            msg="the page's live stream (#conn live)")

    def screenshot(self, name):
        d = os.environ.get("JOBD_SCREENSHOTS")
        if not d:
            return None
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name)
        self.d.save_screenshot(path)
        return path


@pytest.fixture(scope="session")
def browser_driver():
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    args = ["--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=%d,%d" % (WIDTH, HEIGHT), "--no-first-run",
            "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-default-apps",
            "--lang=en-US"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    for a in args:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_page_load_timeout(30)
    d.set_script_timeout(30)
    yield d
    d.quit()


@pytest.fixture
def browser(browser_driver):
    b = Browser(browser_driver)
    b.reset()
    yield b
    # Close the page's stream before its daemon stops.
    try:
        browser_driver.get("about:blank")
        browser_driver.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                                       {"headers": {}})
    except Exception:  # noqa: BLE001 (a crashed tab: the next reset tells)
        pass


class Dash:
    """Dash: a jobd serving the dashboard on 127.0.0.1:<port>."""

    def __init__(self, daemon, port):
        self.d = daemon
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.c = daemon.client()

    def request(self, method, path, headers=None, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def api(self, path):
        st, _, data = self.request("GET", path)
        assert st == 200, (path, st, data)
        return json.loads(data)

    def stats(self):
        return self.api("/api/stats")

    def job(self, job_id):
        st, _, data = self.request("GET", "/api/jobs/" + job_id)
        return json.loads(data)["job"] if st == 200 else None

    def submit_many(self, jobs, batch=2000):
        ids = []
        for i in range(0, len(jobs), batch):
            ids += self.c.ok("submit_many", jobs=jobs[i:i + batch])["job_ids"]
        return ids

    def http_pid(self):
        pids = re.findall(r"http: child (\d+) started", self.d.log_text())
        return int(pids[-1]) if pids and int(pids[-1]) in self.d.workers() else None

    def close(self):
        self.c.close()


@pytest.fixture
def dash(jobd, browser):
    made = []

    def start(types=None, workers=2, http=None, settings=None, extra=(),
              redis=None):
        port = free_port()
        args = ["--http", "127.0.0.1:%d" % port] + list(extra)
        for k, v in (http or {}).items():
            args += ["-o", "http.%s=%s" % (k, v)]
        d = jobd(types=types, workers=workers, args=args, settings=settings,
                 redis=redis)
        w = Dash(d, port)
        made.append(w)

        def healthy():
            try:
                # 401: [http] auth = basic, up all the same
                return w.request("GET", "/healthz")[0] in (200, 401)
            except OSError:
                return False
        wait_until(healthy, 20, msg="/healthz answering 200")
        return w

    yield start
    try:
        browser.d.get("about:blank")
    except Exception:  # noqa: BLE001
        pass
    for w in made:
        w.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    pyfixtures.attach_logs(item, outcome.get_result())
