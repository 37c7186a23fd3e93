#!/usr/bin/env python3
"""Requests every URL of a file once, over N keep-alive connections, and prints how many
answers had each status. A steady client for the benchmarks: unlike one curl per URL, it
does not fork a process per request on the machine being measured.

    scripts/fetch-all.py URL_FILE ACCEPT PARALLEL
"""
import collections, http.client, queue, sys, threading, urllib.parse
path, accept, parallel = sys.argv[1], sys.argv[2], int(sys.argv[3])
urls = queue.Queue()
for line in open(path):
    if line.strip():
        urls.put(line.strip())
codes = collections.Counter()
lock = threading.Lock()
def worker():
    conn = None
    while True:
        try:
            url = urls.get_nowait()
        except queue.Empty:
            return
        u = urllib.parse.urlsplit(url)
        if conn is None:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            conn.request("GET", u.path + ("?" + u.query if u.query else ""), headers={"accept": accept})
            r = conn.getresponse(); r.read(); status = r.status
        except Exception:
            conn.close(); conn = None; status = "error"
        with lock:
            codes[status] += 1
threads = [threading.Thread(target=worker) for _ in range(parallel)]
for t in threads: t.start()
for t in threads: t.join()
print(" ".join(f"{n} {c}" for c, n in sorted(codes.items(), key=str)))
