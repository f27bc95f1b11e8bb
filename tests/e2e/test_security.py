"""Hardening against a hostile tenant (docs/security.md): each test here
reproduces an attack that once worked and checks that it no longer does.

Tenants: acme (alan is its group administrator), beta (bea administers
it), gamma (gil administers it, a group no target belongs to).
"""
import calendar
import concurrent.futures
import json
import os
import time

from harness import DaemonTest
from tenancy import PASSWORD

# ---- the user-management matrix
#
# Endpoints acting on one user x callers x targets.  Callers: the group
# administrator of the target's primary group, of a secondary group, of a
# group the target is not in; a member of acme holding USE+MANAGE on every
# user through an ACL rule; a superuser.  Targets: a user of acme only, a
# user of acme (primary) and beta, a user of acme who is also in
# superusers.  'ok' means the call got past authorization; a number is the
# status of the refusal (404 when the target must stay invisible).

CALLERS = ('ga_primary', 'ga_secondary', 'ga_none', 'acl_manage', 'super')
TARGETS = ('plain', 'two_tenants', 'superuser')


def cells(**kw):
    """Expected cells: kw maps a caller to a tuple (plain, two_tenants,
    superuser) or to one value for all three."""
    out = {}
    for c in CALLERS:
        v = kw[c]
        if not isinstance(v, tuple):
            v = (v, v, v)
        for t, e in zip(TARGETS, v):
            out[(c, t)] = e
    return out


# what each caller may see: the primary group's administrator sees the
# users of its group (even a superuser among them, read only); the ACL
# holder sees every user; the others see none of the targets
SEE = dict(ga_primary='ok', ga_secondary=404, ga_none=404, acl_manage='ok',
           super='ok')
USER_MATRIX = {
    ('GET', '/api/v1/users/{user}'): cells(**SEE),
    # disable: ADMIN on the user, bounded by every group of the user
    ('PATCH', '/api/v1/users/{user}'): cells(
        ga_primary=('ok', 403, 403), ga_secondary=404, ga_none=404,
        acl_manage=403, super='ok'),
    ('DELETE', '/api/v1/users/{user}'): cells(
        ga_primary=('ok', 403, 403), ga_secondary=404, ga_none=404,
        acl_manage=403, super='ok'),
    # a reset: MANAGE, bounded the same way (the ACL rule gives MANAGE but
    # no ADMIN over acme: it reaches nobody)
    ('POST', '/api/v1/users/{user}/password'): cells(
        ga_primary=('ok', 403, 403), ga_secondary=404, ga_none=404,
        acl_manage=403, super='ok'),
    # quotas: superusers only, decided before the user is looked up
    ('PUT', '/api/v1/users/{user}/quota'): cells(
        ga_primary=403, ga_secondary=403, ga_none=403, acl_manage=403,
        super='ok'),
}
BODIES = {
    'PATCH': {'enabled': False},
    'POST': {'password': 'brand-new-pass-1'},
    'PUT': {'vms': 5},
}


class Security(DaemonTest):
    upload_guest = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.d
        for g in ('acme', 'beta', 'gamma'):
            st, _, body = d.request('POST', '/api/v1/groups', {'name': g})
            assert st == 201, body
        for name, group in (('alan', 'acme'), ('bea', 'beta'),
                            ('gil', 'gamma'), ('mia', 'acme')):
            cls.mkuser(name, group)
        for g, admin in (('acme', 'alan'), ('beta', 'bea'),
                         ('gamma', 'gil')):
            st, _, body = d.request('POST', '/api/v1/groups/%s/admins' % g,
                                    {'user': admin})
            assert st == 200, body
        # mia: USE and MANAGE on every user, through an ACL rule
        st, _, body = d.request('POST', '/api/v1/acls', {
            'who': 'user', 'user': 'mia', 'resources': ['user'],
            'rights': 'use,manage'})
        assert st == 201, body
        cls.tok = {'ga_primary': d.login('alan', PASSWORD),
                   'ga_secondary': d.login('bea', PASSWORD),
                   'ga_none': d.login('gil', PASSWORD),
                   'acl_manage': d.login('mia', PASSWORD),
                   'super': d.token}
        cls.n = 0

    @classmethod
    def mkuser(cls, name, group, groups=None):
        body = {'name': name, 'password': PASSWORD, 'group': group}
        if groups:
            body['groups'] = groups
        st, _, u = cls.d.request('POST', '/api/v1/users', body)
        assert st == 201, u
        return u

    def share_guest(self):
        st, _, ans = self.d.request('POST', '/api/v1/ownership',
                                    {'kind': 'image', 'ids': ['guest'],
                                     'permissions': '644'})
        self.assertEqual(st, 204, ans)

    def target(self, kind):
        Security.n += 1
        name = 'tgt-%s-%d' % (kind.replace('_', ''), Security.n)
        groups = {'plain': None, 'two_tenants': ['beta'],
                  'superuser': ['superusers']}[kind]
        return self.mkuser(name, 'acme', groups)

    def test_user_management_matrix(self):
        d = self.d
        failures = []
        for (method, template), expect in sorted(USER_MATRIX.items()):
            for caller in CALLERS:
                for kind in TARGETS:
                    u = self.target(kind)
                    path = template.replace('{user}', str(u['id']))
                    st, _, body = d.request(method, path,
                                            BODIES.get(method),
                                            token=self.tok[caller])
                    want = expect[(caller, kind)]
                    got = 'ok' if st not in (401, 403, 404) else st
                    if got != want:
                        failures.append('%s %s as %s on %s: %s (want %s) %s'
                                        % (method, template, caller, kind, st,
                                           want, body))
                    # a refused reset changed nothing: the old password
                    # still logs in
                    if method == 'POST' and got != 'ok':
                        d.login(u['name'], PASSWORD)
        self.assertEqual(failures, [], '\n'.join(failures))

    def test_group_admin_cannot_take_over_a_superuser(self):
        """The finding as reported: alan administers acme; sam is primary
        in acme and secondary in superusers."""
        d = self.d
        sam = self.mkuser('sam', 'acme', ['superusers'])
        alan = self.tok['ga_primary']
        for method, path, body in (
                ('POST', '/api/v1/users/sam/password',
                 {'password': 'owned-by-alan'}),
                ('PATCH', '/api/v1/users/sam', {'enabled': False}),
                ('DELETE', '/api/v1/users/sam', None)):
            st, _, ans = d.request(method, path, body, token=alan)
            self.assertEqual(st, 403, (method, path, ans))
        # nothing changed: sam logs in with its own password, the one
        # alan tried does not work, sam is still there and enabled
        st, _, ans = d.request('POST', '/api/v1/tokens',
                               {'user': 'sam', 'password': 'owned-by-alan'},
                               auth=False)
        self.assertEqual(st, 401, ans)
        tok = d.login('sam', PASSWORD)
        st, _, t = d.request('POST', '/api/v1/tokens/switch',
                             {'group': 'superusers'}, token=tok)
        self.assertEqual(st, 201, t)
        self.assertTrue(d.get('/api/v1/users/%d' % sam['id'])['enabled'])
        # an ACL rule cannot lift the bound either (mia holds MANAGE on
        # every user)
        st, _, ans = d.request('POST', '/api/v1/users/sam/password',
                               {'password': 'owned-by-mia'},
                               token=self.tok['acl_manage'])
        self.assertEqual(st, 403, ans)

    def test_chmod_never_grants_more_than_held(self):
        """A member with MANAGE (through the group bits) cannot make
        itself ADMIN or open the VM to others, and so cannot move it into
        another tenant's group."""
        d = self.d
        self.mkuser('otto', 'acme', ['beta'])
        otto = d.login('otto', PASSWORD)
        alan = self.tok['ga_primary']
        st, _, im = d.request('POST', '/api/v1/ownership',
                              {'kind': 'image', 'ids': ['guest'],
                               'permissions': '644'})
        self.assertEqual(st, 204, im)
        st, _, r = d.request('POST', '/api/v1/vms',
                             {'name': 'acme-vm', 'image': 'guest',
                              'memory': 64, 'start': False}, token=alan)
        self.assertEqual(st, 202, r)
        d.wait_job(r['job']['id'])
        vm = r['vm']['id']
        # the group may manage it: 660
        st, _, ans = d.request('POST', '/api/v1/ownership',
                               {'kind': 'vm', 'ids': [vm],
                                'permissions': '660'}, token=alan)
        self.assertEqual(st, 204, ans)
        for perms in ('667', '670', '661', '664', '760', '671'):
            st, _, ans = d.request('POST', '/api/v1/ownership',
                                   {'kind': 'vm', 'ids': [vm],
                                    'permissions': perms}, token=otto)
            self.assertEqual(st, 403, (perms, ans))
        self.assertEqual(d.get('/api/v1/vms/%d' % vm)['permissions'], '660')
        # what MANAGE may do: the USE and MANAGE bits of owner and group
        st, _, ans = d.request('POST', '/api/v1/ownership',
                               {'kind': 'vm', 'ids': [vm],
                                'permissions': '460'}, token=otto)
        self.assertEqual(st, 204, ans)
        st, _, ans = d.request('POST', '/api/v1/ownership',
                               {'kind': 'vm', 'ids': [vm],
                                'permissions': '660'}, token=otto)
        self.assertEqual(st, 204, ans)
        # and so no way into beta, where otto is also a member
        st, _, ans = d.request('POST', '/api/v1/ownership',
                               {'kind': 'vm', 'ids': [vm], 'group': 'beta'},
                               token=otto)
        self.assertEqual(st, 403, ans)
        self.assertEqual(d.get('/api/v1/vms/%d' % vm)['group_id'],
                         d.get('/api/v1/groups/acme')['id'])
        # the group's administrator holds ADMIN: it may
        st, _, ans = d.request('POST', '/api/v1/ownership',
                               {'kind': 'vm', 'ids': [vm],
                                'permissions': '664'}, token=alan)
        self.assertEqual(st, 204, ans)
        r = d.request('DELETE', '/api/v1/vms/%d' % vm)
        d.wait_job(r[2]['job']['id'])

    def test_password_change_and_token_families(self):
        d = self.d
        self.mkuser('tess', 'gamma')
        t1 = d.login('tess', PASSWORD)
        t2 = d.login('tess', PASSWORD)
        # a stolen token alone does not change the password
        st, _, ans = d.request('POST', '/api/v1/users/me/password',
                               {'password': 'new-pass-123'}, token=t1)
        self.assertEqual(st, 400, ans)
        self.assertIn('current_password', ans['detail'])
        st, _, ans = d.request('POST', '/api/v1/users/me/password',
                               {'password': 'new-pass-123',
                                'current_password': 'not-it-at-all'},
                               token=t1)
        self.assertEqual(st, 403, ans)
        st, _, ans = d.request('POST', '/api/v1/users/me/password',
                               {'password': 'new-pass-123',
                                'current_password': PASSWORD}, token=t1)
        self.assertEqual(st, 204, ans)
        # the session that changed it stays; every other one ends
        self.assertEqual(d.request('GET', '/api/v1/vms', token=t1)[0], 200)
        self.assertEqual(d.request('GET', '/api/v1/vms', token=t2)[0], 401)
        t3 = d.login('tess', 'new-pass-123')
        # a switched token goes with the token it came from
        st, _, sw = d.request('POST', '/api/v1/tokens/switch',
                              {'group': 'gamma'}, token=t3)
        self.assertEqual(st, 201, sw)
        st, _, sw2 = d.request('POST', '/api/v1/tokens/switch',
                               {'group': 'gamma'}, token=sw['token'])
        self.assertEqual(st, 201, sw2)
        self.assertEqual(d.request('DELETE', '/api/v1/tokens/current',
                                   token=t3)[0], 204)
        for tok in (t3, sw['token'], sw2['token']):
            self.assertEqual(d.request('GET', '/api/v1/vms', token=tok)[0],
                             401)
        # a reset by an administrator ends every session of the user
        t4 = d.login('tess', 'new-pass-123')
        st, _, ans = d.request('POST', '/api/v1/users/tess/password',
                               {'password': PASSWORD},
                               token=self.tok['ga_none'])
        self.assertEqual(st, 204, ans)
        for tok in (t1, t4):
            self.assertEqual(d.request('GET', '/api/v1/vms', token=tok)[0],
                             401)
        # a client cannot ask for more than token_ttl (7 days by default)
        st, _, t = d.request('POST', '/api/v1/tokens',
                             {'user': 'tess', 'password': PASSWORD,
                              'ttl': 365 * 86400}, auth=False)
        self.assertEqual(st, 201, t)
        exp = calendar.timegm(time.strptime(t['expires_at'][:19],
                                            '%Y-%m-%dT%H:%M:%S'))
        self.assertLessEqual(exp - time.time(), 7 * 86400 + 60)
        st, _, sw = d.request('POST', '/api/v1/tokens/switch',
                              {'group': 'gamma', 'ttl': 365 * 86400},
                              token=t['token'])
        self.assertEqual(st, 201, sw)
        self.assertLessEqual(sw['expires_at'], t['expires_at'])

    def test_login_throttle_holds_under_concurrency(self):
        """60 wrong passwords at once: five are checked, the rest wait."""
        d = self.d
        self.mkuser('pat', 'gamma')
        src = '127.0.0.61'    # its own address: 127.0.0.1 stays free

        def attempt(_):
            return d.request('POST', '/api/v1/tokens',
                             {'user': 'pat', 'password': 'wrong-guess'},
                             auth=False, source=src)[0]
        with concurrent.futures.ThreadPoolExecutor(60) as ex:
            got = list(ex.map(attempt, range(60)))
        self.assertEqual(got.count(401), 5, got)
        self.assertEqual(got.count(429), 55, got)
        with open(os.path.join(d.dir, 'vireod.log')) as f:
            checked = f.read().count("failed login for 'pat'")
        self.assertEqual(checked, 5)

    def test_log_injection(self):
        d = self.d
        forged = 'x\n2026-01-01T00:00:00.000Z info  auth     FORGED'
        st, _, ans = d.request('POST', '/api/v1/tokens',
                               {'user': forged, 'password': 'whatever-1'},
                               auth=False, source='127.0.0.62')
        self.assertEqual(st, 401, ans)
        with open(os.path.join(d.dir, 'vireod.log')) as f:
            log = f.read()
        self.assertIn('x\\x0a2026-01-01', log)
        for line in log.splitlines():
            self.assertFalse(line.startswith('2026-01-01T00:00:00.000Z'),
                             line)

    def test_names_of_other_tenants_never_leak(self):
        d = self.d
        self.mkuser('ivy', 'acme')
        self.mkuser('cy', 'beta')
        ivy = d.login('ivy', PASSWORD)
        cy = d.login('cy', PASSWORD)
        self.share_guest()
        # ivy's image and VM group, opened to everyone by an operator
        st, _, im = d.request('POST', '/api/v1/images',
                              {'name': 'ivy-img', 'format': 'qcow2'},
                              token=ivy)
        self.assertEqual(st, 201, im)
        with open(os.path.join(os.environ.get('VIREO_GUEST',
                                              '/var/cache/vireo/guest'),
                               'vireo-guest.qcow2'), 'rb') as f:
            st, _, im = d.request('PUT', '/api/v1/images/%d/data' % im['id'],
                                  raw=f.read(), token=ivy,
                                  headers={'Content-Type':
                                           'application/octet-stream'})
        self.assertEqual(st, 200, im)
        st, _, vg = d.request('POST', '/api/v1/vm-groups',
                              {'name': 'ivy-vmg', 'roles': [{'name': 'web'}]},
                              token=ivy)
        self.assertEqual(st, 201, vg)
        for kind, ref in (('image', im['id']), ('vm_group', vg['id'])):
            st, _, ans = d.request('POST', '/api/v1/ownership',
                                   {'kind': kind, 'ids': [ref],
                                    'permissions': '644'})
            self.assertEqual(st, 204, ans)
        st, _, r = d.request('POST', '/api/v1/vms',
                             {'name': 'cy-secret-vm', 'image': im['id'],
                              'memory': 64, 'start': False,
                              'vm_group': vg['id'], 'vm_group_role': 'web'},
                             token=cy)
        self.assertEqual(st, 202, r)
        d.wait_job(r['job']['id'])
        for path in ('/api/v1/images/%d' % im['id'],
                     '/api/v1/vm-groups/%d' % vg['id']):
            st, _, ans = d.request('DELETE', path, token=ivy)
            self.assertEqual(st, 409, ans)
            self.assertNotIn('cy-secret-vm', json.dumps(ans))
            self.assertIn('cannot see', ans['detail'])
            # an operator is told which
            st, _, ans = d.request('DELETE', path)
            self.assertEqual(st, 409, ans)
            self.assertIn('cy-secret-vm', ans['detail'])
        r = d.request('DELETE', '/api/v1/vms/%d' % r['vm']['id'])
        d.wait_job(r[2]['job']['id'])
        # user names are one namespace: a group administrator probing
        # them is slowed down after ten names found taken
        alan = self.tok['ga_primary']
        codes = []
        for i in range(12):
            st, _, ans = d.request('POST', '/api/v1/users',
                                   {'name': 'bea', 'password': PASSWORD,
                                    'group': 'acme'}, token=alan)
            codes.append(st)
        self.assertEqual(codes[:10], [409] * 10, codes)
        self.assertEqual(codes[10:], [429, 429], codes)

    def test_chunked_bodies_are_checked(self):
        d = self.d

        def chunked(method, path, ctype, payload):
            s = d.raw_socket()
            head = ('%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
                    'Transfer-Encoding: chunked\r\n' % (method, path,
                                                        d.token))
            h = {}
            if ctype:
                head += 'Content-Type: %s\r\n' % ctype
                h['Content-Type'] = ctype
            s.sendall((head + '\r\n%x\r\n' % len(payload)).encode() +
                      payload + b'\r\n0\r\n\r\n')
            st, _, _ = d.raw_response(s, method, path, h, payload)
            s.close()
            return st
        # a route that takes no body: refused, and nothing done
        st, _, t = d.request('POST', '/api/v1/tokens',
                             {'user': 'admin', 'password': d.password()},
                             auth=False)
        self.assertEqual(st, 201, t)
        self.assertEqual(chunked('DELETE', '/api/v1/tokens/%d' % t['id'],
                                 'application/json', b'{}'), 400)
        self.assertEqual(d.request('GET', '/api/v1/vms',
                                   token=t['token'])[0], 200)
        self.assertEqual(chunked('GET', '/api/v1/vms', 'application/json',
                                 b'{}'), 400)
        # a JSON route, with another type
        self.assertEqual(chunked('POST', '/api/v1/groups', 'text/plain',
                                 b'{"name":"chunky"}'), 415)
        self.assertEqual(chunked('POST', '/api/v1/groups', None,
                                 b'{"name":"chunky"}'), 415)
        # and the right one works
        self.assertEqual(chunked('POST', '/api/v1/groups',
                                 'application/json', b'{"name":"chunky"}'),
                         201)
        # every route with a body: the same checks, before the handler
        for method, path in (('POST', '/api/v1/clusters'),
                             ('PATCH', '/api/v1/clusters/default'),
                             ('PATCH', '/api/v1/hosts/1'),
                             ('POST', '/api/v1/vms'),
                             ('POST', '/api/v1/users/me/password')):
            self.assertEqual(chunked(method, path, 'text/plain', b'{}'), 415,
                             path)
            self.assertEqual(chunked(method, path, None, b'{}'), 415, path)
        self.assertEqual(chunked('PUT', '/api/v1/images/guest/data',
                                 'application/json', b'{}'), 415)
        for method, path in (('GET', '/api/v1/clusters'),
                             ('DELETE', '/api/v1/clusters/default'),
                             ('GET', '/api/v1/health')):
            self.assertEqual(chunked(method, path, 'application/json',
                                     b'{}'), 400, path)

    def test_placement_answers_count_no_hosts_for_tenants(self):
        d = self.d
        self.mkuser('pia', 'gamma')
        pia = d.login('pia', PASSWORD)
        self.share_guest()
        st, _, r = d.request('POST', '/api/v1/vms',
                             {'name': 'pia-waits', 'image': 'guest',
                              'memory': 64, 'start': False,
                              'requirements': 'HOST = "nowhere"'}, token=pia)
        self.assertEqual(st, 202, r)
        deadline = time.time() + 30
        while time.time() < deadline:
            st, _, vm = d.request('GET', '/api/v1/vms/%d' % r['vm']['id'],
                                  token=pia)
            if vm['placement']['why']:
                break
            time.sleep(0.1)
        why = vm['placement']['why']
        self.assertEqual(why, 'no host fits: hosts fail the requirements')
        self.assertNotIn('why_hosts', vm['placement'])
        for path in ('/api/v1/vms', '/api/v1/vms/%d' % r['vm']['id']):
            st, _, body = d.request('GET', path, token=pia)
            self.assertNotIn('1 host', json.dumps(body))
        # an operator sees the count
        self.assertIn('1 fail the requirements',
                      d.vm(r['vm']['id'])['placement']['why_hosts'])
        st, _, b = d.request('DELETE', '/api/v1/vms/%d' % r['vm']['id'],
                             token=pia)
        self.assertEqual(st, 202, b)
        d.wait_job(b['job']['id'])
