# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""BIRD's control socket (calico-node's ``bird.ctl`` / ``bird6.ctl``) and its BGP sessions.

BIRD (1.6, the line calico-node's BIRD is forked from) greets with ``0001 BIRD 1.6.8 ready.``;
a command's reply is lines ``NNNN-text`` (a new code, more to come), `` text`` (more lines of the
previous code) and a last line ``NNNN text`` (code, then a space). Codes 0xxx are success, 1xxx
and 2xxx table rows and headings, 8xxx and 9xxx errors. ``show protocols`` gives the heading
``2002-name proto table state since info``, the first row as ``1002-`` and the other rows as
continuation lines; ``show protocols all`` adds a ``1006-`` block of details after each row.

calico-node's confd names a peering ``Mesh_<ip>``, ``Global_<ip>`` or ``Node_<ip>`` (the address's
dots or colons as underscores, plus ``_port_<n>`` for a non-default port); ``calicoctl node status``
shows only those, as "node-to-node mesh", "global" and "node specific".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import ipaddress
import re
import socket
import time

PEER_TYPES = {"Mesh": "node-to-node mesh", "Global": "global", "Node": "node specific"}
OTHER = "other"
HEADINGS = ["name", "proto", "table", "state", "since", "info"]

_CODE_LINE = re.compile(r"^(\d{4})([ -])(.*)$")
_CALICO_NAME = re.compile(r"^(Global|Node|Mesh)_(.+)$")
_PORT = re.compile(r"^(.*)_port_(\d+)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d+)?$")
_GREETING = re.compile(r"^0001 BIRD (\S+) ready\.?\s*$")


class BirdError(Exception):
    """BIRD could not be reached or answered with an error (the message says which)."""


def parse_reply(lines):
    """Split raw reply lines into ``[(code, text), ...]``, continuation lines taking the code before.

    Raises BirdError when the reply's code is an error (8xxx runtime, 9xxx syntax) or a line has
    neither a code nor a leading space.
    """
    entries = []
    code = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        match = _CODE_LINE.match(line)
        if match:
            code, text = match.group(1), match.group(3)
        elif line.startswith(" ") and code is not None:
            text = line[1:]
        elif not line.strip():
            continue
        else:
            raise BirdError("unexpected line in the BIRD reply: %r" % line)
        if code[0] in "89":
            raise BirdError("BIRD replied with error %s: %s" % (code, text.strip()))
        entries.append((code, text))
    return entries


def bird_version(greeting):
    """``1.6.8`` from the greeting ``0001 BIRD 1.6.8 ready.``, or None."""
    match = _GREETING.match(greeting.strip()) if greeting else None
    return match.group(1) if match else None


def _row(text):
    cols = text.split()
    if len(cols) < 5:
        return None
    row = {"name": cols[0], "proto": cols[1], "table": cols[2], "state": cols[3], "since": cols[4]}
    rest = cols[5:]
    # "timeformat protocol iso long" gives a date and a time; the default gives one token.
    if _DATE.match(cols[4]) and rest and _TIME.match(rest[0]):
        row["since"] = cols[4] + " " + rest.pop(0)
    row["info"] = rest[0] if rest else ""
    row["message"] = " ".join(rest[1:])
    return row


_DETAIL_KEYS = {
    "description": "description",
    "bgp state": "bgp_state",
    "neighbor address": "neighbor_address",
    "neighbor as": "neighbor_as",
    "neighbor id": "neighbor_id",
    "source address": "source_address",
    "session": "session",
    "hold timer": "hold_timer",
    "keepalive timer": "keepalive_timer",
    "last error": "last_error",
    "routes": "routes",
}
_ROUTES = re.compile(r"(\d+) (imported|filtered|exported|preferred)")


def _add_detail(protocol, text):
    key, sep, value = text.strip().partition(":")
    key = key.strip().lower()
    if not sep or key not in _DETAIL_KEYS:
        return
    value = value.strip()
    name = _DETAIL_KEYS[key]
    if name == "neighbor_as":
        value = int(value) if value.isdigit() else value
    elif name == "routes":
        value = dict((kind, int(count)) for count, kind in _ROUTES.findall(value))
    protocol.setdefault("details", {})[name] = value


def parse_protocols(text):
    """Parse the raw reply of ``show protocols`` (or ``show protocols all [name]``).

    ``text`` is what the control socket sent, with the reply codes (the greeting may be included).
    Returns one dict per protocol: name, proto, table, state, since, info (the first word of the
    info column, for BGP the session state such as C(Established)), message (the rest, such as
    ``Socket: Connection closed``) and, from ``show protocols all``, ``details`` (bgp_state,
    neighbor_address, neighbor_as, neighbor_id, source_address, last_error, routes, ...).
    """
    lines = text.splitlines()
    if lines and _GREETING.match(lines[0].strip()):
        lines = lines[1:]
    protocols = []
    current = None
    for code, body in parse_reply(lines):
        if code == "2002":
            if body.split() != HEADINGS:
                raise BirdError("unknown BIRD table output format: %r" % body)
        elif code == "1002":
            current = _row(body)
            if current is not None:
                protocols.append(current)
        elif code == "1006":
            if current is not None:
                _add_detail(current, body)
    return protocols


def _address(text, ip_version=None):
    """The IP address written with underscores, as ``(address, version)``, or None."""
    candidates = {4: [text.replace("_", ".")], 6: [text.replace("_", ":")]}
    order = [ip_version] if ip_version in (4, 6) else [4, 6]
    for version in order:
        for candidate in candidates[version]:
            try:
                return str(ipaddress.ip_address(candidate)), version
            except ValueError:
                pass
    return None


def peer_from_protocol(name, ip_version=None):
    """The peer of a protocol named the way confd names it.

    Returns ``{"type", "peer_address", "port"}``: the type calicoctl shows (C(node-to-node mesh),
    C(global), C(node specific)) or C(other); the address from the name (underscores as dots, or
    colons for IPv6); the port from a ``_port_<n>`` suffix, else None. For another name the
    address is taken from the part after its first underscore when that is an address, else None.
    """
    match = _CALICO_NAME.match(name)
    if match:
        peer_type, rest = PEER_TYPES[match.group(1)], match.group(2)
    else:
        peer_type, rest = OTHER, name.partition("_")[2]
    port = None
    port_match = _PORT.match(rest)
    if port_match:
        rest, port = port_match.group(1), int(port_match.group(2))
    found = _address(rest, ip_version) if rest else None
    if found is not None:
        address = found[0]
    elif match:
        # What calicoctl would print, even when it is not an address.
        address = rest.replace("_", ":" if ip_version == 6 else ".")
    else:
        address = None
    return {"type": peer_type, "peer_address": address, "port": port}


def read_socket(path, command, timeout=2.0):
    """Send ``command`` to the BIRD control socket at ``path``; return the reply's raw lines.

    The first line is BIRD's greeting. Reads until the line that ends the reply (a code followed by
    a space). ``timeout`` (seconds) bounds the whole exchange. Raises BirdError with a message that
    names the path for a missing socket, no BIRD listening, permission denied and timeouts.
    """
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except socket.timeout:
            raise BirdError("timed out after %ss connecting to the BIRD control socket %s" % (timeout, path))
        except EnvironmentError as err:
            raise BirdError(_connect_error(path, err))
        buffer = b""
        lines = []
        greeted = False
        while True:
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.timeout()
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
                if not chunk:
                    raise BirdError("BIRD closed the control socket %s in the middle of the reply to %r"
                                    % (path, command))
                buffer += chunk
            raw, buffer = buffer.split(b"\n", 1)
            line = raw.decode("utf-8", "replace").rstrip("\r")
            lines.append(line)
            if not greeted:
                if not line.startswith("0001 "):
                    raise BirdError("%s did not greet like BIRD: %r" % (path, line))
                greeted = True
                sock.sendall(command.rstrip("\n").encode("utf-8") + b"\n")
                continue
            if re.match(r"^\d{4} ", line):
                return lines
    except socket.timeout:
        raise BirdError("timed out after %ss waiting for BIRD's reply to %r on %s"
                        % (timeout, command, path))
    except BirdError:
        raise
    except EnvironmentError as err:
        raise BirdError("error talking to BIRD on %s: %s" % (path, err))
    finally:
        sock.close()


def _connect_error(path, err):
    code = getattr(err, "errno", None)
    if code == errno.ENOENT:
        return ("BIRD control socket %s does not exist: calico-node (BIRD) may not run on this host, "
                "or its socket is elsewhere (option socket/socket6)" % path)
    if code in (errno.EACCES, errno.EPERM):
        return ("permission denied connecting to the BIRD control socket %s: run as root "
                "(become: true)" % path)
    if code == errno.ECONNREFUSED:
        return ("nothing listens on the BIRD control socket %s: calico-node (BIRD) is not running on "
                "this host" % path)
    return "cannot connect to the BIRD control socket %s: %s" % (path, err)


def sessions_from_protocols(protocols, ip_version):
    """The BGP sessions among parsed protocols, as the module returns them."""
    sessions = []
    for proto in protocols:
        if proto["proto"] != "BGP":
            continue
        peer = peer_from_protocol(proto["name"], ip_version)
        details = proto.get("details")
        if peer["peer_address"] is None and details and details.get("neighbor_address"):
            peer["peer_address"] = details["neighbor_address"]
        session = {
            "peer_address": peer["peer_address"],
            "port": peer["port"],
            "type": peer["type"],
            "state": proto["state"],
            "since": proto["since"],
            "info": proto["info"],
            "message": proto["message"],
            "established": proto["state"] == "up" and proto["info"] == "Established",
            "protocol": proto["name"],
            "ip_version": ip_version,
        }
        if details is not None:
            session["details"] = details
        sessions.append(session)
    return sessions


def bgp_status(sockets, detail=False, timeout=2.0):
    """Read the BGP sessions of each ``(ip_version, socket path)`` in ``sockets``.

    Returns ``{"sessions", "established_count", "all_established", "bird_version"}``;
    ``all_established`` is false when there are no sessions.
    """
    sessions = []
    version = None
    for ip_version, path in sockets:
        lines = read_socket(path, "show protocols", timeout)
        if version is None:
            version = bird_version(lines[0])
        protocols = parse_protocols("\n".join(lines))
        if detail:
            for proto in protocols:
                if proto["proto"] != "BGP":
                    continue
                try:
                    reply = read_socket(path, "show protocols all %s" % proto["name"], timeout)
                    found = parse_protocols("\n".join(reply))
                except BirdError as err:
                    if "is not a protocol" in str(err):  # removed since the first query
                        continue
                    raise
                if found:
                    proto["details"] = found[0].get("details", {})
        sessions.extend(sessions_from_protocols(protocols, ip_version))
    established = sum(1 for s in sessions if s["established"])
    return {"sessions": sessions, "established_count": established,
            "all_established": bool(sessions) and established == len(sessions),
            "bird_version": version}
