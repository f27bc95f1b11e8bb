"""The placement commands of the CLI: vm create's placement options, the
placement section of vm show, VM groups, host update and the allocation
in host show, each checked against the server's state.

No guest boots: VMs are created with requirements no host meets (they
wait for a host) or with --no-start (placed and defined, never run)."""
import json
import time

from clitable import records
from harness import DaemonTest
from tenancy import PASSWORD


def section(out, title):
    """The table that starts with the header line beginning `title`."""
    lines = out.split('\n')
    start = next(i for i, l in enumerate(lines) if l.startswith(title))
    end = lines.index('', start) if '' in lines[start:] else len(lines)
    return '\n'.join(lines[start:end]) + '\n'


class CliSched(DaemonTest):

    # ---- running the CLI

    def ok(self, *args, env=None):
        rc, out, err = self.d.cli(*args, env=env)
        self.assertEqual(rc, 0, (args, out, err))
        self.assertEqual(err, '', args)
        return out

    def fails(self, status, *args, env=None):
        """The command fails with `status` and one line 'vireo: ...'."""
        rc, out, err = self.d.cli(*args, env=env)
        self.assertEqual(rc, status, (args, out, err))
        self.assertEqual(out, '', args)
        self.assertTrue(err.startswith('vireo: '), err)
        self.assertEqual(err.count('\n'), 1, err)
        return err

    # ---- the server's view

    def get(self, path):
        return self.d.get('/api/v1/' + path)

    def status(self, path):
        return self.d.request('GET', '/api/v1/' + path)[0]

    def host(self):
        """The local host's record (the monitored one, should libvirt
        have been restarted under the daemon)."""
        hosts = self.get('hosts')['items']
        live = [h for h in hosts if h['state'] == 'MONITORED'] or hosts
        return self.get('hosts/%d' % live[-1]['id'])

    def wait_waiting(self, name, timeout=30):
        """The VM once its create job waits for a host."""
        deadline = time.time() + timeout
        vm = None
        while time.time() < deadline:
            vm = self.d.vm(name)
            if (vm['task'] or {}).get('phase') == 'waiting' and \
                    vm['placement']['why']:
                return vm
            time.sleep(0.1)
        raise AssertionError('vm %s does not wait: %s' % (name, vm))

    def delete_vm(self, name):
        out = self.ok('vm', 'delete', name, '--wait')
        self.assertEqual(out, "vm '%s' deleted\n" % name)
        self.assertEqual(self.status('vms/' + name), 404)

    # ---- tests

    def test_help(self):
        for cmd in (['vm', 'create'], ['vm', 'show'], ['vm-group'],
                    ['vm-group', 'create'], ['vm-group', 'list'],
                    ['vm-group', 'show'], ['vm-group', 'delete'],
                    ['host'], ['host', 'show'], ['host', 'update'],
                    ['cluster'], ['cluster', 'create'], ['cluster', 'list'],
                    ['cluster', 'show'], ['cluster', 'update'],
                    ['cluster', 'delete']):
            out = self.ok(*cmd, '--help')
            self.assertTrue(out.startswith('Usage: vireo %s' % ' '.join(cmd)),
                            (cmd, out))
        out = self.ok('vm', 'create', '--help')
        for opt in ('--cpu-policy', '--sockets', '--numa-nodes',
                    '--numa-node', '--hugepages', '--pci', '--sriov',
                    '--requirements', '--rank', '--host', '--force',
                    '--vm-group'):
            self.assertIn('  %s ' % opt, out)
        out = self.ok('host', 'update', '--help')
        for opt in ('--enable', '--disable', '--dedicated-cpus',
                    '--reserved-cpus', '--reserved-memory', '--cpu-ratio',
                    '--mem-ratio', '--label', '--no-labels', '--sriov-pool',
                    '--pci-passthrough'):
            self.assertIn('  %s' % opt, out)
        self.assertIn('vm-group', self.ok('--help'))
        self.assertIn('cluster', self.ok('--help'))
        out = self.ok('cluster', 'update', '--help')
        for opt in ('--cpu-ratio', '--mem-ratio', '--label', '--no-labels',
                    '--requirements', '--no-requirements', '--rank',
                    '--no-rank'):
            self.assertIn('  %s ' % opt, out)

    def test_usage_errors(self):
        """Wrong command lines exit 2 before any request: the server is
        unreachable here, which would exit 1."""
        nowhere = {'VIREO_URL': 'http://127.0.0.1:1'}
        create = ['vm', 'create', 'u1', '--image', 'guest', '--memory', '128M']
        for extra, text in (
                (['--cores', '0'], '--cores'),
                (['--sockets', 'two'], '--sockets'),
                (['--threads', '-1'], '--threads'),
                (['--hugepages', '4M'], '--hugepages must be 2M or 1G'),
                (['--hugepages', '2'], '--hugepages must be 2M or 1G'),
                (['--cpu-policy', 'pinned'], '--cpu-policy must be'),
                (['--numa-nodes', '2', '--numa-node', '1:64M'],
                 '--numa-nodes'),
                (['--numa-node', '1:64M', '--numa-nodes', '2'],
                 '--numa-nodes'),
                (['--numa-node', '2'], '--numa-node must be VCPUS:MEMORY'),
                (['--numa-node', '1:lots'], '--numa-node'),
                (['--vm-group', 'web:'], '--vm-group must be'),
                (['--vm-group', ':db'], '--vm-group must be')):
            err = self.fails(2, *(create + extra), env=nowhere)
            self.assertIn(text, err)
            self.assertIn("(see 'vireo vm create --help')", err)
        self.assertEqual(self.status('vms/u1'), 404)
        err = self.fails(2, 'vm-group', 'create', 'g', env=nowhere)
        self.assertIn('--role', err)
        for role in ('db:close', 'db:affinity:always', 'bad name'):
            self.fails(2, 'vm-group', 'create', 'g', '--role', role,
                       env=nowhere)
        self.fails(2, 'vm-group', 'show', env=nowhere)
        for extra in ([], ['--label', 'a', '--no-labels'],
                      ['--enable', '--disable'], ['--cpu-ratio', 'fast'],
                      ['--sriov-pool', 'net-a'], ['--reserved-memory', '1x']):
            self.fails(2, 'host', 'update', 'h', *extra, env=nowhere)

    def test_host_update(self):
        h = self.host()
        name = h['name']
        self.addCleanup(self.d.request, 'PATCH', '/api/v1/hosts/%d' % h['id'],
                        {'labels': [], 'cpu_ratio': 4.0,
                         'reserved_memory': 0, 'enabled': True})

        out = self.ok('host', 'update', name, '--label', 'ssd', '--label',
                      'rack-1', '--cpu-ratio', '2', '--reserved-memory',
                      '256M')
        self.assertIn("host '%s' updated: enabled" % name, out)
        self.assertIn('  labels:           ssd, rack-1\n', out)
        cfg = self.host()['config']
        self.assertEqual(cfg['labels'], ['ssd', 'rack-1'])
        self.assertEqual(cfg['cpu_ratio'], 2.0)
        self.assertEqual(cfg['reserved_memory_mib'], 256)

        # host show reflects it, with the allocation
        h = self.host()
        alloc = h['allocation']
        out = self.ok('host', 'show', name)
        self.assertIn('  labels:           ssd, rack-1\n', out)
        self.assertIn('  CPU ratio:        2\n', out)
        self.assertIn('  reserved memory:  256M\n', out)
        self.assertIn('\nallocation:\n', out)
        self.assertIn('(%g of %g vCPUs used)' %
                      (alloc['shared_vcpus_used'],
                       alloc['shared_vcpus_capacity']), out)
        self.assertEqual(alloc['shared_vcpus_capacity'],
                         2.0 * sum(c['shared_cpus'] for c in alloc['cells']))
        cells = records(section(out, 'CELL  FREE DEDICATED CPUS'))
        self.assertEqual([c['CELL'] for c in cells],
                         [str(c['id']) for c in alloc['cells']])
        self.assertEqual(cells[0]['FREE CORES'],
                         str(alloc['cells'][0]['free_cores']))
        shown = json.loads(self.ok('-o', 'json', 'host', 'show', name))
        self.assertEqual(shown['config']['labels'], ['ssd', 'rack-1'])
        self.assertIn('allocation', shown)

        # disable, enable; labels replaced, then cleared
        self.ok('host', 'update', name, '--disable')
        self.assertFalse(self.host()['enabled'])
        self.ok('host', 'update', name, '--enable', '--label', 'hdd')
        h = self.host()
        self.assertTrue(h['enabled'])
        self.assertEqual(h['config']['labels'], ['hdd'])
        out = json.loads(self.ok('-o', 'json', 'host', 'update', name,
                                 '--no-labels'))
        self.assertEqual(out['config']['labels'], [])

        # the server's checks: exit 1, its detail on one line
        err = self.fails(1, 'host', 'update', name, '--dedicated-cpus', '0-')
        self.assertIn('not a CPU list', err)
        err = self.fails(1, 'host', 'update', name, '--reserved-cpus', '999')
        self.assertIn('999', err)
        err = self.fails(1, 'host', 'update', name, '--cpu-ratio', '100')
        self.assertIn('cpu_ratio must be between', err)
        self.fails(1, 'host', 'update', 'no-such-host', '--label', 'x')
        self.assertEqual(self.host()['config']['dedicated_cpus'], '')

        # superusers only
        st, _, _ = self.d.request('POST', '/api/v1/users',
                                  {'name': 'hu-tenant', 'password': PASSWORD,
                                   'group': 'users'})
        self.assertEqual(st, 201)
        token = self.d.login('hu-tenant', PASSWORD)
        err = self.fails(1, 'host', 'update', name, '--label', 'x',
                         env={'VIREO_TOKEN': token})
        self.assertIn('superuser', err)

    def test_clusters(self):
        h = self.host()
        name = h['name']
        self.addCleanup(self.d.request, 'PATCH', '/api/v1/hosts/%d' % h['id'],
                        {'cluster': 'default', 'cpu_ratio': 4.0})
        self.addCleanup(self.d.request, 'DELETE', '/api/v1/clusters/rack9')

        out = json.loads(self.ok('-o', 'json', 'cluster', 'create', 'rack9',
                                 '--cpu-ratio', '3', '--label', 'prod',
                                 '--label', 'eu', '--rank', '-RUNNING_VMS'))
        self.assertEqual((out['name'], out['cpu_ratio'], out['labels'],
                          out['rank'], out['requirements']),
                         ('rack9', 3, ['prod', 'eu'], '-RUNNING_VMS', None))
        rows = {r['NAME']: r for r in records(self.ok('cluster', 'list'))}
        self.assertEqual(rows['rack9']['CPU RATIO'], '3')
        self.assertEqual(rows['rack9']['LABELS'], 'prod, eu')
        self.assertEqual(rows['rack9']['REQUIREMENTS'], '-')
        self.assertEqual(rows['default']['CPU RATIO'], '-')
        self.assertIn('rack9', self.ok('cluster', 'show', 'rack9'))

        # the host joins it and inherits its ratio
        out = self.ok('host', 'update', name, '--cluster', 'rack9',
                      '--cpu-ratio', 'inherit')
        self.assertIn('  CPU ratio:        inherited\n', out)
        h = self.host()
        self.assertEqual(h['cluster_id'], int(rows['rack9']['ID']))
        self.assertEqual(h['allocation']['cpu_ratio'], 3)

        out = json.loads(self.ok('-o', 'json', 'cluster', 'update', 'rack9',
                                 '--mem-ratio', '1.5', '--no-rank',
                                 '--requirements', 'FREE_MEMORY > 1M'))
        self.assertEqual((out['mem_ratio'], out['rank'],
                          out['requirements']), (1.5, None,
                                                 'FREE_MEMORY > 1M'))
        self.assertEqual(self.host()['allocation']['mem_ratio'], 1.5)

        # the server's checks, one line, exit 1; usage errors exit 2
        err = self.fails(1, 'cluster', 'update', 'rack9', '--requirements',
                         'FREE_MEMORY >>')
        self.assertIn('column', err)
        err = self.fails(1, 'cluster', 'delete', 'rack9')
        self.assertIn('still has 1 host', err)
        self.fails(1, 'cluster', 'create', 'rack9')
        self.fails(1, 'host', 'update', name, '--cluster', 'nowhere')
        self.fails(2, 'cluster', 'update', 'rack9')
        self.fails(2, 'cluster', 'create', 'x', '--no-rank')
        self.fails(2, 'cluster', 'update', 'rack9', '--rank', 'X',
                   '--no-rank')
        self.fails(2, 'cluster', 'update', 'rack9', '--no-requirements',
                   '--requirements', 'X')
        self.fails(2, 'cluster', 'create', 'bad/name')

        self.ok('host', 'update', name, '--cluster', 'default')
        self.assertIn("cluster 'rack9' deleted",
                      self.ok('cluster', 'delete', 'rack9'))
        self.assertEqual(self.status('clusters/rack9'), 404)

    def test_vm_groups(self):
        out = self.ok('vm-group', 'create', 'web', '--role',
                      'db:anti-affinity:hard', '--role', 'front:affinity',
                      '--role', 'misc')
        self.assertIn('name:        web\n', out)
        roles = records(section(out, 'ROLE'))
        self.assertEqual(roles, [
            {'ROLE': 'db', 'POLICY': 'anti-affinity', 'HARD': 'yes'},
            {'ROLE': 'front', 'POLICY': 'affinity', 'HARD': 'no'},
            {'ROLE': 'misc', 'POLICY': 'none', 'HARD': 'no'}])
        g = self.get('vm-groups/web')
        self.assertEqual(g['roles'], [
            {'name': 'db', 'policy': 'anti-affinity', 'hard': True},
            {'name': 'front', 'policy': 'affinity', 'hard': False},
            {'name': 'misc', 'policy': 'none', 'hard': False}])

        listed = {r['NAME']: r for r in records(self.ok('vm-group', 'list'))}
        self.assertEqual(listed['web'],
                         {'ID': str(g['id']), 'NAME': 'web',
                          'ROLES': 'db:anti-affinity:hard, front:affinity, '
                                   'misc'})
        out = self.ok('vm-group', 'show', str(g['id']))
        self.assertEqual(records(section(out, 'ROLE')), roles)
        self.assertEqual(json.loads(self.ok('-o', 'json', 'vm-group', 'show',
                                            'web'))['roles'], g['roles'])
        ids = [x['id'] for x in json.loads(
            self.ok('-o', 'json', 'vm-group', 'list'))['items']]
        self.assertIn(g['id'], ids)

        err = self.fails(1, 'vm-group', 'create', 'web', '--role', 'a')
        self.assertIn("'web' already exists", err)
        err = self.fails(1, 'vm-group', 'create', 'twice', '--role', 'a',
                         '--role', 'a')
        self.assertIn('named twice', err)
        self.fails(1, 'vm-group', 'show', 'nope')

        # a VM in the group (waiting: no host has the label) keeps it
        self.ok('vm', 'create', 'gvm', '--image', 'guest', '--memory', '128M',
                '--vm-group', 'web:front', '--requirements',
                'LABELS has "no-such-label"')
        vm = self.wait_waiting('gvm')
        self.assertEqual(vm['placement']['vm_group'], g['id'])
        self.assertEqual(vm['placement']['vm_group_role'], 'front')
        self.assertIn('  VM group:      web, role front\n',
                      self.ok('vm', 'show', 'gvm'))
        err = self.fails(1, 'vm', 'create', 'gvm2', '--image', 'guest',
                         '--memory', '128M', '--vm-group', 'web:nope')
        self.assertIn("has no role 'nope'", err)
        err = self.fails(1, 'vm-group', 'delete', 'web')
        self.assertIn("vm 'gvm' belongs to this vm group", err)
        self.assertEqual(self.status('vm-groups/web'), 200)

        self.delete_vm('gvm')
        out = self.ok('vm-group', 'delete', 'web')
        self.assertEqual(out, "vm group 'web' deleted\n")
        self.assertEqual(self.status('vm-groups/web'), 404)
        self.fails(1, 'vm-group', 'delete', 'web')

    def test_waiting_vm(self):
        """No host meets the requirements: the VM waits and says why,
        and can be deleted while it waits."""
        out = self.ok('vm', 'create', 'wvm', '--image', 'guest', '--memory',
                      '128M', '--cpu', '2', '--numa-nodes', '1',
                      '--cores', '2', '--requirements',
                      'LABELS has "gpu"', '--rank', '-RUNNING_VMS')
        self.assertIn("create of vm 'wvm' accepted", out)
        vm = self.wait_waiting('wvm')
        p = vm['placement']
        self.assertIsNone(p['plan'])
        self.assertEqual(p['requirements'], 'LABELS has "gpu"')
        self.assertEqual(p['rank'], '-RUNNING_VMS')
        self.assertEqual(p['topology'],
                         {'sockets': 1, 'cores': 2, 'threads': 1})
        self.assertEqual(p['numa_nodes'], [{'vcpus': 2, 'memory_mib': 128}])
        self.assertEqual(vm['state'], 'PENDING')

        out = self.ok('vm', 'show', 'wvm')
        self.assertIn('\nplacement:\n', out)
        self.assertIn('  status:        waiting for a host: %s\n' %
                      p['why_hosts'], out)
        self.assertIn('fail the requirements', out)
        self.assertIn('  requirements:  LABELS has "gpu"\n', out)
        self.assertIn('  rank:          -RUNNING_VMS\n', out)
        self.assertIn('  NUMA nodes:    vnode 0 (vCPUs 0-1, 128M)\n', out)
        self.assertIn('  topology:      1x2x1 (sockets x cores x threads)\n',
                      out)
        self.assertNotIn('vcpu_pins', out)
        shown = json.loads(self.ok('-o', 'json', 'vm', 'show', 'wvm'))
        self.assertEqual(shown['placement']['why'], p['why'])
        rows = {r['NAME']: r for r in records(self.ok('vm', 'list'))}
        self.assertEqual(rows['wvm']['TASK'], 'create:waiting')

        # the server's checks of a create: exit 1, its detail
        err = self.fails(1, 'vm', 'create', 'bad', '--image', 'guest',
                         '--memory', '128M', '--requirements',
                         'FRE_MEMORY > 1')
        self.assertIn('did you mean FREE_MEMORY', err)
        err = self.fails(1, 'vm', 'create', 'bad', '--image', 'guest',
                         '--memory', '128M', '--cpu', '2', '--sockets',
                         '1')
        self.assertIn('topology', err)
        err = self.fails(1, 'vm', 'create', 'bad', '--image', 'guest',
                         '--memory', '128M', '--pci', 'nonsense')
        self.assertIn('pci[0]', err)
        err = self.fails(1, 'vm', 'create', 'bad', '--image', 'guest',
                         '--memory', '128M', '--host', 'no-such-host')
        self.assertIn("host 'no-such-host' not found", err)
        err = self.fails(1, 'vm', 'create', 'bad', '--image', 'guest',
                         '--memory', '128M', '--force')
        self.assertIn('exactly one host', err)
        self.assertEqual(self.status('vms/bad'), 404)

        job = vm['task']['job_id']
        self.delete_vm('wvm')
        self.assertEqual(self.get('jobs/%d' % job)['status'], 'cancelled')

    def test_placed_vm(self):
        """A pinned VM (defined, never started): vm show prints where
        its vCPU and its memory went; host show counts what it holds."""
        h = self.host()
        name = h['name']
        cpu = max(t[0] for t in h['capabilities']['cpu_topology'])
        cell = [t[1] for t in h['capabilities']['cpu_topology']
                if t[0] == cpu][0]
        self.addCleanup(self.d.request, 'PATCH', '/api/v1/hosts/%d' % h['id'],
                        {'dedicated_cpus': ''})
        out = self.ok('host', 'update', name, '--dedicated-cpus', str(cpu))
        self.assertIn('  dedicated CPUs:   %d\n' % cpu, out)
        before = [c for c in self.host()['allocation']['cells']
                  if c['id'] == cell][0]
        self.assertEqual(before['free_threads'], 1)

        out = self.ok('vm', 'create', 'pvm', '--image', 'guest', '--memory',
                      '128M', '--cpu-policy', 'thread', '--numa-nodes', '1',
                      '--host', str(h['id']), '--no-start', '--wait')
        vm = self.d.vm('pvm')
        plan = vm['placement']['plan']
        self.assertEqual(vm['state'], 'POWEROFF')
        self.assertEqual(plan['vcpu_pins'], [cpu])
        self.assertIn('  host:          %s\n' % name, out)
        self.assertIn('  CPU policy:    thread\n', out)
        self.assertIn('  vCPU pinning:  0 -> %d (vCPU -> host CPU)\n' % cpu,
                      out)
        self.assertIn('  NUMA binding:  vnode 0 (vCPU 0, 128M) -> host cell '
                      '%d\n' % plan['numa'][0]['cell'], out)
        self.assertIn('  huge pages:    none\n', out)
        self.assertIn('  devices:       none\n', out)
        self.assertIn('  host ids:      %d\n' % h['id'], out)
        self.assertEqual(self.ok('vm', 'show', 'pvm').split('\nplacement:')[1],
                         out.split('\nplacement:')[1])

        out = self.ok('host', 'show', name)
        alloc = self.host()['allocation']
        now = [c for c in alloc['cells'] if c['id'] == cell][0]
        self.assertEqual(now['free_threads'], 0)
        cells = {r['CELL']: r for r in
                 records(section(out, 'CELL  FREE DEDICATED CPUS'))}
        self.assertEqual(cells[str(cell)]['FREE THREADS'], '0')
        self.assertEqual(cells[str(cell)]['FREE DEDICATED CPUS'], '-')
        self.assertIn('  VMs:              %d placed' % alloc['vms'], out)

        # the pinned thread must stay dedicated while the VM holds it
        err = self.fails(1, 'host', 'update', name, '--dedicated-cpus', '')
        self.assertIn("pinned to vm 'pvm'", err)
        self.delete_vm('pvm')
        self.ok('host', 'update', name, '--dedicated-cpus', '')
        self.assertEqual(self.host()['config']['dedicated_cpus'], '')
