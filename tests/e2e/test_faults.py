"""Faults the controller must survive: signals during start-up and a wall
clock stepped back (libfaketime)."""
import errno
import glob
import os
import signal
import stat
import subprocess
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


if __name__ == '__main__':
    unittest.main()
