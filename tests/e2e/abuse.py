"""Bounded abuse of a vireod on loopback, for tests/e2e/test_abuse.py and
bench/abuse: idle sockets, slow headers, event-stream storms, and a
victim tenant whose write latency is measured meanwhile.

Every client here connects to 127.0.0.1 from its own loopback source
address (127.0.0.0/8 is all loopback on Linux), so that the per-address
limits apply to each abuser apart from the victim.  Everything stops by
itself: counts and durations are fixed by the caller.
"""
import http.client
import json
import socket
import ssl
import threading
import time


def percentile(values, p):
    v = sorted(values)
    if not v:
        return 0.0
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


class Client:
    """A keep-alive HTTPS client bound to a source address."""

    def __init__(self, d, token, source='127.0.0.1', timeout=30):
        self.d, self.token, self.source = d, token, source
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self.d.connection(self.timeout, self.source)
            h = {'Authorization': 'Bearer ' + self.token}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                h['Content-Type'] = 'application/json'
            try:
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                text = r.read()
                self.d.check_openapi(method, path, r.status,
                                     dict(r.getheaders()), text, h, data)
                return r.status, text
            except (http.client.HTTPException, OSError):
                # the server may close a keep-alive connection that sat
                # past the header timeout: one new try
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        return 0, b''

    def close(self):
        if self.conn:
            self.conn.close()


def timed_writes(client, paths, n):
    """n writes (a chmod of the victim's image, alternating); returns
    their latencies in ms.  `paths` is (kind, ref)."""
    kind, ref = paths
    lat = []
    for i in range(n):
        body = {'kind': kind, 'ids': [ref],
                'permissions': '640' if i % 2 else '600'}
        t0 = time.monotonic()
        st, text = client.request('POST', '/api/v1/ownership', body)
        lat.append((time.monotonic() - t0) * 1000)
        assert st == 204, (st, text)
    return lat


def timed_reads(client, n):
    lat = []
    for _ in range(n):
        t0 = time.monotonic()
        st, text = client.request('GET', '/api/v1/vms?limit=10')
        lat.append((time.monotonic() - t0) * 1000)
        assert st == 200, (st, text)
    return lat


class Abuse:
    """Start the abusers in threads; stop() ends them.  Counters say what
    each saw."""

    def __init__(self, d, token, idle=0, slow=0, sse=0, sse_reconnects=0,
                 base=20):
        self.d, self.token = d, token
        self.stop_flag = threading.Event()
        self.threads = []
        self.sockets = []
        self.idle, self.slow, self.sse = idle, slow, sse
        self.sse_reconnects = sse_reconnects
        self.base = base
        self.cut_slow = 0           # slow clients the server cut
        self.slow_lasted = []       # how long each slow client lasted (s)
        self.sse_opened = 0
        self.sse_refused = 0
        self.sse_bytes = 0
        self.idle_refused = 0
        self.lock = threading.Lock()

    def source(self, i, per=50):
        return '127.0.0.%d' % (self.base + i // per)

    def start(self):
        for i in range(self.idle):
            try:
                s = socket.create_connection(('127.0.0.1', self.d.port),
                                             timeout=10,
                                             source_address=(self.source(i),
                                                             0))
                self.sockets.append(s)
            except OSError:
                self.idle_refused += 1
        for i in range(self.slow):
            t = threading.Thread(target=self.slow_client, args=(i,),
                                 daemon=True)
            t.start()
            self.threads.append(t)
        for i in range(self.sse):
            t = threading.Thread(target=self.sse_client, args=(i,),
                                 daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def slow_client(self, i):
        """TLS, then one header line a second: the server must cut it."""
        src = '127.0.0.%d' % (self.base + 10 + i // 50)
        t0 = time.monotonic()
        try:
            raw = socket.create_connection(('127.0.0.1', self.d.port),
                                           timeout=5,
                                           source_address=(src, 0))
            s = self.d.ssl_context().wrap_socket(raw,
                                                 server_hostname='127.0.0.1')
            s.sendall(b'GET /api/v1/vms HTTP/1.1\r\nHost: x\r\n')
            n = 0
            while not self.stop_flag.is_set():
                time.sleep(1)
                s.sendall(b'X-Slow-%d: y\r\n' % n)
                n += 1
                s.settimeout(0.01)
                try:
                    if s.recv(1) == b'':
                        break
                except socket.timeout:
                    pass
                except (ssl.SSLError, OSError):
                    break
                s.settimeout(5)
        except (ssl.SSLError, OSError):
            pass
        with self.lock:
            self.slow_lasted.append(time.monotonic() - t0)
            if not self.stop_flag.is_set():
                self.cut_slow += 1

    def sse_client(self, i):
        """Open event streams asking for everything from event 1, read a
        little, reconnect; `sse_reconnects` times."""
        src = '127.0.0.%d' % (self.base + 20 + i // 50)
        for _ in range(max(1, self.sse_reconnects)):
            if self.stop_flag.is_set():
                break
            try:
                c = self.d.connection(10, src)
                c.request('GET', '/api/v1/events',
                          headers={'Authorization': 'Bearer ' + self.token,
                                   'Last-Event-ID': '1'})
                r = c.getresponse()
                if r.status != 200:
                    with self.lock:
                        self.sse_refused += 1
                    r.read()
                    c.close()
                    time.sleep(0.2)
                    continue
                with self.lock:
                    self.sse_opened += 1
                got = r.read1(65536)
                with self.lock:
                    self.sse_bytes += len(got)
                if self.sse_reconnects <= 1:
                    # hold the stream until stopped
                    c.sock.settimeout(0.5)
                    while not self.stop_flag.is_set():
                        try:
                            got = r.read1(65536)
                            if not got:
                                break
                            with self.lock:
                                self.sse_bytes += len(got)
                        except (socket.timeout, TimeoutError):
                            pass
                c.close()
            except (http.client.HTTPException, OSError):
                time.sleep(0.2)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)
        for s in self.sockets:
            s.close()
