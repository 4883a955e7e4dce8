"""A client process for the concurrency test: waits at a barrier with the other
client, then posts its answer, so two answers for the last seat arrive together."""

from __future__ import annotations

import http.client
import urllib.parse


def post_when_released(barrier, jobs, results) -> None:
    while True:
        job = jobs.get()
        if job is None:
            return
        host, port, path, cookie, form = job
        body = urllib.parse.urlencode(form)
        connection = http.client.HTTPConnection(host, port, timeout=60)
        barrier.wait(timeout=60)
        connection.request("POST", path, body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
        })
        status = connection.getresponse().status
        connection.close()
        results.put(status)
