"""The checker of exchanges against the OpenAPI document (openapi_check)
catches what it must, on a small document of its own and on the real one.
Needs no daemon."""
import json
import unittest

import openapi_check
from openapi_check import Spec

PROBLEM = {'$ref': '#/components/schemas/Problem'}


def problem(status, path='/things/1'):
    return json.dumps({'type': 'https://x.test/p', 'title': 't',
                       'status': status, 'detail': 'd',
                       'instance': path}).encode()


def jsonc(schema):
    return {'content': {'application/json': {'schema': schema}}}


DOC = {
    'openapi': '3.0.3',
    'info': {'title': 't', 'version': '1'},
    'x-vireo-unrouted': {
        'unknown-path': {'404': {'$ref': '#/components/responses/Err'}},
        'unknown-method': {'405': {'$ref': '#/components/responses/Err'}},
    },
    'paths': {
        '/things/{id}': {
            'parameters': [{'name': 'id', 'in': 'path', 'required': True,
                            'schema': {'type': 'integer', 'minimum': 1}}],
            'get': {
                'parameters': [{'name': 'since', 'in': 'query',
                                'schema': {'type': 'string',
                                           'format': 'date-time'}}],
                'responses': {
                    '200': jsonc({'$ref': '#/components/schemas/Thing'}),
                    '404': {'$ref': '#/components/responses/Err'},
                    'default': {'$ref': '#/components/responses/Err'},
                },
            },
            'patch': {
                'requestBody': {'required': True, 'content': {
                    'application/json': {'schema': {
                        '$ref': '#/components/schemas/Thing'}}}},
                'responses': {
                    '200': jsonc({'$ref': '#/components/schemas/Thing'}),
                    '204': {'description': 'nothing'},
                },
            },
        },
        '/things/{id}/log': {
            'parameters': [{'name': 'id', 'in': 'path', 'required': True,
                            'schema': {'type': 'integer'}}],
            'get': {'responses': {'200': {'description': 'text', 'content': {
                'text/plain; charset=utf-8': {'schema': {
                    'type': 'string'}}}}}},
        },
        '/events': {
            'get': {'responses': {'200': {'description': 'sse', 'content': {
                'text/event-stream': {'schema': {'type': 'string'},
                                      'x-vireo-events': {
                    'thing': {'schema': {
                        '$ref': '#/components/schemas/Thing'}}}}}}}},
        },
    },
    'components': {
        'responses': {
            'Err': {'description': 'e', 'content': {
                'application/problem+json': {'schema': PROBLEM}}},
        },
        'schemas': {
            'Problem': {'type': 'object',
                        'required': ['type', 'title', 'status'],
                        'properties': {
                            'type': {'type': 'string', 'format': 'uri'},
                            'title': {'type': 'string'},
                            'status': {'type': 'integer'},
                            'detail': {'type': 'string'},
                            'instance': {'type': 'string'}}},
            'Thing': {'type': 'object', 'required': ['id'], 'properties': {
                'id': {'type': 'integer', 'format': 'int64'},
                'size': {'type': 'string', 'enum': ['2M', '1G'],
                         'nullable': True},
                'size2': {'type': 'string', 'enum': ['2M', '1G', None],
                          'nullable': True},
                'note': {'type': 'string', 'nullable': True},
                'either': {'oneOf': [{'type': 'integer'},
                                     {'type': 'string'}],
                           'nullable': True},
                'at': {'type': 'string', 'format': 'date-time'},
                'tags': {'type': 'object',
                         'additionalProperties': {'type': 'string'}},
            }},
        },
    },
}

JSON = {'Content-Type': 'application/json'}


class Checker(unittest.TestCase):

    def setUp(self):
        self.s = Spec(DOC)

    def get(self, body, status=200, headers=JSON, target='/things/1'):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return self.s.check('GET', target, status, headers, body)

    def assertViolation(self, found, *words):
        self.assertTrue(found, 'no violation found')
        text = ' '.join(found)
        for w in words:
            self.assertIn(w, text)

    def test_a_valid_answer_passes(self):
        self.assertEqual(self.get({'id': 1, 'size': '2M', 'note': None,
                                   'size2': None, 'tags': {'a': 'b'},
                                   'at': '2025-01-31T12:00:00.000Z'}), [])

    def test_undeclared_field(self):
        self.assertViolation(self.get({'id': 1, 'colour': 'red'}),
                             'colour', 'Additional properties')

    def test_declared_additional_properties_stay_allowed(self):
        self.assertViolation(self.get({'id': 1, 'tags': {'a': 1}}),
                             'tags')

    def test_null_where_not_nullable(self):
        self.assertViolation(self.get({'id': None}), "$.id")

    def test_nullable_enum_without_null_refuses_null(self):
        self.assertViolation(self.get({'id': 1, 'size': None}), '$.size')
        self.assertEqual(self.get({'id': 1, 'size2': None}), [])

    def test_nullable_without_type_has_no_effect(self):
        self.assertViolation(self.get({'id': 1, 'either': None}),
                             '$.either')
        self.assertEqual(Spec(DOC).lint(), [
            '#/components/schemas/Thing/properties/size: nullable has no '
            'effect: the enum does not list null',
            '#/components/schemas/Thing/properties/either: nullable '
            'without type has no effect'])

    def test_date_time_needs_a_zone(self):
        self.assertViolation(self.get({'id': 1, 'at': '2025-01-31T12:00:00'}),
                             'date-time')
        self.assertEqual(self.get({'id': 1, 'at': '2025-01-31T12:00:00+02:00'}),
                         [])
        self.assertViolation(self.get({'id': 1, 'at': '2025-02-30T12:00:00Z'}),
                             'date-time')

    def test_int64_range(self):
        self.assertViolation(self.get({'id': 1 << 63}), 'int64')

    def test_undeclared_status(self):
        self.assertViolation(self.get(problem(409), 409,
                                      {'Content-Type':
                                       'application/problem+json'}),
                             'status 409 is not declared')

    def test_default_covers_server_errors_only(self):
        ptype = {'Content-Type': 'application/problem+json'}
        self.assertEqual(self.get(problem(503), 503, ptype), [])
        self.assertViolation(self.get(problem(400), 400, ptype),
                             'status 400 is not declared')

    def test_wrong_content_type(self):
        self.assertViolation(self.get({'id': 1}, 200,
                                      {'Content-Type': 'text/plain'}),
                             "Content-Type 'text/plain' is not declared")
        self.assertViolation(self.get(problem(404), 404, JSON),
                             'is not declared')
        ok = self.s.check('GET', '/things/1/log', 200,
                          {'Content-Type': 'text/plain; charset=utf-8'},
                          b'boot\n')
        self.assertEqual(ok, [])
        bad = self.s.check('GET', '/things/1/log', 200,
                           {'Content-Type': 'text/plain'}, b'boot\n')
        self.assertViolation(bad, 'is not declared')

    def test_no_body_where_none_is_declared(self):
        self.assertEqual(self.s.check('PATCH', '/things/1', 204, {}, b'',
                                      JSON, b'{"id": 1}'), [])
        self.assertViolation(self.s.check('PATCH', '/things/1', 204, JSON,
                                          b'{}', JSON, b'{"id": 1}'),
                             'declares none')

    def test_problem_matches_its_answer(self):
        ptype = {'Content-Type': 'application/problem+json'}
        self.assertViolation(self.get(problem(400), 404, ptype),
                             'the problem says status 400')
        self.assertViolation(self.get(problem(404, '/other'), 404, ptype),
                             'instance')

    def test_unrouted(self):
        ptype = {'Content-Type': 'application/problem+json'}
        self.assertEqual(self.s.check('GET', '/nothing', 404, ptype,
                                      problem(404, '/nothing')), [])
        self.assertViolation(self.s.check('GET', '/nothing', 400, ptype,
                                          problem(400, '/nothing')),
                             'unknown-path', 'status 400')
        h = dict(ptype, Allow='GET, PATCH')
        self.assertEqual(self.s.check('PUT', '/things/1', 405, h,
                                      problem(405)), [])
        h = dict(ptype, Allow='GET')
        self.assertViolation(self.s.check('PUT', '/things/1', 405, h,
                                          problem(405)), 'Allow')

    def test_accepted_requests_must_be_valid(self):
        patch = {'id': 1}
        ok = self.s.check('PATCH', '/things/1', 200, JSON,
                          json.dumps(patch).encode(), JSON,
                          json.dumps(patch).encode())
        self.assertEqual(ok, [])
        bad = self.s.check('PATCH', '/things/1', 200, JSON,
                           json.dumps(patch).encode(), JSON,
                           b'{"id": 1, "size": null}')
        self.assertViolation(bad, 'accepted a body', '$.size')
        self.assertViolation(self.get({'id': 1}, target='/things/1?x=1'),
                             'undeclared query parameter')
        self.assertViolation(self.get({'id': 1}, target='/things/0'),
                             'path parameter id')
        self.assertViolation(
            self.get({'id': 1}, target='/things/1?since=2025-01-31T12:00:00'),
            'since', 'date-time')
        # refused: a bad request gets no complaint for itself
        ptype = {'Content-Type': 'application/problem+json'}
        self.assertEqual(self.get(problem(404, '/things/0'), 404, ptype,
                                  target='/things/0'), [])

    def test_events(self):
        ok = self.s.check_event('/events', {'id': '3', 'event': 'thing',
                                            'data': '{"id": 3}'})
        self.assertEqual(ok, [])
        self.assertViolation(self.s.check_event(
            '/events', {'event': 'other', 'data': '{}'}), 'not declared')
        self.assertViolation(self.s.check_event(
            '/events', {'event': 'thing', 'data': '{"id": 3, "x": 1}'}),
            'Additional properties')


class RealDocument(unittest.TestCase):
    """docs/openapi.json itself."""

    def setUp(self):
        self.s = openapi_check.spec()

    def test_the_document_is_clean(self):
        self.assertEqual(self.s.lint(), [])

    def test_every_operation_resolves(self):
        for tmpl, item in self.s.doc['paths'].items():
            path = tmpl.replace('{', '').replace('}', '')
            for m in item:
                if m not in openapi_check.METHODS:
                    continue
                t, op, _ = self.s.operation(m, path)
                self.assertIs(op, item[m], (m, tmpl, t))

    def test_health(self):
        h = {'status': 'ok', 'version': '0.1.0', 'host_id': 1,
             'instance': '0b9e6a3a-1a54-4d7d-9e8e-2f0a4b8c1d2e'}
        self.assertEqual(self.s.check('GET', '/api/v1/health', 200, JSON,
                                      json.dumps(h).encode()), [])
        h['extra'] = 1
        self.assertTrue(self.s.check('GET', '/api/v1/health', 200, JSON,
                                     json.dumps(h).encode()))

    def test_unrouted(self):
        def problem(status, path):
            return json.dumps({
                'type': 'https://vireo.dev/problems/' +
                ('not-found' if status == 404 else 'method-not-allowed'),
                'title': 't', 'status': status, 'detail': 'd',
                'instance': path}).encode()
        h = {'Content-Type': 'application/problem+json'}
        self.assertEqual(self.s.check('GET', '/api/v1/nothing', 404, h,
                                      problem(404, '/api/v1/nothing')), [])
        h['Allow'] = 'GET, POST'
        self.assertEqual(self.s.check('PATCH', '/api/v1/vms', 405, h,
                                      problem(405, '/api/v1/vms')), [])
        self.assertTrue(self.s.check('PATCH', '/api/v1/vms', 404, h,
                                     problem(404, '/api/v1/vms')))

    def test_events(self):
        vm = {'kind': 'vm', 'action': 'deleted', 'id': 3, 'owner_id': 1,
              'group_id': 1, 'permissions': '640'}
        for name, data in (('vm', vm), ('reset', {'missed': 12}),
                           ('reset', {'missed': None}),
                           ('reset', {'missed': 'more than a replay gives'})):
            self.assertEqual(self.s.check_event(
                '/api/v1/events?kinds=vm', {'id': '7', 'event': name,
                                            'data': json.dumps(data)}), [])
        self.assertTrue(self.s.check_event(
            '/api/v1/events', {'event': 'reset',
                               'data': json.dumps({'missed': 'lots'})}))

    def test_a_problem(self):
        body = json.dumps({
            'type': 'https://vireo.dev/problems/unauthenticated',
            'title': 'Authentication required', 'status': 401,
            'detail': 'authentication required', 'instance': '/api/v1/vms'})
        h = {'Content-Type': 'application/problem+json',
             'WWW-Authenticate': 'Bearer realm="vireo"'}
        self.assertEqual(self.s.check('GET', '/api/v1/vms', 401, h,
                                      body.encode()), [])


if __name__ == '__main__':
    unittest.main()
