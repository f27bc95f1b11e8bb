"""Failed, crashed and stuck operations, and `recover`."""
import glob
import json
import os
import shutil
import signal
import time
import unittest

from harness import DaemonTest, Daemon


def qemu_pid(uuid):
    with open('/run/libvirt/qemu/vireo-%s.pid' % uuid) as f:
        return int(f.read().strip())


class Recover(DaemonTest):

    def test_delete_in_any_state(self):
        """Delete during a create in flight and during a stop that waits
        for the guest: accepted, and nothing is left in libvirt or on
        disk."""
        d = self.d
        sysdir = os.path.join(d.dir, 'datastores', 'system')
        # a create in flight
        flight = d.create_vm('del-flight', memory='128M', wait=False)
        st, _, body = d.request('DELETE', '/api/v1/vms/del-flight')
        self.assertEqual(st, 202, body)
        self.assertEqual(d.wait_job(body['job']['id'])['status'],
                         'succeeded')
        self.assertIn(d.wait_job(flight['job']['id'])['status'],
                      ('cancelled', 'succeeded'))
        # a stop waiting for the guest (the guest is given the whole
        # minute; the delete does not wait for it)
        d.create_vm('del-stop', memory='128M')
        vm = d.wait_vm('del-stop', 'RUNNING')
        st, _, stop = d.request('POST', '/api/v1/vms/del-stop/stop',
                                {'timeout': 60})
        self.assertEqual(st, 202, stop)
        time.sleep(0.5)
        t0 = time.monotonic()
        st, _, body = d.request('DELETE', '/api/v1/vms/del-stop')
        self.assertEqual(st, 202, body)
        self.assertEqual(d.wait_job(body['job']['id'])['status'],
                         'succeeded')
        self.assertLess(time.monotonic() - t0, 30)
        self.assertIn(d.wait_job(stop['job']['id'])['status'],
                      ('cancelled', 'succeeded'))
        gone = (flight['vm']['uuid'], vm['uuid'])
        for name in ('del-flight', 'del-stop'):
            st, _, _ = d.request('GET', '/api/v1/vms/%s' % name)
            self.assertEqual(st, 404)
        doms = d.domains()
        self.assertFalse([u for u in gone if u in doms])
        self.assertFalse([e for e in os.listdir(sysdir) if e in gone])

    def test_failed_create_retry_and_failure(self):
        d = self.d
        im = d.get('/api/v1/images/guest')
        hidden = im['path'] + '.hidden'
        os.chmod(im['path'], 0o644)
        shutil.move(im['path'], hidden)
        try:
            resp = d.create_vm('rec-fail', wait=False)
            job = d.wait_job(resp['job']['id'])
            self.assertEqual(job['status'], 'failed')
            vm = d.vm('rec-fail')
            self.assertEqual(vm['state'], 'FAILED')
            self.assertEqual(vm['task']['op'], 'create')
            self.assertEqual(vm['task']['status'], 'failed')
            self.assertEqual(vm['task']['phase'], 'disks')
            self.assertTrue(vm['error'])
            # only recover and delete are accepted now
            st, _, body = d.request('POST', '/api/v1/vms/rec-fail/start')
            self.assertEqual(st, 409)
            self.assertIn('recover', body['detail'])
            rc, out, err = d.cli('vm', 'show', 'rec-fail')
            self.assertEqual(rc, 0, err)
            self.assertIn('disks', out)
        finally:
            shutil.move(hidden, im['path'])
        rc, out, err = d.cli('vm', 'recover', 'rec-fail', '--retry', '--wait')
        self.assertEqual(rc, 0, err)
        vm = d.wait_vm('rec-fail', 'RUNNING')
        self.assertIsNone(vm['error'])
        d.wait_console('rec-fail', 'VIREO-GUEST-READY')

        # the same failure, given up with --failure, then deleted
        shutil.move(im['path'], hidden)
        try:
            resp = d.create_vm('rec-fail2', wait=False)
            d.wait_job(resp['job']['id'])
        finally:
            shutil.move(hidden, im['path'])
        r = d.action('rec-fail2', 'recover', {'mode': 'failure'})
        d.wait_job(r['job']['id'])
        vm = d.vm('rec-fail2')
        self.assertEqual(vm['state'], 'FAILED')
        self.assertIsNone(vm['task'])
        r = d.request('DELETE', '/api/v1/vms/rec-fail2')
        self.assertEqual(d.wait_job(r[2]['job']['id'])['status'], 'succeeded')
        self.assertNotIn(vm['uuid'], d.domains())

    def test_crashed_guest(self):
        d = self.d
        d.create_vm('rec-crash', memory='128M')
        vm = d.wait_vm('rec-crash', 'RUNNING')
        d.wait_console('rec-crash', 'VIREO-GUEST-READY')
        os.kill(qemu_pid(vm['uuid']), signal.SIGKILL)
        vm = d.wait_vm('rec-crash', 'FAILED', timeout=10)
        self.assertIn('crashed', vm['error'])
        r = d.action('rec-crash', 'recover', {'mode': 'retry'})
        self.assertEqual(d.wait_job(r['job']['id'])['status'], 'succeeded')
        d.wait_vm('rec-crash', 'RUNNING')
        d.wait_console('rec-crash', 'VIREO-GUEST-READY')
        os.kill(qemu_pid(vm['uuid']), signal.SIGKILL)
        d.wait_vm('rec-crash', 'FAILED', timeout=10)
        r = d.action('rec-crash', 'recover', {'mode': 'failure'})
        d.wait_job(r['job']['id'])
        d.wait_vm('rec-crash', 'POWEROFF')

    def test_guest_poweroff_is_seen_at_once(self):
        """With the safety-net poll an hour away, only libvirt's event can
        tell vireod that the guest powered itself off."""
        d = Daemon('recover-events', {'poll_interval': '3600'})
        try:
            d.start()
            d.upload_image('guest')
            d.create_vm('ev-vm', memory='128M')
            vm = d.wait_vm('ev-vm', 'RUNNING')
            d.wait_console('ev-vm', 'VIREO-GUEST-READY')
            # the guest shuts itself down (ACPI sent behind vireod's back)
            from harness import virsh
            t0 = time.time()
            virsh('shutdown', 'vireo-' + vm['uuid'])
            d.wait_vm('ev-vm', 'POWEROFF', timeout=30)
            self.assertLess(time.time() - t0, 20)
            # and a domain started behind its back is RUNNING again
            virsh('start', 'vireo-' + vm['uuid'])
            d.wait_vm('ev-vm', 'RUNNING', timeout=10)
        finally:
            d.cleanup()

    def test_stuck_job(self):
        d = Daemon('recover-stuck')
        try:
            d.start(env={'VIREO_FAULT_HANG': 'suspend.save',
                         'VIREO_FAULT_HANG_S': '20'})
            d.upload_image('guest')
            d.create_vm('stuck', memory='128M')
            d.wait_vm('stuck', 'RUNNING')
            r = d.action('stuck', 'suspend')
            time.sleep(1)
            vm = d.vm('stuck')
            self.assertEqual(vm['task']['phase'], 'save')
            # busy: everything but recover is refused
            st, _, body = d.request('POST', '/api/v1/vms/stuck/pause')
            self.assertEqual(st, 409)
            # recover waits for the stuck worker to stop (one worker per
            # VM: it never acts beside it); the worker, when it wakes,
            # finds its job cancelled and does not call the host
            t0 = time.monotonic()
            rc, out, err = d.cli('vm', 'recover', 'stuck', '--failure',
                                 '--wait')
            self.assertEqual(rc, 0, err)
            self.assertGreater(time.monotonic() - t0, 10)
            old = d.get('/api/v1/jobs/%d' % r['job']['id'])
            self.assertEqual(old['status'], 'cancelled')
            vm = d.wait_vm('stuck', 'RUNNING')
            time.sleep(3)
            self.assertEqual(d.vm('stuck')['state'], 'RUNNING')
            self.assertEqual(d.domains()[vm['uuid']], 'running')
            self.assertIn('waits for job %d' % r['job']['id'],
                          d.log_tail(200))
        finally:
            d.cleanup()


if __name__ == '__main__':
    unittest.main()
