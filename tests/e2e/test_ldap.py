"""LDAP logins against a real OpenLDAP slapd (Debian's package), a private
one started here: its own directory under /tmp, listening only on
127.0.0.1 at a free port, never reading /etc/ldap/slapd.d, and stopped at
the end whatever happens (also if this process dies: it gets SIGTERM with
its parent)."""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Daemon, DaemonTest, free_port

SLAPD = '/usr/sbin/slapd'
SUFFIX = 'dc=vireo,dc=test'
PEOPLE = 'ou=people,' + SUFFIX
USER_DN = 'uid=%s,' + PEOPLE
PASSWORDS = {
    'lara': 'lara-ldap-pw-1',
    'lars': 'lars-ldap-pw-2',
    'throttled': 'throttled-pw-3',
    # an entry named like the local administrator: the directory's
    # password must never open the local account
    'admin': 'admin-in-ldap-4',
}
LOCAL_PASSWORD = 'local-horse-9'


def _die_with_parent():
    # PR_SET_PDEATHSIG: if the test runner dies, so does its slapd
    try:
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def _run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=60,
                       **kw)
    if r.returncode != 0:
        raise AssertionError('%s: %s%s' % (' '.join(args), r.stdout,
                                           r.stderr))
    return r.stdout


def make_ca(d, name):
    """A CA in d (name-ca.pem, name-ca-key.pem) and a server certificate
    for 127.0.0.1 signed by it (name-cert.pem, name-key.pem)."""
    p = lambda f: os.path.join(d, '%s-%s' % (name, f))
    with open(p('ca.tmpl'), 'w') as f:
        f.write('cn = "Vireo test LDAP CA %s"\nca\ncert_signing_key\n'
                'expiration_days = 2\n' % name)
    with open(p('srv.tmpl'), 'w') as f:
        f.write('cn = "127.0.0.1"\nip_address = "127.0.0.1"\n'
                'tls_www_server\nsigning_key\nencryption_key\n'
                'expiration_days = 2\n')
    _run(['certtool', '--generate-privkey', '--key-type=ecdsa',
          '--outfile', p('ca-key.pem')])
    _run(['certtool', '--generate-self-signed', '--load-privkey',
          p('ca-key.pem'), '--template', p('ca.tmpl'), '--outfile',
          p('ca.pem')])
    _run(['certtool', '--generate-privkey', '--key-type=ecdsa',
          '--outfile', p('key.pem')])
    _run(['certtool', '--generate-certificate', '--load-privkey',
          p('key.pem'), '--load-ca-certificate', p('ca.pem'),
          '--load-ca-privkey', p('ca-key.pem'), '--template', p('srv.tmpl'),
          '--outfile', p('cert.pem')])
    return p('ca.pem'), p('cert.pem'), p('key.pem')


class Slapd:
    """A private slapd: mdb database of SUFFIX with ou=people and the users
    of PASSWORDS, on ldap://127.0.0.1:<port>/.  `tls` is (ca, cert, key)
    to offer StartTLS and require it for simple binds."""

    def __init__(self, tls=None):
        self.dir = tempfile.mkdtemp(prefix='vireo-e2e-slapd-')
        self.port = free_port()
        self.uri = 'ldap://127.0.0.1:%d/' % self.port
        self.tls = tls
        self.proc = None
        self.log_path = os.path.join(self.dir, 'slapd.log')
        os.mkdir(os.path.join(self.dir, 'db'))
        self.write_conf()
        entries = ['dn: %s\nobjectClass: dcObject\nobjectClass: '
                   'organization\no: vireo\ndc: vireo\n' % SUFFIX,
                   'dn: %s\nobjectClass: organizationalUnit\nou: people\n'
                   % PEOPLE]
        for uid, pw in PASSWORDS.items():
            h = _run(['slappasswd', '-s', pw]).strip()
            entries.append('dn: %s\nobjectClass: inetOrgPerson\nuid: %s\n'
                           'cn: %s\nsn: Test\nuserPassword: %s\n' %
                           (USER_DN % uid, uid, uid, h))
        ldif = os.path.join(self.dir, 'init.ldif')
        with open(ldif, 'w') as f:
            f.write('\n'.join(entries))
        _run(['slapadd', '-f', self.conf, '-l', ldif])

    def write_conf(self, tls=None):
        tls = tls or self.tls
        self.conf = os.path.join(self.dir, 'slapd.conf')
        lines = [
            'include /etc/ldap/schema/core.schema',
            'include /etc/ldap/schema/cosine.schema',
            'include /etc/ldap/schema/inetorgperson.schema',
            'modulepath /usr/lib/ldap',
            'moduleload back_mdb',
            'pidfile %s/slapd.pid' % self.dir,
            'argsfile %s/slapd.args' % self.dir,
        ]
        if tls:
            lines += ['TLSCACertificateFile %s' % tls[0],
                      'TLSCertificateFile %s' % tls[1],
                      'TLSCertificateKeyFile %s' % tls[2],
                      # a simple bind in clear text is refused
                      'security simple_bind=1']
        lines += [
            'database mdb',
            'maxsize 16777216',
            'suffix "%s"' % SUFFIX,
            'rootdn "cn=manager,%s"' % SUFFIX,
            'directory %s/db' % self.dir,
            'access to attrs=userPassword by anonymous auth by * none',
            'access to * by * read',
        ]
        with open(self.conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def start(self):
        assert self.proc is None
        logf = open(self.log_path, 'ab')
        # -d stats: in the foreground, one line per operation on stderr
        self.proc = subprocess.Popen(
            [SLAPD, '-f', self.conf, '-h', self.uri, '-d', 'stats'],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
            preexec_fn=_die_with_parent)
        logf.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError('slapd exited with %s:\n%s' %
                                     (self.proc.returncode, self.log()))
            try:
                socket.create_connection(('127.0.0.1', self.port),
                                         timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError('slapd did not listen:\n' + self.log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def binds(self):
        """The DNs of every BIND slapd saw (the connection check in
        start() makes none)."""
        out = []
        for line in self.log().splitlines():
            i = line.find(' BIND dn="')
            if i >= 0:
                out.append(line[i + 10:line.index('"', i + 10)])
        return out


class Ldap(DaemonTest):
    upload_guest = False

    @classmethod
    def setUpClass(cls):
        cls.slapd = Slapd()
        cls.addClassCleanup(cls.slapd.cleanup)
        cls.slapd.start()
        cls.settings = {
            'ldap_uri': cls.slapd.uri,
            'ldap_user_dn': USER_DN,
            # not there at start-up (a warning): made below, before any
            # LDAP login
            'ldap_group': 'staff',
            'ldap_timeout': '3',
        }
        super().setUpClass()
        st, _, g = cls.d.request('POST', '/api/v1/groups', {'name': 'staff'})
        assert st == 201, g
        cls.staff = g['id']

    def login(self, user, password):
        return self.d.request('POST', '/api/v1/tokens',
                              {'user': user, 'password': password},
                              auth=False)

    def test_login(self):
        d = self.d
        st, _, body = self.login('lara', PASSWORDS['lara'])
        self.assertEqual(st, 201, body)
        token = body['token']
        self.assertIn('uid=lara,' + PEOPLE, self.slapd.binds())
        # created at its first login: auth "ldap", in ldap_group
        u = d.get('/api/v1/users/lara')
        self.assertEqual(u['auth'], 'ldap')
        self.assertEqual(u['group_id'], self.staff)
        self.assertEqual(u['id'], body['user_id'])
        self.assertEqual(body['group_id'], self.staff)
        # the token works
        st, _, vms = d.request('GET', '/api/v1/vms', token=token)
        self.assertEqual(st, 200, vms)
        self.assertEqual(vms['total'], 0)
        st, _, me = d.request('GET', '/api/v1/users/lara', token=token)
        self.assertEqual(st, 200, me)
        # a second login is the same user
        st, _, body = self.login('lara', PASSWORDS['lara'])
        self.assertEqual(st, 201, body)
        self.assertEqual(body['user_id'], u['id'])
        st, _, lst = d.request('GET', '/api/v1/users?limit=1000')
        self.assertEqual([x['name'] for x in lst['items']].count('lara'), 1)

        # its password lives in the directory
        for token_ in (d.token, token):
            st, _, body = d.request('POST', '/api/v1/users/lara/password',
                                    {'password': 'new-password-1'},
                                    token=token_)
            self.assertEqual(st, 409, body)
            self.assertIn('authenticates with ldap', body['detail'])
        self.assertEqual(self.login('lara', PASSWORDS['lara'])[0], 201)
        self.assertEqual(self.login('lara', 'new-password-1')[0], 401)

    def test_wrong_password(self):
        n = len(self.slapd.binds())
        st, _, body = self.login('lars', 'not-the-password')
        self.assertEqual(st, 401, body)
        self.assertEqual(body['detail'], 'wrong user name or password')
        self.assertEqual(len(self.slapd.binds()), n + 1)
        # a user the directory does not have: the same answer
        st, _, body2 = self.login('nobody', 'whatever')
        self.assertEqual(st, 401, body2)
        self.assertEqual(body2['detail'], body['detail'])
        st, _, lst = self.d.request('GET', '/api/v1/users?limit=1000')
        names = [x['name'] for x in lst['items']]
        self.assertNotIn('nobody', names)
        # an empty password is never sent (it would be an anonymous bind,
        # which "succeeds")
        n = len(self.slapd.binds())
        st, _, body = self.login('lars', '')
        self.assertEqual(st, 401, body)
        self.assertEqual(len(self.slapd.binds()), n)
        self.assertEqual(self.login('lars', PASSWORDS['lars'])[0], 201)

    def test_invalid_names_never_reach_ldap(self):
        n = len(self.slapd.binds())
        # (few: each counts against this address's throttle, 30 free)
        for name in ('lara,ou=people', 'uid=lara', 'lara ', '*)(uid=*',
                     'lara\\', '#lara', 'x' * 64, 'lara\u00e9'):
            st, _, body = self.login(name, PASSWORDS['lara'])
            self.assertEqual(st, 401, (name, body))
        self.assertEqual(self.slapd.binds()[n:], [])

    def test_local_users_stay_local(self):
        d = self.d
        # the administrator logs in with its local password, and the
        # directory's entry named "admin" does not open it
        self.assertEqual(self.login('admin', d.password())[0], 201)
        n = len(self.slapd.binds())
        self.assertEqual(self.login('admin', PASSWORDS['admin'])[0], 401)
        self.assertEqual(len(self.slapd.binds()), n)
        # a local user made through the API
        st, _, body = d.request('POST', '/api/v1/users',
                                {'name': 'localie',
                                 'password': LOCAL_PASSWORD,
                                 'group': 'users'})
        self.assertEqual(st, 201, body)
        self.assertEqual(body['auth'], 'local')
        st, _, tok = self.login('localie', LOCAL_PASSWORD)
        self.assertEqual(st, 201, tok)
        self.assertEqual(len(self.slapd.binds()), n)
        # a user made without a password authenticates with LDAP
        st, _, body = d.request('POST', '/api/v1/users',
                                {'name': 'lars', 'group': 'users'})
        if st == 409:      # test_wrong_password made it first
            body = d.get('/api/v1/users/lars')
        else:
            self.assertEqual(st, 201, body)
        self.assertEqual(body['auth'], 'ldap')
        st, _, tok = self.login('lars', PASSWORDS['lars'])
        self.assertEqual(st, 201, tok)

    def test_throttle(self):
        # five tries; the fifth failure locks the name for a second
        for i in range(5):
            st, _, body = self.login('throttled', 'wrong-%d' % i)
            self.assertEqual(st, 401, (i, body))
        st, hdrs, body = self.login('throttled', PASSWORDS['throttled'])
        self.assertEqual(st, 429, body)
        self.assertIn('too many failed logins', body['detail'])
        retry = int(hdrs['Retry-After'])
        self.assertGreaterEqual(retry, 1)
        # while locked, nothing is asked of the directory
        n = len(self.slapd.binds())
        self.assertEqual(self.login('throttled', 'wrong-x')[0], 429)
        self.assertEqual(len(self.slapd.binds()), n)
        # others are not held up
        self.assertEqual(self.login('lara', PASSWORDS['lara'])[0], 201)
        time.sleep(retry + 0.2)
        st, _, body = self.login('throttled', PASSWORDS['throttled'])
        self.assertEqual(st, 201, body)

    def test_z_directory_down(self):
        d = self.d
        # lara exists in Vireo already or not: either way LDAP decides
        self.slapd.stop()
        try:
            for user in ('lara', 'someone-new'):
                t0 = time.time()
                st, _, body = self.login(user, 'any-password')
                self.assertEqual(st, 503, body)
                self.assertIn('LDAP server unreachable', body['detail'])
                self.assertNotIn(str(self.slapd.port), body['detail'])
                self.assertLess(time.time() - t0, 10)
            # an outage is not the users' fault: no throttle, and local
            # accounts still log in
            for _ in range(6):
                self.assertEqual(self.login('lara', PASSWORDS['lara'])[0],
                                 503)
            self.assertEqual(self.login('admin', d.password())[0], 201)
        finally:
            self.slapd.start()
        st, _, body = self.login('lara', PASSWORDS['lara'])
        self.assertEqual(st, 201, body)

    def test_zz_no_password_in_logs(self):
        # the daemon's log (at debug level), its stderr and the audit log
        # name users and bind DNs, never a password
        paths = [os.path.join(self.d.dir, 'vireod.log'),
                 os.path.join(self.d.dir, 'audit.log'),
                 self.d.stderr_path]
        texts = []
        for p in paths:
            if os.path.exists(p):
                with open(p, errors='replace') as f:
                    texts.append(f.read())
        text = '\n'.join(texts)
        self.assertIn('uid=lara,' + PEOPLE, text)
        for pw in list(PASSWORDS.values()) + [LOCAL_PASSWORD,
                                              'not-the-password',
                                              'any-password']:
            self.assertNotIn(pw, text)


class LdapStartTLS(unittest.TestCase):
    """StartTLS with the directory's CA; a certificate from another CA is
    refused (503), and so is a clear-text bind by slapd itself."""

    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix='vireo-e2e-ldapca-')
        cls.addClassCleanup(shutil.rmtree, cls.certs, True)
        cls.good = make_ca(cls.certs, 'good')
        cls.evil = make_ca(cls.certs, 'evil')
        cls.slapd = Slapd(tls=cls.good)
        cls.addClassCleanup(cls.slapd.cleanup)
        cls.slapd.start()
        cls.d = Daemon('ldaptls', {
            'ldap_uri': cls.slapd.uri,
            'ldap_user_dn': USER_DN,
            'ldap_starttls': 'true',
            'ldap_ca_file': cls.good[0],
            'ldap_timeout': '3',
        })
        cls.addClassCleanup(cls.d.cleanup)
        cls.d.start()

    def login(self, user, password):
        return self.d.request('POST', '/api/v1/tokens',
                              {'user': user, 'password': password},
                              auth=False)

    def test_starttls(self):
        st, _, body = self.login('lara', PASSWORDS['lara'])
        self.assertEqual(st, 201, body)
        self.assertIn('TLS established', self.slapd.log())
        self.assertEqual(self.login('lara', 'wrong')[0], 401)
        # slapd offering a certificate of another CA
        self.slapd.stop()
        self.slapd.write_conf(tls=self.evil)
        try:
            self.slapd.start()
            st, _, body = self.login('lara', PASSWORDS['lara'])
            self.assertEqual(st, 503, body)
            self.assertIn('StartTLS failed', body['detail'])
        finally:
            self.slapd.stop()
            self.slapd.write_conf(tls=self.good)
            self.slapd.start()
        self.assertEqual(self.login('lara', PASSWORDS['lara'])[0], 201)


if __name__ == '__main__':
    unittest.main()
