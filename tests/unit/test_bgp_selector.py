"""Calico label selectors as BGPPeer nodeSelector/peerSelector use them."""

import pytest

from ansible_collections.k8snet.calico.plugins.module_utils.bgp import selector

LABELS = {"route-reflector": "true", "rack": "r1", "kubernetes.io/hostname": "node-01"}


@pytest.mark.parametrize("text, expected", [
    ("", True),
    ("all()", True),
    ("global()", True),
    ("has(route-reflector)", True),
    ("!has(route-reflector)", False),
    ("has(zone)", False),
    ("route-reflector == 'true'", True),
    ('route-reflector == "true"', True),
    ("route-reflector == 'false'", False),
    ("route-reflector != 'false'", True),
    ("zone != 'a'", True),  # an absent label is "not equal"
    ("rack in {'r1', 'r2'}", True),
    ("rack not in {'r1', 'r2'}", False),
    ("zone in {'a'}", False),
    ("zone not in {'a'}", True),
    ("kubernetes.io/hostname starts with 'node-'", True),
    ("kubernetes.io/hostname ends with '-02'", False),
    ("rack contains '1'", True),
    ("has(route-reflector) && rack == 'r2'", False),
    ("has(route-reflector) && rack == 'r2' || rack == 'r1'", True),  # && binds tighter
    ("has(route-reflector) && (rack == 'r2' || rack == 'r1')", True),
    ("!(has(route-reflector) && rack == 'r1')", False),
    ("!!has(rack)", True),
])
def test_matches(text, expected):
    assert selector.matches(text, LABELS) is expected


@pytest.mark.parametrize("text, fragment", [
    ("has(", "expected a label key, found the end"),
    ("rack = 'r1'", "unexpected text at position 5: \"= 'r1'\""),
    ("rack == r1", "expected a quoted string, found r1"),
    ("has(rack) &&", "expected a label key, has(), all() or (, found the end"),
    ("(has(rack)", "expected ), found the end"),
    ("rack", "expected ==, !=, in, not in, contains, starts with or ends with after 'rack'"),
    ("has(rack) extra", "expected && or || or the end, found extra"),
])
def test_bad_selectors_name_the_selector(text, fragment):
    with pytest.raises(selector.SelectorError) as err:
        selector.parse(text)
    assert repr(text) in str(err.value) and fragment in str(err.value)


def test_equals_builds_a_selector_that_matches():
    text = selector.equals("route-reflector", "true")
    assert text == "route-reflector == 'true'"
    assert selector.matches(text, LABELS) and not selector.matches(text, {"route-reflector": "yes"})
    with pytest.raises(selector.SelectorError):
        selector.equals("bad key", "x")
