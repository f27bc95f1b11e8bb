"""Bad input changes nothing and gets a clear 4xx; state and auth rules."""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import unittest

from harness import DaemonTest, GUEST_IMAGE


class ApiErrors(DaemonTest):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.d
        d.create_vm('err-vm', memory='128M')
        cls.vm = d.wait_vm('err-vm', 'RUNNING')

    def snapshot(self):
        """Everything a bad request must leave unchanged."""
        d = self.d
        vms = [(v['id'], v['name'], v['state'], v['updated_at'])
               for v in d.vms()]
        ims = [(i['id'], i['name'], i['state'], i['updated_at'])
               for i in d.get('/api/v1/images')['items']]
        files = sorted(os.listdir(os.path.join(d.dir, 'datastores',
                                               'images')))
        return vms, ims, files, sorted(d.domains().items())

    def problem(self, resp, status, needle=None):
        st, hdrs, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(hdrs.get('Content-Type'), 'application/problem+json')
        self.assertEqual(body['status'], status)
        self.assertTrue(body['type'].startswith('https://vireo.dev/problems/'))
        self.assertTrue(body['title'])
        if needle:
            self.assertIn(needle, body['detail'])
        return body

    def test_no_token_is_401(self):
        d = self.d
        for method, path in (('GET', '/api/v1/vms'),
                             ('GET', '/api/v1/vms/err-vm'),
                             ('POST', '/api/v1/vms/err-vm/stop'),
                             ('DELETE', '/api/v1/vms/err-vm'),
                             ('GET', '/api/v1/hosts'),
                             ('GET', '/api/v1/images'),
                             ('GET', '/api/v1/jobs'),
                             ('GET', '/api/v1/events')):
            before = self.snapshot()
            r = d.request(method, path, auth=False)
            self.problem(r, 401)
            self.assertIn('Bearer', r[1].get('WWW-Authenticate', ''))
            r = d.request(method, path, token='vr_' + '0' * 64)
            self.problem(r, 401, 'invalid token')
            r = d.request(method, path, headers={'Authorization': 'Basic eDp5'})
            self.problem(r, 401)
            self.assertEqual(self.snapshot(), before)
        # public endpoints
        self.assertEqual(d.request('GET', '/api/v1/health', auth=False)[0],
                         200)
        st, _, doc = d.request('GET', '/api/v1/openapi.json', auth=False)
        self.assertEqual(st, 200)
        self.assertEqual(doc['openapi'][:2], '3.')

    def test_bad_login(self):
        d = self.d
        r = d.request('POST', '/api/v1/tokens',
                      {'user': 'admin', 'password': 'wrong'}, auth=False)
        self.problem(r, 401, 'wrong user name or password')
        r = d.request('POST', '/api/v1/tokens',
                      {'user': 'nobody', 'password': 'x'}, auth=False)
        self.problem(r, 401, 'wrong user name or password')

    def test_revoked_token(self):
        d = self.d
        tok = d.login()
        self.assertEqual(d.request('GET', '/api/v1/vms', token=tok)[0], 200)
        st, _, _ = d.request('DELETE', '/api/v1/tokens/current', token=tok)
        self.assertEqual(st, 204)
        self.problem(d.request('GET', '/api/v1/vms', token=tok), 401)

    def test_state_conflict_is_409(self):
        d = self.d
        before = self.snapshot()
        r = d.request('POST', '/api/v1/vms/err-vm/resume')
        body = self.problem(r, 409, 'RUNNING')
        self.assertIn('invalid-state', body['type'])
        r = d.request('POST', '/api/v1/vms/err-vm/start')
        self.problem(r, 409, 'it is RUNNING')
        self.assertEqual(self.snapshot(), before)

    def test_busy_is_409(self):
        d = self.d
        d.create_vm('err-busy', memory='128M')
        d.wait_vm('err-busy', 'RUNNING')
        r = d.action('err-busy', 'suspend')
        r2 = d.request('POST', '/api/v1/vms/err-busy/pause')
        self.problem(r2, 409, 'busy')
        d.wait_job(r['job']['id'])
        r = d.request('DELETE', '/api/v1/vms/err-busy')
        d.wait_job(r[2]['job']['id'])

    def test_not_found_and_method(self):
        d = self.d
        self.problem(d.request('GET', '/api/v1/vms/nope'), 404, 'nope')
        self.problem(d.request('GET', '/api/v1/vms/999999'), 404)
        self.problem(d.request('POST', '/api/v1/vms/nope/start'), 404)
        self.problem(d.request('POST', '/api/v1/vms/err-vm/explode'), 404,
                     'unknown action')
        self.problem(d.request('GET', '/api/v1/nothing'), 404)
        self.problem(d.request('PATCH', '/api/v1/vms'), 405)
        self.problem(d.request('PUT', '/api/v1/vms/err-vm'), 405)

    def create_refused(self, body, status, needle, raw=None, headers=None):
        before = self.snapshot()
        r = self.d.request('POST', '/api/v1/vms', body, raw=raw,
                           headers=headers)
        self.problem(r, status, needle)
        self.assertEqual(self.snapshot(), before)

    def raw_put(self, path, length):
        return self.raw_post(path, length, 'PUT', 'application/octet-stream')

    def raw_post(self, path, length, method='POST',
                 ctype='application/json'):
        """Send headers announcing `length` bytes and a first chunk only;
        return the status and body the server answers with."""
        s = self.d.raw_socket(timeout=30)
        head = ('%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
                'Content-Type: %s\r\nContent-Length: %d\r\n'
                '\r\n' % (method, path, self.d.token, ctype,
                          length)).encode()
        s.sendall(head + b'{"name":"' + b'a' * 1000)
        data = b''
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break  # the server closed (over TLS, maybe uncleanly)
            if not chunk:
                break
            data += chunk
            if b'\r\n\r\n' in data:
                hdr, _, rest = data.partition(b'\r\n\r\n')
                m = [l for l in hdr.split(b'\r\n')
                     if l.lower().startswith(b'content-length:')]
                if m and len(rest) >= int(m[0].split(b':')[1]):
                    break
        s.close()
        hdr, _, body = data.partition(b'\r\n\r\n')
        return int(hdr.split()[1]), body.decode()

    def test_bad_vm_bodies(self):
        ok = {'name': 'x1', 'image': 'guest', 'memory': '128M'}
        hdr = {'Content-Type': 'application/json'}
        self.create_refused(None, 400, 'malformed JSON',
                            raw=b'{"name": "x1", ', headers=hdr)
        self.create_refused(None, 400, 'malformed JSON', raw=b'\xff\xfe{}',
                            headers=hdr)
        self.create_refused(None, 400, 'JSON object', raw=b'[1]', headers=hdr)
        self.create_refused(None, 415, 'application/json',
                            raw=json.dumps(ok).encode(),
                            headers={'Content-Type': 'text/plain'})
        # an oversized body is refused from its Content-Length, before the
        # server reads it
        before = self.snapshot()
        st, body = self.raw_post('/api/v1/vms', 2 << 20)
        self.assertEqual(st, 413, body)
        self.assertIn('limit', json.loads(body)['detail'])
        self.assertEqual(self.snapshot(), before)
        self.create_refused(dict(ok, color='blue'), 400,
                            "unknown field 'color'")
        self.create_refused(dict(ok, memory=-512), 400, 'memory')
        self.create_refused(dict(ok, memory='-512M'), 400, 'memory')
        self.create_refused(dict(ok, memory='1000000T'), 400, 'memory')
        self.create_refused(dict(ok, memory='3T'), 422, 'more than any host')
        self.create_refused(dict(ok, memory='12.5Q'), 400, 'memory')
        self.create_refused(dict(ok, vcpus=-1), 400, 'vcpus')
        self.create_refused(dict(ok, vcpus='two'), 400, 'vcpus')
        for bad in ('a<b', 'a>b', 'a&b', "a'b", 'a"b', 'a/b', '..', 'a..b',
                    '../../etc/passwd', ''):
            self.create_refused(dict(ok, name=bad), 400, 'vm name')
        self.create_refused(dict(ok, image='nope'), 404, 'image')
        self.create_refused(dict(ok, uuid='not-a-uuid'), 400, 'uuid')
        self.create_refused(dict(ok, disks=[{'size': '1X'}]), 400, 'disks[0]')
        self.create_refused(dict(ok, disks=[{'size': '1G'}] * 20), 400,
                            'extra disks')
        self.create_refused(dict(ok, name='err-vm'), 409, 'already exists')
        deep = {}
        cur = deep
        for _ in range(40):
            cur['a'] = {}
            cur = cur['a']
        self.create_refused(dict(ok, x=deep), 400, 'nesting')

    def test_bad_actions(self):
        d = self.d
        before = self.snapshot()
        self.problem(d.request('POST', '/api/v1/vms/err-vm/stop',
                               {'timeout': -1}), 400, 'timeout')
        self.problem(d.request('POST', '/api/v1/vms/err-vm/pause',
                               {'timeout': 5}), 400, 'timeout')
        self.problem(d.request('POST', '/api/v1/vms/err-vm/recover',
                               {'mode': 'maybe'}), 400, 'mode')
        self.problem(d.request('POST', '/api/v1/vms/err-vm/recover', {}),
                     400, 'mode')
        self.problem(d.request('GET', '/api/v1/vms?limit=0'), 400, 'limit')
        self.problem(d.request('GET', '/api/v1/vms?bogus=1'), 400,
                     "unknown query parameter 'bogus'")
        self.problem(d.request('GET', '/api/v1/vms?state=running'), 400,
                     'state')
        self.problem(d.request('GET', '/api/v1/vms', raw=b'{}',
                               headers={'Content-Type': 'application/json'}),
                     400, 'takes no body')
        self.assertEqual(self.snapshot(), before)

    def test_image_refusals(self):
        d = self.d
        imp = os.path.join(d.dir, 'import')
        os.makedirs(imp, exist_ok=True)
        outside = os.path.join(d.dir, 'outside.qcow2')
        shutil.copy(GUEST_IMAGE, outside)
        os.symlink(outside, os.path.join(imp, 'sneaky.qcow2'))
        with open(os.path.join(imp, 'notes.txt'), 'w') as f:
            f.write('this is not a disk image\n')
        before = self.snapshot()
        for path, status, needle in (
                (outside, 403, 'outside the allowed'),
                (os.path.join(imp, 'sneaky.qcow2'), 403, 'outside'),
                (os.path.join(imp, '..', 'outside.qcow2'), 403, 'outside'),
                ('/etc/shadow', 403, 'outside'),
                ('relative/path', 400, 'absolute'),
                (os.path.join(imp, 'missing.qcow2'), 404, 'cannot be'),
                (os.path.join(imp, 'notes.txt'), 422, 'not a valid qcow2')):
            r = d.request('POST', '/api/v1/images',
                          {'name': 'imp1', 'format': 'qcow2', 'path': path})
            self.problem(r, status, needle)
        self.problem(d.request('POST', '/api/v1/images',
                               {'name': 'imp1', 'format': 'vmdk'}), 400,
                     'format')
        self.problem(d.request('POST', '/api/v1/images',
                               {'name': 'a/b', 'format': 'raw'}), 400,
                     'image name')
        self.problem(d.request('POST', '/api/v1/images',
                               {'name': 'imp1', 'format': 'raw',
                                'sha256': 'xyz'}), 400, 'sha256')
        self.assertEqual(self.snapshot(), before)
        # a good import from the allowed directory works
        shutil.copy(GUEST_IMAGE, os.path.join(imp, 'ok.qcow2'))
        st, _, im = d.request('POST', '/api/v1/images',
                              {'name': 'imported', 'format': 'qcow2',
                               'path': os.path.join(imp, 'ok.qcow2')})
        self.assertEqual(st, 201, im)
        self.assertEqual(im['state'], 'READY')
        self.assertEqual(len(im['sha256']), 64)
        self.assertEqual(d.request('DELETE', '/api/v1/images/imported')[0],
                         204)

    def test_upload_refusals(self):
        d = self.d
        before = self.snapshot()
        # a text file uploaded as qcow2: 422, the image stays PENDING
        st, _, im = d.request('POST', '/api/v1/images',
                              {'name': 'junk', 'format': 'qcow2'})
        self.assertEqual(st, 201)
        r = d.request('PUT', '/api/v1/images/junk/data',
                      raw=b'hello, not an image\n' * 100,
                      headers={'Content-Type': 'application/octet-stream'})
        self.problem(r, 422, 'not a valid qcow2')
        im = d.get('/api/v1/images/junk')
        self.assertEqual(im['state'], 'PENDING')
        self.assertIn('qcow2', im['error'])
        # a VM cannot use it
        r = d.request('POST', '/api/v1/vms',
                      {'name': 'x2', 'image': 'junk', 'memory': 128})
        self.problem(r, 409, 'PENDING')
        self.assertEqual(d.request('DELETE', '/api/v1/images/junk')[0], 204)
        # checksum mismatch
        st, _, im = d.request('POST', '/api/v1/images',
                              {'name': 'sum', 'format': 'qcow2',
                               'sha256': '0' * 64})
        with open(GUEST_IMAGE, 'rb') as f:
            data = f.read()
        r = d.request('PUT', '/api/v1/images/sum/data', raw=data,
                      headers={'Content-Type': 'application/octet-stream'})
        self.problem(r, 422, 'checksum mismatch')
        r = d.request('PUT', '/api/v1/images/sum/data', raw=b'x' * 512,
                      headers={'Content-Type': 'text/plain'})
        self.problem(r, 415)
        self.assertEqual(d.request('DELETE', '/api/v1/images/sum')[0], 204)
        # uploading twice is refused
        r = d.request('PUT', '/api/v1/images/guest/data', raw=b'x' * 512,
                      headers={'Content-Type': 'application/octet-stream'})
        self.problem(r, 409, 'READY')
        # and refused from the headers alone: an over-limit upload is not
        # read at all
        r = self.raw_put('/api/v1/images/guest/data', 1 << 40)
        self.assertEqual(r[0], 409, r)
        self.assertEqual(self.snapshot(), before)

    def test_refused_bodies_are_answered(self):
        """A request refused from its headers is answered before its body
        is read, and the connection then ends; a client that sends its
        whole body before reading (http.client here, curl without
        Expect) still reads the answer, not a reset."""
        d = self.d
        before = self.snapshot()
        with open(GUEST_IMAGE, 'rb') as f:
            data = f.read()     # 16 MB: more than the socket buffers hold
        octets = {'Content-Type': 'application/octet-stream'}
        for attempt in range(3):
            r = d.request('PUT', '/api/v1/images/guest/data', raw=data,
                          headers=octets)
            self.problem(r, 409, 'READY')
        r = d.request('PUT', '/api/v1/images/nowhere/data', raw=data,
                      headers=octets)
        self.problem(r, 404)
        r = d.request('PUT', '/api/v1/images/guest/data', raw=data,
                      headers=octets, token='vr_not-a-token')
        self.problem(r, 401)
        r = d.request('POST', '/api/v1/vms', raw=b'{' + b' ' * (8 << 20),
                      headers={'Content-Type': 'application/json'})
        self.problem(r, 413, 'limit')
        # curl, sending the body at once (no Expect: 100-continue)
        out = os.path.join(d.dir, 'curl-answer')
        r = subprocess.run(
            ['curl', '-sS', '--cacert', d.ca_file, '-o', out, '-w',
             '%{http_code}', '-X', 'PUT', '-H', 'Expect:', '-H',
             'Authorization: Bearer ' + d.token, '-H',
             'Content-Type: application/octet-stream', '--data-binary',
             '@' + GUEST_IMAGE, d.url + '/api/v1/images/guest/data'],
            capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout), (0, '409'), r.stderr)
        with open(out) as f:
            self.assertIn('READY', json.load(f)['detail'])
        self.assertEqual(self.snapshot(), before)

    def test_null_is_absent_where_documented(self):
        """The create fields the document declares nullable take null as
        absent (what GET answers for a VM without them)."""
        d = self.d
        vm = d.create_vm('err-nulls', memory='128M', start=False,
                         cpu_policy=None, numa_nodes=None, hugepages=None,
                         vm_group=None, vm_group_role=None, topology=None,
                         requirements=None, rank=None, hosts=None, pci=None,
                         sriov=None, disks=None)['vm']
        p = d.vm(vm['id'])['placement']
        self.assertEqual((p['cpu_policy'], p['numa_nodes'], p['hugepages'],
                          p['vm_group'], p['topology']),
                         ('shared', [], None, None, None))
        r = d.request('DELETE', '/api/v1/vms/err-nulls')
        self.assertEqual(r[0], 202, r)
        d.wait_job(r[2]['job']['id'])

    def test_image_in_use(self):
        d = self.d
        r = d.request('DELETE', '/api/v1/images/guest')
        self.problem(r, 409, 'used by')

    def test_hostile_transport(self):
        """Oversized headers and garbage on the socket do not hurt."""
        d = self.d
        before = self.snapshot()
        conn = d.connection(timeout=10)
        conn.putrequest('GET', '/api/v1/vms')
        conn.putheader('Authorization', 'Bearer ' + d.token)
        conn.putheader('X-Big', 'a' * (128 * 1024))
        try:
            conn.endheaders()
            r = conn.getresponse()
            self.assertGreaterEqual(r.status, 400)
        except (ConnectionError, ssl.SSLError, http.client.HTTPException):
            pass  # closing the connection is an acceptable answer
        conn.close()
        s = d.raw_socket(timeout=10)
        s.sendall(b'\x00\x01garbage\r\n\r\n')
        try:
            s.recv(4096)
        except OSError:
            pass
        s.close()
        self.assertEqual(d.request('GET', '/api/v1/health', auth=False)[0],
                         200)
        self.assertEqual(self.snapshot(), before)


if __name__ == '__main__':
    unittest.main()
