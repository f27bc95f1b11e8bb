"""The event stream (Server-Sent Events): changes arrive as they happen,
filtered by kind, resumable with Last-Event-ID."""
import json
import subprocess
import time
import unittest

from harness import DaemonTest, EventStream as Stream, VIREO


def vm_state(name, state):
    def pred(e):
        if e.get('event') != 'vm':
            return False
        data = json.loads(e['data'])
        obj = data.get('object') or {}
        return obj.get('name') == name and obj.get('state') == state and \
            obj.get('task') is None
    return pred


class Events(DaemonTest):

    def test_stream_follows_a_vm(self):
        d = self.d
        s = Stream(d)
        try:
            # the stream says at once that it is open
            deadline = time.time() + 5
            while not s.comments and time.time() < deadline:
                time.sleep(0.05)
            self.assertIn(': vireo event stream', s.comments)
            resp = d.create_vm('ev-one', memory='128M', wait=False)
            e = s.wait_for(vm_state('ev-one', 'RUNNING'), timeout=120)
            data = json.loads(e['data'])
            self.assertEqual(data['kind'], 'vm')
            self.assertEqual(data['action'], 'updated')
            self.assertEqual(data['id'], resp['vm']['id'])
            self.assertTrue(int(e['id']) > 0)
            # the job's progress is on the stream too, phase by phase
            phases = [json.loads(x['data'])['object']['phase']
                      for x in s.events if x.get('event') == 'job' and
                      json.loads(x['data'])['id'] == resp['job']['id']]
            for p in ('schedule', 'disks', 'define', 'boot', 'done'):
                self.assertIn(p, phases)
            # ids are increasing
            ids = [int(x['id']) for x in s.events]
            self.assertEqual(ids, sorted(ids))
            last = ids[-1]
            # tokens never appear on the stream
            self.assertFalse([x for x in s.events
                              if x.get('event') in ('token', 'user')])
        finally:
            s.close()

        # resume: what happened while disconnected is replayed
        r = d.action('ev-one', 'pause')
        d.wait_job(r['job']['id'])
        s = Stream(d, last_id=last)
        try:
            s.wait_for(vm_state('ev-one', 'PAUSED'), timeout=10)
            self.assertTrue(all(int(x['id']) > last for x in s.events))
        finally:
            s.close()

        # a filter on kinds
        s = Stream(d, '?kinds=job')
        try:
            r = d.action('ev-one', 'resume')
            s.wait_for(lambda e: e.get('event') == 'job' and
                       json.loads(e['data'])['object']['status'] ==
                       'succeeded', timeout=30)
            self.assertFalse([x for x in s.events if x.get('event') != 'job'])
        finally:
            s.close()
        r = d.request('DELETE', '/api/v1/vms/ev-one')
        d.wait_job(r[2]['job']['id'])
        st, _, body = d.request('GET', '/api/v1/events?kinds=vm,bogus')
        self.assertEqual(st, 400)

    def test_host_events_of_a_cluster(self):
        """A tenant whose rule covers the hosts of one cluster gets the
        events of those hosts, and none of the others."""
        d = self.d
        host = d.get('/api/v1/hosts')['items'][0]
        hpath = '/api/v1/hosts/%d' % host['id']
        for path, body in (('/api/v1/groups', {'name': 'ev-t'}),
                           ('/api/v1/users', {'name': 'ev-u', 'group': 'ev-t',
                                              'password': 'ev-password-1'}),
                           ('/api/v1/clusters', {'name': 'ev-edge'}),
                           ('/api/v1/acls', {'who': 'group', 'group': 'ev-t',
                                             'resources': ['host'],
                                             'cluster': 'ev-edge',
                                             'rights': 'use'})):
            st, _, b = d.request('POST', path, body)
            self.assertEqual(st, 201, b)
        edge = d.get('/api/v1/clusters/ev-edge')['id']
        self.addCleanup(d.request, 'DELETE', '/api/v1/clusters/ev-edge')
        self.addCleanup(d.request, 'PATCH', hpath,
                        {'cluster': None, 'labels': []})
        s = Stream(d, '?kinds=host', token=d.login('ev-u', 'ev-password-1'))
        try:
            # in 'default': not the tenant's; then moved into ev-edge
            for body in ({'labels': ['outside']},
                         {'cluster': 'ev-edge', 'labels': ['moved']},
                         {'labels': ['inside']}, {'cluster': None},
                         {'labels': ['outside-again']},
                         {'cluster': 'ev-edge', 'labels': ['last']}):
                st, _, b = d.request('PATCH', hpath, body)
                self.assertEqual(st, 200, b)
            s.wait_for(lambda e: 'last' in
                       json.loads(e.get('data', '{}')).get('object', {})
                       .get('config', {}).get('labels', []))
            objs = [json.loads(e['data'])['object'] for e in s.events
                    if e.get('event') == 'host']
            self.assertTrue(objs)
            self.assertEqual({o['cluster_id'] for o in objs}, {edge}, objs)
            labels = {l for o in objs for l in o['config']['labels']}
            self.assertNotIn('outside', labels)
            self.assertNotIn('outside-again', labels)
            self.assertIn('inside', labels)
        finally:
            s.close()

    def test_cli_events(self):
        d = self.d
        env = dict(__import__('os').environ, VIREO_URL=d.url,
                   VIREO_TOKEN=d.token, VIREO_CA_FILE=d.ca_file)
        p = subprocess.Popen([VIREO, 'events', '--kinds', 'vm'], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            time.sleep(1)
            d.create_vm('ev-cli', memory='128M')
            deadline = time.time() + 60
            seen = ''
            while time.time() < deadline:
                line = p.stdout.readline()
                seen += line
                if 'ev-cli' in line and 'RUNNING' in line:
                    break
            self.assertIn('ev-cli', seen)
            self.assertIn('RUNNING', seen)
        finally:
            p.terminate()
            p.wait(10)
        r = d.request('DELETE', '/api/v1/vms/ev-cli')
        d.wait_job(r[2]['job']['id'])


if __name__ == '__main__':
    unittest.main()
