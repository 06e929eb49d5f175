"""The load scenario: people browsing the catalog and searching, CI posting webhooks,
and developers requesting environments. Driven by tests/bench/load_test.py, which
prepares the data and passes it in BRIDGE_LOAD_FIXTURE (a JSON file).

Plain HTTP only: this file imports nothing from the portal.
"""

import hashlib
import hmac
import itertools
import json
import os
import random
import re
import uuid

from locust import HttpUser, between, task

FIXTURE = json.loads(open(os.environ["BRIDGE_LOAD_FIXTURE"]).read())  # noqa: SIM115
_counter = itertools.count(1)


class Developer(HttpUser):
    """Browses the catalog, opens entities, searches, and now and then requests an environment."""

    weight = 4
    wait_time = between(0.5, 2)

    def on_start(self):
        login = self.client.get("/accounts/login/", name="/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        csrf = token.group(1) if token else self.client.cookies.get("csrftoken", "")
        self.client.post(
            "/accounts/login/",
            {"username": FIXTURE["username"], "password": FIXTURE["password"], "csrfmiddlewaretoken": csrf},
            headers={"Referer": self.host + "/accounts/login/"},
            name="/accounts/login/ (POST)",
        )

    @task(6)
    def catalog_list(self):
        kind = random.choice(["component", "api", "group", "system"])
        self.client.get(f"/catalog/?kind={kind}", name="/catalog/?kind=")

    @task(4)
    def entity_page(self):
        self.client.get(random.choice(FIXTURE["entity_urls"]), name="/catalog/<entity>/")

    @task(4)
    def search(self):
        query = random.choice(FIXTURE["search_terms"])
        self.client.get(f"/search/?q={query}&suggest=1", headers={"HX-Request": "true"}, name="/search/ (suggest)")

    @task(2)
    def home(self):
        self.client.get("/", name="/")

    @task(2)
    def api_list(self):
        self.client.get(
            "/api/catalog/entities/?kind=component&page_size=50",
            headers={"Authorization": f"Bearer {FIXTURE['token']}"},
            name="/api/catalog/entities/",
        )

    @task(1)
    def request_environment(self):
        name = f"load-{os.getpid() % 1000}-{next(_counter)}-{uuid.uuid4().hex[:4]}"[:40]
        with self.client.post(
            "/api/provisioning/requests/",
            json={
                "template": "preview",
                "name": name,
                "justification": "Load test",
                "parameters": {"app": "checkout", "branch": "main", "replicas": 1, "debug": False},
            },
            headers={"Authorization": f"Bearer {FIXTURE['token']}"},
            name="/api/provisioning/requests/ (POST)",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")


class ContinuousIntegration(HttpUser):
    """GitHub posting workflow_run deliveries, with duplicates and out-of-order pairs."""

    weight = 1
    wait_time = between(0.05, 0.2)

    def _post(self, body: dict, delivery: str):
        raw = json.dumps(body).encode()
        signature = "sha256=" + hmac.new(FIXTURE["github_secret"].encode(), raw, hashlib.sha256).hexdigest()
        with self.client.post(
            FIXTURE["github_path"],
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "workflow_run",
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": signature,
            },
            name="/api/pipelines/hooks/github/",
            catch_response=True,
        ) as response:
            if response.status_code not in (200, 202):
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task
    def workflow_run(self):
        run_id = random.randint(1, 10_000_000)
        completed = dict(FIXTURE["workflow_run"], action="completed")
        completed["workflow_run"] = dict(
            completed["workflow_run"],
            id=run_id,
            status="completed",
            conclusion=random.choice(["success", "success", "failure"]),
        )
        in_progress = dict(FIXTURE["workflow_run"], action="in_progress")
        in_progress["workflow_run"] = dict(
            in_progress["workflow_run"], id=run_id, status="in_progress", conclusion=None
        )
        delivery = str(uuid.uuid4())
        self._post(completed, delivery)  # completed before in_progress: out of order
        self._post(in_progress, str(uuid.uuid4()))
        if random.random() < 0.2:
            self._post(completed, delivery)  # a redelivery
