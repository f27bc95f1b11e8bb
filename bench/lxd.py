#!/usr/bin/env python3
"""LXD as a peer of vireod in bench/scale: the same calls, where LXD has
them, against the `lxd` daemon of Debian 12 (5.0.x), which runs
containers on this machine (no KVM here).

A private LXD is started for the run and removed afterwards:
  - its own state directory (LXD_DIR, under the system's temporary
    directory), so a system LXD, if any, is neither used nor touched;
  - initialized by a preseed with a `dir` storage pool and NO network:
    no bridge, no NAT, no firewall rules, no HTTPS listener; the only
    socket is LXD's UNIX socket, and the containers have no NIC;
  - its outbound HTTP(S) (LXD fetches a list of cloud instance types at
    start-up) is pointed at a closed loopback port through the proxy
    variables, so nothing leaves the machine;
  - one image built here, without download: a busybox-static rootfs
    (Debian's `busybox-static`: the installed /bin/busybox, or the package
    fetched with `apt-get download` and unpacked with `dpkg -x`) whose
    /sbin/init is a sleep loop.

Measured, over the UNIX socket, with LXD's async operations waited for:
  - RSS of the lxd process idle (initialized, no image, no instance);
  - N instances created and started from the local image by C clients:
    creates accepted per second (POST answered with its operation), and
    instances created and RUNNING per second (first POST to last start);
  - GET /1.0/instances?recursion=1 (all N): p50/p99 of 20;
  - GET /1.0/instances/NAME: 2,000 on one keep-alive connection while 30
    writes a second (PATCH of an instance's description) run beside:
    p50/p99 and GETs per second;
  - RSS of the lxd process with N instances running, and apart from it
    the per-container `[lxc monitor]` processes LXD forks (one per running
    container, a copy of lxd itself), summed as PSS so that their shared
    pages count once; the containers' own processes are not counted.
Then every instance is stopped and deleted, LXD is shut down and its
directory removed. Every call has a timeout and the whole run a deadline.

Usage as a module: `with Lxd() as x: figures = x.run(n, clients)`.
Standalone: bench/lxd.py [--instances N] [--clients C]; prints one JSON
object on its last line.
"""
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'e2e'))
from abuse import percentile  # noqa: E402 - one percentile for all

INSTALL_HINT = 'apt-get install -y lxd'
NAME_PREFIX = 'vbench-'
# the preseed: a dir pool, a default profile with a root disk only, and no
# network of any kind (no lxdbr0, no NAT); no core.https_address
PRESEED = """\
config: {}
networks: []
storage_pools:
- name: default
  driver: dir
  config: {}
profiles:
- name: default
  description: vireo bench, no network
  config: {}
  devices:
    root:
      path: /
      pool: default
      type: disk
"""
INIT_SCRIPT = """\
#!/bin/sh
# a container that does nothing: sleeps until it is told to stop
trap 'exit 0' TERM INT PWR
while :; do sleep 3600 & wait $!; done
"""


def find_lxd():
    """Path of the lxd daemon binary, or None."""
    for p in (shutil.which('lxd'), '/usr/bin/lxd', '/usr/sbin/lxd',
              '/usr/lib/lxd/lxd'):
        if p and os.access(p, os.X_OK):
            return p
    return None


def rss_kib(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            m = re.search(r'VmRSS:\s+(\d+)', f.read())
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def pss_kib(pid):
    """Proportional set size: shared pages divided among their users, so
    that a sum over processes counts each page once."""
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            m = re.search(r'^Pss:\s+(\d+)', f.read(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


class LxdError(RuntimeError):
    pass


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__('lxd', timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Client:
    """A keep-alive HTTP client on LXD's UNIX socket; one per thread."""

    def __init__(self, path, timeout=60):
        self.path, self.timeout = path, timeout
        self.conn = None

    def raw(self, method, url, body=None, headers=None):
        """(status, body bytes)"""
        h = dict(headers or {})
        data = body
        if body is not None and not isinstance(body, (bytes, bytearray)):
            data = json.dumps(body).encode()
            h['Content-Type'] = 'application/json'
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = _UnixConnection(self.path, self.timeout)
            try:
                self.conn.request(method, url, body=data, headers=h)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        return 0, b''

    def call(self, method, url, body=None, headers=None, want=(200,)):
        st, text = self.raw(method, url, body, headers)
        try:
            doc = json.loads(text)
        except ValueError:
            doc = {'error': text[:200].decode('utf-8', 'replace')}
        if st not in want:
            raise LxdError('%s %s: %d %s' % (method, url, st,
                                             doc.get('error', '')))
        return doc

    def wait(self, doc, timeout=120):
        """Wait for the operation an async answer names; raise if it
        failed.  Returns the operation's final document."""
        op = doc.get('operation') or doc['metadata']['id']
        if not op.startswith('/'):
            op = '/1.0/operations/' + op
        r = self.call('GET', '%s/wait?timeout=%d' % (op, timeout))
        m = r['metadata']
        if m['status'] in ('Pending', 'Running'):
            raise LxdError('operation %s not done after %d s' % (op, timeout))
        if m['status'] != 'Success':
            raise LxdError('operation %s: %s %s' % (op, m['status'],
                                                    m.get('err', '')))
        return m

    def async_call(self, method, url, body=None, timeout=120, headers=None):
        doc = self.call(method, url, body, headers, want=(200, 202))
        if doc.get('type') == 'async':
            return self.wait(doc, timeout)
        return doc.get('metadata')

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def fan_out(n, clients, fn, deadline):
    """fn(client, i) for i in range(n) over len(clients) threads; stops
    taking new work at `deadline` (time.monotonic()); raises on the first
    failure, after every thread has finished."""
    errors = []
    lock = threading.Lock()
    next_i = [0]

    def run(c):
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= n or errors:
                break
            if time.monotonic() > deadline:
                with lock:
                    errors.append('deadline passed at call %d of %d' %
                                  (i, n))
                break
            try:
                fn(c, i)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(repr(e))
    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise LxdError('%d calls failed, first: %s' % (len(errors),
                                                       errors[0]))


class Lxd:
    """A private LXD daemon for one benchmark run.  Start with `start()`
    (or `with`), measure with `run()`, remove everything with `close()`,
    which is safe to call at any point and more than once."""

    def __init__(self, timeout=1800, log=None):
        self.binary = find_lxd()
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.log = log or (lambda msg: print('lxd:', msg, file=sys.stderr))
        self.dir = None
        self.proc = None
        self.socket = None
        self.names = []
        self.fingerprint = None
        self.pivots = []

    # ---- life cycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def _env(self):
        e = dict(os.environ)
        e['LXD_DIR'] = self.dir
        # LXD's only outbound call here (instance types, at start-up)
        # goes to a closed port on loopback, never to the network
        for k in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY'):
            e[k] = 'http://127.0.0.1:9'
        e.pop('no_proxy', None)
        e.pop('NO_PROXY', None)
        return e

    def start(self):
        if not self.binary:
            raise LxdError('lxd is not installed (%s)' % INSTALL_HINT)
        # LXC leaves an empty `lxc.pivot` cgroup in each v1 hierarchy
        # when a container stops: those it makes are removed in close()
        self.pivots = [p for p in self._pivots() if not os.path.exists(p)]
        self.dir = tempfile.mkdtemp(prefix='vireo-bench-lxd-')
        os.chmod(self.dir, 0o711)
        self.socket = os.path.join(self.dir, 'unix.socket')
        args = [self.binary, '--logfile', os.path.join(self.dir, 'lxd.log')]
        try:
            import grp
            grp.getgrnam('lxd')
            args += ['--group', 'lxd']
        except (ImportError, KeyError):
            pass
        self.stderr = open(os.path.join(self.dir, 'stderr.log'), 'wb')
        self.proc = subprocess.Popen(args, env=self._env(),
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr,
                                     start_new_session=True)
        c = Client(self.socket, timeout=10)
        until = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise LxdError('lxd exited with %d: %s' %
                               (self.proc.returncode, self._log_tail()))
            try:
                doc = c.call('GET', '/1.0')
                if doc['metadata'].get('environment'):
                    break
            except (OSError, LxdError, http.client.HTTPException):
                pass
            if time.monotonic() > until:
                raise LxdError('lxd not ready after 60 s: %s' %
                               self._log_tail())
            time.sleep(0.2)
        c.close()
        self.version = doc['metadata']['environment']['server_version']
        self.extensions = set(doc['metadata'].get('api_extensions', []))
        p = subprocess.run([self.binary, 'init', '--preseed'],
                           input=PRESEED.encode(), env=self._env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        if p.returncode:
            raise LxdError('lxd init --preseed: %s' %
                           p.stdout.decode(errors='replace')[-300:])
        return self

    def _log_tail(self):
        text = ''
        for name in ('stderr.log', 'lxd.log'):
            try:
                with open(os.path.join(self.dir, name), errors='replace') as f:
                    text += f.read()[-400:]
            except OSError:
                pass
        return text

    def close(self):
        if self.proc is None:
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
            return
        if self.proc.poll() is None:
            try:
                self._delete_all()
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                self.log('deleting instances: %r' % e)
            try:
                subprocess.run([self.binary, 'shutdown', '--timeout', '60'],
                               env=self._env(), timeout=90,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                self.log('lxd shutdown timed out')
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.log('lxd still running: killed')
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self._kill_leftovers()
        self._unmount()
        for p in self.pivots:
            try:
                os.rmdir(p)
            except OSError:
                pass
        self.stderr.close()
        if os.environ.get('VIREO_BENCH_KEEP'):
            self.log('kept %s' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.proc = None
        self.dir = None

    def _delete_all(self):
        c = Client(self.socket, timeout=60)
        names = [n for n in c.call('GET', '/1.0/instances')['metadata']]
        names = [n.rsplit('/', 1)[-1] for n in names]
        names = [n for n in names if n.startswith(NAME_PREFIX)]
        c.close()
        clients = [Client(self.socket, 60) for _ in range(4)]

        def delete(cl, i):
            n = names[i]
            st = cl.call('GET', '/1.0/instances/%s' % n)['metadata']
            if st['status'] != 'Stopped':
                cl.async_call('PUT', '/1.0/instances/%s/state' % n,
                              {'action': 'stop', 'force': True,
                               'timeout': 30}, timeout=60)
            cl.async_call('DELETE', '/1.0/instances/%s' % n, timeout=60)
        try:
            fan_out(len(names), clients, delete, time.monotonic() + 600)
        finally:
            for cl in clients:
                cl.close()
        if self.fingerprint:
            c.async_call('DELETE', '/1.0/images/%s' % self.fingerprint)
            c.close()

    def _pids_of_dir(self):
        """Processes whose command line names our LXD_DIR (the lxc
        monitors) and processes of our lxd."""
        out = []
        for p in os.listdir('/proc'):
            if not p.isdigit():
                continue
            try:
                with open('/proc/%s/cmdline' % p, 'rb') as f:
                    cmd = f.read().replace(b'\0', b' ').decode(
                        errors='replace')
            except OSError:
                continue
            if self.dir and self.dir in cmd:
                out.append((int(p), cmd))
        return out

    @staticmethod
    def _pivots():
        root = '/sys/fs/cgroup'
        try:
            dirs = [root] + [os.path.join(root, h)
                             for h in sorted(os.listdir(root))]
            return [os.path.join(d, 'lxc.pivot') for d in dirs
                    if os.path.isdir(d)]
        except OSError:
            return []

    def _kill_leftovers(self):
        for pid, cmd in self._pids_of_dir():
            self.log('left over, killed: %d %s' % (pid, cmd[:80]))
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def _unmount(self):
        mounts = []
        with open('/proc/self/mountinfo') as f:
            for line in f:
                mp = line.split()[4].replace('\\040', ' ')
                if mp == self.dir or mp.startswith(self.dir + '/'):
                    mounts.append(mp)
        for mp in sorted(mounts, key=len, reverse=True):
            subprocess.run(['umount', '-l', mp], timeout=30,
                           stderr=subprocess.DEVNULL)

    # ---- the image

    def _busybox(self, work):
        """Path of a static busybox from Debian's busybox-static."""
        p = subprocess.run(['dpkg-query', '-W', '-f=${Status}',
                            'busybox-static'], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        if b'install ok installed' in p.stdout and \
                os.path.exists('/bin/busybox'):
            return '/bin/busybox', 'installed busybox-static'
        subprocess.run(['apt-get', 'download', 'busybox-static'], cwd=work,
                       check=True, timeout=120, stdout=subprocess.DEVNULL)
        deb = [f for f in os.listdir(work) if f.endswith('.deb')][0]
        subprocess.run(['dpkg', '-x', deb, 'x'], cwd=work, check=True,
                       timeout=60)
        return os.path.join(work, 'x', 'bin', 'busybox'), deb

    def import_image(self):
        work = os.path.join(self.dir, 'bench-image')
        os.makedirs(work)
        busybox, origin = self._busybox(work)
        buf = io.BytesIO()
        now = int(time.time())
        meta = ('architecture: %s\ncreation_date: %d\nproperties:\n'
                '  os: busybox\n  description: vireo bench busybox '
                '(%s)\n' % (os.uname().machine, now, origin)).encode()
        with tarfile.open(fileobj=buf, mode='w:gz') as t:
            def add(name, data=None, mode=0o644, kind=tarfile.REGTYPE,
                    link=''):
                ti = tarfile.TarInfo(name)
                ti.mode, ti.type, ti.mtime, ti.linkname = mode, kind, now, link
                if data is not None:
                    ti.size = len(data)
                t.addfile(ti, io.BytesIO(data) if data is not None else None)
            add('metadata.yaml', meta)
            for d in ('rootfs', 'rootfs/bin', 'rootfs/sbin', 'rootfs/dev',
                      'rootfs/proc', 'rootfs/sys', 'rootfs/etc',
                      'rootfs/tmp', 'rootfs/run', 'rootfs/root'):
                add(d, mode=0o1777 if d.endswith('tmp') else 0o755,
                    kind=tarfile.DIRTYPE)
            with open(busybox, 'rb') as f:
                add('rootfs/bin/busybox', f.read(), 0o755)
            for tool in ('sh', 'sleep'):
                add('rootfs/bin/' + tool, kind=tarfile.SYMTYPE,
                    link='busybox')
            add('rootfs/sbin/init', INIT_SCRIPT.encode(), 0o755)
            add('rootfs/etc/hostname', b'bench\n')
        c = Client(self.socket, timeout=120)
        m = c.async_call('POST', '/1.0/images', buf.getvalue(),
                         headers={'Content-Type':
                                  'application/octet-stream'})
        c.close()
        self.fingerprint = m['metadata']['fingerprint']
        self.image_bytes = len(buf.getvalue())
        shutil.rmtree(work, ignore_errors=True)

    # ---- figures

    def rss(self):
        """(lxd's own RSS in MiB, the [lxc monitor] processes' PSS sum in
        MiB, their count)"""
        own = rss_kib(self.proc.pid) / 1024
        mon = [pss_kib(pid) for pid, cmd in self._pids_of_dir()
               if cmd.startswith('[lxc monitor]')]
        return round(own, 1), round(sum(mon) / 1024, 1), len(mon)

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise LxdError('deadline of %d s passed' % self.timeout)
        return left

    def run(self, n, clients=8, gets=2000, lists=20, writes_per_s=30):
        res = {'version': self.version, 'storage': 'dir',
               'network': 'none (no bridge, no NAT, no NIC)'}
        time.sleep(2)
        res['rss_mib_idle'], _, _ = self.rss()
        self.import_image()
        res['image'] = 'busybox-static rootfs, %d bytes (gzip)' % \
            self.image_bytes
        start_in_create = 'instance_create_start' in self.extensions
        self._left()
        # ---- creates: all POSTs first (accepted), then each operation
        # waited for and the instance started (RUNNING)
        self.names = ['%s%05d' % (NAME_PREFIX, i) for i in range(n)]
        ops = [None] * n
        pool = [Client(self.socket, 120) for _ in range(clients)]

        def post(c, i):
            body = {'name': self.names[i], 'type': 'container',
                    'source': {'type': 'image',
                               'fingerprint': self.fingerprint}}
            if start_in_create:
                body['start'] = True
            ops[i] = c.call('POST', '/1.0/instances', body, want=(202,))

        def settle(c, i):
            try:
                c.wait(ops[i], timeout=int(min(300, self._left())))
            except LxdError as e:
                # LXD forgets a finished operation after a few seconds:
                # then the instance's existence tells how it ended
                if ': 404 ' not in str(e):
                    raise
                c.call('GET', '/1.0/instances/%s' % self.names[i])
            if not start_in_create:
                c.async_call('PUT', '/1.0/instances/%s/state' %
                             self.names[i], {'action': 'start',
                                             'timeout': 60},
                             timeout=int(min(300, self._left())))
        t0 = time.monotonic()
        fan_out(n, pool, post, self.deadline)
        t_acc = time.monotonic() - t0
        fan_out(n, pool, settle, self.deadline)
        t_all = time.monotonic() - t0
        for c in pool:
            c.close()
        res['instances'] = n
        res['clients'] = clients
        res['creates_accepted_per_s'] = round(n / t_acc, 1)
        res['creates_per_s'] = round(n / t_all, 1)
        res['create_all_s'] = round(t_all, 1)
        c = Client(self.socket, 120)
        states = {}
        for inst in c.call('GET', '/1.0/instances?recursion=1')['metadata']:
            if inst['name'].startswith(NAME_PREFIX):
                states[inst['status']] = states.get(inst['status'], 0) + 1
        res['instance_states'] = states
        # ---- listing all N
        lat = []
        size = 0
        for _ in range(lists):
            self._left()
            t = time.monotonic()
            st, body = c.raw('GET', '/1.0/instances?recursion=1')
            lat.append((time.monotonic() - t) * 1000)
            size = len(body)
            if st != 200:
                raise LxdError('list: %d' % st)
        res['list_all_p50_ms'] = round(percentile(lat, 50), 1)
        res['list_all_p99_ms'] = round(percentile(lat, 99), 1)
        res['list_all_bytes'] = size
        # ---- single GETs while writes run beside
        stop = threading.Event()
        wlat = []
        werr = []

        def writer():
            w = Client(self.socket, 60)
            i = 0
            while not stop.is_set():
                t = time.monotonic()
                try:
                    w.async_call('PATCH', '/1.0/instances/%s' %
                                 self.names[i % min(100, n)],
                                 {'description': 'bench %d' % (i % 2)},
                                 timeout=60)
                except Exception as e:  # noqa: BLE001 - reported below
                    werr.append(repr(e))
                    break
                wlat.append((time.monotonic() - t) * 1000)
                i += 1
                time.sleep(max(0.0, 1 / writes_per_s -
                               (time.monotonic() - t)))
            w.close()
        wt = threading.Thread(target=writer)
        wt.start()
        glat = []
        try:
            t_get = time.monotonic()
            for i in range(gets):
                if i % 100 == 0:
                    self._left()
                t = time.monotonic()
                st, body = c.raw('GET', '/1.0/instances/%s' %
                                 self.names[(i * 7919) % n])
                glat.append((time.monotonic() - t) * 1000)
                if st != 200:
                    raise LxdError('get: %d' % st)
            t_get = time.monotonic() - t_get
        finally:
            stop.set()
            wt.join()
        if werr:
            raise LxdError('writes beside the GETs: %s' % werr[0])
        c.close()
        res['get_p50_ms'] = round(percentile(glat, 50), 2)
        res['get_p99_ms'] = round(percentile(glat, 99), 2)
        res['get_per_s'] = round(gets / t_get, 1)
        res['write_p99_ms_beside'] = round(percentile(wlat, 99), 2)
        time.sleep(2)
        own, mon, nmon = self.rss()
        res['rss_mib'] = own
        res['rss_mib_per_instance'] = round((own - res['rss_mib_idle']) /
                                            n, 3)
        res['monitors_pss_mib'] = mon
        res['monitors'] = nmon
        res['rss_counted'] = ('rss_mib: the lxd process alone (idle: '
                              'initialized, before the image is imported); '
                              'the per-container [lxc monitor] processes '
                              'apart, as a sum of PSS (monitors_pss_mib); '
                              'the containers\' own processes not counted')
        return res


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument('--instances', type=int, default=200)
    ap.add_argument('--clients', type=int, default=8)
    ap.add_argument('--timeout', type=int, default=1800)
    a = ap.parse_args()
    if not find_lxd():
        raise SystemExit('lxd is not installed: %s' % INSTALL_HINT)
    with Lxd(a.timeout) as x:
        res = x.run(a.instances, a.clients)
    print(json.dumps(res))


if __name__ == '__main__':
    main()
