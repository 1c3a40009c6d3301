"""Holds half-open connections against a running `hookpost serve` and watches it.

Usage: python3 bench/half_open.py HOST:PORT PID [CONNECTIONS] [SECONDS]
Keeps CONNECTIONS (2,000) sockets that sent half a request head open for SECONDS (60),
opening a new one whenever the server closes one; every second it times `GET /healthz` on a
fresh connection and reads the server's RSS from /proc/PID/status. Then it closes them all
and reads the RSS once more, 5 s later. Prints the figures (issue 18's half-open check).
"""
import socket
import statistics
import sys
import time


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def healthz_ms(host, port):
    start = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=5) as probe:
            probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = probe.recv(64)
        ok = answer.startswith(b"HTTP/1.1 200")
    except OSError:
        ok = False
    return (time.perf_counter() - start) * 1000, ok


def half_open(host, port):
    sock = socket.socket()
    sock.setblocking(False)
    try:
        sock.connect((host, port))
    except BlockingIOError:
        pass
    return sock


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    pid = int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    start_rss = rss_mb(pid)
    sockets = []
    sent = set()
    reopened = 0
    latencies, failures, peak = [], 0, start_rss
    deadline = time.time() + seconds
    while time.time() < deadline:
        while len(sockets) < count:
            sockets.append(half_open(host, port))
        for sock in list(sockets):
            if sock.fileno() not in sent:
                try:
                    sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    sent.add(sock.fileno())
                except (BlockingIOError, OSError):
                    pass
            try:
                if sock.recv(1, socket.MSG_PEEK) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                continue
            except OSError:
                pass
            sent.discard(sock.fileno())
            sockets.remove(sock)
            sock.close()
            reopened += 1
        took, ok = healthz_ms(host, port)
        latencies.append(took)
        failures += not ok
        peak = max(peak, rss_mb(pid))
        time.sleep(max(0.0, 1.0 - took / 1000))
    for sock in sockets:
        sock.close()
    time.sleep(5)
    end_rss = rss_mb(pid)
    print(f"{count} half-open connections for {seconds} s ({reopened} closed by the server and reopened)")
    print(f"/healthz: {len(latencies)} probes, {failures} failed, median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms")
    print(f"RSS: {start_rss:.1f} MB at start, {peak:.1f} MB at peak (+{peak - start_rss:.1f}), {end_rss:.1f} MB 5 s after closing (+{end_rss - start_rss:.1f})")


if __name__ == "__main__":
    main()
