"""Tenants: isolation, sharing, quotas under concurrency, tokens, login
throttling, the audit log."""
import concurrent.futures
import datetime
import json
import time
import unittest
import urllib.parse

from harness import DaemonTest
from tenancy import PASSWORD, setup_tenancy, share_image


class Tenancy(DaemonTest):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tokens, cls.ids = setup_tenancy(cls.d)

    def as_(self, role, method, path, body=None, **kw):
        return self.d.request(method, path, body, token=self.tokens[role],
                              **kw)

    def test_isolation(self):
        d = self.d
        share_image(d)
        # alice's VM and image
        st, _, vm = self.as_('owner', 'POST', '/api/v1/vms',
                             {'name': 'iso-vm', 'image': 'guest',
                              'memory': 64, 'start': False})
        self.assertEqual(st, 202, vm)
        d.wait_job(vm['job']['id'])
        vm = vm['vm']
        st, _, im = self.as_('owner', 'POST', '/api/v1/images',
                             {'name': 'iso-img', 'format': 'raw'})
        self.assertEqual(st, 201, im)
        self.assertEqual(im['owner_id'], self.ids['alice'])
        self.assertEqual(im['group_id'], self.ids['t1'])

        # carol (another tenant) cannot list, read, act on or count them
        for path, key in (('/api/v1/vms', 'iso-vm'),
                          ('/api/v1/images', 'iso-img')):
            st, _, lst = self.as_('other', 'GET', path)
            self.assertEqual(st, 200)
            self.assertNotIn(key, json.dumps(lst))
            # the total counts only what carol may see
            self.assertEqual(lst['total'], len(lst['items']))
        self.assertNotIn(self.ids['alice'],
                         [v['owner_id'] for v in
                          self.as_('other', 'GET', '/api/v1/vms')[2]['items']])
        for ref in (str(vm['id']), vm['uuid'], 'iso-vm'):
            st, _, body = self.as_('other', 'GET', '/api/v1/vms/' + ref)
            self.assertEqual(st, 404, body)
            # the same answer as for a VM that does not exist at all
            self.assertEqual(body['detail'], "vm '%s' not found" % ref)
            st, _, body = self.as_('other', 'POST',
                                   '/api/v1/vms/%s/start' % ref)
            self.assertEqual(st, 404)
            st, _, body = self.as_('other', 'DELETE', '/api/v1/vms/' + ref)
            self.assertEqual(st, 404)
        self.assertEqual(self.as_('other', 'GET',
                                  '/api/v1/vms/%d/console-log' % vm['id'])[0],
                         404)
        st, _, jobs = self.as_('other', 'GET', '/api/v1/jobs')
        self.assertEqual(jobs['total'], len(jobs['items']))
        self.assertNotIn(vm['id'], [j['object_id'] for j in jobs['items']])
        self.assertEqual(self.as_('other', 'GET',
                                  '/api/v1/images/iso-img')[0], 404)
        # hosts are invisible to tenants
        st, _, hosts = self.as_('other', 'GET', '/api/v1/hosts')
        self.assertEqual(hosts['total'], 0)
        self.assertEqual(self.as_('other', 'GET', '/api/v1/hosts/1')[0], 404)
        # carol may name her own VM iso-vm: names are per owner
        st, _, mine = self.as_('other', 'POST', '/api/v1/vms',
                               {'name': 'iso-vm', 'image': 'guest',
                                'memory': 64, 'start': False})
        self.assertEqual(st, 202, mine)
        d.wait_job(mine['job']['id'])
        # ...and "iso-vm" means hers to her, alice's to alice
        self.assertEqual(self.as_('other', 'GET', '/api/v1/vms/iso-vm')[2]
                         ['id'], mine['vm']['id'])
        self.assertEqual(self.as_('owner', 'GET', '/api/v1/vms/iso-vm')[2]
                         ['id'], vm['id'])
        # the superuser sees both: the name is ambiguous there
        st, _, body = d.request('GET', '/api/v1/vms/iso-vm')
        self.assertEqual(st, 409, body)
        self.assertIn('several', body['detail'])

        # bob (same group, permissions 640): sees it, cannot manage it
        self.assertEqual(self.as_('member', 'GET', '/api/v1/vms/%d' %
                                  vm['id'])[0], 200)
        st, _, body = self.as_('member', 'POST',
                               '/api/v1/vms/%d/start' % vm['id'])
        self.assertEqual(st, 403, body)
        # dave, t1's administrator, manages it
        st, _, body = self.as_('group_admin', 'POST',
                               '/api/v1/vms/%d/start' % vm['id'])
        self.assertEqual(st, 202, body)
        d.wait_job(body['job']['id'])
        # events: carol's stream never shows alice's VM
        for v in (vm['id'], mine['vm']['id']):
            r = d.request('DELETE', '/api/v1/vms/%d' % v)
            d.wait_job(r[2]['job']['id'])
        self.assertEqual(d.request('DELETE', '/api/v1/images/%d' %
                                   im['id'])[0], 204)

    def test_acl_scoped_to_a_cluster(self):
        """A rule on the hosts of one cluster: t2 sees (and may place VMs
        on) the hosts of 'shared-edge', no other host; the rule goes with
        the cluster."""
        d = self.d
        host = d.get('/api/v1/hosts')['items'][0]
        hpath = '/api/v1/hosts/%d' % host['id']
        st, _, cl = d.request('POST', '/api/v1/clusters',
                              {'name': 'shared-edge'})
        self.assertEqual(st, 201, cl)
        self.addCleanup(d.request, 'DELETE', '/api/v1/clusters/shared-edge')
        self.addCleanup(d.request, 'PATCH', hpath, {'cluster': 'default'})
        st, _, rule = d.request('POST', '/api/v1/acls', {
            'who': 'group', 'group': 't2', 'resources': ['host', 'cluster'],
            'cluster': 'shared-edge', 'rights': 'use'})
        self.assertEqual(st, 201, rule)
        self.assertEqual((rule['cluster_id'], rule['resource_id']),
                         (cl['id'], None))
        # the host is in 'default': the rule does not reach it
        self.assertEqual(self.as_('other', 'GET', hpath)[0], 404)
        self.assertEqual(self.as_('other', 'GET',
                                  '/api/v1/hosts')[2]['total'], 0)
        # the cluster itself is visible to t2, not to t1
        self.assertEqual(self.as_('other', 'GET',
                                  '/api/v1/clusters/shared-edge')[0], 200)
        self.assertEqual(self.as_('owner', 'GET',
                                  '/api/v1/clusters/shared-edge')[0], 404)
        self.assertEqual([c['name'] for c in self.as_(
            'other', 'GET', '/api/v1/clusters')[2]['items']],
            ['shared-edge'])
        # moved into the cluster, the host is t2's to see and to name
        st, _, _ = d.request('PATCH', hpath, {'cluster': 'shared-edge'})
        self.assertEqual(st, 200)
        st, _, h = self.as_('other', 'GET', hpath)
        self.assertEqual((st, h.get('name')), (200, host['name']))
        self.assertEqual(self.as_('other', 'GET',
                                  '/api/v1/hosts')[2]['total'], 1)
        self.assertEqual(self.as_('owner', 'GET', hpath)[0], 404)
        share_image(d)
        st, _, b = self.as_('other', 'POST', '/api/v1/vms', {
            'name': 'edge-vm', 'image': 'guest', 'memory': 64,
            'start': False, 'hosts': [host['name']]})
        self.assertEqual(st, 202, b)
        self.assertEqual(d.wait_job(b['job']['id'])['status'], 'succeeded')
        st, _, b2 = self.as_('owner', 'POST', '/api/v1/vms', {
            'name': 'edge-vm', 'image': 'guest', 'memory': 64,
            'start': False, 'hosts': [host['name']]})
        self.assertEqual(st, 404, b2)
        st, _, b = self.as_('other', 'DELETE',
                            '/api/v1/vms/%d' % b['vm']['id'])
        self.assertEqual(st, 202, b)
        d.wait_job(b['job']['id'])
        # bad rules
        for bad in ({'resource_id': 5}, {'resources': ['vm']},
                    {'rights': 'use,create'}):
            body = {'who': 'all', 'resources': ['host'],
                    'cluster': 'shared-edge', 'rights': 'use'}
            body.update(bad)
            st, _, b = d.request('POST', '/api/v1/acls', body)
            self.assertEqual(st, 400, (bad, b))
        st, _, b = d.request('POST', '/api/v1/acls', {
            'who': 'all', 'resources': ['host'], 'cluster': 'nowhere',
            'rights': 'use'})
        self.assertEqual(st, 404, b)
        # the rule goes with its cluster
        d.request('PATCH', hpath, {'cluster': 'default'})
        st, _, _ = d.request('DELETE', '/api/v1/clusters/shared-edge')
        self.assertEqual(st, 204)
        self.assertNotIn(rule['id'], [a['id'] for a in
                                      d.get('/api/v1/acls')['items']])

    def test_sharing_an_image(self):
        d = self.d
        st, _, im = d.request('POST', '/api/v1/images',
                              {'name': 'private', 'format': 'raw'})
        self.assertEqual(st, 201)
        # a tenant cannot use (nor see) an administrator's private image
        st, _, body = self.as_('other', 'POST', '/api/v1/vms',
                               {'name': 'sh-vm', 'image': im['id'],
                                'memory': 64})
        self.assertEqual(st, 404, body)
        # made usable by every tenant
        st, _, body = d.request('POST', '/api/v1/ownership',
                                {'kind': 'image', 'ids': [im['id']],
                                 'permissions': '644'})
        self.assertEqual(st, 204, body)
        st, _, body = self.as_('other', 'GET', '/api/v1/images/%d' % im['id'])
        self.assertEqual(st, 200)
        self.assertEqual(body['permissions'], '644')
        # but not deletable by them
        self.assertEqual(self.as_('other', 'DELETE', '/api/v1/images/%d' %
                                  im['id'])[0], 403)
        self.assertEqual(d.request('DELETE', '/api/v1/images/%d' %
                                   im['id'])[0], 204)

    def test_quota_under_concurrency(self):
        d = self.d
        share_image(d)
        alice = self.tokens['owner']
        st, _, body = d.request('PUT', '/api/v1/users/alice/quota',
                                {'vms': 10})
        self.assertEqual(st, 200, body)
        self.assertEqual(body['quota']['vms'], 10)
        before = d.get('/api/v1/users/alice')['usage']['vms']

        def create(i):
            return d.request('POST', '/api/v1/vms',
                             {'name': 'q-%d' % i, 'image': 'guest',
                              'memory': 64, 'start': False}, token=alice)

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            results = list(pool.map(create, range(50)))
        accepted = [b for st, _, b in results if st == 202]
        refused = [b for st, _, b in results if st != 202]
        self.assertEqual(len(accepted), 10 - before)
        for b in refused:
            self.assertEqual(b['status'], 409, b)
            self.assertIn('quota exceeded', b['detail'])
        usage = d.get('/api/v1/users/alice')['usage']
        self.assertEqual(usage['vms'], 10)
        self.assertEqual(usage['memory_mib'], 64 * 10)
        group = d.get('/api/v1/groups/t1')['usage']
        self.assertGreaterEqual(group['vms'], 10)
        for b in accepted:
            d.wait_job(b['job']['id'])
        jobs = []
        for b in accepted:
            st, _, r = d.request('DELETE', '/api/v1/vms/%d' % b['vm']['id'],
                                 token=alice)
            self.assertEqual(st, 202, r)
            jobs.append(r['job']['id'])
        for j in jobs:
            self.assertEqual(d.wait_job(j)['status'], 'succeeded')
        self.assertEqual(d.get('/api/v1/users/alice')['usage']['vms'], before)
        d.request('PUT', '/api/v1/users/alice/quota', {'vms': 'default'})

    def test_group_quota_and_defaults(self):
        d = self.d
        share_image(d)
        # t2's users may have 1 VM each; carol tries 2
        st, _, body = d.request('PUT', '/api/v1/groups/t2/quota',
                                {'user_quota': {'vms': 1, 'memory_mib': '1G'}})
        self.assertEqual(st, 200, body)
        st, _, r1 = self.as_('other', 'POST', '/api/v1/vms',
                             {'name': 'gq-1', 'image': 'guest', 'memory': 64,
                              'start': False})
        self.assertEqual(st, 202, r1)
        st, _, r2 = self.as_('other', 'POST', '/api/v1/vms',
                             {'name': 'gq-2', 'image': 'guest', 'memory': 64,
                              'start': False})
        self.assertEqual(st, 409, r2)
        self.assertIn("VMs of user 'carol'", r2['detail'])
        d.wait_job(r1['job']['id'])
        r = d.request('DELETE', '/api/v1/vms/%d' % r1['vm']['id'])
        d.wait_job(r[2]['job']['id'])
        d.request('PUT', '/api/v1/groups/t2/quota',
                  {'user_quota': {'vms': 'unlimited',
                                  'memory_mib': 'unlimited'}})
        self.assertEqual(d.get('/api/v1/users/carol')['usage']['vms'], 0)

    def test_tokens_expire_and_revoke(self):
        d = self.d
        st, _, t = d.request('POST', '/api/v1/tokens',
                             {'user': 'bob', 'password': PASSWORD, 'ttl': 2},
                             auth=False)
        self.assertEqual(st, 201, t)
        tok = t['token']
        self.assertEqual(d.request('GET', '/api/v1/vms', token=tok)[0], 200)
        # listed for bob, with no secret
        st, _, lst = d.request('GET', '/api/v1/tokens', token=tok)
        self.assertIn(t['id'], [x['id'] for x in lst['items']])
        self.assertNotIn('hash', json.dumps(lst))
        self.assertNotIn(tok, json.dumps(lst))
        # past its expiry and past two sweeps (poll_interval 2 s): what it
        # is told does not depend on whether the sweep came first
        time.sleep(2 + 2 * 2.2)
        st, _, body = d.request('GET', '/api/v1/vms', token=tok)
        self.assertEqual(st, 401)
        self.assertIn('expired', body['detail'])
        # revocation takes effect on the next request
        tok2 = d.login('bob', PASSWORD)
        self.assertEqual(d.request('GET', '/api/v1/vms', token=tok2)[0], 200)
        self.assertEqual(d.request('DELETE', '/api/v1/tokens/current',
                                   token=tok2)[0], 204)
        self.assertEqual(d.request('GET', '/api/v1/vms', token=tok2)[0], 401)
        # a superuser revokes someone else's token
        tok3 = d.login('bob', PASSWORD)
        tid = [x['id'] for x in d.request('GET', '/api/v1/tokens',
                                          token=tok3)[2]['items']][-1]
        self.assertEqual(d.request('DELETE', '/api/v1/tokens/%d' % tid)[0],
                         204)
        self.assertEqual(d.request('GET', '/api/v1/vms', token=tok3)[0], 401)
        # a disabled user's tokens stop working
        tok4 = d.login('bob', PASSWORD)
        self.assertEqual(d.request('PATCH', '/api/v1/users/bob',
                                   {'enabled': False})[0], 200)
        self.assertEqual(d.request('GET', '/api/v1/vms', token=tok4)[0], 401)
        self.assertEqual(d.request('PATCH', '/api/v1/users/bob',
                                   {'enabled': True})[0], 200)
        self.tokens['member'] = d.login('bob', PASSWORD)

    def test_group_switch(self):
        d = self.d
        share_image(d)
        # erin is in t1, and t2 as a secondary group
        st, _, body = d.request('POST', '/api/v1/users',
                                {'name': 'erin', 'password': PASSWORD,
                                 'group': 't1', 'groups': ['t2']})
        self.assertEqual(st, 201, body)
        tok = d.login('erin', PASSWORD)
        st, _, t2 = d.request('POST', '/api/v1/tokens/switch',
                              {'group': 't2'}, token=tok)
        self.assertEqual(st, 201, t2)
        self.assertEqual(t2['group_id'], self.ids['t2'])
        st, _, r = d.request('POST', '/api/v1/vms',
                             {'name': 'sw-vm', 'image': 'guest', 'memory': 64,
                              'start': False}, token=t2['token'])
        self.assertEqual(st, 202, r)
        self.assertEqual(r['vm']['group_id'], self.ids['t2'])
        d.wait_job(r['job']['id'])
        # carol (t2) sees it through the group; alice (t1) does not
        self.assertEqual(self.as_('other', 'GET', '/api/v1/vms/%d' %
                                  r['vm']['id'])[0], 200)
        self.assertEqual(self.as_('owner', 'GET', '/api/v1/vms/%d' %
                                  r['vm']['id'])[0], 404)
        # a group erin is not in
        st, _, body = d.request('POST', '/api/v1/tokens/switch',
                                {'group': 'superusers'}, token=tok)
        self.assertEqual(st, 403, body)
        # login straight into t2
        st, _, body = d.request('POST', '/api/v1/tokens',
                                {'user': 'erin', 'password': PASSWORD,
                                 'group': 't2'}, auth=False)
        self.assertEqual(st, 201)
        self.assertEqual(body['group_id'], self.ids['t2'])
        r = d.request('DELETE', '/api/v1/vms/%d' % r['vm']['id'])
        d.wait_job(r[2]['job']['id'])

    def test_chown_moves_usage(self):
        d = self.d
        share_image(d)
        made = []
        for i in range(2):
            st, _, r = self.as_('owner', 'POST', '/api/v1/vms',
                                {'name': 'own-%d' % i, 'image': 'guest',
                                 'memory': 64, 'start': False})
            self.assertEqual(st, 202, r)
            d.wait_job(r['job']['id'])
            made.append(r['vm']['id'])
        a0 = d.get('/api/v1/users/alice')['usage']['vms']
        c0 = d.get('/api/v1/users/carol')['usage']['vms']
        # alice cannot give her VMs away (to her the other users do not
        # even exist); t1's admin may give them to a user of t1 but cannot
        # see another group's user; a superuser can do it all, in bulk
        st, _, body = self.as_('owner', 'POST', '/api/v1/ownership',
                               {'kind': 'vm', 'ids': made, 'user': 'bob'})
        self.assertEqual(st, 404, body)
        st, _, body = self.as_('owner', 'POST', '/api/v1/ownership',
                               {'kind': 'vm', 'ids': made, 'user': 'alice'})
        self.assertEqual(st, 403, body)
        st, _, body = self.as_('group_admin', 'POST', '/api/v1/ownership',
                               {'kind': 'vm', 'ids': made, 'user': 'carol'})
        self.assertEqual(st, 404, body)
        st, _, body = d.request('POST', '/api/v1/ownership',
                                {'kind': 'vm', 'ids': made, 'user': 'carol',
                                 'group': 't2'})
        self.assertEqual(st, 204, body)
        self.assertEqual(d.get('/api/v1/users/alice')['usage']['vms'], a0 - 2)
        self.assertEqual(d.get('/api/v1/users/carol')['usage']['vms'], c0 + 2)
        for v in made:
            self.assertEqual(self.as_('owner', 'GET', '/api/v1/vms/%d' % v)[0],
                             404)
            st, _, vm = self.as_('other', 'GET', '/api/v1/vms/%d' % v)
            self.assertEqual(vm['owner_id'], self.ids['carol'])
        # all or nothing: one unknown id, nothing changes
        st, _, body = d.request('POST', '/api/v1/ownership',
                                {'kind': 'vm', 'ids': made + [999999],
                                 'user': 'alice', 'group': 't1'})
        self.assertEqual(st, 404, body)
        self.assertEqual(d.get('/api/v1/users/carol')['usage']['vms'], c0 + 2)
        for v in made:
            r = d.request('DELETE', '/api/v1/vms/%d' % v)
            d.wait_job(r[2]['job']['id'])
        self.assertEqual(d.get('/api/v1/users/carol')['usage']['vms'], c0)

    def test_login_throttle(self):
        d = self.d
        st, _, body = d.request('POST', '/api/v1/users',
                                {'name': 'mallory', 'password': PASSWORD,
                                 'group': 't2'})
        self.assertEqual(st, 201, body)
        # five tries; the fifth failure locks the user for a second
        for _ in range(5):
            st, _, body = d.request('POST', '/api/v1/tokens',
                                    {'user': 'mallory', 'password': 'wrong'},
                                    auth=False)
            self.assertEqual(st, 401, body)
        # now locked: even the right password waits
        st, hdrs, body = d.request('POST', '/api/v1/tokens',
                                   {'user': 'mallory', 'password': PASSWORD},
                                   auth=False)
        self.assertEqual(st, 429, body)
        self.assertIn('too many failed logins', body['detail'])
        self.assertEqual(body['instance'], '/api/v1/tokens')
        self.assertEqual(body['type'], 'https://vireo.dev/problems/throttled')
        self.assertGreaterEqual(int(hdrs.get('Retry-After', '0')), 1)
        # the throttle is per user: alice still logs in
        self.assertEqual(d.request('POST', '/api/v1/tokens',
                                   {'user': 'alice', 'password': PASSWORD},
                                   auth=False)[0], 201)
        time.sleep(int(hdrs['Retry-After']) + 0.2)
        st, _, body = d.request('POST', '/api/v1/tokens',
                                {'user': 'mallory', 'password': PASSWORD},
                                auth=False)
        self.assertEqual(st, 201, body)

    def test_audit(self):
        d = self.d
        st, _, im = self.as_('owner', 'POST', '/api/v1/images',
                             {'name': 'audited', 'format': 'raw'})
        self.assertEqual(st, 201)
        self.as_('owner', 'DELETE', '/api/v1/images/audited')
        self.as_('other', 'DELETE', '/api/v1/images/%d' % im['id'])
        d.request('POST', '/api/v1/tokens', {'user': 'alice',
                                             'password': 'nope'}, auth=False)
        st, _, log = d.request('GET', '/api/v1/audit?user=alice&limit=50')
        self.assertEqual(st, 200, log)
        entries = log['items']
        created = [e for e in entries if e['method'] == 'POST' and
                   e['path'] == '/api/v1/images']
        self.assertTrue(created)
        e = created[0]
        self.assertEqual(e['user'], 'alice')
        self.assertEqual(e['user_id'], self.ids['alice'])
        self.assertEqual(e['source'], '127.0.0.1')
        self.assertEqual(e['kind'], 'image')
        self.assertEqual(e['object_id'], im['id'])
        self.assertEqual(e['object_name'], 'audited')
        self.assertEqual((e['status'], e['result']), (201, 'success'))
        self.assertIn('time', e)
        deleted = [x for x in entries if x['method'] == 'DELETE']
        self.assertEqual(deleted[0]['status'], 204)
        failed_login = [x for x in entries if x['path'] == '/api/v1/tokens'
                        and x['status'] == 401]
        self.assertTrue(failed_login)
        self.assertNotIn('nope', json.dumps(entries))
        # the denied attempt by carol is there too, as a failure
        st, _, log = d.request('GET', '/api/v1/audit?user=carol')
        self.assertIn(404, [x['status'] for x in log['items']])
        # newest first
        times = [x['time'] for x in entries]
        self.assertEqual(times, sorted(times, reverse=True))
        # and the file is append-only JSON lines, 0600
        import os
        path = os.path.join(d.dir, 'audit.log')
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(path) as f:
            for line in f:
                json.loads(line)
        # tenants may not read it
        self.assertEqual(self.as_('owner', 'GET', '/api/v1/audit')[0], 403)
        self.assertEqual(self.as_('group_admin', 'GET', '/api/v1/audit')[0],
                         403)
        # by kind: every kind an entry names, clusters too; a kind that
        # does not exist is a mistake, not an empty answer
        st, _, c = d.request('POST', '/api/v1/clusters', {'name': 'audited'})
        self.assertEqual(st, 201, c)
        self.addCleanup(d.request, 'DELETE', '/api/v1/clusters/audited')
        st, _, log = d.request('GET', '/api/v1/audit?kind=cluster')
        self.assertEqual(st, 200, log)
        self.assertIn(c['id'], [x['object_id'] for x in log['items']])
        self.assertEqual({x['kind'] for x in log['items']}, {'cluster'})
        st, _, p = d.request('GET', '/api/v1/audit?kind=clusters')
        self.assertEqual(st, 400, p)
        self.assertIn('vm_group, cluster', p['detail'])
        # from a time: RFC 3339, its zone "Z" or an offset; without a zone
        # it would be a guess, and is refused
        made = [x['time'] for x in log['items'] if x['object_id'] == c['id']]
        t = datetime.datetime.fromisoformat(made[0].replace('Z', '+00:00'))
        for since, want in ((made[0], True),
                            (t.astimezone(datetime.timezone(
                                datetime.timedelta(hours=5, minutes=30)))
                             .isoformat(timespec='milliseconds'), True),
                            ((t + datetime.timedelta(milliseconds=1))
                             .isoformat(timespec='milliseconds'), False)):
            st, _, log = d.request('GET', '/api/v1/audit?kind=cluster&since='
                                   + urllib.parse.quote(since))
            self.assertEqual(st, 200, (since, log))
            self.assertEqual(c['id'] in [x['object_id'] for x in
                                         log['items']], want, since)
        st, _, p = d.request('GET', '/api/v1/audit?since=' + made[0][:19])
        self.assertEqual(st, 400, p)
        self.assertIn('zone', p['detail'])

    def test_bad_tenancy_input(self):
        d = self.d
        for body, needle in (
                ({'name': 'x<y', 'password': PASSWORD, 'group': 't1'},
                 'user name'),
                ({'name': 'shorty', 'password': 'short', 'group': 't1'},
                 'at least 8'),
                ({'name': 'nogroup', 'password': PASSWORD, 'group': 'zz'},
                 'not found'),
                ({'name': 'alice', 'password': PASSWORD, 'group': 't1'},
                 'already exists'),
                ({'name': 'x1', 'password': PASSWORD, 'group': 't1',
                  'role': 'root'}, 'unknown field')):
            st, _, r = d.request('POST', '/api/v1/users', body)
            self.assertIn(st, (400, 404, 409), r)
            self.assertIn(needle, r['detail'])
        st, _, r = d.request('PUT', '/api/v1/users/alice/quota',
                             {'vms': -1})
        self.assertEqual(st, 400)
        st, _, r = d.request('POST', '/api/v1/acls',
                             {'who': 'everyone', 'resources': ['vm'],
                              'rights': 'use'})
        self.assertEqual(st, 400)
        st, _, r = d.request('POST', '/api/v1/acls',
                             {'who': 'all', 'resources': ['vm'],
                              'rights': 'root'})
        self.assertEqual(st, 400)
        st, _, r = d.request('POST', '/api/v1/ownership',
                             {'kind': 'vm', 'ids': [1], 'permissions': '999'})
        self.assertEqual(st, 400)
        # the built-in groups and a group in use stay
        self.assertEqual(d.request('DELETE', '/api/v1/groups/superusers')[0],
                         409)
        self.assertEqual(d.request('DELETE', '/api/v1/groups/t1')[0], 409)
        self.assertEqual(d.request('DELETE', '/api/v1/users/admin')[0], 409)


if __name__ == '__main__':
    unittest.main()
