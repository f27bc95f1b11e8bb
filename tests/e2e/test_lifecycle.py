"""A real guest through its whole life, through the API and the CLI."""
import json
import os
import subprocess
import time
import unittest

from harness import DaemonTest, virsh


class Lifecycle(DaemonTest):

    def assert_gone(self, vm):
        uuid = vm['uuid']
        self.assertNotIn(uuid, self.d.domains())
        r = virsh('dominfo', 'vireo-' + uuid, check=False)
        self.assertNotEqual(r.returncode, 0, 'libvirt still knows the domain')
        vmdir = os.path.join(self.d.dir, 'datastores', 'system', uuid)
        self.assertFalse(os.path.exists(vmdir), vmdir + ' left behind')
        st, _, _ = self.d.request('GET', '/api/v1/vms/%d' % vm['id'])
        self.assertEqual(st, 404)

    def test_api_full_cycle(self):
        d = self.d
        resp = d.create_vm('life-api', memory='192M', vcpus=1,
                           disks=[{'size': '64M'}])
        vm = d.wait_vm(resp['vm']['id'], 'RUNNING')
        ref = vm['id']
        self.assertEqual(vm['host_id'], 1)
        self.assertEqual(len(vm['disks']), 2)
        self.assertEqual(d.domains()[vm['uuid']], 'running')
        d.wait_console(ref, 'VIREO-GUEST-READY')

        def op(name, state):
            r = d.action(ref, name)
            job = d.wait_job(r['job']['id'])
            self.assertEqual(job['status'], 'succeeded', job)
            got = d.wait_vm(ref, state)
            return got

        op('pause', 'PAUSED')
        self.assertEqual(d.domains()[vm['uuid']], 'paused')
        op('resume', 'RUNNING')
        self.assertEqual(d.domains()[vm['uuid']], 'running')
        op('suspend', 'SUSPENDED')
        self.assertEqual(d.domains()[vm['uuid']], 'shut off')
        info = virsh('dominfo', 'vireo-' + vm['uuid']).stdout
        saved = [l.split(':', 1)[1].strip() for l in info.splitlines()
                 if l.startswith('Managed save:')]
        self.assertEqual(saved, ['yes'], info)
        op('resume', 'RUNNING')
        t0 = time.time()
        op('stop', 'POWEROFF')
        self.assertEqual(d.domains()[vm['uuid']], 'shut off')
        # stop went through ACPI: the guest powered itself off well before
        # the 30 s timeout, and vireod did not have to force it
        self.assertLess(time.time() - t0, 25)
        with open(os.path.join(d.dir, 'vireod.log')) as f:
            self.assertNotIn('did not shut down', f.read())
        op('start', 'RUNNING')
        d.wait_console(ref, 'VIREO-GUEST-READY')
        op('reboot', 'RUNNING')
        # the console log continues across a reboot: a second READY line
        d.wait_console(ref, 'VIREO-GUEST-READY', count=2)
        op('reset', 'RUNNING')
        d.wait_console(ref, 'VIREO-GUEST-READY', count=3)
        r = d.request('DELETE', '/api/v1/vms/%d' % ref)
        self.assertEqual(r[0], 202)
        job = d.wait_job(r[2]['job']['id'])
        self.assertEqual(job['status'], 'succeeded', job)
        self.assert_gone(vm)

    def test_cli_full_cycle(self):
        d = self.d
        rc, out, err = d.cli('vm', 'create', 'life-cli', '--image', 'guest',
                             '--cpu', '1', '--memory', '192M', '--wait')
        self.assertEqual(rc, 0, err)
        rc, out, err = d.cli('-o', 'json', 'vm', 'show', 'life-cli')
        self.assertEqual(rc, 0, err)
        vm = json.loads(out)
        self.assertEqual(vm['state'], 'RUNNING')
        d.wait_console('life-cli', 'VIREO-GUEST-READY')
        rc, out, err = d.cli('vm', 'console-log', 'life-cli')
        self.assertEqual(rc, 0, err)
        self.assertIn('VIREO-GUEST-READY', out)
        for cmd, state in (('pause', 'PAUSED'), ('resume', 'RUNNING'),
                           ('suspend', 'SUSPENDED'), ('resume', 'RUNNING'),
                           ('stop', 'POWEROFF'), ('start', 'RUNNING'),
                           ('reboot', 'RUNNING')):
            rc, out, err = d.cli('vm', cmd, 'life-cli', '--wait')
            self.assertEqual(rc, 0, '%s: %s' % (cmd, err))
            rc, out, err = d.cli('-o', 'json', 'vm', 'show', 'life-cli')
            self.assertEqual(json.loads(out)['state'], state, cmd)
        rc, out, err = d.cli('vm', 'list')
        self.assertEqual(rc, 0, err)
        self.assertIn('life-cli', out)
        self.assertIn('RUNNING', out)
        # an operation the state does not allow: one line, non-zero
        rc, out, err = d.cli('vm', 'resume', 'life-cli')
        self.assertNotEqual(rc, 0)
        self.assertIn('RUNNING', err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        rc, out, err = d.cli('vm', 'delete', 'life-cli', '--wait')
        self.assertEqual(rc, 0, err)
        self.assert_gone(vm)

    def test_no_start_and_full_clone(self):
        d = self.d
        resp = d.create_vm('life-clone', start=False, full_clone=True)
        vm = d.wait_vm(resp['vm']['id'], 'POWEROFF')
        self.assertTrue(vm['full_clone'])
        self.assertEqual(d.domains()[vm['uuid']], 'shut off')
        out = subprocess.run(['qemu-img', 'info', '-U', vm['disks'][0]['path']],
                             capture_output=True, text=True).stdout
        self.assertNotIn('backing file', out)
        r = d.action(vm['id'], 'start')
        d.wait_job(r['job']['id'])
        d.wait_vm(vm['id'], 'RUNNING')
        d.wait_console(vm['id'], 'VIREO-GUEST-READY')
        r = d.action(vm['id'], 'poweroff')
        d.wait_job(r['job']['id'])
        d.wait_vm(vm['id'], 'POWEROFF')
        r = d.request('DELETE', '/api/v1/vms/%d' % vm['id'])
        d.wait_job(r[2]['job']['id'])
        self.assert_gone(vm)

    def test_user_uuid_and_events(self):
        d = self.d
        uuid = '1b4e28ba-2fa1-41d2-883f-0016d3cca427'
        resp = d.create_vm('life-uuid', uuid=uuid.upper())
        vm = d.wait_vm(resp['vm']['id'], 'RUNNING')
        self.assertEqual(vm['uuid'], uuid)
        self.assertEqual(virsh('domuuid', 'vireo-' + uuid).stdout.strip(),
                         uuid)
        # a UUID in use is a conflict
        st, _, body = d.request('POST', '/api/v1/vms',
                                {'name': 'life-uuid2', 'image': 'guest',
                                 'memory': 128, 'uuid': uuid})
        self.assertEqual(st, 409, body)
        r = d.request('DELETE', '/api/v1/vms/life-uuid')
        d.wait_job(r[2]['job']['id'])


if __name__ == '__main__':
    unittest.main()
