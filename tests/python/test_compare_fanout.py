"""Side-by-side comparison and fan-out."""

import pytest

import remsess
from remsess import Request


def test_compare_enumerate_gives_the_record(endpoint, opts):
    with remsess.Target(endpoint.url, **opts) as t:
        c = t.compare("enumerate", "Win32_Service")
    assert c.equal is True and c.where is None
    assert c.cim_error is None and c.pssession_error is None
    rec = c.record
    assert rec["equal"] is True
    assert rec["operation"] == "enumerate"
    cim, ps = rec["sides"]["cim"], rec["sides"]["pssession"]
    assert cim["items"] == ps["items"] > 10
    # the PSSession opened a shell for it; the CIM session none
    assert ps["traffic"]["shells_opened"] == 1 and cim["traffic"]["shells_opened"] == 0


def test_compare_finds_a_difference_in_a_command(endpoint, opts):
    with remsess.Target(endpoint.url, **opts) as t:
        # The same command on both: the CIM side cannot run commands, so it fails there.
        c = t.compare("run", "echo", "x")
    assert c.equal is False
    assert c.cim_error is not None and c.pssession_error is None


def test_target_choose_follows_the_auto_rule(endpoint, opts):
    with remsess.Target(endpoint.url, **opts) as t:
        assert t.choose("enumerate")[0] == "cim"
        assert t.choose("run")[0] == "pssession"


def test_fanout_over_many_targets_one_down(endpoint, opts):
    from conftest import free_port
    targets = [remsess.Target(endpoint.url, **opts) for _ in range(5)]
    targets.append(remsess.Target(f"http://127.0.0.1:{free_port()}/wsman", **opts))
    results = list(remsess.fanout(targets, Request.enumerate("Win32_Service"), throttle=3))
    assert sorted(r.index for r in results) == list(range(6))
    ok = [r for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    assert len(ok) == 5 and len(bad) == 1
    assert bad[0].index == 5 and isinstance(bad[0].error, remsess.ConnectionError)
    assert all(len(r.instances) > 10 and r.backend == "cim" for r in ok)


def test_fanout_runs_commands(endpoint, opts):
    targets = [remsess.Target(endpoint.url, **opts) for _ in range(3)]
    results = list(remsess.fanout(targets, Request.run("echo hi; exit 4")))
    assert [(r.stdout, r.exit_code) for r in results] == [(b"hi\n", 4)] * 3


def test_fanout_of_several_requests_shares_each_session(endpoint, opts):
    targets = [remsess.Target(endpoint.url, **opts) for _ in range(2)]
    requests = [Request.run("echo one"), Request.run("echo two; exit 3")]
    results = list(remsess.fanout(targets, requests))
    assert len(results) == 4
    for i in range(2):
        mine = [r for r in results if r.index == i]
        assert [r.request for r in mine] == [0, 1]  # in request order
        assert [(r.stdout, r.exit_code) for r in mine] == [(b"one\n", 0), (b"two\n", 3)]
    assert endpoint.stats()["shells_created"] >= 2


def test_fanout_compare_gives_a_record_per_target(endpoint, opts):
    from conftest import free_port
    down = f"http://127.0.0.1:{free_port()}/wsman"
    targets = [remsess.Target(endpoint.url, **opts), remsess.Target(down, **opts)]
    results = list(remsess.fanout(targets, Request.enumerate("Win32_Service"), compare=True))
    assert sorted(r.index for r in results) == [0, 1]
    by = {r.index: r for r in results}
    assert by[0].comparison.equal and by[0].ok
    assert not by[1].comparison.equal
    assert isinstance(by[1].comparison.cim_error, remsess.ConnectionError)
    assert isinstance(by[1].comparison.pssession_error, remsess.ConnectionError)
    with pytest.raises(ValueError):
        list(remsess.fanout(targets, [Request.run("a"), Request.run("b")], compare=True))
