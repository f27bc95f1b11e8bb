"""TLS: the API is HTTPS with a CA and a certificate vireod makes at first
start (or the operator's own); the CLI verifies the server, refuses one
whose certificate does not match and sends it nothing; plain HTTP only with
insecure_http, and only on loopback."""
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest

from harness import Daemon, VIREOD, free_port


def certtool(*args):
    r = subprocess.run(['certtool'] + list(args), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_ca(d, name):
    """A CA of our own, as an operator or an attacker would have."""
    key, crt, tmpl = (os.path.join(d, name + x)
                      for x in ('-key.pem', '.pem', '.tmpl'))
    with open(tmpl, 'w') as f:
        f.write('cn = "%s"\nca\ncert_signing_key\nexpiration_days = 30\n'
                % name)
    certtool('--generate-privkey', '--key-type', 'ecdsa', '--outfile', key)
    certtool('--generate-self-signed', '--load-privkey', key,
             '--template', tmpl, '--outfile', crt)
    return crt, key


def make_server(d, name, ca):
    """A server certificate for 127.0.0.1 and localhost, signed by `ca`."""
    key, crt, tmpl = (os.path.join(d, name + x)
                      for x in ('-key.pem', '.pem', '.tmpl'))
    with open(tmpl, 'w') as f:
        f.write('cn = "localhost"\ndns_name = "localhost"\n'
                'ip_address = "127.0.0.1"\ntls_www_server\nsigning_key\n'
                'expiration_days = 30\n')
    certtool('--generate-privkey', '--key-type', 'ecdsa', '--outfile', key)
    certtool('--generate-certificate', '--load-privkey', key,
             '--load-ca-certificate', ca[0], '--load-ca-privkey', ca[1],
             '--template', tmpl, '--outfile', crt)
    return crt, key


def pin_of(cert):
    """curl's pin of a certificate's public key, computed by certtool."""
    out = certtool('-i', '--infile', cert)
    return 'sha256//' + re.search(r'pin-sha256:(\S+)', out).group(1)


def b64(pem):
    """The base64 of the first certificate in PEM text."""
    return ''.join(pem.split('-----END')[0].split()[2:])


def logged_pin(d):
    with open(os.path.join(d.dir, 'vireod.log')) as f:
        pins = re.findall(r'public key pin (sha256//[A-Za-z0-9+/=]+)',
                          f.read())
    assert pins, d.log_tail()
    return pins[-1]


class Impostor:
    """A TLS server with a certificate of its own on a port of its own: it
    records every byte a client sends once a handshake is done."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = 'https://127.0.0.1:%d' % self.port
        self.received = b''
        self.connections = 0
        self.done = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.connections += 1
            conn.settimeout(5)
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as s:
                    while True:
                        data = s.recv(65536)
                        if not data:
                            break
                        self.received += data
            except (ssl.SSLError, OSError):
                pass
            finally:
                conn.close()

    def close(self):
        self.done = True
        self.thread.join(5)
        self.sock.close()


class TlsDefault(unittest.TestCase):
    """A daemon with the CA and certificate it made itself."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon('tls').start()
        cls.tmp = tempfile.mkdtemp(prefix='vireo-e2e-tls-certs-')
        cls.other_ca = make_ca(cls.tmp, 'other-ca')
        cls.other = make_server(cls.tmp, 'other', cls.other_ca)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        subprocess.run(['rm', '-rf', cls.tmp])

    # ---- helpers

    def cli(self, config, *args, env=None, url=None):
        """The CLI with its own config (written from `config`, a dict, or
        None for none), and no token or CA file from the environment."""
        path = os.path.join(self.tmp, 'config-%s.json' % self.id().split(
            '.')[-1])
        if os.path.exists(path):
            os.unlink(path)
        if config is not None:
            with open(path, 'w') as f:
                json.dump(config, f)
            os.chmod(path, 0o600)
        e = {'VIREO_CONFIG': path, 'VIREO_TOKEN': '', 'VIREO_CA_FILE': '',
             'VIREO_URL': url or self.d.url}
        e.update(env or {})
        rc, out, err = self.d.cli(*args, env=e)
        cfg = None
        if os.path.exists(path):
            with open(path) as f:
                cfg = json.load(f)
        return rc, out, err, cfg

    def tokens(self):
        return self.d.get('/api/v1/tokens?limit=1000')['total']

    def assert_refused(self, r, needle="the server's certificate is not "
                       "trusted"):
        rc, out, err = r[:3]
        self.assertEqual(rc, 1, (out, err))
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith('vireo: '), err)
        self.assertIn(needle, err)
        self.assertEqual(out, '')
        return err

    def password_file(self):
        return os.path.join(self.d.dir, 'admin-password')

    # ---- the server side

    def test_https(self):
        d = self.d
        st, _, body = d.request('GET', '/api/v1/health', auth=False)
        self.assertEqual(st, 200)
        self.assertEqual(body['status'], 'ok')
        tls = os.path.join(d.dir, 'tls')
        for name, mode in (('ca.pem', 0o600), ('ca-key.pem', 0o600),
                           ('server.pem', 0o600),
                           ('server-key.pem', 0o600)):
            self.assertEqual(os.stat(os.path.join(tls, name)).st_mode & 0o777,
                             mode, name)
        # the log says where and with which key
        with open(os.path.join(d.dir, 'vireod.log')) as f:
            log = f.read()
        self.assertIn('https://127.0.0.1:%d/api/v1' % d.port, log)
        self.assertEqual(logged_pin(d),
                         pin_of(os.path.join(tls, 'server.pem')))
        # the chain sent is the server's certificate and the CA
        with d.raw_socket() as s:
            der = s.getpeercert(binary_form=True)
        with open(os.path.join(tls, 'server.pem')) as f:
            self.assertEqual(b64(ssl.DER_cert_to_PEM_cert(der)),
                             b64(f.read()))

    def test_plain_http_and_untrusted_clients_fail(self):
        d = self.d
        conn = http.client.HTTPConnection('127.0.0.1', d.port, timeout=10)
        with self.assertRaises((http.client.HTTPException, OSError)):
            conn.request('GET', '/api/v1/health')
            conn.getresponse()
        conn.close()
        # a client that trusts only the system's CAs refuses the server
        ctx = ssl.create_default_context(cafile=self.other_ca[0])
        conn = http.client.HTTPSConnection('127.0.0.1', d.port, timeout=10,
                                           context=ctx)
        with self.assertRaises(ssl.SSLCertVerificationError):
            conn.request('GET', '/api/v1/health')
        conn.close()
        # and the daemon is none the worse
        self.assertEqual(d.request('GET', '/api/v1/health',
                                   auth=False)[0], 200)

    # ---- the CLI refuses a server whose certificate does not match

    def test_cli_other_ca(self):
        """(a) the config's ca_file is another CA."""
        before = self.tokens()
        cfg = {'url': self.d.url, 'token': self.d.token,
               'ca_file': self.other_ca[0]}
        self.assert_refused(self.cli(cfg, 'vm', 'list'))
        self.assert_refused(self.cli(cfg, 'image', 'show', 'x'))
        err = self.assert_refused(self.cli(
            cfg, 'login', '--password-file', self.password_file()))
        self.assertIn(logged_pin(self.d), err)  # the pin to compare
        self.assert_refused(self.cli(
            None, '--ca-file', self.other_ca[0], 'login', '--password-file',
            self.password_file()))
        self.assert_refused(self.cli(
            None, 'login', '--ca-file', self.other_ca[0],
            '--password-file', self.password_file()))
        self.assert_refused(self.cli(
            None, 'vm', 'list', env={'VIREO_CA_FILE': self.other_ca[0],
                                     'VIREO_TOKEN': self.d.token}))
        self.assertEqual(self.tokens(), before)

    def test_cli_other_pin(self):
        """(b) the pin is another key's, with or without the right CA."""
        before = self.tokens()
        other_pin = pin_of(self.other[0])
        ca = self.d.ca_file
        for cfg in ({'url': self.d.url, 'token': self.d.token,
                     'fingerprint': other_pin, 'ca_file': ca},
                    {'url': self.d.url, 'token': self.d.token,
                     'fingerprint': other_pin}):
            err = self.assert_refused(self.cli(cfg, 'host', 'list'))
            if 'ca_file' in cfg:  # the chain is fine, the key is not
                self.assertIn('pinned public key', err)
            self.assert_refused(self.cli(
                cfg, 'login', '--password-file', self.password_file()))
        # login --fingerprint of another key
        rc, out, err, cfg = self.cli(None, 'login', '--password-file',
                                     self.password_file(), '--fingerprint',
                                     other_pin)
        self.assert_refused((rc, out, err))
        self.assertIn(logged_pin(self.d), err)
        self.assertIsNone(cfg)
        self.assertEqual(self.tokens(), before)

    def test_cli_no_trust(self):
        """(c) nothing but the system's CA store."""
        before = self.tokens()
        cfg = {'url': self.d.url, 'token': self.d.token}
        self.assert_refused(self.cli(cfg, 'host', 'list'))
        self.assert_refused(self.cli(None, 'vm', 'list',
                                     env={'VIREO_TOKEN': self.d.token}))
        rc, out, err, cfg = self.cli(None, 'login', '--password-file',
                                     self.password_file())
        self.assert_refused((rc, out, err))
        pin = logged_pin(self.d)
        self.assertIn('--fingerprint %s' % pin, err)
        self.assertIsNone(cfg)
        self.assertEqual(self.tokens(), before)

    def test_cli_sends_nothing_to_an_impostor(self):
        """An impostor with a certificate of another CA hears nothing:
        neither the token nor the password."""
        imp = Impostor(*self.other)
        try:
            cases = [
                ({'url': imp.url, 'token': self.d.token,
                  'ca_file': self.d.ca_file}, ('vm', 'list')),
                ({'url': imp.url, 'token': self.d.token,
                  'ca_file': self.d.ca_file,
                  'fingerprint': logged_pin(self.d)}, ('vm', 'list')),
                ({'url': imp.url, 'token': self.d.token,
                  'ca_file': self.other_ca[0],
                  'fingerprint': logged_pin(self.d)}, ('vm', 'list')),
                ({'url': imp.url, 'token': self.d.token}, ('vm', 'list')),
                ({'url': imp.url, 'user': 'admin',
                  'password_file': self.password_file(),
                  'ca_file': self.d.ca_file}, ('vm', 'list')),
                ({'url': imp.url, 'ca_file': self.d.ca_file},
                 ('login', '--password-file', self.password_file())),
                (None, ('login', '--password-file', self.password_file())),
                (None, ('login', '--password-file', self.password_file(),
                        '--fingerprint', logged_pin(self.d))),
            ]
            for cfg, args in cases:
                self.assert_refused(self.cli(cfg, *args, url=imp.url))
        finally:
            imp.close()
        self.assertGreaterEqual(imp.connections, len(cases))
        self.assertEqual(imp.received, b'')

    def test_cli_login_with_fingerprint(self):
        before = self.tokens()
        pin = logged_pin(self.d)
        rc, out, err, cfg = self.cli(None, 'login', '--password-file',
                                     self.password_file(), '--fingerprint',
                                     pin)
        self.assertEqual(rc, 0, err)
        self.assertIn('logged in', out)
        self.assertEqual(cfg['fingerprint'], pin)
        # the CA the server sent, checked against the pin, kept beside
        self.assertTrue(cfg['ca_file'].endswith('-ca.pem'), cfg)
        with open(cfg['ca_file']) as a, open(self.d.ca_file) as b:
            self.assertEqual(a.read().split(), b.read().split())
        self.assertEqual(self.tokens(), before + 1)
        # later commands use it
        rc, out, err = self.d.cli('host', 'list', env={
            'VIREO_CONFIG': os.path.join(
                self.tmp, 'config-test_cli_login_with_fingerprint.json'),
            'VIREO_TOKEN': '', 'VIREO_CA_FILE': ''})
        self.assertEqual(rc, 0, err)
        # and with the CA file instead
        rc, out, err, cfg = self.cli(None, 'login', '--password-file',
                                     self.password_file(), '--ca-file',
                                     self.d.ca_file)
        self.assertEqual(rc, 0, err)
        self.assertEqual(cfg['ca_file'], os.path.abspath(self.d.ca_file))
        self.assertNotIn('fingerprint', cfg)


class TlsOperatorCertificate(unittest.TestCase):

    def test_own_certificate_is_used(self):
        tmp = tempfile.mkdtemp(prefix='vireo-e2e-tls-op-')
        ca = make_ca(tmp, 'op-ca')
        crt, key = make_server(tmp, 'op', ca)
        with open(crt) as f:
            crt_text = f.read()
        with open(key) as f:
            key_text = f.read()
        d = Daemon('tls-op', {'tls_cert': crt, 'tls_key': key})
        d.ca_file = ca[0]
        try:
            d.start()
            self.assertEqual(d.request('GET', '/api/v1/health',
                                       auth=False)[0], 200)
            with d.raw_socket() as s:
                der = s.getpeercert(binary_form=True)
            self.assertEqual(b64(ssl.DER_cert_to_PEM_cert(der)),
                             b64(crt_text))
            self.assertEqual(logged_pin(d), pin_of(crt))
            # nothing was generated
            self.assertFalse(os.path.exists(os.path.join(d.dir, 'tls')))
            rc, out, err = d.cli('host', 'list')
            self.assertEqual(rc, 0, err)
            # pinning an operator's certificate works too
            cfg = os.path.join(d.dir, 'pinned.json')
            rc, out, err = d.cli('login', '--password-file',
                                 os.path.join(d.dir, 'admin-password'),
                                 '--fingerprint', pin_of(crt),
                                 env={'VIREO_CONFIG': cfg,
                                      'VIREO_CA_FILE': '',
                                      'VIREO_TOKEN': ''})
            self.assertEqual(rc, 0, err)
            rc, out, err = d.cli('vm', 'list', env={
                'VIREO_CONFIG': cfg, 'VIREO_CA_FILE': '', 'VIREO_TOKEN': ''})
            self.assertEqual(rc, 0, err)
            # a restart uses them again and leaves them alone
            d.stop()
            d.start()
            with open(crt) as f:
                self.assertEqual(f.read(), crt_text)
            with open(key) as f:
                self.assertEqual(f.read(), key_text)
            self.assertFalse(os.path.exists(os.path.join(d.dir, 'tls')))
        finally:
            d.cleanup()
            subprocess.run(['rm', '-rf', tmp])


class TlsStartup(unittest.TestCase):

    def vireod(self, *args):
        state = tempfile.mkdtemp(prefix='vireo-e2e-tls-bad-')
        try:
            return subprocess.run([VIREOD, '--state-dir', state] +
                                  list(args), capture_output=True,
                                  text=True, timeout=60)
        finally:
            subprocess.run(['rm', '-rf', state])

    def test_refused_settings(self):
        port = free_port()
        for args, needle in (
                (['--listen', '0.0.0.0:%d' % port, '--set',
                  'insecure_http=true'], 'loopback'),
                (['--listen', '10.0.0.1:%d' % port, '--set',
                  'insecure_http=yes'], 'loopback'),
                (['--set', 'tls_cert=/nonexistent.pem'], 'together'),
                (['--set', 'insecure_http=maybe'], 'true or false'),
                (['--listen', '127.0.0.1:%d' % port, '--set',
                  'tls_cert=/nonexistent/c.pem', '--set',
                  'tls_key=/nonexistent/k.pem'], '/nonexistent/c.pem')):
            r = self.vireod(*args)
            self.assertEqual(r.returncode, 1, (args, r.stderr))
            self.assertIn(needle, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_insecure_http_on_loopback(self):
        d = Daemon('tls-insecure', {'insecure_http': 'true'})
        try:
            d.start()
            self.assertTrue(d.url.startswith('http://'))
            self.assertEqual(d.request('GET', '/api/v1/health',
                                       auth=False)[0], 200)
            self.assertFalse(os.path.exists(os.path.join(d.dir, 'tls')))
            # no TLS on that port
            ctx = ssl.create_default_context()
            with self.assertRaises((ssl.SSLError, OSError)):
                with socket.create_connection(('127.0.0.1', d.port),
                                              timeout=10) as s:
                    ctx.wrap_socket(s, server_hostname='127.0.0.1')
            rc, out, err = d.cli('host', 'list')
            self.assertEqual(rc, 0, err)
            rc, out, err = d.cli('--url', 'https://127.0.0.1:%d' % d.port,
                                 'host', 'list')
            self.assertEqual(rc, 1)
            self.assertIn('cannot reach', err)
        finally:
            d.cleanup()


if __name__ == '__main__':
    unittest.main()
