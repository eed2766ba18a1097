# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""calico_bgp_status through ansible-playbook against real BIRD 1.6 routers (the BGP lab).

A TOR and two meshed nodes; node-1's sessions are read from its control socket, first while they
come up (``until:``), then after the TOR drops node-1 so the global session breaks.
"""

import time

import pytest

from playbook import run_playbook

pytestmark = [pytest.mark.bgplab, pytest.mark.playbook]

TOR, N1, N2 = "172.31.254.1", "172.31.254.2", "172.31.254.3"


def _status_task(name, socket_path, until):
    return {"name": name,
            "k8snet.calico.calico_bgp_status": {"socket": socket_path, "ip_version": "4", "detail": True,
                                                "timeout": 3},
            "register": "bgp", "until": until, "retries": 40, "delay": 0.25}


def test_bgp_status_in_a_lab(bird_available, tmp_path):
    from testbed.bgplab import BgpLab

    started = time.monotonic()
    with BgpLab() as lab:
        lab.add_router("tor", TOR, kind="tor")
        lab.add_router("node-1", N1)
        lab.add_router("node-2", N2)
        lab.set_peers("tor", [{"name": "node-1"}, {"name": "node-2"}])
        for node in ("node-1", "node-2"):
            lab.set_peers(node, [{"name": "tor"}] + lab.mesh_peers(node))
        lab.start()
        socket_path = lab.socket_path("node-1")

        run = run_playbook(tmp_path / "up", [
            _status_task("sessions up", socket_path, "bgp.all_established"),
            {"name": "read in check mode", "k8snet.calico.calico_bgp_status": {"socket": socket_path},
             "check_mode": True, "register": "checked"},
        ])
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        result = run.result("sessions up")
        assert result["changed"] is False
        assert result["bird_version"].startswith("1.6")
        sessions = {s["protocol"]: s for s in result["sessions"]}
        assert set(sessions) == {"Mesh_172_31_254_3", "Global_172_31_254_1"}
        mesh, tor = sessions["Mesh_172_31_254_3"], sessions["Global_172_31_254_1"]
        assert (mesh["type"], mesh["peer_address"]) == ("node-to-node mesh", N2)
        assert (tor["type"], tor["peer_address"]) == ("global", TOR)
        for session in (mesh, tor):
            assert (session["state"], session["info"], session["established"]) == ("up", "Established", True)
            assert session["ip_version"] == 4 and session["port"] is None
        assert tor["details"]["neighbor_as"] == 65001 and mesh["details"]["neighbor_address"] == N2
        assert result["established_count"] == 2 and result["all_established"] is True
        checked = run.result("read in check mode")
        assert checked["changed"] is False and checked["established_count"] == 2
        assert "details" not in checked["sessions"][0]

        lab.set_peers("tor", [{"name": "node-2"}])  # the TOR drops node-1: its global session breaks
        run = run_playbook(tmp_path / "down", [
            _status_task("session down", socket_path, "not bgp.all_established"),
        ])
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        result = run.result("session down")
        sessions = {s["protocol"]: s for s in result["sessions"]}
        tor = sessions["Global_172_31_254_1"]
        assert result["all_established"] is False and result["established_count"] == 1
        assert tor["established"] is False and tor["info"] != "Established"
        assert sessions["Mesh_172_31_254_3"]["established"] is True

        missing = str(tmp_path / "no-bird.ctl")
        run = run_playbook(tmp_path / "missing", [
            {"name": "no BIRD", "k8snet.calico.calico_bgp_status": {"socket": missing, "ip_version": "4"}},
        ])
        assert run.returncode != 0
        assert f"{missing} does not exist: calico-node (BIRD) may not run" in run.failure()
    assert time.monotonic() - started < 30
