"""The local host: registered at first start, capabilities from libvirt,
the hypervisor probed (KVM only if a probe guest really runs)."""
import json
import os
import subprocess
import time
import unittest

from harness import Daemon, virsh


class Host(unittest.TestCase):

    def test_registration_and_probe(self):
        d = Daemon('host', {'hypervisor': ''})
        try:
            d.start()
            hosts = d.get('/api/v1/hosts')['items']
            self.assertEqual(len(hosts), 1)
            h = hosts[0]
            caps = h['capabilities']
            self.assertEqual(h['state'], 'MONITORED')
            self.assertTrue(h['enabled'])
            # identity and capabilities come from libvirt
            lv_uuid = virsh('capabilities').stdout.split('<uuid>')[1].split(
                '</uuid>')[0]
            self.assertEqual(h['uuid'], lv_uuid)
            self.assertEqual(caps['cpus'], os.cpu_count())
            self.assertGreaterEqual(len(caps['numa_cells']), 1)
            self.assertEqual(sum(c['ncpus'] for c in caps['numa_cells']),
                             caps['cpus'])
            self.assertTrue(caps['cpu_model'])
            self.assertGreater(caps['memory_kib'], 0)
            # the probe: kvm only if a guest ran under KVM
            self.assertIn(h['hypervisor'], ('kvm', 'qemu'))
            detail = h['hypervisor_detail']
            if h['hypervisor'] == 'kvm':
                self.assertIn('booted to userspace', detail)
            else:
                self.assertTrue(detail, 'a TCG host says why')
            # the CLI shows it
            rc, out, err = d.cli('host', 'show', h['name'])
            self.assertEqual(rc, 0, err)
            self.assertIn(h['hypervisor'], out)
            rc, out, err = d.cli('-o', 'json', 'host', 'list')
            self.assertEqual(rc, 0, err)
            self.assertEqual(json.loads(out)['items'][0]['id'], h['id'])
            # a restart keeps the record and does not probe again
            d.stop()
            d.start()
            again = d.get('/api/v1/hosts')['items']
            self.assertEqual(len(again), 1)
            self.assertEqual(again[0]['id'], h['id'])
            self.assertEqual(again[0]['hypervisor_detail'], detail)
        finally:
            d.cleanup()

    def test_libvirt_restart_keeps_the_host(self):
        """libvirt here has no stable host UUID (no SMBIOS, no host_uuid):
        each libvirtd start makes up a new one.  The local host stays the
        same record, with its settings."""
        d = Daemon('host-uuid')
        try:
            d.start()
            h = d.get('/api/v1/hosts')['items'][0]
            st, _, b = d.request('PATCH', '/api/v1/hosts/%d' % h['id'],
                                 {'labels': ['kept']})
            self.assertEqual(st, 200, b)
            d.stop()
            subprocess.run(['pkill', '-x', 'libvirtd'], check=False)
            for _ in range(50):
                if subprocess.run(['pgrep', '-x', 'libvirtd'],
                                  capture_output=True).returncode != 0:
                    break
                time.sleep(0.1)
            subprocess.run(['bash', '-c', '. tools/lib.sh && '
                            'vr_ensure_libvirt'], check=True,
                           cwd=os.path.join(os.path.dirname(__file__),
                                            '..', '..'))
            lv_uuid = virsh('capabilities').stdout.split('<uuid>')[1].split(
                '</uuid>')[0]
            self.assertNotEqual(lv_uuid, h['uuid'],
                                'this test needs a libvirt whose host UUID '
                                'changes at restart, as here')
            d.start()
            hosts = d.get('/api/v1/hosts')['items']
            self.assertEqual([x['id'] for x in hosts], [h['id']])
            self.assertEqual(hosts[0]['uuid'], lv_uuid)
            self.assertEqual(hosts[0]['state'], 'MONITORED')
            self.assertEqual(hosts[0]['config']['labels'], ['kept'])
        finally:
            d.cleanup()

    def test_probe_without_kernel_is_tcg(self):
        d = Daemon('host-nokernel', {'hypervisor': '',
                                     'probe_kernel': '/nonexistent/vmlinuz'})
        try:
            d.start()
            h = d.get('/api/v1/hosts/1')
            self.assertEqual(h['hypervisor'], 'qemu')
            self.assertIn('TCG', h['hypervisor_detail'])
        finally:
            d.cleanup()

    def test_second_daemon_on_same_state_refused(self):
        d = Daemon('host-lock')
        try:
            d.start()
            r = subprocess.run([__import__('harness').VIREOD, '--state-dir',
                                d.dir, '--listen', '127.0.0.1:1'],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1)
            self.assertIn('another vireod', r.stderr)
        finally:
            d.cleanup()

    def test_bad_configuration(self):
        import harness
        for args, needle in (
                (['--set', 'workers=0'], 'workers'),
                (['--set', 'nonsense=1'], 'unknown setting'),
                (['--listen', '0.0.0.0:8780', '--set', 'insecure_http=true'],
                 'loopback'),
                (['--set', 'max_body=lots'], 'max_body')):
            r = subprocess.run([harness.VIREOD, '--state-dir',
                                '/tmp/vireo-e2e-badconf'] + args,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(needle, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        subprocess.run(['rm', '-rf', '/tmp/vireo-e2e-badconf'])
        r = subprocess.run([harness.VIREOD, '--help'], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn('--state-dir', r.stdout)


if __name__ == '__main__':
    unittest.main()
