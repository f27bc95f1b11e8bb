"""The tenancy commands of the CLI: groups, users, group administrators,
quotas, ACL rules, chown/chgrp/chmod, tokens, login --group and group
switch, each checked against the server's state.

Every tenant runs the CLI with a config file of its own (VIREO_CONFIG)
and no VIREO_TOKEN, as a person on their own machine would."""
import json
import os

from clitable import records, table
from harness import DaemonTest
from tenancy import PASSWORD, share_image


class CliTenancy(DaemonTest):

    # ---- running the CLI

    def config(self, user):
        return os.path.join(self.d.dir, 'cli-%s.json' % user)

    def run_cli(self, *args, user=None, stdin=None, env=None):
        """The CLI as the administrator (the harness's token) or, with
        `user`, as that user logged in with its own config file."""
        e = {}
        if user:
            e = {'VIREO_TOKEN': '', 'VIREO_CONFIG': self.config(user)}
        e.update(env or {})
        return self.d.cli(*args, stdin=stdin, env=e)

    def ok(self, *args, **kw):
        rc, out, err = self.run_cli(*args, **kw)
        self.assertEqual(rc, 0, (args, out, err))
        self.assertEqual(err, '', args)
        return out

    def fails(self, status, *args, **kw):
        """The command fails with `status` and one line 'vireo: ...'."""
        rc, out, err = self.run_cli(*args, **kw)
        self.assertEqual(rc, status, (args, out, err))
        self.assertEqual(out, '', args)
        self.assertTrue(err.startswith('vireo: '), err)
        self.assertEqual(err.count('\n'), 1, err)
        return err

    def login(self, user, password=PASSWORD, group=None):
        args = ['login', '--user', user, '--password-stdin']
        if group:
            args += ['--group', group]
        out = self.ok(*args, user=user, stdin=password + '\n')
        self.assertIn("as '%s'" % user, out)

    def saved(self, user):
        with open(self.config(user)) as f:
            return json.load(f)

    # ---- the server's view

    def get(self, path):
        return self.d.get('/api/v1/' + path)

    def status(self, path):
        return self.d.request('GET', '/api/v1/' + path)[0]

    def make_tenancy(self, p):
        """Groups p1, p2 and users p-alice (p1, also in p2), p-bob (p1),
        p-dave (p1's administrator), made with the CLI."""
        for g in (p + '1', p + '2'):
            out = self.ok('group', 'create', g)
            self.assertIn('name:', out)
            self.assertEqual(self.get('groups/' + g)['name'], g)
        for name, extra in (('alice', ['--groups', p + '2']), ('bob', []),
                            ('dave', [])):
            self.ok('user', 'create', '%s-%s' % (p, name), '--group', p + '1',
                    '--password-stdin', *extra, stdin=PASSWORD + '\n')
        self.ok('group', 'admin', 'add', p + '1', p + '-dave')
        ids = {g: self.get('groups/' + g)['id'] for g in (p + '1', p + '2')}
        ids.update({n: self.get('users/%s-%s' % (p, n))['id']
                    for n in ('alice', 'bob', 'dave')})
        return ids

    # ---- tests

    def test_groups_and_users(self):
        ids = self.make_tenancy('g')
        alice = self.get('users/g-alice')
        self.assertEqual(alice['group_id'], ids['g1'])
        self.assertEqual(alice['groups'], [ids['g2']])
        self.assertTrue(alice['enabled'])
        self.assertEqual(self.get('groups/g1')['admins'], [ids['dave']])

        # the server's detail, exit 1
        err = self.fails(1, 'group', 'create', 'g1')
        self.assertIn("'g1' already exists", err)
        err = self.fails(1, 'user', 'create', 'g-eve', '--group', 'nope',
                         '--password-stdin', stdin=PASSWORD + '\n')
        self.assertIn("group 'nope' not found", err)
        self.fails(1, 'group', 'show', 'nope')
        self.fails(1, 'group', 'admin', 'add', 'g1', 'nobody')
        # no terminal to ask the password on
        err = self.fails(1, 'user', 'create', 'g-eve', '--group', 'g1',
                         stdin='')
        self.assertIn('--password-stdin', err)
        self.assertEqual(self.status('users/g-eve'), 404)
        # usage errors, exit 2
        self.fails(2, 'group', 'create', 'bad name')
        self.fails(2, 'user', 'create', 'g-eve', '--groups', 'g1,,g2')
        self.fails(2, 'group', 'admin', 'add', 'g1')
        self.fails(2, 'user', 'set-groups', 'g-bob')

        # tables and key: value
        groups = {r['NAME']: r for r in records(self.ok('group', 'list'))}
        self.assertEqual(groups['g1']['ADMINS'], 'g-dave')
        self.assertEqual(groups['g1']['VMS'], '0')
        self.assertEqual(groups['g2']['ADMINS'], '-')
        out = self.ok('group', 'show', 'g1')
        for key in ('quota:', 'user_quota:', 'usage:', 'admins:'):
            self.assertIn(key, out)
        users = {r['NAME']: r for r in records(self.ok('user', 'list'))}
        self.assertEqual(users['g-alice'],
                         {'ID': str(ids['alice']), 'NAME': 'g-alice',
                          'GROUP': 'g1', 'ENABLED': 'yes', 'AUTH': 'local',
                          'VMS': '0'})
        listed = json.loads(self.ok('user', 'list', '-o', 'json'))
        self.assertIn('g-bob', [u['name'] for u in listed['items']])

        # administrators
        out = self.ok('group', 'admin', 'add', 'g1', 'g-alice')
        self.assertIn("'g-alice' is an administrator of group 'g1'", out)
        self.assertEqual(sorted(self.get('groups/g1')['admins']),
                         sorted([ids['dave'], ids['alice']]))
        self.ok('group', 'admin', 'remove', 'g1', 'g-alice')
        self.assertEqual(self.get('groups/g1')['admins'], [ids['dave']])

        # a user sees itself as 'me'
        self.login('g-alice')
        out = self.ok('user', 'show', 'me', user='g-alice')
        self.assertIn('name:        g-alice', out)
        # a tenant cannot create groups
        err = self.fails(1, 'group', 'create', 'g3', user='g-alice')
        self.assertIn('superuser', err)

        # passwords
        self.ok('user', 'passwd', 'g-bob', '--password-stdin',
                stdin='another-horse-8\n')
        st, _, _ = self.d.request('POST', '/api/v1/tokens',
                                  {'user': 'g-bob', 'password': PASSWORD},
                                  auth=False)
        self.assertEqual(st, 401)
        self.login('g-bob', 'another-horse-8')
        # changing one's own password takes the current one (first line)
        err = self.fails(1, 'user', 'passwd', 'me', '--password-stdin',
                         stdin='wrong-horse-0\n' + PASSWORD + '\n',
                         user='g-bob')
        self.assertIn('current password is wrong', err)
        out = self.ok('user', 'passwd', 'me', '--password-stdin',
                      stdin='another-horse-8\n' + PASSWORD + '\n',
                      user='g-bob')
        self.assertIn('your password was changed', out)
        # by name too: the CLI sees it is the caller's own account
        self.ok('user', 'passwd', 'g-bob', '--password-stdin',
                stdin=PASSWORD + '\nanother-horse-9\n', user='g-bob')
        self.ok('user', 'passwd', 'me', '--password-stdin',
                stdin='another-horse-9\n' + PASSWORD + '\n', user='g-bob')
        self.login('g-bob')

        # enable / disable
        self.assertEqual(self.ok('user', 'disable', 'g-bob'),
                         "user 'g-bob' disabled\n")
        self.assertFalse(self.get('users/g-bob')['enabled'])
        self.fails(1, 'user', 'show', 'me', user='g-bob')
        self.ok('user', 'enable', 'g-bob')
        self.assertTrue(self.get('users/g-bob')['enabled'])
        self.login('g-dave')
        err = self.fails(1, 'user', 'disable', 'me', user='g-dave')
        self.assertIn('cannot disable itself', err)

        # groups of a user
        out = self.ok('user', 'set-groups', 'g-bob', '--groups', 'g2')
        self.assertEqual(out, "user 'g-bob': primary group 'g1', other "
                         "groups: g2\n")
        self.assertEqual(self.get('users/g-bob')['groups'], [ids['g2']])
        self.ok('user', 'set-groups', 'g-bob', '--group', 'g2', '--groups',
                '')
        bob = self.get('users/g-bob')
        self.assertEqual((bob['group_id'], bob['groups']), (ids['g2'], []))
        err = self.fails(1, 'user', 'set-groups', 'g-alice', '--group',
                         'g2', user='g-dave')
        # g-alice is in g1 and g2 by now: g1's administrator may not even
        # administer her; were she in g1 only, the groups would still be
        # a superuser's to change
        self.assertIn("not allowed to administer user 'g-alice'", err)

        # deletions
        self.ok('user', 'create', 'g-tmp', '--group', 'g2',
                '--password-stdin', stdin=PASSWORD + '\n')
        self.assertEqual(self.ok('user', 'delete', 'g-tmp'),
                         "user 'g-tmp' deleted\n")
        self.assertEqual(self.status('users/g-tmp'), 404)
        self.ok('group', 'create', 'g3')
        self.assertEqual(self.ok('group', 'delete', 'g3'),
                         "group 'g3' deleted\n")
        self.assertEqual(self.status('groups/g3'), 404)
        err = self.fails(1, 'group', 'delete', 'g1')
        self.assertIn('members', err)

    def test_quota(self):
        ids = self.make_tenancy('q')
        out = self.ok('quota', 'set', '--group', 'q1', '--vms', '5', '--cpu',
                      '8', '--memory', '4G', '--disk', '100G', '--images',
                      '3', '--image-storage', '20G')
        self.assertEqual(records(out)[2], {'RESOURCE': 'memory', 'USED': '0B',
                                           'LIMIT': '4G',
                                           'USER-DEFAULT': 'unlimited'})
        self.assertEqual(self.get('groups/q1')['quota'],
                         {'vms': 5, 'vcpus': 8, 'memory_mib': 4096,
                          'disk_mib': 102400, 'images': 3,
                          'image_mib': 20480})
        self.ok('quota', 'set', '--group', 'q1', '--default-user', '--vms',
                '2', '--memory', '1G')
        uq = self.get('groups/q1')['user_quota']
        self.assertEqual((uq['vms'], uq['memory_mib'], uq['vcpus']),
                         (2, 1024, 'unlimited'))
        self.assertEqual(self.get('groups/q1')['quota']['vms'], 5)
        self.ok('quota', 'set', '--user', 'q-alice', '--cpu', 'unlimited',
                '--disk', '10240')
        q = self.get('users/q-alice')['quota']
        self.assertEqual((q['vcpus'], q['disk_mib'], q['vms']),
                         ('unlimited', 10240, 'default'))

        # the limits that apply to the user: its own, else its group's
        # default for users
        want = {'vms': '2 (default)', 'vcpus': 'unlimited',
                'memory': '1G (default)', 'disk': '10G',
                'images': 'unlimited (default)',
                'image-storage': 'unlimited (default)'}
        out = self.ok('quota', 'show', '--user', 'q-alice')
        self.assertEqual({r['RESOURCE']: r['LIMIT'] for r in records(out)},
                         want)
        self.login('q-alice')
        out = self.ok('quota', 'show', user='q-alice')
        self.assertEqual({r['RESOURCE']: r['LIMIT'] for r in records(out)},
                         want)
        shown = json.loads(self.ok('quota', 'show', '-o', 'json',
                                   user='q-alice'))
        self.assertEqual(shown['id'], ids['alice'])
        out = self.ok('quota', 'show', '--group', 'q1')
        self.assertEqual(records(out)[0], {'RESOURCE': 'vms', 'USED': '0',
                                           'LIMIT': '5',
                                           'USER-DEFAULT': '2'})

        # checked here: exit 2, nothing sent
        for args in (['--user', 'q-alice', '--cpu', 'abc'],
                     ['--user', 'q-alice', '--vms', '-1'],
                     ['--user', 'q-alice', '--memory', '1.5K'],
                     ['--user', 'q-alice', '--memory', '12Q'],
                     ['--group', 'q1', '--vms', 'default'],
                     ['--user', 'q-alice', '--group', 'q1', '--vms', '1'],
                     ['--user', 'q-alice', '--default-user', '--vms', '1'],
                     ['--user', 'q-alice'],
                     ['--vms', '1']):
            self.fails(2, 'quota', 'set', *args)
        err = self.fails(2, 'quota', 'set', '--user', 'q-alice', '--cpu',
                         'abc')
        self.assertIn('--cpu', err)
        self.assertEqual(self.get('users/q-alice')['quota']['vcpus'],
                         'unlimited')
        # checked by the server
        self.fails(1, 'quota', 'set', '--user', 'nobody', '--vms', '1')
        err = self.fails(1, 'quota', 'set', '--user', 'q-alice', '--vms',
                         '9', user='q-alice')
        self.assertIn('superuser', err)

        # a tenant over its quota cannot create a VM
        share_image(self.d)
        self.ok('quota', 'set', '--user', 'q-alice', '--vms', '0')
        err = self.fails(1, 'vm', 'create', 'q-vm', '--image', 'guest',
                         '--memory', '64M', '--no-start', user='q-alice')
        self.assertIn('quota', err)
        self.assertEqual(self.status('vms/q-vm'), 404)
        self.ok('quota', 'set', '--user', 'q-alice', '--vms', 'default')
        self.ok('vm', 'create', 'q-vm', '--image', 'guest', '--memory', '64M',
                '--no-start', '--wait', user='q-alice')
        self.assertEqual(self.get('vms/q-vm')['owner_id'], ids['alice'])
        out = self.ok('quota', 'show', user='q-alice')
        usage = {r['RESOURCE']: r['USED'] for r in records(out)}
        self.assertEqual((usage['vms'], usage['memory']), ('1', '64M'))
        groups = {r['NAME']: r for r in records(self.ok('group', 'list'))}
        self.assertEqual((groups['q1']['VMS'], groups['q1']['MEMORY']),
                         ('1', '64M'))

    def test_ownership(self):
        ids = self.make_tenancy('o')
        self.d.upload_image('o-img')
        self.login('o-alice')
        self.login('o-dave')
        self.fails(1, 'image', 'show', 'o-img', user='o-alice')

        # chmod: every tenant may use the image
        self.assertEqual(self.ok('chmod', 'image', '644', 'o-img'),
                         '1 image changed\n')
        self.assertEqual(self.get('images/o-img')['permissions'], '644')
        out = self.ok('image', 'show', 'o-img', user='o-alice')
        self.assertIn('permissions:', out)
        for n in (1, 2):
            self.ok('vm', 'create', 'o-vm%d' % n, '--image', 'o-img',
                    '--memory', '64M', '--no-start', '--wait', user='o-alice')

        # chown: not a plain member's act; a group administrator's
        self.fails(1, 'chown', 'vm', 'o-bob', 'o-vm1', user='o-alice')
        self.assertEqual(self.get('vms/o-vm1')['owner_id'], ids['alice'])
        self.assertEqual(self.ok('chown', 'vm', 'o-bob', 'o-vm1',
                                 user='o-dave'), '1 vm changed\n')
        self.assertEqual(self.get('vms/o-vm1')['owner_id'], ids['bob'])

        # chgrp, with ids and names mixed
        vm2 = self.get('vms/o-vm2')['id']
        self.assertEqual(self.ok('chgrp', 'vm', 'o2', 'o-vm1', str(vm2)),
                         '2 vms changed\n')
        self.assertEqual([self.get('vms/%s' % v)['group_id']
                          for v in ('o-vm1', 'o-vm2')], [ids['o2']] * 2)
        out = self.ok('chgrp', 'vm', 'o1', 'o-vm1', 'o-vm2', '-o', 'json')
        self.assertEqual(json.loads(out), {'kind': 'vm', 'changed': 2})

        # all or nothing
        self.ok('chmod', 'vm', '660', 'o-vm1', 'o-vm2')
        err = self.fails(1, 'chmod', 'vm', '600', 'o-vm1', 'nope')
        self.assertIn("'nope' not found", err)
        self.assertEqual(self.get('vms/o-vm1')['permissions'], '660')
        self.fails(1, 'chgrp', 'vm', 'nope', 'o-vm1')

        # checked here
        self.fails(2, 'chmod', 'vm', '64', 'o-vm1')
        self.fails(2, 'chmod', 'vm', '648', 'o-vm1')
        self.fails(2, 'chmod', 'disk', '644', 'o-vm1')
        self.fails(2, 'chown', 'vm', 'o-bob')

    def test_acl(self):
        self.make_tenancy('a')
        rule = json.loads(self.ok('acl', 'create', '--user', 'a-bob',
                                  '--resources', 'host', '--rights', 'use',
                                  '-o', 'json'))
        self.assertEqual((rule['who'], rule['resources'], rule['rights']),
                         ('user', ['host'], 'use'))
        out = self.ok('acl', 'create', '--group', 'a2', '--resources',
                      'vm,image', '--id', '7', '--rights', 'use,manage')
        self.assertIn('resource_id: 7', out)
        self.ok('acl', 'create', '--all', '--resources', 'host', '--rights',
                'use')
        server = {r['id']: r for r in self.get('acls')['items']}
        self.assertEqual(server[rule['id']]['who_id'],
                         self.get('users/a-bob')['id'])

        rows = table(self.ok('acl', 'list'))
        self.assertEqual(rows[0], ['ID', 'WHO', 'RESOURCES', 'ID', 'RIGHTS'])
        self.assertIn([str(rule['id']), 'user:a-bob', 'host', '-', 'use'],
                      rows)
        self.assertIn(['group:a2', 'vm,image', '7', 'use,manage'],
                      [r[1:] for r in rows])
        self.assertIn(['all', 'host', '-', 'use'], [r[1:] for r in rows])

        self.assertEqual(self.ok('acl', 'delete', str(rule['id'])),
                         "acl '%d' deleted\n" % rule['id'])
        self.assertNotIn(rule['id'],
                         [r['id'] for r in self.get('acls')['items']])
        self.fails(1, 'acl', 'delete', str(rule['id']))

        for args in (['--resources', 'vm', '--rights', 'use'],
                     ['--all', '--user', 'a-bob', '--resources', 'vm',
                      '--rights', 'use'],
                     ['--all', '--resources', 'vms', '--rights', 'use'],
                     ['--all', '--resources', 'vm', '--rights', 'read'],
                     ['--all', '--resources', 'vm'],
                     ['--all', '--resources', 'vm', '--rights', 'use',
                      '--id', 'x']):
            self.fails(2, 'acl', 'create', *args)
        self.fails(1, 'acl', 'create', '--user', 'nobody', '--resources',
                   'vm', '--rights', 'use')
        self.login('a-alice')
        err = self.fails(1, 'acl', 'list', user='a-alice')
        self.assertIn('superuser', err)

    def test_tokens_and_groups_of_a_session(self):
        ids = self.make_tenancy('s')
        self.login('s-alice')
        first = self.saved('s-alice')['token']
        rows = records(self.ok('token', 'list', user='s-alice'))
        self.assertEqual([(r['USER'], r['GROUP']) for r in rows],
                         [('s-alice', 's1')])
        first_id = rows[0]['ID']

        # group switch: a new token in the config, working in s2
        out = self.ok('group', 'switch', 's2', user='s-alice')
        self.assertIn("working in group 's2'", out)
        cfg = self.saved('s-alice')
        self.assertEqual(cfg['group'], 's2')
        self.assertNotEqual(cfg['token'], first)
        rows = records(self.ok('token', 'list', user='s-alice'))
        self.assertEqual(sorted(r['GROUP'] for r in rows), ['s1', 's2'])
        # what alice makes now belongs to s2
        share_image(self.d)
        self.ok('vm', 'create', 's-vm', '--image', 'guest', '--memory', '64M',
                '--no-start', '--wait', user='s-alice')
        self.assertEqual(self.get('vms/s-vm')['group_id'], ids['s2'])
        err = self.fails(1, 'group', 'switch', 'users', user='s-alice')
        self.assertIn('not a member', err)
        self.assertEqual(self.saved('s-alice')['token'], cfg['token'])
        # a token from the environment is printed, not saved
        rc, out, err = self.run_cli('group', 'switch', 's1', user='s-alice',
                                    env={'VIREO_TOKEN': cfg['token']})
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.startswith('vr_'), out)
        self.assertEqual(self.saved('s-alice'), cfg)

        # login --group
        self.login('s-bob')
        self.ok('user', 'set-groups', 's-bob', '--groups', 's2')
        self.login('s-bob', group='s2')
        self.assertEqual(self.saved('s-bob')['group'], 's2')
        rows = records(self.ok('token', 'list', user='s-bob'))
        self.assertIn('s2', [r['GROUP'] for r in rows])
        err = self.fails(1, 'login', '--user', 's-bob', '--password-stdin',
                         '--group', 'nope', user='s-bob',
                         stdin=PASSWORD + '\n')
        self.assertIn('not a member', err)
        self.login('s-bob')
        self.assertNotIn('group', self.saved('s-bob'))

        # revoke
        self.assertEqual(self.ok('token', 'revoke', first_id,
                                 user='s-alice'),
                         "token '%s' revoked\n" % first_id)
        st, _, _ = self.d.request('GET', '/api/v1/users/me', token=first)
        self.assertEqual(st, 401)
        # the token of the session switched from it goes with it
        err = self.fails(1, 'token', 'list', user='s-alice')
        self.assertIn('invalid token', err)
        self.login('s-alice')
        self.fails(1, 'token', 'revoke', '999999', user='s-alice')
        self.ok('token', 'revoke', 'current', user='s-alice')
        self.fails(1, 'token', 'list', user='s-alice')
        # the administrator sees everyone's tokens
        rows = records(self.ok('token', 'list'))
        self.assertIn('s-bob', [r['USER'] for r in rows])
