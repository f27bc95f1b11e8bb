"""`make run`'s script (tools/run.sh): a host, the guest image and a demo
VM; run again, it changes nothing; if vireod died, it starts it again."""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (ROOT, SAN_DIR, VIREOD, VIREO, Daemon, free_port, modes,
                     readable_by_others)


def d_console(test, vm_uuid):
    return test.d.vm(vm_uuid)['console']['vnc']


def read_pid(state):
    with open(os.path.join(state, 'vireod.pid')) as f:
        return int(f.read())


class Quickstart(unittest.TestCase):

    def run_script(self, env):
        r = subprocess.run([os.path.join(ROOT, 'tools', 'run.sh')], env=env,
                           capture_output=True, text=True, timeout=900)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def check_modes(self, state, vm_uuid):
        """Nothing under the state directory is for other local users:
        secrets and tenant data 0600 (images 0400), directories 0700, and
        0711 where QEMU must pass; an unprivileged user reads nothing."""
        m = modes(state)
        disk = os.path.join('datastores', 'system', vm_uuid, 'disk-0.qcow2')
        self.assertEqual(m['.'], 0o711)
        for path, want in (('vireo.db', 0o600), ('vireo.db-wal', 0o600),
                           ('vireod.log', 0o600), ('audit.log', 0o600),
                           ('admin-password', 0o600), ('instance', 0o600),
                           ('tls', 0o700), ('datastores', 0o711),
                           ('datastores/images', 0o711),
                           ('datastores/system', 0o711),
                           (os.path.dirname(disk), 0o711), (disk, 0o600)):
            self.assertEqual(m.get(path), want, path)
        images = [p for p in m if p.startswith('datastores/images/')]
        self.assertTrue(images)
        for p in images:
            self.assertEqual(m[p], 0o400, p)
        for p, mode in m.items():
            # no file is readable or writable by group or others; only
            # the directories on QEMU's way may be crossed
            self.assertEqual(mode & 0o066, 0, (p, oct(mode)))
        self.assertEqual(readable_by_others(state), [])
        # VNC listens on a UNIX socket, never on TCP
        self.assertTrue(d_console(self, vm_uuid).startswith('unix:'))

    def test_run_twice_and_restart(self):
        state = tempfile.mkdtemp(prefix='vireo-e2e-quickstart-')
        os.chmod(state, 0o755)
        home = tempfile.mkdtemp(prefix='vireo-e2e-home-')
        port = free_port()
        env = dict(os.environ, VIREO_STATE_DIR=state,
                   VIREO_LISTEN='127.0.0.1:%d' % port, HOME=home,
                   VIREOD_BIN=VIREOD, VIREO_BIN=VIREO)
        env['ASAN_OPTIONS'] = 'log_path=%s/asan:detect_leaks=1' % SAN_DIR
        env['UBSAN_OPTIONS'] = 'log_path=%s/ubsan:print_stacktrace=1' % \
            SAN_DIR
        env.pop('VIREO_URL', None)
        env.pop('VIREO_TOKEN', None)
        env.pop('VIREO_CONFIG', None)
        d = self.d = Daemon('quickstart')
        subprocess.run(['rm', '-rf', d.dir])
        d.dir, d.port, d.url = state, port, 'https://127.0.0.1:%d' % port
        try:
            out = self.run_script(env)
            self.assertIn('https://127.0.0.1:%d/api/v1' % port, out)
            self.assertIn(os.path.join(state, 'tls', 'ca.pem'), out)
            self.assertIn('sha256//', out)
            self.assertIn('admin-password', out)
            self.assertIn('vireo vm list', out)
            self.assertEqual(os.stat(os.path.join(state, 'admin-password'))
                             .st_mode & 0o777, 0o600)
            d.token = d.login()
            d.instance = d.request('GET', '/api/v1/health',
                                   auth=False)[2]['instance']
            vm = d.wait_vm('demo', 'RUNNING')
            d.wait_console('demo', 'VIREO-GUEST-READY')
            # root's CLI works with no further login
            r = subprocess.run([VIREO, 'vm', 'list'], env=env,
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('demo', r.stdout)
            jobs = d.get('/api/v1/jobs')['total']
            images = d.get('/api/v1/images')['items']
            pid = read_pid(state)
            self.check_modes(state, vm['uuid'])

            # again: nothing changes
            self.run_script(env)
            self.assertEqual(read_pid(state), pid)
            self.assertEqual(d.get('/api/v1/jobs')['total'], jobs)
            self.assertEqual(d.get('/api/v1/images')['items'], images)
            self.assertEqual(d.vm('demo')['id'], vm['id'])

            # an older version (or an operator) left everything readable:
            # the next start puts the modes back
            for dirpath, dirs, files in os.walk(state):
                for n in dirs:
                    os.chmod(os.path.join(dirpath, n), 0o755)
                for n in files:
                    p = os.path.join(dirpath, n)
                    if not os.path.islink(p):
                        os.chmod(p, os.stat(p).st_mode | 0o044)
            os.chmod(state, 0o755)
            self.assertTrue(readable_by_others(state))

            # vireod died: the script starts it again, the VM is adopted
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            self.run_script(env)
            self.assertNotEqual(read_pid(state), pid)
            again = d.wait_vm('demo', 'RUNNING')
            self.assertEqual(again['uuid'], vm['uuid'])
            self.assertEqual(len(d.vms()), 1)
            self.assertEqual(list(d.domains()), [vm['uuid']])
            self.check_modes(state, vm['uuid'])
        finally:
            pidf = os.path.join(state, 'vireod.pid')
            if os.path.exists(pidf):
                pid = read_pid(state)
                try:
                    os.kill(pid, signal.SIGTERM)
                    for _ in range(300):
                        os.kill(pid, 0)
                        time.sleep(0.1)
                except ProcessLookupError:
                    pass
            d.cleanup()
            subprocess.run(['rm', '-rf', home])


if __name__ == '__main__':
    unittest.main()
