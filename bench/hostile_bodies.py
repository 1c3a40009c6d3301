"""Times hook-create bodies built to cost the server work (issue 18: bounded input).

Usage: python3 bench/hostile_bodies.py API_URL ADMIN_TOKEN
against a running `hookpost serve`; prints the status and the median of 3 requests per body.
"""
import json
import statistics
import sys
import time
import urllib.error
import urllib.request


def letters(number):
    """A distinct lower-case name per number (event names are [a-z_])."""
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text += chr(ord("a") + digit)
        if number == 0:
            return text


def main():
    api, token = sys.argv[1], sys.argv[2]
    bodies = {
        "80,000 event names": {
            "events": [f"event_{letters(i)}" for i in range(80_000)],
            "config": {"url": "http://a.example/"},
        },
        "40,000 headers": {
            "config": {"url": "http://a.example/", "headers": {f"X-H{i}": "v" for i in range(40_000)}},
        },
    }
    for name, body in bodies.items():
        data = json.dumps(body).encode()
        times = []
        for _ in range(3):
            request = urllib.request.Request(
                f"{api}/repos/acme/widgets/hooks",
                data=data,
                method="POST",
                headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
            )
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=300) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            times.append((time.perf_counter() - start) * 1000)
        runs = " / ".join(f"{t:.1f}" for t in times)
        print(f"{name} ({len(data) // 1024} KiB): {status}, median {statistics.median(times):.1f} ms ({runs})")


if __name__ == "__main__":
    main()
