"""A mixed installation: the real local host plus two simulated ones.

VMs are placed on each; a simulated host made unreachable goes OFFLINE
and its VM keeps its record; when it answers again it is reconciled; the
real host's VM is never touched meanwhile.
"""
import json
import os
import time
import unittest

from harness import DaemonTest

CAPS = os.path.join(os.path.dirname(__file__), '..', 'data', 'caps',
                    'quad-cell.xml')


class MixedInstallation(DaemonTest):
    settings = {'poll_interval': '1', 'node_timeout': '2'}

    def host(self, name):
        return self.d.get('/api/v1/hosts/%s' % name)

    def wait_host(self, name, state, timeout=20):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            h = self.host(name)
            if h['state'] == state:
                return h
            time.sleep(0.2)
        self.fail('host %s is %s, not %s' % (name, h['state'], state))

    def test_cli_refusals(self):
        d = self.d
        rc, out, err = d.cli('host', 'add', 'x1')
        self.assertEqual(rc, 2, err)
        self.assertIn('--transport is required', err)
        rc, out, err = d.cli('host', 'add', 'x2', '--transport', 'sim',
                             '--caps', CAPS, '--cpus', '4')
        self.assertEqual(rc, 2, err)
        rc, out, err = d.cli('host', 'add', 'x3', '--transport', 'ssh')
        self.assertNotEqual(rc, 0)
        self.assertIn("transport must be 'sim'", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        bad = os.path.join(d.dir, 'bad-caps.xml')
        with open(bad, 'w') as f:
            f.write('<capabilities><host>')
        rc, out, err = d.cli('host', 'add', 'x4', '--transport', 'sim',
                             '--caps', bad)
        self.assertNotEqual(rc, 0)
        self.assertIn("capabilities", err)
        st, _, r = d.request('POST', '/api/v1/hosts',
                             {'name': 'x5', 'transport': 'sim', 'cpus': 1})
        self.assertEqual(st, 400, r)
        # nothing was added by any of them
        names = [h['name'] for h in d.get('/api/v1/hosts')['items']]
        self.assertFalse([n for n in names if n.startswith('x')], names)

    def test_mixed_installation(self):
        d = self.d
        rc, out, err = d.cli('host', 'add', 'sim-a', '--transport', 'sim',
                             '--cpus', '8', '--memory', '8G')
        self.assertEqual(rc, 0, err)
        self.assertIn("host 'sim-a' added", out)
        rc, out, err = d.cli('-o', 'json', 'host', 'add', 'sim-b',
                             '--transport', 'sim', '--caps', CAPS)
        self.assertEqual(rc, 0, err)
        b = json.loads(out)
        self.assertEqual((b['transport'], b['state']), ('sim', 'MONITORED'))
        self.assertEqual(b['capabilities']['cpus'], 64)
        self.assertEqual(len(b['capabilities']['numa_cells']), 4)
        local = [h for h in d.get('/api/v1/hosts')['items']
                 if h['transport'] == 'local'][0]
        a = self.host('sim-a')

        # one VM on each host
        real = d.create_vm('on-real', hosts=[local['name']], force=True)
        sa = d.create_vm('on-sim-a', hosts=['sim-a'], force=True,
                         memory='512M')
        sb = d.create_vm('on-sim-b', hosts=['sim-b'], force=True,
                         memory='512M')
        vms = {v['name']: v for v in d.vms()}
        self.assertEqual(vms['on-real']['host_id'], local['id'])
        self.assertEqual(vms['on-sim-a']['host_id'], a['id'])
        self.assertEqual(vms['on-sim-b']['host_id'], b['id'])
        for name in ('on-real', 'on-sim-a', 'on-sim-b'):
            d.wait_vm(name, 'RUNNING')
        # the simulated VMs are not libvirt's
        doms = d.domains()
        self.assertIn(real['vm']['uuid'], doms)
        self.assertNotIn(sa['vm']['uuid'], doms)
        self.assertNotIn(sb['vm']['uuid'], doms)
        real_state = doms[real['vm']['uuid']]
        real_changed = d.get('/api/v1/vms/on-real')['state_changed_at']

        # sim-a stops answering
        faults = os.path.join(d.dir, 'sim', a['uuid'] + '.faults')
        with open(faults, 'w') as f:
            f.write('# the host is gone\n* unreachable\n')
        h = self.wait_host('sim-a', 'OFFLINE')
        self.assertIn('cannot be reached', h['error'])
        # its VM keeps its record; the others are untouched
        time.sleep(2)
        self.assertEqual(d.get('/api/v1/vms/on-sim-a')['state'], 'RUNNING')
        self.assertEqual(self.host('sim-b')['state'], 'MONITORED')
        self.assertEqual(self.host(local['name'])['state'], 'MONITORED')
        # an operation on it fails and changes nothing
        r = d.action('on-sim-a', 'stop')
        job = d.wait_job(r['job']['id'])
        self.assertEqual(job['status'], 'failed', job)
        self.assertIn('cannot be reached', job['error'])
        self.assertEqual(d.get('/api/v1/vms/on-sim-a')['state'], 'RUNNING')
        # it cannot be removed while it holds a VM
        st, _, r = d.request('DELETE', '/api/v1/hosts/sim-a')
        self.assertEqual(st, 409, r)

        # it answers again: MONITORED, reconciled
        os.unlink(faults)
        self.wait_host('sim-a', 'MONITORED')
        self.assertEqual(d.get('/api/v1/vms/on-sim-a')['state'], 'RUNNING')
        # the real host's VM was never touched
        self.assertEqual(d.domains()[real['vm']['uuid']], real_state)
        self.assertEqual(d.get('/api/v1/vms/on-real')['state_changed_at'],
                         real_changed)

        # a simulated host keeps its guests across a restart of vireod
        d.stop()
        d.start()
        self.wait_host('sim-a', 'MONITORED')
        time.sleep(2)
        for name in ('on-real', 'on-sim-a', 'on-sim-b'):
            self.assertEqual(d.get('/api/v1/vms/%s' % name)['state'],
                             'RUNNING', name)

        # life cycle on a simulated host, then its removal
        r = d.action('on-sim-a', 'stop')
        self.assertEqual(d.wait_job(r['job']['id'])['status'], 'succeeded')
        self.assertEqual(d.get('/api/v1/vms/on-sim-a')['state'], 'POWEROFF')
        for name in ('on-sim-a', 'on-sim-b', 'on-real'):
            st, _, r = d.request('DELETE', '/api/v1/vms/%s' % name)
            self.assertEqual(st, 202, r)
            self.assertEqual(d.wait_job(r['job']['id'])['status'],
                             'succeeded')
        rc, out, err = d.cli('host', 'delete', 'sim-a')
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(
            os.path.join(d.dir, 'sim', a['uuid'] + '.json')))
        st, _, r = d.request('DELETE', '/api/v1/hosts/%d' % local['id'])
        self.assertEqual(st, 409, r)
        self.assertIn('served by this vireod', r['detail'])
        self.assertNotIn(real['vm']['uuid'], d.domains())


if __name__ == '__main__':
    unittest.main()
