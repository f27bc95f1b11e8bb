"""End-to-end test harness: a private vireod on real libvirt, an API client
and the CLI.

Each test module starts its own daemon (own state directory and port) from
the build given in $VIREO_BUILD, so tests never touch a `make run`
installation.  Domains are matched by Vireo's metadata (installation id),
so other domains on this libvirt are left alone.

The API is HTTPS, verified against the CA the daemon makes at first start
(<state_dir>/tls/ca.pem; the CLI gets it as $VIREO_CA_FILE), unless the
daemon runs with settings={'insecure_http': 'true'} (plain HTTP).

Every answer the harness reads (request(), stream_status(),
raw_response(), and each event of an EventStream) is checked against
docs/openapi.json by
openapi_check: an answer the document does not describe, or a request the
server accepted though the document forbids it, fails the test that saw
it.  Debugging aids only: VIREO_OPENAPI_CHECK=0 turns the check off;
VIREO_OPENAPI_CHECK=collect writes violations to
$VIREO_SAN_DIR/openapi-violations.log instead of failing.
"""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

import openapi_check

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.join(ROOT, os.environ.get('VIREO_BUILD', 'build-check'))
VIREOD = os.path.join(BUILD, 'vireod')
VIREO = os.path.join(BUILD, 'vireo')
GUEST = os.environ.get('VIREO_GUEST', '/var/cache/vireo/guest')
GUEST_IMAGE = os.path.join(GUEST, 'vireo-guest.qcow2')
SAN_DIR = os.environ.get('VIREO_SAN_DIR', '/tmp/vireo-e2e-san')
META_NS = 'https://vireo.dev/xmlns/domain/1'
OPENAPI_CHECK = os.environ.get('VIREO_OPENAPI_CHECK', '1')


SANITIZER_MARKERS = ('runtime error:', 'ERROR: AddressSanitizer',
                     'ERROR: LeakSanitizer', 'SUMMARY: UndefinedBehavior')


def assert_no_sanitizer_report(text, what):
    for m in SANITIZER_MARKERS:
        if m in text:
            raise AssertionError('sanitizer report from %s:\n%s' % (what, text))


def report(violations, what):
    """Fail with the violations found in `what` (or, with
    VIREO_OPENAPI_CHECK=collect, append them to a file)."""
    if not violations:
        return
    text = '%s:\n  %s' % (what, '\n  '.join(violations))
    if OPENAPI_CHECK == 'collect':
        os.makedirs(SAN_DIR, exist_ok=True)
        with open(os.path.join(SAN_DIR, 'openapi-violations.log'), 'a') as f:
            f.write(text + '\n')
        return
    raise AssertionError(text)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def virsh(*args, check=True):
    r = subprocess.run(['virsh', '-c', 'qemu:///system'] + list(args),
                       capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError('virsh %s: %s' % (' '.join(args), r.stderr))
    return r


class Daemon:
    """A vireod in the foreground, as a child process."""

    def __init__(self, name, settings=None):
        self.dir = tempfile.mkdtemp(prefix='vireo-e2e-%s-' % name)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.settings = {
            # the probe is tested by test_host; elsewhere it only costs time
            'hypervisor': 'qemu',
            'probe_timeout': '10',
            'poll_interval': '2',
            'log_level': 'debug',
            'log_file': os.path.join(self.dir, 'vireod.log'),
            'stop_timeout': '30',
            # this 2-CPU machine would hold only 8 one-vCPU VMs at the
            # default overcommit; tests make more (test_sched sets its own)
            'host_cpu_ratio': '32',
        }
        if os.environ.get('VIREO_E2E_PLAIN'):
            # debugging aid: plain HTTP on loopback
            self.settings['insecure_http'] = 'true'
        self.settings.update(settings or {})
        self.tls = str(self.settings.get('insecure_http', 'false')).lower() \
            not in ('true', 'yes', 'on', '1')
        self.url = '%s://127.0.0.1:%d' % ('https' if self.tls else 'http',
                                          self.port)
        self._ca_file = None
        self._ssl = None
        self.proc = None
        self.token = None
        self.instance = None

    def start(self, env=None, wait=True, extra=()):
        args = [VIREOD, '--state-dir', self.dir, '--listen',
                '127.0.0.1:%d' % self.port] + list(extra)
        for k, v in self.settings.items():
            args += ['--set', '%s=%s' % (k, v)]
        e = dict(os.environ)
        os.makedirs(SAN_DIR, exist_ok=True)
        e['ASAN_OPTIONS'] = ('log_path=%s/asan:detect_leaks=1:'
                             'abort_on_error=0' % SAN_DIR)
        e['UBSAN_OPTIONS'] = 'log_path=%s/ubsan:print_stacktrace=1' % SAN_DIR
        e.pop('VIREO_FAULT_POINT', None)
        if env:
            e.update(env)
        # stderr is kept beside the sanitizer logs: run.sh scans it
        self.stderr_path = os.path.join(
            SAN_DIR, 'stderr-%s.log' % os.path.basename(self.dir))
        with open(self.stderr_path, 'ab') as errf:
            self.proc = subprocess.Popen(args, env=e,
                                         stdout=subprocess.DEVNULL,
                                         stderr=errf)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError('vireod exited with %s:\n%s' %
                                     (self.proc.returncode, self.log_tail()))
            try:
                st, _, body = self.request('GET', '/api/v1/health',
                                           auth=False)
                if st == 200:
                    self.instance = body['instance']
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError('vireod did not answer:\n' + self.log_tail())
        if not self.token:
            self.token = self.login()

    def password(self):
        with open(os.path.join(self.dir, 'admin-password')) as f:
            return f.read().strip()

    def login(self, user='admin', password=None):
        st, _, body = self.request('POST', '/api/v1/tokens',
                                   {'user': user,
                                    'password': password or self.password()},
                                   auth=False)
        assert st == 201, body
        return body['token']

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.wait_exit(60)
        self.proc = None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def backtrace(self):
        """Every thread's stack of the running daemon (gdb), or why not."""
        try:
            return subprocess.run(
                ['gdb', '-p', str(self.proc.pid), '-batch', '-nx',
                 '-ex', 'thread apply all bt'],
                capture_output=True, text=True, timeout=60).stdout[-20000:]
        except (OSError, subprocess.TimeoutExpired) as e:
            return 'no backtrace: %s' % e

    def wait_exit(self, timeout=120):
        """The exit status; a daemon still running after `timeout`
        seconds is killed (a hung stop fails the test, with every
        thread's stack, and never hangs the suite)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stacks = self.backtrace()
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AssertionError('vireod did not stop within %d s:\n%s\n'
                                 '%s' % (timeout, self.log_tail(), stacks))
        rc = self.proc.returncode
        self.proc = None
        return rc

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.dir, 'vireod.log')) as f:
                lines = f.readlines()
            return ''.join(lines[-n:])
        except OSError:
            return '(no log)'

    # ---- HTTP

    @property
    def ca_file(self):
        """The CA that vouches for the API (the generated one unless set)."""
        return self._ca_file or os.path.join(self.dir, 'tls', 'ca.pem')

    @ca_file.setter
    def ca_file(self, path):
        self._ca_file = path

    def ssl_context(self):
        """A client context trusting only ca_file (re-read if it changed)."""
        key = (self.ca_file, os.stat(self.ca_file).st_mtime_ns)
        if not self._ssl or self._ssl[0] != key:
            self._ssl = (key, ssl.create_default_context(cafile=self.ca_file))
        return self._ssl[1]

    def connection(self, timeout=120, source=None):
        """A new HTTPS (or, with insecure_http, HTTP) connection; `source`
        is a loopback address to connect from (127.0.0.1 if None), so
        that one test's client stays apart from another's in the
        per-address limits."""
        src = (source, 0) if source else None
        if self.tls:
            return http.client.HTTPSConnection('127.0.0.1', self.port,
                                               timeout=timeout,
                                               context=self.ssl_context(),
                                               source_address=src)
        return http.client.HTTPConnection('127.0.0.1', self.port,
                                          timeout=timeout,
                                          source_address=src)

    def raw_socket(self, timeout=30, source=None):
        """A connected socket to the API (TLS done) for hand-made bytes."""
        s = socket.create_connection(('127.0.0.1', self.port),
                                     timeout=timeout,
                                     source_address=(source, 0) if source
                                     else None)
        if self.tls:
            s = self.ssl_context().wrap_socket(s,
                                               server_hostname='127.0.0.1')
        return s

    def raw_response(self, s, method, target, req_headers=None,
                     req_body=None):
        """Read one answer (status line, headers, a Content-Length body)
        from a raw socket on which a request was sent by hand, check it
        against the document like any other, and return (status,
        {header: value}, body bytes)."""
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError('no answer: %r' % data)
            data += chunk
        head, _, body = data.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        status = int(lines[0].split(' ', 2)[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(':')
            headers[k.strip()] = v.strip()
        want = int(headers.get('Content-Length', '0'))
        while len(body) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        self.check_openapi(method, target, status, headers, body,
                           req_headers, req_body)
        return status, headers, body

    def check_openapi(self, method, target, status, headers, body,
                      req_headers=None, req_body=None):
        """Fail (AssertionError) if docs/openapi.json does not describe
        this exchange (see openapi_check)."""
        if OPENAPI_CHECK == '0':
            return
        if isinstance(req_body, str):
            req_body = req_body.encode()
        found = openapi_check.spec().check(method, target, status, headers,
                                           body, req_headers, req_body)
        report(found, 'openapi: %s %s -> %d' % (method, target, status))

    def check_event(self, path, event):
        """The violations (a list) in one event read from the stream at
        `path` ({'id':, 'event':, 'data':})."""
        if OPENAPI_CHECK == '0':
            return []
        found = openapi_check.spec().check_event(path, event)
        if OPENAPI_CHECK == 'collect':
            report(found, 'openapi: event of GET %s' % path)
            return []
        return found

    def stream_status(self, path, token):
        """Open a streaming GET, read only its status, close it."""
        conn = self.connection(timeout=30)
        h = {'Authorization': 'Bearer ' + token} if token else {}
        conn.request('GET', path, headers=h)
        r = conn.getresponse()
        status = r.status
        body = r.read() if status != 200 else b''
        conn.close()
        self.check_openapi('GET', path, status, dict(r.getheaders()), body,
                           h)
        if body:
            try:
                body = json.loads(body)
            except ValueError:
                pass
        return status, body

    def request(self, method, path, body=None, auth=True, headers=None,
                raw=None, token=None, timeout=120, source=None):
        conn = self.connection(timeout, source)
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault('Content-Type', 'application/json')
        if auth:
            h.setdefault('Authorization', 'Bearer ' + (token or self.token))
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        conn.close()
        self.check_openapi(method, path, r.status, dict(r.getheaders()),
                           text, h, data)
        ctype = r.getheader('Content-Type', '')
        if 'json' in ctype and text:
            payload = json.loads(text)
        else:
            payload = text.decode(errors='replace')
        return r.status, dict(r.getheaders()), payload

    def get(self, path):
        st, _, body = self.request('GET', path)
        assert st == 200, (path, st, body)
        return body

    def wait_job(self, job_id, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.get('/api/v1/jobs/%d?wait=10' % job_id)
            if job['status'] in ('succeeded', 'failed', 'cancelled'):
                return job
        raise AssertionError('job %d did not finish: %s' % (job_id, job))

    def vm(self, ref):
        return self.get('/api/v1/vms/%s' % ref)

    def vms(self):
        return self.get('/api/v1/vms?limit=100000')['items']

    def wait_vm(self, ref, state, timeout=60):
        deadline = time.time() + timeout
        vm = None
        while time.time() < deadline:
            vm = self.vm(ref)
            if vm['state'] == state and vm['task'] is None:
                return vm
            time.sleep(0.1)
        raise AssertionError('vm %s not %s: %s' % (ref, state, vm))

    def console(self, ref):
        st, _, body = self.request('GET', '/api/v1/vms/%s/console-log' % ref)
        assert st == 200, body
        return body

    def wait_console(self, ref, text, count=1, timeout=90):
        deadline = time.time() + timeout
        log = ''
        while time.time() < deadline:
            log = self.console(ref)
            if log.count(text) >= count:
                return log
            time.sleep(0.2)
        raise AssertionError('%r (x%d) not in console of %s:\n%s' %
                             (text, count, ref, log[-2000:]))

    def action(self, ref, op, body=None, expect=202):
        st, _, resp = self.request('POST', '/api/v1/vms/%s/%s' % (ref, op),
                                   body)
        assert st == expect, (op, st, resp)
        return resp

    def upload_image(self, name, path=GUEST_IMAGE, fmt='qcow2'):
        st, _, im = self.request('POST', '/api/v1/images',
                                 {'name': name, 'format': fmt})
        assert st == 201, im
        with open(path, 'rb') as f:
            data = f.read()
        st, _, im = self.request(
            'PUT', '/api/v1/images/%d/data' % im['id'], raw=data,
            headers={'Content-Type': 'application/octet-stream'})
        assert st == 200, im
        return im

    def create_vm(self, name, image='guest', memory='192M', wait=True,
                  **extra):
        body = {'name': name, 'image': image, 'memory': memory}
        body.update(extra)
        st, hdrs, resp = self.request('POST', '/api/v1/vms', body)
        assert st == 202, resp
        if wait:
            job = self.wait_job(resp['job']['id'])
            assert job['status'] == 'succeeded', job
        return resp

    # ---- libvirt's view, restricted to this installation

    def domains(self):
        """{uuid: state} of libvirt domains carrying this instance id."""
        out = {}
        names = virsh('list', '--all', '--name').stdout.split()
        for n in names:
            if not n.startswith('vireo-'):
                continue
            r = virsh('metadata', n, META_NS, check=False)
            if r.returncode != 0 or not r.stdout.strip():
                continue
            meta = ET.fromstring(r.stdout)
            if meta.get('instance') != self.instance:
                continue
            st = virsh('domstate', n, check=False).stdout.strip()
            out[n[len('vireo-'):]] = st
        return out

    def cleanup(self):
        """Stop the daemon and remove every domain and file it made
        (also when the stop failed)."""
        try:
            self.stop()
        finally:
            for uuid in list(self.domains()):
                virsh('destroy', 'vireo-' + uuid, check=False)
                virsh('undefine', '--managed-save', 'vireo-' + uuid,
                      check=False)
            subprocess.run(['rm', '-rf', self.dir])

    # ---- CLI

    def cli(self, *args, stdin=None, env=None):
        e = dict(os.environ)
        e['VIREO_URL'] = self.url
        e['VIREO_TOKEN'] = self.token
        if self.tls:
            e['VIREO_CA_FILE'] = self.ca_file
        e['VIREO_CONFIG'] = os.path.join(self.dir, 'cli-config.json')
        e['ASAN_OPTIONS'] = 'log_path=%s/asan-cli:detect_leaks=1' % SAN_DIR
        e['UBSAN_OPTIONS'] = 'log_path=%s/ubsan-cli:print_stacktrace=1' % \
            SAN_DIR
        if env:
            e.update(env)
        r = subprocess.run([VIREO] + list(args), input=stdin,
                           capture_output=True, text=True, env=e, timeout=600)
        assert_no_sanitizer_report(r.stderr, 'vireo ' + ' '.join(args))
        return r.returncode, r.stdout, r.stderr


class EventStream:
    """Server-Sent Events of /api/v1/events read in a background thread;
    every event is checked against the document (openapi_check): one it
    does not describe fails wait_for() and close()."""

    def __init__(self, d, query='', last_id=None, token=None):
        self.d = d
        self.path = '/api/v1/events' + query
        self.events = []
        self.comments = []
        self.violations = []
        self.lock = threading.Lock()
        self.conn = d.connection(timeout=60)
        h = {'Authorization': 'Bearer ' + (token or d.token)}
        if last_id is not None:
            h['Last-Event-ID'] = str(last_id)
        self.conn.request('GET', self.path, headers=h)
        self.resp = self.conn.getresponse()
        body = self.resp.read() if self.resp.status != 200 else b''
        d.check_openapi('GET', self.path, self.resp.status,
                        dict(self.resp.getheaders()), body, h)
        assert self.resp.status == 200, body
        assert self.resp.getheader('Content-Type') == 'text/event-stream'
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        cur = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                line = line.decode().rstrip('\n')
                if line.startswith(':'):
                    with self.lock:
                        self.comments.append(line)
                elif line == '':
                    if cur:
                        bad = self.d.check_event(self.path, cur)
                        with self.lock:
                            self.events.append(cur)
                            self.violations += bad
                        cur = {}
                else:
                    k, _, v = line.partition(': ')
                    cur[k] = v
        except (OSError, ValueError, AttributeError):
            # the stream was closed under us
            return

    def check(self):
        with self.lock:
            if self.violations:
                raise AssertionError('openapi: events of GET %s:\n  %s' %
                                     (self.path,
                                      '\n  '.join(self.violations[:10])))

    def wait_for(self, pred, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check()
            with self.lock:
                for e in self.events:
                    if pred(e):
                        return e
            time.sleep(0.05)
        raise AssertionError('event not seen; got %s' % self.events[-10:])

    def close(self):
        self.conn.close()
        self.check()


def readable_by_others(root):
    """Every path under `root` that an unprivileged user (nobody) can read
    (a file) or list (a directory), tried as that user with every path
    named (so that a directory it may not list hides nothing)."""
    paths = [root]
    for dirpath, dirs, files in os.walk(root):
        paths += [os.path.join(dirpath, n) for n in dirs + files]
    probe = ('import os, sys\n'
             'for p in sys.stdin.read().split("\\0"):\n'
             '    if not p: continue\n'
             '    try:\n'
             '        if os.path.isdir(p): os.listdir(p)\n'
             '        elif os.path.islink(p): continue\n'
             '        else: open(p, "rb").read(1)\n'
             '        print(p)\n'
             '    except OSError: pass\n')
    r = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534',
                        '--clear-groups', 'python3', '-c', probe],
                       input='\0'.join(paths), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def modes(root):
    """{path relative to root: st_mode & 0o777} of everything under it."""
    out = {'.': os.stat(root).st_mode & 0o777}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p):
                out[os.path.relpath(p, root)] = os.lstat(p).st_mode & 0o777
    return out


class DaemonTest(unittest.TestCase):
    """A test class sharing one daemon (started in setUpClass) with the
    guest image uploaded as 'guest'."""
    settings = None
    upload_guest = True

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(cls.__name__.lower(), cls.settings).start()
        if cls.upload_guest:
            cls.d.upload_image('guest')

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
