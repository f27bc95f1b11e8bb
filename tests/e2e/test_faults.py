"""Faults the controller must survive: signals during start-up, a wall
clock stepped back (libfaketime), a full disk, a libvirtd that stops
answering."""
import errno
import glob
import os
import selectors
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Daemon, SAN_DIR

# the thread-safe variant: vireod reads the clock from many threads
FAKETIME = (glob.glob('/usr/lib/*/faketime/libfaketimeMT.so.1') or
            glob.glob('/usr/lib/*/faketime/libfaketime.so.1') or [None])[0]


class StartupSignals(unittest.TestCase):

    def test_sighup_during_start(self):
        """SIGHUP while vireod is still reading its settings (a config
        file that is a FIFO holds it there) does not kill it."""
        d = Daemon('sighup')
        fifo = os.path.join(d.dir, 'vireod.conf')
        os.mkfifo(fifo, 0o600)
        try:
            d.start(wait=False, extra=('--config', fifo))
            # it is blocked opening the FIFO, before it reads a setting
            until = time.monotonic() + 10
            blocked = False
            while time.monotonic() < until and not blocked:
                with open('/proc/%d/status' % d.proc.pid) as f:
                    for line in f:
                        if line.startswith('SigBlk:'):
                            blocked = int(line.split()[1], 16) & \
                                (1 << (signal.SIGHUP - 1)) != 0
                time.sleep(0.02)
            self.assertTrue(blocked, 'SIGHUP is not blocked at start')
            self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode))
            d.proc.send_signal(signal.SIGHUP)
            time.sleep(0.2)
            self.assertIsNone(d.proc.poll(), 'SIGHUP killed vireod')
            with open(fifo, 'w') as f:
                f.write('# settings come from --set\n')
            d.wait_ready()
            self.assertEqual(d.get('/api/v1/health')['status'], 'ok')
        finally:
            d.cleanup()


@unittest.skipUnless(FAKETIME, 'libfaketime is not installed')
class ClockStep(unittest.TestCase):
    """vireod under libfaketime: the wall clock is stepped back an hour
    while it runs (its monotonic clock is left alone)."""

    def test_wall_clock_stepped_back(self):
        d = Daemon('clock', {'poll_interval': '1'})
        offset = os.path.join(d.dir, 'faketime')
        with open(offset, 'w') as f:
            f.write('+0\n')
        env = {
            'LD_PRELOAD': FAKETIME,
            'FAKETIME_TIMESTAMP_FILE': offset,
            'FAKETIME_NO_CACHE': '1',
            'FAKETIME_DONT_FAKE_MONOTONIC': '1',
            # libfaketime is preloaded before ASan's runtime
            'ASAN_OPTIONS': 'log_path=%s/asan:detect_leaks=1:abort_on_error=0'
                            ':verify_asan_link_order=0' % SAN_DIR,
        }
        try:
            d.start(env=env)
            d.login()
            host = d.get('/api/v1/hosts')['items'][0]
            st, _, r = d.request('POST', '/api/v1/users',
                                 {'name': 'clocky', 'password': 'pw-123456789',
                                  'group': 'users'})
            self.assertEqual(st, 201, r)
            # a few wrong passwords are free, then 1 s of lockout
            for _ in range(10):
                st, _, r = d.request('POST', '/api/v1/tokens',
                                     {'user': 'clocky', 'password': 'wrong'},
                                     auth=False)
                if st == 429:
                    break
            self.assertEqual(st, 429, r)
            with open(offset, 'w') as f:
                f.write('-3600\n')
            time.sleep(2.5)
            # the lockout ended after its second, not an hour later
            st, _, r = d.request('POST', '/api/v1/tokens',
                                 {'user': 'clocky',
                                  'password': 'pw-123456789'}, auth=False)
            self.assertEqual(st, 201, r)
            # the host is still read and written: its monitored_at moved
            # (an hour back) instead of waiting for the clock to catch up
            after = d.get('/api/v1/hosts/%d' % host['id'])
            self.assertNotEqual(after['monitored_at'], host['monitored_at'])
            self.assertLess(after['monitored_at'], host['monitored_at'])
            self.assertEqual(after['state'], 'MONITORED')
        finally:
            d.cleanup()


class DiskFull(unittest.TestCase):
    """The state directory on a small tmpfs, filled while a stop runs."""

    def test_store_full(self):
        d = Daemon('diskfull', {'stop_timeout': '6', 'poll_interval': '1'})
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=96m,mode=0755',
                        'tmpfs', d.dir], check=True)
        filler = os.path.join(d.dir, 'filler')
        try:
            d.start()
            d.upload_image('guest')
            d.create_vm('full', memory='128M')
            vm = d.wait_vm('full', 'RUNNING')
            st, _, r = d.request('POST', '/api/v1/vms/full/stop', {})
            self.assertEqual(st, 202, r)
            job = r['job']['id']
            # the disk fills up while the stop runs
            with open(filler, 'wb') as f:
                try:
                    while True:
                        f.write(b'\0' * (1 << 20))
                        f.flush()
                except OSError as e:
                    self.assertEqual(e.errno, errno.ENOSPC)
            # a change is refused with 507 and what is full; reads work
            st, _, r = d.request('POST', '/api/v1/ownership',
                                 {'kind': 'vm', 'ids': [vm['id']],
                                  'permissions': '600'})
            self.assertEqual(st, 507, r)
            self.assertEqual(r['type'],
                             'https://vireo.dev/problems/insufficient-storage')
            self.assertIn('disk is full', r['detail'])
            self.assertEqual(d.get('/api/v1/vms/full')['permissions'], '640')
            # logins work (someone must log in to free the disk), and
            # their tokens do
            token = d.login()
            st, _, r = d.request('GET', '/api/v1/vms/full', token=token)
            self.assertEqual(st, 200, r)
            # the stop cannot record its end: it is not lost, it waits
            time.sleep(10)
            self.assertEqual(d.get('/api/v1/jobs/%d' % job)['status'],
                             'running')
            self.assertEqual(d.get('/api/v1/vms/full')['task']['op'], 'stop')
            # space comes back: the stop ends, the guest is off
            os.unlink(filler)
            done = d.wait_job(job, timeout=90)
            self.assertEqual(done['status'], 'succeeded', done)
            d.wait_vm('full', 'POWEROFF')
            self.assertEqual(d.domains()[vm['uuid']], 'shut off')
        finally:
            try:
                d.stop()
            finally:
                subprocess.run(['umount', d.dir])
                d.cleanup()


class DatastoreSpace(unittest.TestCase):
    """The VM datastore on a small tmpfs: a create waits for space, and
    is placed when space is added (no one asks again)."""

    def test_create_waits_for_space_then_runs(self):
        system = tempfile.mkdtemp(prefix='vireo-e2e-ds-')
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64m,mode=0711',
                        'tmpfs', system], check=True)
        d = Daemon('dsspace', {'system_dir': system, 'poll_interval': '1'})
        try:
            d.start()
            d.upload_image('guest')
            r = d.create_vm('roomy', memory='128M', wait=False,
                            disks=[{'size': '1G'}])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                vm = d.vm('roomy')
                if vm['task'] and vm['task']['phase'] == 'waiting':
                    break
                time.sleep(0.2)
            self.assertIn('lack datastore space', vm['placement']['why'])
            # the datastore grows: the create goes on by itself, at the
            # next reading of the host (1 s), not at the next minute
            subprocess.run(['mount', '-o', 'remount,size=3g', system],
                           check=True)
            done = d.wait_job(r['job']['id'], timeout=12)
            self.assertEqual(done['status'], 'succeeded', done)
            vm = d.wait_vm('roomy', 'RUNNING')
            self.assertTrue(vm['disks'][1]['path'].startswith(system + '/'))
        finally:
            try:
                d.cleanup()
            finally:
                subprocess.run(['umount', system])
                os.rmdir(system)


class DamagedWal(unittest.TestCase):
    """The store's write-ahead log loses its last frame while vireod is
    down (killed before it folded the log into the database)."""

    def test_lost_commit_refuses_start(self):
        d = Daemon('wal')
        db = os.path.join(d.dir, 'vireo.db')
        try:
            d.start()
            st, _, r = d.request('POST', '/api/v1/users',
                                 {'name': 'walter', 'password': 'pw-123456789',
                                  'group': 'users'})
            self.assertEqual(st, 201, r)
            d.kill9()
            wal = db + '-wal'
            size = os.path.getsize(wal)
            self.assertGreater(size, 32 + 24 + 4096)
            os.truncate(wal, size - (24 + 4096))
            # SQLite would open it without a word: vireod refuses, loudly
            d.start(wait=False)
            self.assertNotEqual(d.wait_exit(60), 0)
            with open(d.stderr_path) as f:
                said = f.read()
            self.assertIn('lost 1 acknowledged transactions', said + d.log_tail())
            self.assertIn('vireo.db.commits', d.log_tail())
            # the operator accepts the loss: it starts with what it holds
            # (the lost transaction was the last: the user's, unless the
            # monitor wrote after it)
            os.unlink(db + '.commits')
            d.start()
            self.assertEqual(d.get('/api/v1/health')['status'], 'ok')
        finally:
            d.cleanup()


class FreezableProxy:
    """A UNIX socket relaying to libvirtd's.  Frozen, it neither accepts
    nor relays (what is sent waits in the kernel's buffers), as a
    libvirtd that was stopped (SIGSTOP) or hangs looks to its clients;
    thawed, it carries on.  The real libvirtd is never stopped, so the
    other tests' daemons are not disturbed."""

    TARGET = '/run/libvirt/libvirt-sock'

    def __init__(self, path):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)
        self.frozen = threading.Event()
        self.done = threading.Event()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _drop(self, a, b):
        for s in (a, b):
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()

    def _run(self):
        while not self.done.is_set():
            if self.frozen.is_set():
                time.sleep(0.05)
                continue
            for key, _ in self.sel.select(0.1):
                if key.data is None:
                    c, _ = self.listener.accept()
                    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    u.connect(self.TARGET)
                    self.sel.register(c, selectors.EVENT_READ, u)
                    self.sel.register(u, selectors.EVENT_READ, c)
                    continue
                src, dst = key.fileobj, key.data
                try:
                    data = src.recv(65536)
                    if data:
                        dst.sendall(data)
                        continue
                except OSError:
                    pass
                self._drop(src, dst)

    def close(self):
        self.done.set()
        self.thread.join(5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


class HungLibvirtd(unittest.TestCase):
    """vireod talks to libvirtd through a relay that is frozen while a
    stop runs: the call fails by its deadline, the host goes OFFLINE, the
    daemon stops on SIGTERM, and a new start reconciles."""

    def test_libvirtd_stops_answering(self):
        d = Daemon('hung', {'node_timeout': '4', 'poll_interval': '1',
                            'stop_timeout': '20'})
        sock = os.path.join(d.dir, 'libvirt.sock')
        d.settings['libvirt_uri'] = 'qemu+unix:///system?socket=' + sock
        proxy = FreezableProxy(sock)
        try:
            d.start()
            d.upload_image('guest')
            d.create_vm('hv', memory='128M')
            vm = d.wait_vm('hv', 'RUNNING')
            host = d.get('/api/v1/hosts')['items'][0]

            proxy.frozen.set()
            t0 = time.monotonic()
            st, _, r = d.request('POST', '/api/v1/vms/hv/stop', {})
            self.assertEqual(st, 202, r)
            # the stop fails by the node's deadline, not the guest's 20 s
            # nor whenever libvirtd answers again
            job = d.wait_job(r['job']['id'], timeout=30)
            took = time.monotonic() - t0
            self.assertEqual(job['status'], 'failed', job)
            self.assertIn('libvirtd did not answer', job['error'])
            self.assertLess(took, 12, job)
            # the host goes OFFLINE; its VM keeps its record; reads work
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                h = d.get('/api/v1/hosts/%d' % host['id'])
                if h['state'] == 'OFFLINE':
                    break
                time.sleep(0.5)
            self.assertEqual(h['state'], 'OFFLINE', h)
            self.assertRegex(h['error'], 'libvirt')
            self.assertEqual(d.vm('hv')['state'], 'RUNNING')

            # SIGTERM ends the daemon though libvirtd still does not answer
            t0 = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            self.assertEqual(d.wait_exit(30), 0)
            self.assertLess(time.monotonic() - t0, 15)

            # libvirtd answers again (the stop it was sent may now run:
            # "timed out" means "may have happened"); a new start
            # reconciles the VM with what libvirt has
            proxy.frozen.clear()
            d.start()
            deadline = time.monotonic() + 60
            seen = None
            while time.monotonic() < deadline:
                h = d.get('/api/v1/hosts/%d' % host['id'])
                dom = d.domains().get(vm['uuid'])
                seen = (h['state'], d.vm('hv')['state'], dom)
                if seen in (('MONITORED', 'RUNNING', 'running'),
                            ('MONITORED', 'POWEROFF', 'shut off')):
                    break
                time.sleep(0.5)
            self.assertIn(seen, (('MONITORED', 'RUNNING', 'running'),
                                 ('MONITORED', 'POWEROFF', 'shut off')))
            if seen[1] == 'RUNNING':
                d.action('hv', 'stop')
                d.wait_vm('hv', 'POWEROFF', timeout=60)
            self.assertEqual(d.domains()[vm['uuid']], 'shut off')
        finally:
            proxy.frozen.clear()
            try:
                d.cleanup()
            finally:
                proxy.close()


if __name__ == '__main__':
    unittest.main()
