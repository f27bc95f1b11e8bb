"""Nothing an installation cannot prove is its own is ever touched.

Two installations share one libvirt (and this machine): neither defines,
starts, stops, destroys or undefines the other's domains, whatever UUID
is asked for and whatever is requested, recovered or reconciled.  A lost
or wrong store never makes vireod start as a new installation over the
old one's data.  The image datastore is reconciled after a crash, and
uploads are held to the quota from their first byte.
"""
import os
import shutil
import subprocess
import time
import uuid

from harness import GUEST_IMAGE, VIREOD, Daemon, DaemonTest, virsh
from tenancy import PASSWORD


def dom_xml(uuid_):
    return virsh('dumpxml', '--inactive', 'vireo-' + uuid_).stdout


def dom_state(uuid_):
    return virsh('domstate', 'vireo-' + uuid_, check=False).stdout.strip()


class TwoInstallations(DaemonTest):
    """self.d is installation A; B is a second one on the same libvirt."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = Daemon('ownership-b').start()
        cls.b.upload_image('guest')

    @classmethod
    def tearDownClass(cls):
        cls.b.cleanup()
        super().tearDownClass()

    def test_a_known_uuid_is_refused(self):
        a, b = self.d, self.b
        r = a.create_vm('a-running', memory='64M')
        u = r['vm']['uuid']
        a.wait_vm('a-running', 'RUNNING')
        before = dom_xml(u)
        st, _, body = b.request('POST', '/api/v1/vms',
                                {'name': 'b-thief', 'image': 'guest',
                                 'memory': 64, 'uuid': u})
        self.assertEqual(st, 409, body)
        self.assertIn('already in use by a domain', body['detail'])
        # a defined, stopped domain is known too
        r2 = a.create_vm('a-stopped', memory='64M', start=False)
        st, _, body = b.request('POST', '/api/v1/vms',
                                {'name': 'b-thief2', 'image': 'guest',
                                 'memory': 64, 'uuid': r2['vm']['uuid'],
                                 'start': False})
        self.assertEqual(st, 409, body)
        self.assertEqual(dom_xml(u), before)
        self.assertEqual(dom_state(u), 'running')
        self.assertEqual(b.vms(), [])

    def test_nothing_reaches_the_other_installations_domain(self):
        """B holds a record with UUID U before any domain has it; then A
        makes a domain with U.  Whatever B does with its record next -
        create, recover, actions, delete, a restart - A's domain stays as
        it is."""
        a, b = self.d, self.b
        u = str(uuid.uuid4())
        host = b.get('/api/v1/hosts')['items'][0]
        hpath = '/api/v1/hosts/%d' % host['id']
        # B's create waits: its host is disabled
        self.assertEqual(b.request('PATCH', hpath, {'enabled': False})[0],
                         200)
        st, _, rb = b.request('POST', '/api/v1/vms',
                              {'name': 'b-vm', 'image': 'guest',
                               'memory': 64, 'uuid': u})
        self.assertEqual(st, 202, rb)
        deadline = time.time() + 30
        while time.time() < deadline and \
                not b.vm('b-vm')['placement']['why']:
            time.sleep(0.1)
        # A takes U first (libvirt knew nothing of it)
        a.create_vm('a-victim', memory='128M', uuid=u)
        a.wait_vm('a-victim', 'RUNNING')
        a.wait_console('a-victim', 'VIREO-GUEST-READY')
        before = dom_xml(u)
        # B's create goes on: the node refuses to define over A's domain
        self.assertEqual(b.request('PATCH', hpath, {'enabled': True})[0],
                         200)
        job = b.wait_job(rb['job']['id'])
        self.assertEqual(job['status'], 'failed', job)
        self.assertIn('another installation', job['error'])
        self.assertEqual(dom_xml(u), before)
        self.assertEqual(dom_state(u), 'running')
        # B never sees A's guest as its own
        self.assertNotEqual(b.vm('b-vm')['state'], 'RUNNING')
        # recover --retry: refused again, nothing touched
        st, _, body = b.request('POST', '/api/v1/vms/b-vm/recover',
                                {'mode': 'retry'})
        self.assertEqual(st, 202, body)
        job = b.wait_job(body['job']['id'])
        self.assertEqual(job['status'], 'failed', job)
        self.assertEqual(dom_xml(u), before)
        # a restart of B: its reconcile leaves A's domain alone
        b.stop()
        b.start()
        self.assertNotEqual(b.vm('b-vm')['state'], 'RUNNING')
        self.assertEqual(dom_state(u), 'running')
        # actions on B's VM never reach A's domain
        for op in ('start', 'poweroff', 'stop', 'reset', 'pause'):
            st, _, body = b.request('POST', '/api/v1/vms/b-vm/' + op, {})
            if st == 202:
                b.wait_job(body['job']['id'])
            self.assertEqual(dom_state(u), 'running', op)
        # delete of B's record: A's domain stays defined and running
        st, _, body = b.request('DELETE', '/api/v1/vms/b-vm')
        self.assertEqual(st, 202, body)
        job = b.wait_job(body['job']['id'])
        self.assertEqual(job['status'], 'succeeded', job)
        self.assertEqual(dom_xml(u), before)
        self.assertEqual(dom_state(u), 'running')
        time.sleep(1)
        # A's guest kept running all along: one boot
        self.assertEqual(a.console('a-victim').count('VIREO-GUEST-READY'), 1)
        self.assertEqual(a.vm('a-victim')['state'], 'RUNNING')


class LostStore(DaemonTest):
    """An empty, missing or wrong store over a state directory that holds
    data is refused; nothing is changed; the backup brings all back."""

    def refused(self, *args):
        """Run vireod on the state directory; it must not start."""
        d = self.d
        cmd = [VIREOD, '--state-dir', d.dir, '--listen',
               '127.0.0.1:%d' % d.port]
        for k, v in d.settings.items():
            cmd += ['--set', '%s=%s' % (k, v)]
        cmd += list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        return r.returncode, r.stderr

    def snapshot(self):
        d = self.d
        sysdir = os.path.join(d.dir, 'datastores', 'system')
        return (sorted(os.listdir(sysdir)), d.password(),
                sorted(d.domains()),
                open(os.path.join(d.dir, 'instance')).read())

    def test_lost_store_is_refused(self):
        d = self.d
        r = d.create_vm('precious', memory='128M', start=False)
        u = r['vm']['uuid']
        before = self.snapshot()
        self.assertIn(u, before[0])
        d.stop()
        db = os.path.join(d.dir, 'vireo.db')
        backup = os.path.join(d.dir, 'vireo.db.backup')
        shutil.copy(db, backup)
        for f in (db + '-wal', db + '-shm'):
            if os.path.exists(f):
                os.unlink(f)

        def attempt(what, *args):
            rc, err = self.refused(*args)
            self.assertNotEqual(rc, 0, (what, err))
            self.assertIn('vireod: ', err)
            self.assertEqual(self.snapshot(), before, what)
            return err
        # a 0-byte store
        open(db, 'w').close()
        err = attempt('empty')
        self.assertIn('is empty but the state directory', err)
        self.assertIn('--new-installation', err)
        # a missing one
        os.unlink(db)
        attempt('missing')
        # another store given by mistake
        other = os.path.join(d.dir, 'other.db')
        attempt('wrong', '--set', 'store=sqlite:' + other)
        os.unlink(other)
        # the store of another installation, given by mistake
        stranger = Daemon('ownership-stranger').start()
        stranger.stop()
        err = attempt('foreign', '--set', 'store=sqlite:' +
                      os.path.join(stranger.dir, 'vireo.db'))
        self.assertIn('belongs to installation', err)
        stranger.cleanup()
        # the backup brings everything back, disks included
        if os.path.exists(db):
            os.unlink(db)
        shutil.copy(backup, db)
        d.start()
        self.assertEqual(d.vm('precious')['uuid'], u)
        self.assertEqual(self.snapshot(), before)
        job = d.wait_job(d.action('precious', 'start')['job']['id'])
        self.assertEqual(job['status'], 'succeeded', job)
        d.wait_console('precious', 'VIREO-GUEST-READY')

    def test_new_installation_leaves_the_old_data(self):
        """Told --new-installation, vireod starts anew and touches nothing
        of the old installation (its domains and directories carry its
        id)."""
        d = self.d
        r = d.create_vm('old-one', memory='64M', start=False)
        u = r['vm']['uuid']
        old_instance = d.instance
        d.stop()
        db = os.path.join(d.dir, 'vireo.db')
        keep = os.path.join(d.dir, 'vireo.db.keep')
        shutil.copy(db, keep)
        for f in (db, db + '-wal', db + '-shm'):
            if os.path.exists(f):
                os.unlink(f)
        sysdir = os.path.join(d.dir, 'datastores', 'system')
        pw = d.password()
        d.token = None
        d.start(extra=['--new-installation'])
        self.assertNotEqual(d.instance, old_instance)
        self.assertEqual(d.vms(), [])
        # the old VM's directory and domain are still there, after a
        # reconcile and a few polls
        time.sleep(3)
        self.assertIn(u, os.listdir(sysdir))
        self.assertTrue(dom_xml(u))
        d.stop()
        # back to the old installation: its store and its mark
        for f in (db, db + '-wal', db + '-shm'):
            if os.path.exists(f):
                os.unlink(f)
        shutil.copy(keep, db)
        with open(os.path.join(d.dir, 'instance'), 'w') as f:
            f.write(old_instance + '\n')
        with open(os.path.join(d.dir, 'admin-password'), 'w') as f:
            f.write(pw + '\n')
        d.token = None
        d.start()
        self.assertEqual(d.vm('old-one')['uuid'], u)
        self.assertIn(u, d.domains())


class ImageDatastore(DaemonTest):

    def raw_put(self, image_id, length, body, token=None, chunked=False,
                source=None):
        """Send an upload by hand: headers, then `body` (bytes), then read
        the answer.  Returns (status, detail)."""
        d = self.d
        s = d.raw_socket(timeout=60, source=source)
        head = ('PUT /api/v1/images/%d/data HTTP/1.1\r\nHost: x\r\n'
                'Authorization: Bearer %s\r\n'
                'Content-Type: application/octet-stream\r\n'
                % (image_id, token or d.token))
        head += ('Transfer-Encoding: chunked\r\n' if chunked else
                 'Content-Length: %d\r\n' % length)
        s.sendall((head + '\r\n').encode())
        try:
            if chunked:
                for i in range(0, len(body), 1 << 20):
                    piece = body[i:i + (1 << 20)]
                    s.sendall(b'%x\r\n' % len(piece) + piece + b'\r\n')
                s.sendall(b'0\r\n\r\n')
            elif body:
                s.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b''
        want = None
        while want is None or len(data) < want:
            if want is None and b'\r\n\r\n' in data:
                head, _, rest = data.partition(b'\r\n\r\n')
                length = [int(line.split(b':')[1]) for line in
                          head.split(b'\r\n')
                          if line.lower().startswith(b'content-length:')]
                want = len(head) + 4 + (length[0] if length else 0)
                continue
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        s.close()
        status = int(data.split(b' ', 2)[1]) if data else 0
        return status, data.decode(errors='replace')

    def temp_files(self):
        d = self.d
        idir = os.path.join(d.dir, 'datastores', 'images')
        return sorted(f for f in os.listdir(idir) if f.startswith('.'))

    def test_upload_held_to_the_quota_from_the_first_byte(self):
        d = self.d
        for g in ('tiny',):
            d.request('POST', '/api/v1/groups', {'name': g})
        st, _, u = d.request('POST', '/api/v1/users',
                             {'name': 'ted', 'password': PASSWORD,
                              'group': 'tiny'})
        self.assertEqual(st, 201, u)
        st, _, _ = d.request('PUT', '/api/v1/users/ted/quota',
                             {'image_mib': 5})
        self.assertEqual(st, 200)
        ted = d.login('ted', PASSWORD)
        st, _, im = d.request('POST', '/api/v1/images',
                              {'name': 'big', 'format': 'raw'}, token=ted)
        self.assertEqual(st, 201, im)
        # 150 MiB declared: refused before a byte of the body is read
        t0 = time.time()
        st, text = self.raw_put(im['id'], 150 << 20, b'', token=ted)
        self.assertEqual(st, 409, text)
        self.assertIn('quota exceeded', text)
        self.assertLess(time.time() - t0, 10)
        self.assertEqual(self.temp_files(), [])
        self.assertEqual(d.get('/api/v1/users/ted')['usage']['image_mib'], 0)
        # chunked: stopped when the running count passes the quota
        st, text = self.raw_put(im['id'], 0, b'\0' * (64 << 20), token=ted,
                                chunked=True)
        self.assertEqual(st, 409, text)
        self.assertIn('quota exceeded', text)
        self.assertEqual(self.temp_files(), [])
        self.assertEqual(d.get('/api/v1/users/ted')['usage']['image_mib'], 0)
        self.assertEqual(d.get('/api/v1/images/%d' % im['id'])['state'],
                         'PENDING')
        # within the quota it works, and counts what is stored
        st, text = self.raw_put(im['id'], 4 << 20, b'\0' * (4 << 20),
                                token=ted)
        self.assertEqual(st, 200, text)
        self.assertEqual(d.get('/api/v1/users/ted')['usage']['image_mib'], 4)

    def test_concurrent_uploads_per_user(self):
        """At most max_uploads_per_user (2) at once per user."""
        d = self.d
        ids = []
        for i in range(3):
            st, _, im = d.request('POST', '/api/v1/images',
                                  {'name': 'cc-%d' % i, 'format': 'raw'})
            self.assertEqual(st, 201, im)
            ids.append(im['id'])
        held = []
        for i in ids[:2]:
            s = d.raw_socket(timeout=30)
            s.sendall(('PUT /api/v1/images/%d/data HTTP/1.1\r\nHost: x\r\n'
                       'Authorization: Bearer %s\r\nContent-Type: '
                       'application/octet-stream\r\nContent-Length: %d\r\n'
                       '\r\n' % (i, d.token, 1 << 20)).encode() + b'\0' * 512)
            held.append(s)
        time.sleep(0.5)
        st, text = self.raw_put(ids[2], 1 << 20, b'')
        self.assertEqual(st, 429, text)
        for s in held:
            s.close()
        time.sleep(0.5)
        st, text = self.raw_put(ids[2], 1 << 20, b'\0' * (1 << 20))
        self.assertEqual(st, 200, text)

    def test_crash_during_upload_leaves_nothing(self):
        d = self.d
        st, _, im = d.request('POST', '/api/v1/images',
                              {'name': 'cut', 'format': 'raw'})
        self.assertEqual(st, 201, im)
        s = d.raw_socket(timeout=30)
        s.sendall(('PUT /api/v1/images/%d/data HTTP/1.1\r\nHost: x\r\n'
                   'Authorization: Bearer %s\r\nContent-Type: '
                   'application/octet-stream\r\nContent-Length: %d\r\n\r\n'
                   % (im['id'], d.token, 32 << 20)).encode() +
                  b'\0' * (4 << 20))
        time.sleep(1)
        temps = self.temp_files()
        self.assertEqual(len(temps), 1, temps)
        self.assertIn(d.instance, temps[0])
        # the reservation is the store's bookkeeping, not the API's
        self.assertNotIn('reserved_mib', d.get('/api/v1/images/%d' %
                                               im['id']))
        self.assertEqual(d.get('/api/v1/users/admin')['usage']['image_mib'] -
                         self.stored_mib(), 32)
        # another installation's leftover, and files from before ids
        idir = os.path.join(d.dir, 'datastores', 'images')
        foreign = ['.upload-%s-7.part' % uuid.uuid4(), '.upload-9.part']
        for f in foreign:
            open(os.path.join(idir, f), 'w').close()
        # a delete cut between its rename and its commit: the file waits
        # in the trash under its record's UUID
        guest = d.get('/api/v1/images/guest')
        trash = os.path.join(idir, '.deleted-%s-%s.qcow2' % (d.instance,
                                                             guest['uuid']))
        os.rename(guest['path'], trash)
        stale = os.path.join(idir, '.deleted-%s-%s.raw' % (d.instance,
                                                           uuid.uuid4()))
        open(stale, 'w').close()
        d.kill9()
        s.close()
        d.start()
        # ours are gone or back; the others' are left alone
        self.assertEqual(self.temp_files(), sorted(foreign))
        self.assertTrue(os.path.exists(guest['path']))
        self.assertFalse(os.path.exists(trash))
        im = d.get('/api/v1/images/%d' % im['id'])
        self.assertEqual(im['state'], 'PENDING')
        self.assertIn('cut short', im['error'])
        self.assertNotIn('reserved_mib', im)
        self.assertEqual(d.get('/api/v1/users/admin')['usage']['image_mib'],
                         self.stored_mib())
        # the image can be uploaded again, and deleted without leftovers
        st, text = self.raw_put(im['id'], 1 << 20, b'\0' * (1 << 20))
        self.assertEqual(st, 200, text)
        self.assertEqual(d.request('DELETE', '/api/v1/images/cut')[0], 204)
        self.assertEqual(self.temp_files(), sorted(foreign))
        for f in foreign:
            os.unlink(os.path.join(idir, f))

    def stored_mib(self):
        return sum((i['size'] + (1 << 20) - 1) >> 20
                   for i in self.d.get('/api/v1/images?limit=1000')['items']
                   if i['owner_id'] == 1)

    def test_truncated_qcow2_is_refused(self):
        d = self.d
        with open(GUEST_IMAGE, 'rb') as f:
            data = f.read()
        st, _, im = d.request('POST', '/api/v1/images',
                              {'name': 'trunc', 'format': 'qcow2'})
        self.assertEqual(st, 201, im)
        st, text = self.raw_put(im['id'], len(data) - 512, data[:-512])
        self.assertEqual(st, 422, text)
        self.assertIn('truncated', text)
        im = d.get('/api/v1/images/trunc')
        self.assertEqual(im['state'], 'PENDING')
        self.assertIn('truncated', im['error'])
