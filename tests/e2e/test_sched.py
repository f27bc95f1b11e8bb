"""Placement for real: pinned CPUs and huge pages under QEMU, waiting VMs
placed when capacity frees, concurrent creates for the last core, host
settings, VM groups and an external placement service.

This machine has 2 CPUs in one NUMA cell: CPU 1 is made dedicated (for
pinned VMs), CPU 0 stays shared.  tests/e2e/run.sh reserves 2 MiB huge
pages before libvirtd starts.
"""
import http.server
import json
import threading
import time
import unittest
import xml.etree.ElementTree as ET

from harness import Daemon, DaemonTest, virsh


def meminfo():
    out = {}
    with open('/proc/meminfo') as f:
        for line in f:
            k, v = line.split(':', 1)
            out[k] = int(v.split()[0])
    return out


def free_2m_pages():
    m = meminfo()
    return m['HugePages_Free'] - m['HugePages_Rsvd']


class Placement(DaemonTest):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = cls.d.get('/api/v1/hosts')['items'][0]
        cls.hid = cls.host['id']

    def setUp(self):
        st, _, body = self.d.request('PATCH', '/api/v1/hosts/%d' % self.hid,
                                     {'dedicated_cpus': '1',
                                      'reserved_cpus': '', 'labels': [],
                                      'cpu_ratio': 4, 'mem_ratio': 1,
                                      'reserved_memory': 0, 'enabled': True,
                                      'cluster': 'default'})
        self.assertEqual(st, 200, body)

    def tearDown(self):
        # every test leaves no VM behind (a waiting VM may get placed while
        # others go: repeat until none is left)
        deadline = time.time() + 120
        while self.d.vms():
            self.assertLess(time.time(), deadline, self.d.vms())
            for vm in self.d.vms():
                st, _, b = self.d.request('DELETE',
                                          '/api/v1/vms/%d' % vm['id'])
                if st == 202:
                    self.d.wait_job(b['job']['id'])
                else:
                    time.sleep(0.2)

    def create(self, name, **kw):
        kw.setdefault('memory', '128M')
        kw.setdefault('vcpus', 1)
        return self.d.create_vm(name, wait=False, **kw)

    def wait_placed(self, vm_id, timeout=60):
        deadline = time.time() + timeout
        vm = None
        while time.time() < deadline:
            vm = self.d.vm(vm_id)
            if vm['placement']['plan'] and vm['task'] is None:
                return vm
            time.sleep(0.1)
        raise AssertionError('vm %s not placed: %s' % (vm_id, vm))

    def wait_waiting(self, vm_id, timeout=30):
        deadline = time.time() + timeout
        vm = None
        while time.time() < deadline:
            vm = self.d.vm(vm_id)
            if vm['task'] and vm['task']['phase'] == 'waiting':
                return vm
            time.sleep(0.1)
        raise AssertionError('vm %s not waiting: %s' % (vm_id, vm))

    def allocation(self):
        return self.d.get('/api/v1/hosts/%d' % self.hid)['allocation']

    def test_pinned_hugepages_guest_runs_as_planned(self):
        d = self.d
        before = free_2m_pages()
        r = self.create('epa', cpu_policy='core', hugepages='2M')
        job = d.wait_job(r['job']['id'])
        self.assertEqual(job['status'], 'succeeded', job)
        vm = d.wait_vm(r['vm']['id'], 'RUNNING')
        d.wait_console(vm['id'], 'VIREO-GUEST-READY')
        plan = vm['placement']['plan']
        self.assertEqual(plan['host_id'], self.hid)
        self.assertEqual(plan['cpu_policy'], 'core')
        self.assertEqual(plan['vcpu_pins'], [1])
        self.assertEqual(plan['held_cpus'], [1])
        self.assertEqual(plan['hugepage_kib'], 2048)
        self.assertEqual([n['cell'] for n in plan['numa']], [0])

        dom = 'vireo-' + vm['uuid']
        # libvirt enforces exactly the plan
        pin = virsh('vcpupin', dom).stdout
        rows = [l.split() for l in pin.splitlines()
                if l.strip() and l.split()[0].isdigit()]
        self.assertEqual(rows, [['0', '1']], pin)
        nt = virsh('numatune', dom).stdout
        self.assertRegex(nt, r'numa_mode\s*:\s*strict')
        self.assertRegex(nt, r'numa_nodeset\s*:\s*0\b')
        x = ET.fromstring(virsh('dumpxml', dom).stdout)
        pins = [(p.get('vcpu'), p.get('cpuset'))
                for p in x.findall('./cputune/vcpupin')]
        self.assertEqual(pins, [('0', '1')])
        self.assertEqual(x.find('./cputune/emulatorpin').get('cpuset'), '0')
        page = x.find('./memoryBacking/hugepages/page')
        self.assertEqual((page.get('size'), page.get('unit')),
                         ('2048', 'KiB'))
        mem = x.find('./numatune/memory')
        self.assertEqual((mem.get('mode'), mem.get('nodeset')),
                         ('strict', '0'))
        # the guest really holds its 64 pages; the allocation says so
        self.assertLessEqual(free_2m_pages(), before - 64)
        cell = self.allocation()['cells'][0]
        self.assertEqual(cell['free_threads'], 0)
        p2m = [p for p in cell['hugepages'] if p['size_kib'] == 2048][0]
        self.assertEqual(p2m['total'] - p2m['free'], 64)

        r = d.request('DELETE', '/api/v1/vms/%d' % vm['id'])[2]
        self.assertEqual(d.wait_job(r['job']['id'])['status'], 'succeeded')
        # deleting it returns the pages and the core
        deadline = time.time() + 10
        while free_2m_pages() < before and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(free_2m_pages(), before)
        cell = self.allocation()['cells'][0]
        self.assertEqual(cell['free_threads'], 1)
        p2m = [p for p in cell['hugepages'] if p['size_kib'] == 2048][0]
        self.assertEqual(p2m['total'], p2m['free'])

    def test_waiting_vm_is_placed_when_capacity_frees(self):
        d = self.d
        a = self.create('holder', cpu_policy='thread', start=False)
        self.assertEqual(d.wait_job(a['job']['id'])['status'], 'succeeded')
        b = self.create('waiter', cpu_policy='thread', start=False)
        vm = self.wait_waiting(b['vm']['id'])
        self.assertEqual(vm['state'], 'PENDING')
        self.assertIsNone(vm['placement']['plan'])
        # its owner is told the reasons; a superuser also how many hosts
        # each turned away (a tenant need not learn how many there are)
        self.assertEqual(vm['placement']['why'],
                         'no host fits: hosts lack 1 free dedicated '
                         'thread on one cell')
        self.assertEqual(vm['placement']['why_hosts'],
                         'no host fits: 1 host: 1 lack 1 free dedicated '
                         'thread on one cell')
        st, _, listed = d.request('GET', '/api/v1/vms?name=waiter')
        self.assertNotIn('why_hosts', json.dumps(listed))
        # it waits: no busy retrying meanwhile
        job = d.get('/api/v1/jobs/%d' % b['job']['id'])
        attempts = job['attempts']
        time.sleep(3)
        self.assertEqual(d.get('/api/v1/jobs/%d' % b['job']['id'])
                         ['attempts'], attempts)
        # freeing the thread places it, without anyone asking
        r = d.request('DELETE', '/api/v1/vms/%d' % a['vm']['id'])[2]
        d.wait_job(r['job']['id'])
        vm = self.wait_placed(b['vm']['id'])
        self.assertEqual(vm['state'], 'POWEROFF')
        self.assertEqual(vm['placement']['plan']['vcpu_pins'], [1])
        self.assertIsNone(vm['placement']['why'])
        self.assertNotIn('why_hosts', vm['placement'])
        self.assertEqual(d.wait_job(b['job']['id'])['status'], 'succeeded')

    def test_waiting_vm_can_be_deleted(self):
        d = self.d
        r = self.create('nowhere', requirements='HOST = "elsewhere"')
        vm = self.wait_waiting(r['vm']['id'])
        self.assertIn('1 fail the requirements', vm['placement']['why_hosts'])
        st, _, b = d.request('DELETE', '/api/v1/vms/%d' % vm['id'])
        self.assertEqual(st, 202, b)
        self.assertEqual(d.wait_job(b['job']['id'])['status'], 'succeeded')
        self.assertEqual(d.get('/api/v1/jobs/%d' % r['job']['id'])['status'],
                         'cancelled')
        st, _, _ = d.request('GET', '/api/v1/vms/%d' % vm['id'])
        self.assertEqual(st, 404)
        # other operations on a waiting VM are refused
        r = self.create('nowhere2', requirements='HOST = "elsewhere"')
        self.wait_waiting(r['vm']['id'])
        st, _, b = d.request('POST', '/api/v1/vms/%d/start' % r['vm']['id'])
        self.assertEqual(st, 409, b)

    def test_concurrent_creates_for_the_last_core(self):
        d = self.d
        n = 50
        results = [None] * n

        def one(i):
            results[i] = d.request('POST', '/api/v1/vms', {
                'name': 'race-%02d' % i, 'image': 'guest', 'memory': '64M',
                'cpu_policy': 'thread', 'start': False})
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([r[0] for r in results], [202] * n)
        ids = [r[2]['vm']['id'] for r in results]
        deadline = time.time() + 120
        while time.time() < deadline:
            vms = [d.vm(i) for i in ids]
            settled = [v for v in vms if v['task'] is None or
                       v['task']['phase'] == 'waiting']
            if len(settled) == n:
                break
            time.sleep(0.5)
        placed = [v for v in vms if v['placement']['plan']]
        waiting = [v for v in vms if v['task'] and
                   v['task']['phase'] == 'waiting']
        # one host thread is dedicated: exactly one VM got it
        self.assertEqual(len(placed), 1, [v['placement'] for v in placed])
        self.assertEqual(len(waiting), n - 1)
        self.assertEqual(placed[0]['placement']['plan']['held_cpus'], [1])
        self.assertEqual(self.allocation()['cells'][0]['free_threads'], 0)

    def test_restart_keeps_plans_and_waiters(self):
        d = self.d
        a = self.create('keeper', cpu_policy='thread', start=False)
        self.assertEqual(d.wait_job(a['job']['id'])['status'], 'succeeded')
        b = self.create('queued', cpu_policy='thread', start=False)
        self.wait_waiting(b['vm']['id'])
        d.stop()
        d.start()
        # the plan is held again (nothing else gets CPU 1) and the waiting
        # create waits again, for the same reason
        self.assertEqual(self.allocation()['cells'][0]['free_threads'], 0)
        vm = self.wait_waiting(b['vm']['id'])
        self.assertIn('lack 1 free dedicated thread', vm['placement']['why'])
        self.assertEqual(d.vm(a['vm']['id'])['placement']['plan']
                         ['held_cpus'], [1])
        r = d.request('DELETE', '/api/v1/vms/%d' % a['vm']['id'])[2]
        d.wait_job(r['job']['id'])
        self.assertEqual(self.wait_placed(b['vm']['id'])['placement']['plan']
                         ['held_cpus'], [1])

    def test_manual_placement_and_force(self):
        d = self.d
        name = self.host['name']
        r = self.create('manual', hosts=[name], start=False)
        self.assertEqual(d.wait_job(r['job']['id'])['status'], 'succeeded')
        self.assertEqual(d.vm(r['vm']['id'])['placement']['plan']['host_id'],
                         self.hid)
        # an unknown host is refused at once
        st, _, b = d.request('POST', '/api/v1/vms', {
            'name': 'x', 'image': 'guest', 'memory': '64M',
            'hosts': ['no-such-host']})
        self.assertEqual(st, 404, b)
        self.assertIn("host 'no-such-host' not found", b['detail'])
        # force skips the filters (here: a disabled host) but must fit
        st, _, b = d.request('PATCH', '/api/v1/hosts/%d' % self.hid,
                             {'enabled': False})
        self.assertEqual(st, 200, b)
        self.assertEqual(b['state'], 'DISABLED')
        r = self.create('unforced', start=False)
        vm = self.wait_waiting(r['vm']['id'])
        self.assertIn('1 are disabled', vm['placement']['why_hosts'])
        r = self.create('forced', hosts=[name], force=True, start=False)
        self.assertEqual(d.wait_job(r['job']['id'])['status'], 'succeeded')
        st, _, b = d.request('PATCH', '/api/v1/hosts/%d' % self.hid,
                             {'enabled': True})
        self.assertEqual(st, 200, b)
        self.wait_placed(vm['id'])
        # force needs exactly one host
        st, _, b = d.request('POST', '/api/v1/vms', {
            'name': 'y', 'image': 'guest', 'memory': '64M', 'force': True})
        self.assertEqual(st, 400, b)

    def test_bad_requests(self):
        d = self.d

        def bad(extra, code, text):
            body = {'name': 'bad', 'image': 'guest', 'memory': '64M'}
            body.update(extra)
            st, _, b = d.request('POST', '/api/v1/vms', body)
            self.assertEqual(st, code, (extra, b))
            self.assertIn(text, b['detail'])
        bad({'cpu_policy': 'dedicated'}, 400, 'cpu_policy')
        bad({'requirements': 'FREE_MEMORY >'}, 400,
            "requirements: column 14: expected a value after '>'")
        bad({'requirements': 'FRE_MEMORY > 1'}, 400, 'did you mean')
        bad({'rank': 'HOST'}, 400, 'rank')
        bad({'hugepages': '4M'}, 400, 'hugepages')
        bad({'memory': '65M', 'hugepages': '2M'}, 400,
            'not a whole number of 2M pages')
        bad({'vcpus': 4, 'topology': {'sockets': 1, 'cores': 3}}, 400,
            'is 3 vCPUs, not 4')
        bad({'vcpus': 3, 'numa_nodes': 2}, 400, 'do not split evenly')
        bad({'vcpus': 3, 'memory': '1G',
             'numa_nodes': [{'vcpus': 1, 'memory': '512M'},
                            {'vcpus': 1, 'memory': '512M'}]}, 400,
            'the NUMA nodes hold 2 vCPUs')
        bad({'pci': ['zz:zz']}, 400, 'pci[0]')
        bad({'vm_group': 'nope'}, 404, 'not found')
        self.assertEqual([v['name'] for v in d.vms()], [])

    def test_host_settings(self):
        d = self.d
        path = '/api/v1/hosts/%d' % self.hid

        def patch(body, code):
            st, _, b = d.request('PATCH', path, body)
            self.assertEqual(st, code, (body, b))
            return b
        h = patch({'labels': ['ssd', 'rack-1'], 'cpu_ratio': 2,
                   'reserved_memory': '512M'}, 200)
        self.assertEqual(h['config']['labels'], ['ssd', 'rack-1'])
        self.assertEqual(h['config']['cpu_ratio'], 2)
        self.assertEqual(h['config']['reserved_memory_mib'], 512)
        self.assertEqual(h['config']['dedicated_cpus'], '1')
        self.assertEqual(h['allocation']['shared_vcpus_capacity'], 2)
        # labels steer requirements
        r = self.create('ssd', requirements='LABELS has "ssd"', start=False)
        self.assertEqual(d.wait_job(r['job']['id'])['status'], 'succeeded')
        self.assertIn('CPU 5', patch({'dedicated_cpus': '5'}, 400)['detail'])
        self.assertIn('both dedicated and reserved',
                      patch({'reserved_cpus': '1'}, 400)['detail'])
        patch({'cpu_ratio': 0}, 400)
        patch({'sriov_pools': [{'name': 'net', 'pf': '0000:99:00.0'}]}, 400)
        patch({'bogus': 1}, 400)
        # a CPU pinned to a VM stays dedicated
        r = self.create('pinned', cpu_policy='thread', start=False)
        self.assertEqual(d.wait_job(r['job']['id'])['status'], 'succeeded')
        b = patch({'dedicated_cpus': ''}, 409)
        self.assertIn("pinned to vm 'pinned'", b['detail'])
        self.assertEqual(d.get(path)['config']['dedicated_cpus'], '1')
        patch({'labels': [], 'cpu_ratio': 4, 'reserved_memory': 0}, 200)

    def test_clusters(self):
        d = self.d
        path = '/api/v1/hosts/%d' % self.hid

        def call(method, url, body, code):
            st, _, b = d.request(method, url, body)
            self.assertEqual(st, code, (method, url, body, b))
            return b
        clusters = {c['name']: c for c in d.get('/api/v1/clusters')['items']}
        self.assertEqual(d.get(path)['cluster_id'], clusters['default']['id'])
        # a host that sets no ratio takes the daemon's (the harness: 32)
        h = call('PATCH', path, {'cpu_ratio': None}, 200)
        self.assertIsNone(h['config']['cpu_ratio'])
        self.assertEqual(h['allocation']['cpu_ratio'], 32)
        # a cluster whose default requirements no host meets
        edge = call('POST', '/api/v1/clusters',
                    {'name': 'edge', 'cpu_ratio': 2, 'labels': ['prod'],
                     'requirements': 'FREE_MEMORY > 1000T'}, 201)
        self.assertEqual((edge['cpu_ratio'], edge['labels'], edge['rank']),
                         (2, ['prod'], None))
        b = call('POST', '/api/v1/clusters',
                 {'name': 'bad', 'requirements': 'FREE_MEMORY >'}, 400)
        self.assertIn('requirements', b['detail'])
        self.assertIn('column', b['detail'])
        call('POST', '/api/v1/clusters', {'name': 'bad', 'cpu_ratio': 100},
             400)
        call('POST', '/api/v1/clusters', {'name': 'edge'}, 409)
        call('PATCH', path, {'cluster': 'nowhere'}, 404)
        call('PATCH', path, {'cluster': []}, 400)
        # the host moves: the cluster's ratio applies to it
        h = call('PATCH', path, {'cluster': 'edge'}, 200)
        self.assertEqual(h['cluster_id'], edge['id'])
        self.assertEqual(h['allocation']['cpu_ratio'], 2)
        self.assertEqual(h['allocation']['shared_vcpus_capacity'], 2)
        # a VM without requirements waits: the cluster's refuse the host
        r = self.create('edgy', start=False)
        vm = self.wait_waiting(r['vm']['id'])
        self.assertIn('1 fail the requirements', vm['placement']['why_hosts'])
        # its own requirements override the cluster's, and read its
        # attributes
        r2 = self.create('prod', start=False, requirements=(
            'CLUSTER = "edge" & CLUSTER_LABELS has "prod"'))
        self.assertEqual(d.wait_job(r2['job']['id'])['status'], 'succeeded')
        # the cluster's requirements go: the waiting VM is placed
        call('PATCH', '/api/v1/clusters/edge', {'requirements': None}, 200)
        self.wait_placed(r['vm']['id'])
        self.assertEqual(d.wait_job(r['job']['id'])['status'], 'succeeded')
        # the host's own ratio wins over the cluster's
        h = call('PATCH', path, {'cpu_ratio': 8}, 200)
        self.assertEqual(h['allocation']['cpu_ratio'], 8)
        # clusters with hosts, and the default one, stay
        b = call('DELETE', '/api/v1/clusters/edge', None, 409)
        self.assertIn('still has 1 host', b['detail'])
        call('DELETE', '/api/v1/clusters/default', None, 409)
        # null: back to the default cluster
        h = call('PATCH', path, {'cluster': None}, 200)
        self.assertEqual(h['cluster_id'], clusters['default']['id'])
        call('DELETE', '/api/v1/clusters/edge', None, 204)
        call('GET', '/api/v1/clusters/edge', None, 404)

    def test_vm_groups(self):
        d = self.d
        st, _, g = d.request('POST', '/api/v1/vm-groups', {
            'name': 'db', 'roles': [
                {'name': 'primary', 'policy': 'anti-affinity', 'hard': True},
                {'name': 'any'}]})
        self.assertEqual(st, 201, g)
        self.assertEqual(g['roles'][0], {'name': 'primary',
                                         'policy': 'anti-affinity',
                                         'hard': True})
        st, _, b = d.request('POST', '/api/v1/vm-groups', {
            'name': 'db', 'roles': [{'name': 'x'}]})
        self.assertEqual(st, 409, b)
        st, _, b = d.request('POST', '/api/v1/vm-groups', {
            'name': 'bad', 'roles': [{'name': 'x', 'policy': 'near'}]})
        self.assertEqual(st, 400, b)
        # two VMs of a hard anti-affinity role cannot share the one host
        r1 = self.create('db1', vm_group='db', vm_group_role='primary',
                         start=False)
        self.assertEqual(d.wait_job(r1['job']['id'])['status'], 'succeeded')
        r2 = self.create('db2', vm_group='db', vm_group_role='primary',
                         start=False)
        vm = self.wait_waiting(r2['vm']['id'])
        self.assertIn("1 break the VM group's anti-affinity",
                      vm['placement']['why_hosts'])
        st, _, b = d.request('POST', '/api/v1/vms', {
            'name': 'db3', 'image': 'guest', 'memory': '64M',
            'vm_group': 'db', 'vm_group_role': 'replica'})
        self.assertEqual(st, 400, b)
        # a group in use cannot go
        st, _, b = d.request('DELETE', '/api/v1/vm-groups/db')
        self.assertEqual(st, 409, b)
        # once the first goes, the second may take its host
        b = d.request('DELETE', '/api/v1/vms/%d' % r1['vm']['id'])[2]
        d.wait_job(b['job']['id'])
        self.wait_placed(r2['vm']['id'])
        b = d.request('DELETE', '/api/v1/vms/%d' % r2['vm']['id'])[2]
        d.wait_job(b['job']['id'])
        st, _, b = d.request('DELETE', '/api/v1/vm-groups/db')
        self.assertEqual(st, 204, b)
        self.assertEqual(d.get('/api/v1/vm-groups')['items'], [])


class Service(http.server.BaseHTTPRequestHandler):
    """A placement service: answers with the last candidate it is given,
    or sleeps past the daemon's timeout when told to."""
    seen = []
    delay = 0

    def do_POST(self):
        n = int(self.headers.get('Content-Length', 0))
        req = json.loads(self.rfile.read(n))
        Service.seen.append(req)
        if Service.delay:
            time.sleep(Service.delay)
        body = json.dumps({'host_id': req['candidates'][-1]['id']}).encode()
        try:
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except BrokenPipeError:
            pass    # the daemon gave up waiting, as it should

    def log_message(self, *args):
        pass


class ExternalPlacement(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # loopback only
        cls.srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Service)
        cls.url = 'http://127.0.0.1:%d/place' % cls.srv.server_address[1]
        threading.Thread(target=cls.srv.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.shutdown()
        cls.srv.server_close()

    def daemon(self, **settings):
        s = {'sched_external_url': self.url,
             'sched_external_timeout_ms': '500'}
        s.update(settings)
        d = Daemon('extplace', s).start()
        self.addCleanup(d.cleanup)
        d.upload_image('guest')
        return d

    def test_service_chooses_and_falls_back(self):
        d = self.daemon()
        Service.seen.clear()
        Service.delay = 0
        r = d.create_vm('ext1', memory='64M', start=False)
        vm = d.vm(r['vm']['id'])
        self.assertEqual(vm['placement']['plan']['host_id'], 1)
        self.assertEqual(len(Service.seen), 1)
        req = Service.seen[0]
        self.assertEqual(req['vm']['name'], 'ext1')
        self.assertEqual([c['id'] for c in req['candidates']], [1])
        self.assertIn('cells', req['candidates'][0]['usage'])
        # a service that does not answer in time: placed anyway
        Service.delay = 2
        r = d.create_vm('ext2', memory='64M', start=False)
        self.assertIsNotNone(d.vm(r['vm']['id'])['placement']['plan'])
        self.assertEqual(len(Service.seen), 2)
        with open(d.settings['log_file']) as f:
            self.assertIn('placing it ourselves', f.read())
        Service.delay = 0

    def test_service_without_fallback(self):
        d = self.daemon(sched_external_fallback='false')
        Service.delay = 2
        try:
            r = d.create_vm('ext3', memory='64M', start=False, wait=False)
            job = d.wait_job(r['job']['id'])
        finally:
            Service.delay = 0
        self.assertEqual(job['status'], 'failed')
        self.assertIn('placement service', job['error'])
        vm = d.vm(r['vm']['id'])
        self.assertEqual(vm['state'], 'FAILED')
        self.assertIsNone(vm['placement']['plan'])
        # recover --retry asks again, and now the service answers
        r = d.action(vm['id'], 'recover', {'mode': 'retry'})
        self.assertEqual(d.wait_job(r['job']['id'])['status'], 'succeeded')
        self.assertIsNotNone(d.vm(vm['id'])['placement']['plan'])


if __name__ == '__main__':
    unittest.main()
