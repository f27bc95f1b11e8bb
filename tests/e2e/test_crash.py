"""kill -9 of vireod at any moment: nothing lost, nothing doubled."""
import os
import random
import time
import unittest

from harness import DaemonTest


class Crash(DaemonTest):

    def check_invariants(self):
        d = self.d
        vms = d.vms()
        doms = d.domains()
        names = [v['name'] for v in vms]
        self.assertEqual(len(names), len(set(names)), names)
        # every VM has exactly its domain, and no domain lacks a VM
        self.assertEqual(sorted(doms), sorted(v['uuid'] for v in vms))
        self.assertEqual(len(doms), len(vms))
        sysdir = os.path.join(d.dir, 'datastores', 'system')
        dirs = sorted(e for e in os.listdir(sysdir) if not e.startswith('.'))
        self.assertEqual(dirs, sorted(v['uuid'] for v in vms))
        for v in vms:
            self.assertIsNone(v['task'], v)
            want = {'RUNNING': 'running', 'POWEROFF': 'shut off',
                    'PAUSED': 'paused'}.get(v['state'])
            if want:
                self.assertEqual(doms[v['uuid']], want, v)
        return vms

    def restart_after_kill(self, env=None):
        d = self.d
        d.start(env=env)

    def test_kill_while_running(self):
        d = self.d
        d.create_vm('crash-run', memory='128M')
        vm = d.wait_vm('crash-run', 'RUNNING')
        d.wait_console('crash-run', 'VIREO-GUEST-READY')
        d.kill9()
        d.start()
        again = d.wait_vm('crash-run', 'RUNNING')
        self.assertEqual(again['id'], vm['id'])
        self.assertEqual(again['uuid'], vm['uuid'])
        self.assertEqual(d.domains()[vm['uuid']], 'running')
        # the guest kept running all along: one boot only
        time.sleep(2)
        log = d.console('crash-run')
        self.assertEqual(log.count('VIREO-GUEST-READY'), 1, log)
        self.check_invariants()

    def test_kill_at_each_create_phase(self):
        d = self.d
        for point in ('create.schedule', 'create.disks', 'create.define',
                      'create.boot', 'create.finish'):
            with self.subTest(point=point):
                d.stop()
                d.start(env={'VIREO_FAULT_POINT': point})
                name = 'crash-' + point.replace('.', '-')
                st, _, resp = d.request('POST', '/api/v1/vms',
                                        {'name': name, 'image': 'guest',
                                         'memory': '128M'})
                self.assertEqual(st, 202, resp)
                rc = d.wait_exit(120)
                self.assertEqual(rc, -9, 'vireod should have been killed at '
                                 + point)
                d.start()
                vm = d.wait_vm(name, 'RUNNING', timeout=120)
                d.wait_console(name, 'VIREO-GUEST-READY')
                job = d.get('/api/v1/jobs/%d' % resp['job']['id'])
                self.assertEqual(job['status'], 'succeeded', job)
                self.assertGreaterEqual(job['attempts'], 2, job)
                self.assertEqual(vm['uuid'], resp['vm']['uuid'])
                self.check_invariants()

    def test_kill_at_random_moments(self):
        d = self.d
        rnd = random.Random(int(os.environ.get('VIREO_SEED', '20261121')))
        print('\n  random kill seed: %s' %
              os.environ.get('VIREO_SEED', '20261121'))
        for i in range(4):
            name = 'crash-rnd-%d' % i
            st, _, resp = d.request('POST', '/api/v1/vms',
                                    {'name': name, 'image': 'guest',
                                     'memory': '128M'})
            self.assertEqual(st, 202, resp)
            time.sleep(rnd.uniform(0.0, 0.6))
            d.kill9()
            d.start()
            vm = d.wait_vm(name, 'RUNNING', timeout=120)
            self.assertEqual(vm['id'], resp['vm']['id'])
            self.check_invariants()

    def test_kill_during_delete(self):
        d = self.d
        d.create_vm('crash-del', memory='128M')
        vm = d.wait_vm('crash-del', 'RUNNING')
        for point in ('delete.undefine',):
            d.stop()
            d.start(env={'VIREO_FAULT_POINT': point})
            st, _, resp = d.request('DELETE', '/api/v1/vms/crash-del')
            self.assertEqual(st, 202, resp)
            self.assertEqual(d.wait_exit(120), -9)
            d.start()
            job = d.wait_job(resp['job']['id'])
            self.assertEqual(job['status'], 'succeeded', job)
            st, _, _ = d.request('GET', '/api/v1/vms/%d' % vm['id'])
            self.assertEqual(st, 404)
            self.assertNotIn(vm['uuid'], d.domains())
            self.check_invariants()

    def test_kill_during_stop_and_suspend(self):
        d = self.d
        d.create_vm('crash-ops', memory='128M')
        d.wait_vm('crash-ops', 'RUNNING')
        d.wait_console('crash-ops', 'VIREO-GUEST-READY')
        for point, op, final in (('suspend.save', 'suspend', 'SUSPENDED'),
                                 ('resume.finish', 'resume', 'RUNNING'),
                                 ('stop.shutdown', 'stop', 'POWEROFF')):
            with self.subTest(point=point):
                d.stop()
                d.start(env={'VIREO_FAULT_POINT': point})
                r = d.action('crash-ops', op)
                self.assertEqual(d.wait_exit(120), -9)
                d.start()
                job = d.wait_job(r['job']['id'])
                self.assertEqual(job['status'], 'succeeded', job)
                d.wait_vm('crash-ops', final)
                self.check_invariants()


if __name__ == '__main__':
    unittest.main()
