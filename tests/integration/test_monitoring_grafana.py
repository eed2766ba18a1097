# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Grafana push of the role calico_monitoring (entry point grafana), through real
ansible-playbook runs against a small local HTTP server that stands in for Grafana's
/api/dashboards/uid/<uid> (GET) and /api/dashboards/db (POST).

Proves: every request carries the token in its Authorization header; the token appears nowhere in
the output of ansible-playbook, even at -vvv; the dashboards are stored; a second run posts
nothing (changed=0); check mode posts nothing; a wrong token fails without showing it.
"""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from playbook import run_playbook

pytestmark = pytest.mark.playbook

TOKEN = "glsa_k8snetTest0123456789abcdef"


class FakeGrafana(http.server.ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.dashboards: dict[str, dict] = {}
        self.requests: list[tuple[str, str, str]] = []  # method, path, Authorization
        self.posted: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    server: FakeGrafana

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        self.server.requests.append((self.command, self.path, header))
        if header != f"Bearer {TOKEN}":
            self._reply(401, {"message": "invalid API key"})
            return False
        return True

    def do_GET(self):
        if not self._authorised():
            return
        uid = self.path.rsplit("/", 1)[1]
        if self.path.startswith("/api/dashboards/uid/") and uid in self.server.dashboards:
            self._reply(200, {"dashboard": self.server.dashboards[uid], "meta": {"slug": uid}})
        else:
            self._reply(404, {"message": "Dashboard not found"})

    def do_POST(self):
        if not self._authorised():
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posted.append(body)
        dashboard = dict(body["dashboard"])
        stored = self.server.dashboards.get(dashboard["uid"])
        dashboard["id"] = 7
        dashboard["version"] = (stored or {}).get("version", 0) + 1
        self.server.dashboards[dashboard["uid"]] = dashboard
        self._reply(200, {"status": "success", "uid": dashboard["uid"], "version": dashboard["version"]})


@pytest.fixture
def grafana():
    server = FakeGrafana()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


TASK = {"name": "grafana", "ansible.builtin.include_role": {"name": "k8snet.calico.calico_monitoring",
                                                            "tasks_from": "grafana"}}


def push(tmp_path, grafana, name, *, token=TOKEN, check=False, verbose=False):
    env = {"ANSIBLE_VERBOSITY": "3", "ANSIBLE_STDOUT_CALLBACK": "default"} if verbose else None
    return run_playbook(tmp_path / name, [TASK], check=check, env=env,
                        extra_vars={"calico_grafana_url": grafana.url + "/", "calico_grafana_token": token,
                                    "calico_monitoring_grafana_folder_uid": "calico"})


def test_push_sends_the_token_and_never_shows_it(tmp_path, grafana):
    run = push(tmp_path, grafana, "first", verbose=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "TASK [k8snet.calico.calico_monitoring : Push the dashboards that differ to Grafana]" in run.stdout, \
        "really at -vvv with the default callback"
    assert "<127.0.0.1>" in run.stdout or "ESTABLISH LOCAL CONNECTION" in run.stdout, "really -vvv"
    assert TOKEN not in run.stdout + run.stderr
    assert grafana.requests and all(auth == f"Bearer {TOKEN}" for _m, _p, auth in grafana.requests)
    assert [(m, p) for m, p, _a in grafana.requests if m == "POST"] == [("POST", "/api/dashboards/db")] * 2
    assert sorted(grafana.dashboards) == ["k8snet-calico-felix", "k8snet-calico-kube-controllers"], \
        "no Typha dashboard without Typha"
    assert all(body["folderUid"] == "calico" and body["overwrite"] is True and body["dashboard"]["id"] is None
               for body in grafana.posted)


def test_second_run_and_check_mode_post_nothing(tmp_path, grafana):
    first = push(tmp_path, grafana, "first")
    assert first.returncode == 0, first.failure()
    assert first.stats["changed"] == 1, first.changed_tasks()
    posts = len(grafana.posted)
    assert posts == 2
    second = push(tmp_path, grafana, "second")
    assert second.returncode == 0, second.failure()
    assert second.stats["changed"] == 0, second.changed_tasks()
    assert len(grafana.posted) == posts

    grafana.dashboards["k8snet-calico-felix"]["title"] = "edited by hand"
    check = push(tmp_path, grafana, "check", check=True)
    assert check.returncode == 0, check.failure()
    shown = check.result("k8snet.calico.calico_monitoring : Show which dashboards Grafana got (or, in check mode, would get)")
    assert shown["changed"] is True and shown["msg"]["pushed"] == ["k8snet-calico-felix"]
    assert len(grafana.posted) == posts, "check mode posts nothing"
    assert TOKEN not in check.stdout + check.stderr


def test_wrong_token_fails_without_showing_it(tmp_path, grafana):
    wrong = "glsa_wrongTokenValue42"
    run = push(tmp_path, grafana, "wrong", token=wrong, verbose=True)
    assert run.returncode != 0
    assert wrong not in run.stdout + run.stderr and TOKEN not in run.stdout + run.stderr
    assert not grafana.posted


def test_bad_settings_fail_before_anything_is_sent(tmp_path, grafana):
    """Every bad value is named at once, with its value, and Grafana is never contacted."""
    run = run_playbook(tmp_path / "bad", [TASK], extra_vars={
        "calico_grafana_url": "ftp://grafana.example.internal", "calico_grafana_token": TOKEN,
        "calico_felix_metrics_port": 70000, "calico_monitoring_servicemonitor_labels": {"release": "two words"},
        "calico_monitoring_scrape_interval": "soon"})
    assert run.returncode != 0
    message = run.failure()
    for expected in ("calico_monitoring_felix_metrics_port: 70000 is not a TCP port",
                     "calico_monitoring_servicemonitor_labels: release: 'two words' is not a label value",
                     "calico_monitoring_scrape_interval: 'soon' is not a Prometheus duration",
                     "calico_monitoring_grafana_url: 'ftp://grafana.example.internal' is not an http(s) URL"):
        assert expected in message, message
    assert TOKEN not in run.stdout + run.stderr
    assert not grafana.requests
