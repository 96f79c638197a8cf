"""asyncio: the engine on the event loop; many sessions at once on one thread."""

import asyncio
import threading
import time

import pytest

import remsess
from conftest import free_port


def run(coro):
    return asyncio.run(coro)


def test_enumerate_async_iterates_and_awaits(endpoint, opts):
    async def main():
        s = await remsess.open_async(endpoint.url, **opts)
        names = [i["Name"] async for i in s.enumerate_async("Win32_Service")]
        again = await s.enumerate_async("Win32_Service")
        w = await s.get_async("Win32_Service", Name="WinRM")
        return names, again, w
    names, again, w = run(main())
    assert "WinRM" in names and len(again) == len(names) and w["Name"] == "WinRM"


def test_run_async_and_open_pssession_async(endpoint, opts):
    async def main():
        p = await remsess.open_async(endpoint.url, "pssession", **opts)
        assert p.state == "Opened"
        r = await p.run_async("echo hi; echo no >&2; exit 2")
        await p.close_async()
        return r, p.state
    r, state = run(main())
    assert (r.stdout, r.stderr, r.exit_code, state) == (b"hi\n", b"no\n", 2, "Closed")


def test_open_async_failure_raises(endpoint, opts):
    async def main():
        await remsess.open_async(endpoint.url, "pssession", **{**opts, "password": "bad"})
    with pytest.raises(remsess.AuthenticationError):
        run(main())


def test_the_loop_is_not_blocked(spawn):
    ep = spawn("--latency", "300")

    async def ticker(stop):
        n = 0
        while not stop.is_set():
            await asyncio.sleep(0.01)
            n += 1
        return n

    async def main():
        stop = asyncio.Event()
        t = asyncio.create_task(ticker(stop))
        s = await remsess.open_async(ep.url, **ep.options())
        await s.identify_async()
        stop.set()
        return await t
    ticks = run(main())
    assert ticks >= 15  # the loop ran while the 300 ms answer was awaited


def test_150_sessions_concurrently_on_one_thread(endpoint, opts):
    threads_before = threading.active_count()

    async def one(i):
        s = await remsess.open_async(endpoint.url, **opts)
        insts = await s.enumerate_async("Win32_Service")
        return len(insts)

    async def main():
        t0 = time.monotonic()
        counts = await asyncio.gather(*(one(i) for i in range(150)))
        return counts, time.monotonic() - t0
    counts, took = run(main())
    assert len(counts) == 150 and len(set(counts)) == 1 and counts[0] > 10
    assert threading.active_count() == threads_before


def test_async_pssessions_fan_out_and_one_fails(endpoint, opts):
    async def one(url):
        try:
            s = await remsess.open_async(url, "pssession", **opts)
        except remsess.Error as e:
            return e
        r = await s.run_async("echo", "x")
        await s.close_async()
        return r.stdout

    async def main():
        urls = [endpoint.url] * 20 + [f"http://127.0.0.1:{free_port()}/wsman"]
        return await asyncio.gather(*(one(u) for u in urls))
    results = run(main())
    assert results[:20] == [b"x\n"] * 20
    assert isinstance(results[20], remsess.ConnectionError)


def test_async_ps(endpoint, opts, pwsh):
    async def main():
        s = await remsess.open_async(endpoint.url, "pssession", protocol="powershell", **opts)
        r = await s.ps_async("1+1; Write-Warning w")
        await s.close_async()
        return r
    r = run(main())
    assert r.output == [2] and [w.message for w in r.warning] == ["w"]


def test_fan_out_to_200_listeners_on_one_thread(spawn, opts):
    """An asyncio fan-out over 200 computers, each a listener of one endpoint
    (--listeners): every result is its own computer's, all on one thread."""
    ep = spawn("--listeners", "200")
    assert ep.proc.stdout.readline().split() == ["listeners", "200"]
    ports = []
    for i in range(200):
        word, index, port, _ = ep.proc.stdout.readline().split(" ", 3)
        assert word == "listener" and int(index) == i
        ports.append(int(port))
    threads_before = threading.active_count()

    async def one(i):
        s = await remsess.open_async(f"http://127.0.0.1:{ports[i]}/wsman", **opts)
        insts = await s.enumerate_async("Win32_OperatingSystem")
        return [inst["CSName"] for inst in insts]

    async def main():
        return await asyncio.gather(*(one(i) for i in range(200)))
    names = run(main())
    assert names == [[f"RMS-L{i:07d}"] for i in range(200)]
    assert threading.active_count() == threads_before
