# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""BIRD's control-socket replies parsed the way ``calicoctl node status`` reads them.

The replies are real: captured with ``BgpLab.query_socket`` from BIRD 1.6.8 in the BGP lab (a TOR
at 172.31.254.1 and nodes 172.31.254.2 and .3, node-1 also peering with an absent
172.31.254.9 on port 1790); trailing spaces are kept as BIRD sent them.
"""

import errno
import os
import socket
import threading

import pytest

from ansible_collections.k8snet.calico.plugins.module_utils import bird
from ansible_collections.k8snet.calico.plugins.module_utils.bird import (
    BirdError, bgp_status, parse_protocols, parse_reply, peer_from_protocol, read_socket)


def _reply(*lines):
    return "\n".join(lines) + "\n"


NODE1_UP = _reply(
    '0001 BIRD 1.6.8 ready.',
    '2002-name     proto    table    state  since       info',
    '1002-static1  Static   master   up     17:15:55    ',
    ' kernel1  Kernel   master   up     17:15:55    ',
    ' device1  Device   master   up     17:15:55    ',
    ' direct1  Direct   master   up     17:15:55    ',
    ' Mesh_172_31_254_3 BGP      master   up     17:15:56    Established   ',
    ' Global_172_31_254_1 BGP      master   up     17:15:56    Established   ',
    ' Node_172_31_254_9_port_1790 BGP      master   start  17:15:55    Connect       ',
    '0000 ',
)

NODE1_ALL_MESH = _reply(
    '0001 BIRD 1.6.8 ready.',
    '2002-name     proto    table    state  since       info',
    '1002-Mesh_172_31_254_3 BGP      master   up     17:15:56    Established   ',
    '1006-  Description:    Connection to BGP peer',
    '   Preference:     100',
    '   Input filter:   ACCEPT',
    '   Output filter:  (unnamed)',
    '   Routes:         1 imported, 1 exported, 1 preferred',
    '   Route change stats:     received   rejected   filtered    ignored   accepted',
    '     Import updates:              1          0          0          0          1',
    '     Import withdraws:            0          0        ---          0          0',
    '     Export updates:              4          1          2        ---          1',
    '     Export withdraws:            0        ---        ---        ---          0',
    '   BGP state:          Established',
    '     Neighbor address: 172.31.254.3',
    '     Neighbor AS:      64512',
    '     Neighbor ID:      172.31.254.3',
    '     Neighbor caps:    refresh enhanced-refresh restart-able llgr-aware AS4 add-path-rx add-path-tx',
    '     Session:          internal multihop AS4 add-path-rx add-path-tx',
    '     Source address:   172.31.254.2',
    '     Hold timer:       8/9',
    '     Keepalive timer:  3/3',
    ' ',
    '0000 ',
)

NODE1_ALL_PORT = _reply(
    '0001 BIRD 1.6.8 ready.',
    '2002-name     proto    table    state  since       info',
    '1002-Node_172_31_254_9_port_1790 BGP      master   start  17:15:55    Connect       ',
    '1006-  Description:    Connection to BGP peer',
    '   Preference:     100',
    '   Input filter:   (unnamed)',
    '   Output filter:  (unnamed)',
    '   Routes:         0 imported, 0 exported, 0 preferred',
    '   Route change stats:     received   rejected   filtered    ignored   accepted',
    '     Import updates:              0          0          0          0          0',
    '     Import withdraws:            0          0        ---          0          0',
    '     Export updates:              0          0          0        ---          0',
    '     Export withdraws:            0        ---        ---        ---          0',
    '   BGP state:          Connect',
    '     Neighbor address: 172.31.254.9',
    '     Neighbor AS:      65009',
    ' ',
    '0000 ',
)

NOT_A_PROTOCOL = _reply(
    '0001 BIRD 1.6.8 ready.',
    '9002 nosuch is not a protocol',
)

TOR_PROTOCOLS = _reply(
    '0001 BIRD 1.6.8 ready.',
    '2002-name     proto    table    state  since       info',
    '1002-device1  Device   master   up     17:15:55    ',
    ' direct1  Direct   master   up     17:15:55    ',
    ' static1  Static   master   up     17:15:55    ',
    ' peer_172_31_254_2 BGP      master   up     17:15:56    Established   ',
    ' peer_172_31_254_3 BGP      master   start  17:15:56    Active        Socket: Connection closed',
    '0000 ',
)

NODE1_TOR_DOWN = _reply(
    '0001 BIRD 1.6.8 ready.',
    '2002-name     proto    table    state  since       info',
    '1002-static1  Static   master   up     17:15:55    ',
    ' kernel1  Kernel   master   up     17:15:55    ',
    ' device1  Device   master   up     17:15:55    ',
    ' direct1  Direct   master   up     17:15:55    ',
    ' Mesh_172_31_254_3 BGP      master   up     17:15:56    Established   ',
    ' Global_172_31_254_1 BGP      master   start  17:15:56    Active        Socket: Connection closed',
    ' Node_172_31_254_9_port_1790 BGP      master   start  17:15:55    Active        Socket: No route to host',
    '0000 ',
)

NODE1_ALL_TOR_DOWN = _reply(
    '0001 BIRD 1.6.8 ready.',
    '2002-name     proto    table    state  since       info',
    '1002-Global_172_31_254_1 BGP      master   start  17:15:56    Active        Socket: Connection closed',
    '1006-  Description:    Connection to BGP peer',
    '   Preference:     100',
    '   Input filter:   (unnamed)',
    '   Output filter:  (unnamed)',
    '   Routes:         0 imported, 0 exported, 0 preferred',
    '   Route change stats:     received   rejected   filtered    ignored   accepted',
    '     Import updates:              0          0          0          0          0',
    '     Import withdraws:            0          0        ---          0          0',
    '     Export updates:              0          0          0        ---          0',
    '     Export withdraws:            0        ---        ---        ---          0',
    '   BGP state:          Active',
    '     Neighbor address: 172.31.254.1',
    '     Neighbor AS:      65001',
    '     Connect delay:    1/1',
    '     Last error:       Socket: Connection closed',
    ' ',
    '0000 ',
)

# IPv6 rows in the shape BIRD 1.6 prints them (not captured: the lab is IPv4 only).
NODE1_V6 = _reply(
    '0001 BIRD 1.6.8 ready.',
    '2002-name     proto    table    state  since       info',
    '1002-static1  Static   master   up     2026-11-24  ',
    ' Mesh_fd80_24e2_f998_72d7__2 BGP      master   up     2026-11-24  Established   ',
    ' Node_fd80__1_port_1790 BGP      master   start  2026-11-24  Active        Socket: Connection refused',
    '0000 ',
)


def test_parse_reply_codes_and_continuations():
    entries = parse_reply(NODE1_UP.splitlines())
    assert entries[0] == ("0001", "BIRD 1.6.8 ready.")
    assert entries[1] == ("2002", "name     proto    table    state  since       info")
    assert [code for code, dummy in entries[2:9]] == ["1002"] * 7
    assert entries[4] == ("1002", "device1  Device   master   up     17:15:55    ")
    assert entries[-1] == ("0000", "")
    detail = parse_reply(NODE1_ALL_MESH.splitlines())
    assert ("1006", "  Preference:     100") in detail


def test_parse_reply_error_code():
    with pytest.raises(BirdError, match="9002: nosuch is not a protocol"):
        parse_reply(NOT_A_PROTOCOL.splitlines())


def test_parse_reply_garbage():
    with pytest.raises(BirdError, match="unexpected line"):
        parse_reply(["0001 BIRD 1.6.8 ready.", "hello"])


def test_parse_protocols_show_protocols():
    protocols = parse_protocols(NODE1_UP)
    assert [p["name"] for p in protocols] == [
        "static1", "kernel1", "device1", "direct1",
        "Mesh_172_31_254_3", "Global_172_31_254_1", "Node_172_31_254_9_port_1790"]
    assert protocols[0] == {"name": "static1", "proto": "Static", "table": "master", "state": "up",
                            "since": "17:15:55", "info": "", "message": ""}
    assert protocols[4] == {"name": "Mesh_172_31_254_3", "proto": "BGP", "table": "master", "state": "up",
                            "since": "17:15:56", "info": "Established", "message": ""}
    assert protocols[6]["state"] == "start" and protocols[6]["info"] == "Connect"


def test_parse_protocols_message_column():
    protocols = {p["name"]: p for p in parse_protocols(NODE1_TOR_DOWN)}
    tor = protocols["Global_172_31_254_1"]
    assert (tor["state"], tor["info"], tor["message"]) == ("start", "Active", "Socket: Connection closed")
    assert protocols["Node_172_31_254_9_port_1790"]["message"] == "Socket: No route to host"


def test_parse_protocols_all_details():
    (mesh,) = parse_protocols(NODE1_ALL_MESH)
    assert mesh["details"] == {
        "description": "Connection to BGP peer",
        "routes": {"imported": 1, "exported": 1, "preferred": 1},
        "bgp_state": "Established", "neighbor_address": "172.31.254.3", "neighbor_as": 64512,
        "neighbor_id": "172.31.254.3",
        "session": "internal multihop AS4 add-path-rx add-path-tx",
        "source_address": "172.31.254.2", "hold_timer": "8/9", "keepalive_timer": "3/3"}
    (tor,) = parse_protocols(NODE1_ALL_TOR_DOWN)
    assert tor["details"]["bgp_state"] == "Active"
    assert tor["details"]["last_error"] == "Socket: Connection closed"
    assert tor["details"]["neighbor_as"] == 65001
    (port,) = parse_protocols(NODE1_ALL_PORT)
    assert port["details"]["neighbor_address"] == "172.31.254.9"


def test_parse_protocols_rejects_other_headings():
    with pytest.raises(BirdError, match="unknown BIRD table output format"):
        parse_protocols(_reply("0001 BIRD 1.6.8 ready.", "2002-name proto table state", "0000 "))


def test_parse_protocols_iso_long_since():
    text = _reply("2002-name     proto    table    state  since       info",
                  "1002-Mesh_10_0_0_2 BGP master up 2026-11-24 17:15:56 Established",
                  "0000 ")
    (row,) = parse_protocols(text)
    assert (row["since"], row["info"]) == ("2026-11-24 17:15:56", "Established")


@pytest.mark.parametrize("name, version, expected", [
    ("Mesh_172_31_254_3", None, {"type": "node-to-node mesh", "peer_address": "172.31.254.3", "port": None}),
    ("Global_172_31_254_1", 4, {"type": "global", "peer_address": "172.31.254.1", "port": None}),
    ("Node_172_31_254_9_port_1790", None, {"type": "node specific", "peer_address": "172.31.254.9", "port": 1790}),
    ("Mesh_fd80_24e2_f998_72d7__2", 6, {"type": "node-to-node mesh", "peer_address": "fd80:24e2:f998:72d7::2",
                                        "port": None}),
    ("Node_fd80__1_port_1790", None, {"type": "node specific", "peer_address": "fd80::1", "port": 1790}),
    ("peer_172_31_254_2", None, {"type": "other", "peer_address": "172.31.254.2", "port": None}),
    ("bgp1", None, {"type": "other", "peer_address": None, "port": None}),
    # calicoctl prints the rest of the name even when it is no address.
    ("Global_rr", 4, {"type": "global", "peer_address": "rr", "port": None}),
])
def test_peer_from_protocol(name, version, expected):
    assert peer_from_protocol(name, version) == expected


class FakeBird:
    """A UNIX socket server answering like BIRD with canned replies (by command)."""

    def __init__(self, path, replies, greeting="0001 BIRD 1.6.8 ready.", silent=False):
        self.path = str(path)
        self.replies = replies
        self.greeting = greeting
        self.silent = silent
        self.commands = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(5)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, dummy = self.server.accept()
            except OSError:
                return
            try:
                self._answer(conn)
            except OSError:
                pass  # the client went away (as read_socket does after a bad greeting)
            finally:
                conn.close()

    def _answer(self, conn):
        conn.sendall((self.greeting + "\n").encode())
        reader = conn.makefile("rb")
        command = reader.readline().decode().rstrip("\n")
        self.commands.append(command)
        if self.silent:
            reader.readline()  # until the client gives up
            return
        reply = self.replies.get(command, NOT_A_PROTOCOL)
        body = reply.split("\n", 1)[1]  # the captured greeting was sent already
        # in small pieces, as a socket may deliver them
        data = body.encode()
        for start in range(0, len(data), 7):
            conn.sendall(data[start:start + 7])

    def close(self):
        self.server.close()


@pytest.fixture
def short_tmp():
    # UNIX socket paths are limited to 107 bytes: pytest's tmp_path can be longer.
    import tempfile
    path = tempfile.mkdtemp(prefix="bird")
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


def test_read_socket_against_fake_bird(short_tmp):
    fake = FakeBird(os.path.join(short_tmp, "bird.ctl"), {"show protocols": NODE1_UP})
    try:
        lines = read_socket(fake.path, "show protocols", 2)
    finally:
        fake.close()
    assert "\n".join(lines) + "\n" == NODE1_UP
    assert fake.commands == ["show protocols"]


def test_bgp_status_with_detail(short_tmp):
    replies = {"show protocols": NODE1_TOR_DOWN,
               "show protocols all Mesh_172_31_254_3": NODE1_ALL_MESH,
               "show protocols all Global_172_31_254_1": NODE1_ALL_TOR_DOWN,
               "show protocols all Node_172_31_254_9_port_1790": NODE1_ALL_PORT}
    v4 = FakeBird(os.path.join(short_tmp, "bird.ctl"), replies)
    v6 = FakeBird(os.path.join(short_tmp, "bird6.ctl"), {"show protocols": NODE1_V6})
    try:
        result = bgp_status([(4, v4.path), (6, v6.path)], detail=True, timeout=2)
    finally:
        v4.close()
        v6.close()
    assert result["bird_version"] == "1.6.8"
    assert result["established_count"] == 2
    assert result["all_established"] is False
    sessions = result["sessions"]
    assert [(s["protocol"], s["type"], s["peer_address"], s["port"], s["established"], s["ip_version"])
            for s in sessions] == [
        ("Mesh_172_31_254_3", "node-to-node mesh", "172.31.254.3", None, True, 4),
        ("Global_172_31_254_1", "global", "172.31.254.1", None, False, 4),
        ("Node_172_31_254_9_port_1790", "node specific", "172.31.254.9", 1790, False, 4),
        ("Mesh_fd80_24e2_f998_72d7__2", "node-to-node mesh", "fd80:24e2:f998:72d7::2", None, True, 6),
        ("Node_fd80__1_port_1790", "node specific", "fd80::1", 1790, False, 6)]
    tor = sessions[1]
    assert (tor["state"], tor["since"], tor["info"], tor["message"]) == (
        "start", "17:15:56", "Active", "Socket: Connection closed")
    assert tor["details"]["last_error"] == "Socket: Connection closed"
    assert sessions[0]["details"]["neighbor_as"] == 64512
    assert "details" not in sessions[3]  # no detail replies for v6 in the fake: "not a protocol" skipped


def test_bgp_status_all_established_and_empty(short_tmp):
    fake = FakeBird(os.path.join(short_tmp, "bird.ctl"), {"show protocols": NODE1_UP})
    try:
        result = bgp_status([(4, fake.path)])
    finally:
        fake.close()
    assert result["established_count"] == 2 and result["all_established"] is False
    assert "details" not in result["sessions"][0]
    empty = _reply("0001 BIRD 1.6.8 ready.", "2002-name     proto    table    state  since       info",
                   "1002-device1  Device   master   up     17:15:55    ", "0000 ")
    fake = FakeBird(os.path.join(short_tmp, "bird2.ctl"), {"show protocols": empty})
    try:
        result = bgp_status([(4, fake.path)])
    finally:
        fake.close()
    assert result["sessions"] == [] and result["all_established"] is False


def test_missing_socket_names_path(short_tmp):
    path = os.path.join(short_tmp, "nothing.ctl")
    with pytest.raises(BirdError, match="%s does not exist: calico-node \\(BIRD\\) may not run" % path):
        read_socket(path, "show protocols", 1)


def test_socket_without_bird(short_tmp):
    path = os.path.join(short_tmp, "dead.ctl")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)  # a socket file nobody listens on, as after calico-node died
    dead.close()
    with pytest.raises(BirdError, match="nothing listens on the BIRD control socket"):
        read_socket(path, "show protocols", 1)


def test_permission_denied(monkeypatch):
    class Denied(object):
        def __init__(self, *args):
            pass

        def settimeout(self, value):
            pass

        def connect(self, path):
            raise OSError(errno.EACCES, "Permission denied")

        def close(self):
            pass

    monkeypatch.setattr(bird.socket, "socket", Denied)
    with pytest.raises(BirdError, match="permission denied connecting to the BIRD control socket /x/bird.ctl"):
        read_socket("/x/bird.ctl", "show protocols", 1)


def test_timeout(short_tmp):
    fake = FakeBird(os.path.join(short_tmp, "bird.ctl"), {}, silent=True)
    try:
        with pytest.raises(BirdError, match="timed out after 0.3s waiting for BIRD's reply"):
            read_socket(fake.path, "show protocols", 0.3)
    finally:
        fake.close()


def test_not_bird(short_tmp):
    fake = FakeBird(os.path.join(short_tmp, "bird.ctl"), {}, greeting="220 smtp ready")
    try:
        with pytest.raises(BirdError, match="did not greet like BIRD"):
            read_socket(fake.path, "show protocols", 1)
    finally:
        fake.close()
