"""Every API endpoint x every kind of caller: allowed or denied.

The endpoints come from the server's own OpenAPI document (a unit test
keeps it equal to the route table), so a new endpoint joins this matrix by
itself: until its row is written in EXPECT, this test fails and names it.

Callers: anonymous (no token), owner (alice, who owns the objects), member
(bob, same group t1), other (carol, group t2), group_admin (dave, t1's
administrator), superuser (admin).  'ok' means the call got past
authorization (any status but 401, 403 and 404); a number is the status a
denial must have: 401 without a token, 404 when the object must stay
invisible, 403 when the caller may know it exists.
"""
import json
import re
import unittest
import uuid

from harness import DaemonTest
from tenancy import PASSWORD, setup_tenancy, share_image

ROLES = ('anonymous', 'owner', 'member', 'other', 'group_admin', 'superuser')


def row(owner, member, other, group_admin, superuser, anonymous=401):
    return dict(anonymous=anonymous, owner=owner, member=member, other=other,
                group_admin=group_admin, superuser=superuser)


ALL = row('ok', 'ok', 'ok', 'ok', 'ok')
PUBLIC = row('ok', 'ok', 'ok', 'ok', 'ok', anonymous='ok')
SUPER = row(403, 403, 403, 403, 'ok')
# the object belongs to alice in t1 with permissions 640
USE_T1 = row('ok', 'ok', 404, 'ok', 'ok')
MANAGE_T1 = row('ok', 403, 404, 'ok', 'ok')

EXPECT = {
    ('GET', '/api/v1/health'): PUBLIC,
    ('GET', '/api/v1/openapi.json'): PUBLIC,
    ('POST', '/api/v1/tokens'): PUBLIC,
    ('POST', '/api/v1/tokens/switch'): ALL,
    ('GET', '/api/v1/tokens'): ALL,
    # alice's token: hers only
    ('DELETE', '/api/v1/tokens/{token}'): row('ok', 404, 404, 404, 'ok'),
    ('GET', '/api/v1/hosts'): ALL,
    ('GET', '/api/v1/hosts/{host}'): row(404, 404, 404, 404, 'ok'),
    # placement settings: superusers only, decided before the host is
    # looked up
    ('PATCH', '/api/v1/hosts/{host}'): SUPER,
    # adding and removing hosts: superusers only, decided before the body
    # or the host is looked at
    ('POST', '/api/v1/hosts'): SUPER,
    ('DELETE', '/api/v1/hosts/{host}'): SUPER,
    # clusters are the system's, like hosts: superusers (or ACL rules)
    ('GET', '/api/v1/clusters'): ALL,
    ('POST', '/api/v1/clusters'): SUPER,
    ('GET', '/api/v1/clusters/{cluster}'): row(404, 404, 404, 404, 'ok'),
    ('PATCH', '/api/v1/clusters/{cluster}'): SUPER,
    ('DELETE', '/api/v1/clusters/{cluster}'): SUPER,
    ('GET', '/api/v1/vm-groups'): ALL,
    # whoever may create VMs may create a VM group
    ('POST', '/api/v1/vm-groups'): ALL,
    # alice's VM group, made like her VMs (t1, 640)
    ('GET', '/api/v1/vm-groups/{group}'): USE_T1,
    ('DELETE', '/api/v1/vm-groups/{group}'): MANAGE_T1,
    ('GET', '/api/v1/images'): ALL,
    ('POST', '/api/v1/images'): ALL,
    ('GET', '/api/v1/images/{image}'): USE_T1,
    ('DELETE', '/api/v1/images/{image}'): MANAGE_T1,
    ('PUT', '/api/v1/images/{image}/data'): MANAGE_T1,
    ('GET', '/api/v1/vms'): ALL,
    ('POST', '/api/v1/vms'): ALL,
    ('GET', '/api/v1/vms/{vm}'): USE_T1,
    ('DELETE', '/api/v1/vms/{vm}'): MANAGE_T1,
    ('POST', '/api/v1/vms/{vm}/{action}'): MANAGE_T1,
    ('GET', '/api/v1/vms/{vm}/console-log'): MANAGE_T1,
    ('GET', '/api/v1/jobs'): ALL,
    ('GET', '/api/v1/jobs/{job}'): USE_T1,
    ('GET', '/api/v1/events'): ALL,
    ('GET', '/api/v1/users'): ALL,
    # a user in t1: t1's administrator and superusers; others cannot even
    # see the group they would put it in
    ('POST', '/api/v1/users'): row(403, 403, 404, 'ok', 'ok'),
    # the user alice (permissions 600): herself, t1's admin, superusers
    ('GET', '/api/v1/users/{user}'): row('ok', 404, 404, 'ok', 'ok'),
    ('PATCH', '/api/v1/users/{user}'): row(403, 404, 404, 'ok', 'ok'),
    ('DELETE', '/api/v1/users/{user}'): row(404, 404, 404, 'ok', 'ok'),
    ('POST', '/api/v1/users/{user}/password'): row('ok', 404, 404, 'ok',
                                                   'ok'),
    ('PUT', '/api/v1/users/{user}/quota'): SUPER,
    ('GET', '/api/v1/groups'): ALL,
    ('POST', '/api/v1/groups'): SUPER,
    ('GET', '/api/v1/groups/{group}'): row('ok', 'ok', 404, 'ok', 'ok'),
    ('DELETE', '/api/v1/groups/{group}'): SUPER,
    ('PUT', '/api/v1/groups/{group}/quota'): SUPER,
    ('POST', '/api/v1/groups/{group}/admins'): SUPER,
    ('DELETE', '/api/v1/groups/{group}/admins/{user}'): SUPER,
    ('GET', '/api/v1/acls'): SUPER,
    ('POST', '/api/v1/acls'): SUPER,
    ('DELETE', '/api/v1/acls/{acl}'): SUPER,
    # chmod of alice's VM: MANAGE on it
    ('POST', '/api/v1/ownership'): MANAGE_T1,
    ('GET', '/api/v1/audit'): SUPER,
}


class AuthzMatrix(DaemonTest):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.d
        cls.tokens, cls.ids = setup_tenancy(d)
        share_image(d)
        # Placed VMs hold their vCPUs on the host even when never started,
        # and the matrix makes some forty 1-vCPU VMs: with the default
        # overcommit (4 per CPU) a small host would soon have no room and
        # the creates would wait for a host.  This test is about rights,
        # not capacity.
        host = d.get('/api/v1/hosts')['items'][0]
        st, _, body = d.request('PATCH', '/api/v1/hosts/%d' % host['id'],
                                {'cpu_ratio': 64})
        assert st == 200, body
        cls.n = 0

    # ---- fresh objects, so that a destructive call in one cell does not
    # change the next one

    def fresh(self, what):
        d = self.d
        AuthzMatrix.n += 1
        n = AuthzMatrix.n
        alice = self.tokens['owner']
        if what == 'vm':
            st, _, body = d.request('POST', '/api/v1/vms',
                                    {'name': 'mx-vm-%d' % n, 'image': 'guest',
                                     'memory': 64, 'start': False},
                                    token=alice)
            assert st == 202, body
            job = d.wait_job(body['job']['id'])
            assert job['status'] == 'succeeded', job
            return body['vm']['id'], job['id']
        if what == 'image':
            st, _, body = d.request('POST', '/api/v1/images',
                                    {'name': 'mx-img-%d' % n,
                                     'format': 'raw'}, token=alice)
            assert st == 201, body
            return body['id']
        if what == 'user':
            st, _, body = d.request('POST', '/api/v1/users',
                                    {'name': 'mx-user-%d' % n,
                                     'password': PASSWORD, 'group': 't1'})
            assert st == 201, body
            return body['id']
        if what == 'group':
            st, _, body = d.request('POST', '/api/v1/groups',
                                    {'name': 'mx-group-%d' % n})
            assert st == 201, body
            return body['id']
        if what == 'acl':
            st, _, body = d.request('POST', '/api/v1/acls',
                                    {'who': 'all', 'resources': ['host'],
                                     'resource_id': 999999,
                                     'rights': 'use'})
            assert st == 201, body
            return body['id']
        if what == 'vmgroup':
            st, _, body = d.request('POST', '/api/v1/vm-groups',
                                    {'name': 'mx-vmg-%d' % n,
                                     'roles': [{'name': 'db',
                                                'policy': 'anti-affinity'}]},
                                    token=alice)
            assert st == 201, body
            # the rows below rely on it: alice's, in t1, 640
            assert (body['owner_id'], body['group_id'],
                    body['permissions']) == (self.ids['alice'],
                                             self.ids['t1'], '640'), body
            return body['id']
        if what == 'host':
            st, _, body = d.request('POST', '/api/v1/hosts',
                                    {'name': 'mx-h%d' % n, 'transport': 'sim',
                                     'cpus': 2, 'memory': 32})
            assert st == 201, body
            return body['id']
        if what == 'cluster':
            st, _, body = d.request('POST', '/api/v1/clusters',
                                    {'name': 'mx-cl-%d' % n})
            assert st == 201, body
            return body['id']
        if what == 'token':
            st, _, body = d.request('POST', '/api/v1/tokens',
                                    {'user': 'alice', 'password': PASSWORD},
                                    auth=False)
            assert st == 201, body
            return body['id']
        raise AssertionError(what)

    def call(self, method, template, role):
        """Make the request of one cell; returns (status, body)."""
        d = self.d
        token = self.tokens[role]
        body = None
        params = {'host': '1', 'group': 't1', 'user': str(self.ids['alice']),
                  'action': 'start', 'token': None, 'acl': None, 'job': None,
                  'image': None, 'vm': None, 'cluster': 'default'}
        key = (method, template)
        if key == ('POST', '/api/v1/tokens'):
            who = {'anonymous': 'alice', 'owner': 'alice', 'member': 'bob',
                   'other': 'carol', 'group_admin': 'dave'}.get(role)
            body = ({'user': who, 'password': PASSWORD} if who else
                    {'user': 'admin', 'password': d.password()})
        elif key == ('POST', '/api/v1/tokens/switch'):
            primary = {'owner': 't1', 'member': 't1', 'other': 't2',
                       'group_admin': 't1', 'superuser': 'superusers'}
            body = {'group': primary.get(role, 't1')}
        elif key == ('PATCH', '/api/v1/hosts/{host}'):
            # changes nothing: the host is enabled
            body = {'enabled': True}
        elif key == ('POST', '/api/v1/hosts'):
            # a simulated host too small for any VM of the matrix
            body = {'name': 'mx-h-new-%s' % uuid.uuid4().hex[:8],
                    'transport': 'sim', 'cpus': 2, 'memory': 32}
        elif key == ('DELETE', '/api/v1/hosts/{host}'):
            params['host'] = str(self.fresh('host'))
        elif key == ('POST', '/api/v1/clusters'):
            body = {'name': 'mx-cl-new-%s' % uuid.uuid4().hex[:8]}
        elif key == ('PATCH', '/api/v1/clusters/{cluster}'):
            # changes nothing: the default cluster has no labels
            body = {'labels': []}
        elif key == ('DELETE', '/api/v1/clusters/{cluster}'):
            params['cluster'] = str(self.fresh('cluster'))
        elif key == ('POST', '/api/v1/vm-groups'):
            body = {'name': 'mx-vmg-new-%s' % uuid.uuid4().hex[:8],
                    'roles': [{'name': 'web', 'policy': 'affinity',
                               'hard': False}]}
        elif template.startswith('/api/v1/vm-groups/{group}'):
            params['group'] = str(self.fresh('vmgroup'))
        elif key == ('DELETE', '/api/v1/tokens/{token}'):
            params['token'] = str(self.fresh('token'))
        elif key == ('POST', '/api/v1/images'):
            body = {'name': 'mx-new-%s' % uuid.uuid4().hex[:8],
                    'format': 'raw'}
        elif template.startswith('/api/v1/images/{image}'):
            params['image'] = str(self.fresh('image'))
        elif key == ('POST', '/api/v1/vms'):
            body = {'name': 'mx-new-%s' % uuid.uuid4().hex[:8],
                    'image': 'guest', 'memory': 64, 'start': False}
        elif template.startswith('/api/v1/vms/{vm}') or \
                template.startswith('/api/v1/jobs/{job}'):
            vm, job = self.fresh('vm')
            params['vm'], params['job'] = str(vm), str(job)
        elif key == ('POST', '/api/v1/users'):
            body = {'name': 'mx-u-%s' % uuid.uuid4().hex[:8],
                    'password': PASSWORD, 'group': 't1'}
        elif key == ('PATCH', '/api/v1/users/{user}'):
            body = {'enabled': True}
        elif key == ('DELETE', '/api/v1/users/{user}'):
            params['user'] = str(self.fresh('user'))
        elif key == ('POST', '/api/v1/users/{user}/password'):
            # the current password is what alice gives for her own
            body = {'password': PASSWORD, 'current_password': PASSWORD}
        elif key == ('PUT', '/api/v1/users/{user}/quota'):
            body = {'vms': 'default'}
        elif key == ('POST', '/api/v1/groups'):
            body = {'name': 'mx-g-%s' % uuid.uuid4().hex[:8]}
        elif key == ('DELETE', '/api/v1/groups/{group}'):
            params['group'] = str(self.fresh('group'))
        elif key == ('PUT', '/api/v1/groups/{group}/quota'):
            body = {'vms': 'unlimited'}
        elif key == ('POST', '/api/v1/groups/{group}/admins'):
            body = {'user': 'dave'}
        elif key == ('DELETE', '/api/v1/groups/{group}/admins/{user}'):
            params['user'] = str(self.ids['dave'])
        elif key == ('POST', '/api/v1/acls'):
            body = {'who': 'group', 'group': 't2', 'resources': ['host'],
                    'resource_id': 999999, 'rights': 'use'}
        elif key == ('DELETE', '/api/v1/acls/{acl}'):
            params['acl'] = str(self.fresh('acl'))
        elif key == ('POST', '/api/v1/ownership'):
            vm, _ = self.fresh('vm')
            body = {'kind': 'vm', 'ids': [vm], 'permissions': '640'}
        path = re.sub(r'\{(\w+)\}', lambda m: params[m.group(1)], template)
        if key == ('PUT', '/api/v1/images/{image}/data'):
            st, _, resp = d.request(
                method, path, raw=b'\0' * 4096, auth=token is not None,
                token=token,
                headers={'Content-Type': 'application/octet-stream'})
            return st, resp
        if key == ('GET', '/api/v1/events'):
            return d.stream_status(path, token)
        st, _, resp = d.request(method, path, body, auth=token is not None,
                                token=token)
        if key == ('POST', '/api/v1/groups/{group}/admins') and st == 200:
            pass
        if key == ('DELETE', '/api/v1/groups/{group}/admins/{user}') and \
                st == 200:
            # put dave back for the next cells
            d.request('POST', '/api/v1/groups/t1/admins', {'user': 'dave'})
        if key == ('POST', '/api/v1/users/{user}/password') and st == 204 \
                and role != 'owner':
            # a reset ends alice's sessions: she logs in again
            self.tokens['owner'] = d.login('alice', PASSWORD)
        return st, resp

    def test_matrix(self):
        d = self.d
        st, _, doc = d.request('GET', '/api/v1/openapi.json', auth=False)
        self.assertEqual(st, 200)
        ops = [(m.upper(), p) for p, item in doc['paths'].items()
               for m in item if m in ('get', 'post', 'put', 'patch',
                                      'delete')]
        missing = [op for op in ops if op not in EXPECT]
        self.assertEqual(missing, [], 'endpoints without an authorization '
                         'expectation: write their row in EXPECT')
        failures = []
        cells = 0
        for method, template in ops:
            for role in ROLES:
                want = EXPECT[(method, template)][role]
                st, resp = self.call(method, template, role)
                cells += 1
                got_ok = st not in (401, 403, 404)
                if want == 'ok' and not got_ok:
                    failures.append('%s %s as %s: denied %d (%s)' %
                                    (method, template, role, st,
                                     resp.get('detail') if isinstance(resp, dict) else resp))
                elif want != 'ok' and st != want:
                    failures.append('%s %s as %s: got %d, want %d' %
                                    (method, template, role, st, want))
        print('\n  authorization matrix: %d endpoints x %d callers = %d '
              'cells' % (len(ops), len(ROLES), cells))
        self.assertEqual(failures, [], '\n'.join(failures))


if __name__ == '__main__':
    unittest.main()
