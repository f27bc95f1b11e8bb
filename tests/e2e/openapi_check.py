"""Strict checks of HTTP exchanges against docs/openapi.json (OpenAPI 3.0.3).

The e2e harness runs every answer it receives through `Spec.check()`; a
violation fails the test that saw it.  What is checked:

* the route: the path matches a path of the document (concrete paths
  before templated ones) and the method is one of its operations; a path
  the document lacks, or a method its path lacks, must get the answer the
  document's `x-vireo-unrouted` describes (404 and 405, with an `Allow`
  header naming exactly the path's operations);
* the status: listed for the operation, or covered by an `NXX` range.  The
  document's `default` response covers server errors (5xx) only: it is
  how the document describes the unexpected, never a way around a client
  error it forgot;
* the content: a response declared without content has no body; otherwise
  its Content-Type is one declared for that status (type, subtype and
  parameters; case of type and subtype ignored), required headers are
  present, and a JSON body (application/json, application/*+json)
  validates against the declared schema.  A problem's `status` is the
  HTTP status and its `instance` the request path;
* the request, when the server accepted it (a status below 400): its query
  parameters are declared and valid, its path parameters valid, and its
  body has a declared Content-Type and validates against the request
  schema.  A server that accepts what its document forbids is as wrong as
  one that answers what its document does not say;
* Server-Sent Events: each event's name must be one of the
  `x-vireo-events` of the text/event-stream content, and its `data` valid
  against that event's schema.

Schemas are OpenAPI 3.0.3 Schema Objects, turned into JSON Schema (draft 4,
whose keywords they are) and checked by the jsonschema package:

* `$ref` to #/components/schemas/X becomes #/definitions/X; a `$ref`'s
  siblings are ignored, as 3.0.3 says;
* `nullable: true` adds "null" to `type`, and only where `type` is given
  (the 3.0.3 clarification of nullable): it has no effect alone, and an
  `enum` that does not list null still refuses null;
* an object schema (`type: object` or `properties`) without
  `additionalProperties` gets `additionalProperties: false`: a field the
  document does not declare is a violation;
* formats are checked by this module's own functions (date-time as RFC
  3339 with a zone, date, uuid, uri, int32, int64, password, binary), the
  same whatever optional packages jsonschema finds; a format the module
  does not know is an error in the document (see `lint()`).
"""
import base64
import datetime
import json
import os
import re
import urllib.parse

import jsonschema

DOC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                        '..', 'docs', 'openapi.json')

# keywords of the OpenAPI Schema Object that JSON Schema lacks
OAS_ONLY = ('nullable', 'discriminator', 'readOnly', 'writeOnly', 'xml',
            'externalDocs', 'example', 'deprecated')

RFC3339 = re.compile(r'^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})'
                     r'(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$')
UUID = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                  r'[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
INTEGER = re.compile(r'^-?[0-9]+$')
NUMBER = re.compile(r'^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$')
METHODS = ('get', 'put', 'post', 'delete', 'options', 'head', 'patch',
           'trace')


def is_date_time(v):
    if not isinstance(v, str):
        return True
    m = RFC3339.match(v)
    if not m:
        return False
    y, mo, d, h, mi, s = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    try:
        datetime.datetime(y, mo, d, h, mi, min(s, 59))
    except ValueError:
        return False
    if m.group(9) and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    return s <= 60


def is_date(v):
    if not isinstance(v, str):
        return True
    try:
        return bool(re.match(r'^\d{4}-\d{2}-\d{2}$', v)) and \
            datetime.date.fromisoformat(v) is not None
    except ValueError:
        return False


def is_uri(v):
    if not isinstance(v, str):
        return True
    u = urllib.parse.urlsplit(v)
    return bool(re.match(r'^[A-Za-z][A-Za-z0-9+.-]*$', u.scheme)) and \
        not any(c in v for c in ' <>"{}|\\^`') and \
        all(0x20 < ord(c) < 0x7f for c in v)


def is_byte(v):
    if not isinstance(v, str):
        return True
    try:
        base64.b64decode(v, validate=True)
        return True
    except ValueError:
        return False


def int_range(bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return True
        return lo <= v <= hi
    return check


FORMATS = {
    'date-time': is_date_time,
    'date': is_date,
    'uuid': lambda v: not isinstance(v, str) or bool(UUID.match(v)),
    'uri': is_uri,
    'byte': is_byte,
    'int32': int_range(32),
    'int64': int_range(64),
    # no constraint beyond the type: hints for clients
    'password': lambda v: True,
    'binary': lambda v: True,
    'float': lambda v: True,
    'double': lambda v: True,
}


def format_checker():
    fc = jsonschema.FormatChecker(formats=())
    for name, fn in FORMATS.items():
        fc.checks(name)(fn)
    return fc


def is_object_schema(s):
    return s.get('type') == 'object' or 'properties' in s


def to_json_schema(s):
    """An OpenAPI 3.0.3 Schema Object as JSON Schema (draft 4)."""
    if isinstance(s, bool) or not isinstance(s, dict):
        return s
    if '$ref' in s:
        ref = s['$ref']
        prefix = '#/components/schemas/'
        if not ref.startswith(prefix):
            raise ValueError('unsupported $ref %s' % ref)
        return {'$ref': '#/definitions/' + ref[len(prefix):]}
    out = {}
    for k, v in s.items():
        if k.startswith('x-') or k in OAS_ONLY:
            continue
        if k == 'properties':
            out[k] = {n: to_json_schema(p) for n, p in v.items()}
        elif k in ('items', 'additionalProperties', 'not'):
            out[k] = to_json_schema(v)
        elif k in ('allOf', 'anyOf', 'oneOf'):
            out[k] = [to_json_schema(x) for x in v]
        else:
            out[k] = v
    if s.get('nullable') is True and 'type' in s:
        out['type'] = [s['type'], 'null']
    if is_object_schema(s) and 'additionalProperties' not in s:
        out['additionalProperties'] = False
    return out


def media_type(value):
    """('type/subtype' lowercased, {param: value}) of a Content-Type."""
    parts = [p.strip() for p in value.split(';')]
    params = {}
    for p in parts[1:]:
        if not p:
            continue
        k, _, v = p.partition('=')
        params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


def is_json(mtype):
    return mtype == 'application/json' or (mtype.startswith('application/')
                                           and mtype.endswith('+json'))


def coerce(raw, schema):
    """A query or path value (a string) as the type its schema names, or
    the string itself when it is not of that type (the schema then says
    why not)."""
    t = schema.get('type')
    if t == 'integer' and INTEGER.match(raw):
        return int(raw)
    if t == 'number' and NUMBER.match(raw):
        return float(raw) if '.' in raw or 'e' in raw.lower() else int(raw)
    if t == 'boolean' and raw in ('true', 'false'):
        return raw == 'true'
    if t == 'array':
        return raw.split(',')
    return raw


def describe(errors, limit=3):
    out = []
    for e in sorted(errors, key=lambda e: list(e.absolute_path))[:limit]:
        where = ''.join('[%r]' % p if isinstance(p, int) else '.%s' % p
                        for p in e.absolute_path)
        out.append('at $%s: %s' % (where, e.message))
    return '; '.join(out)


class Spec:
    """The document, ready to check exchanges against."""

    def __init__(self, doc=None):
        if doc is None:
            with open(DOC_PATH) as f:
                doc = json.load(f)
        self.doc = doc
        self.defs = {n: to_json_schema(s) for n, s in
                     doc.get('components', {}).get('schemas', {}).items()}
        self.fc = format_checker()
        self._validators = {}
        self.paths = []
        for tmpl, item in doc['paths'].items():
            names = re.findall(r'{([^}/]+)}', tmpl)
            rx = '^' + re.sub(r'\\{[^}/]+\\}', '([^/]+)',
                              re.escape(tmpl)) + '$'
            self.paths.append((len(names), tmpl, re.compile(rx), names,
                               item))
        # concrete paths before templated ones
        self.paths.sort(key=lambda p: p[0])

    # ---- the document

    def resolve(self, obj):
        """Follow a $ref (any component) to what it names."""
        seen = 0
        while isinstance(obj, dict) and '$ref' in obj:
            ref = obj['$ref']
            if not ref.startswith('#/'):
                raise ValueError('external $ref %s' % ref)
            obj = self.doc
            for part in ref[2:].split('/'):
                obj = obj[part.replace('~1', '/').replace('~0', '~')]
            seen += 1
            if seen > 20:
                raise ValueError('$ref loop at %s' % ref)
        return obj

    def validator(self, schema):
        key = id(schema)
        v = self._validators.get(key)
        if v is None:
            root = {'definitions': self.defs,
                    'allOf': [to_json_schema(schema)]}
            v = jsonschema.Draft4Validator(root, format_checker=self.fc)
            self._validators[key] = (v, schema)
        else:
            v = v[0]
        return v

    def validate(self, schema, instance):
        """'' if valid, else why not."""
        return describe(self.validator(schema).iter_errors(instance))

    def lint(self):
        """Mistakes of the document itself: keywords that do not do what
        they seem to (nullable without type or with an enum that lacks
        null, siblings of $ref), formats this module cannot check, schemas
        jsonschema refuses."""
        out = []

        def walk(x, where, in_schema):
            if isinstance(x, list):
                for i, v in enumerate(x):
                    walk(v, '%s/%d' % (where, i), in_schema)
                return
            if not isinstance(x, dict):
                return
            if in_schema:
                if x.get('nullable') is True and 'type' not in x:
                    out.append('%s: nullable without type has no effect'
                               % where)
                if x.get('nullable') is True and 'enum' in x and \
                        None not in x['enum']:
                    out.append('%s: nullable has no effect: the enum does '
                               'not list null' % where)
                if '$ref' in x and set(x) - {'$ref', 'description'}:
                    out.append('%s: siblings of $ref are ignored: %s' %
                               (where, sorted(set(x) - {'$ref'})))
                fmt = x.get('format')
                if isinstance(fmt, str) and fmt not in FORMATS:
                    out.append('%s: unknown format %r' % (where, fmt))
                for k, v in x.items():
                    if k in ('properties',):
                        for n, p in v.items():
                            walk(p, '%s/properties/%s' % (where, n), True)
                    elif k in ('items', 'additionalProperties', 'not',
                               'allOf', 'anyOf', 'oneOf'):
                        walk(v, '%s/%s' % (where, k), True)
                return
            for k, v in x.items():
                if k.startswith('x-') and k != 'x-vireo-events':
                    continue
                walk(v, '%s/%s' % (where, k), k == 'schema' or
                     where == '#/components/schemas')
        walk(self.doc, '#', False)
        for name, s in self.defs.items():
            try:
                jsonschema.Draft4Validator.check_schema(
                    {'definitions': self.defs, 'allOf': [s]})
            except jsonschema.SchemaError as e:
                out.append('#/components/schemas/%s: %s' % (name, e.message))
        return out

    # ---- routing

    def operation(self, method, path):
        """(template, operation, {param: value}) for a request, or
        (template, None, None) when the path is known but not the method,
        or (None, None, None) when the path is unknown."""
        m = method.lower()
        known = None
        for _, tmpl, rx, names, item in self.paths:
            hit = rx.match(path)
            if not hit:
                continue
            if known is None:
                known = tmpl
            if m in item:
                return tmpl, item[m], dict(zip(names, hit.groups()))
        return known, None, None

    def allowed(self, path):
        """The methods of every path of the document `path` matches."""
        out = set()
        for _, _, rx, _, item in self.paths:
            if rx.match(path):
                out |= {k.upper() for k in item if k in METHODS}
        return out

    # ---- exchanges

    def check(self, method, target, status, headers, body,
              req_headers=None, req_body=None):
        """Violations (a list of strings) in one exchange.  `target` is the
        request target (path and query), `headers` the response's
        ({name: value}, any case), `body` its bytes; `req_headers` and
        `req_body` (bytes or None) the request's."""
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        req_hdrs = {k.lower(): v for k, v in (req_headers or {}).items()}
        if isinstance(body, str):
            body = body.encode()
        split = urllib.parse.urlsplit(target)
        path = split.path
        tmpl, op, params = self.operation(method, path)
        if op is None and urllib.parse.unquote(path) != path:
            tmpl, op, params = self.operation(method,
                                              urllib.parse.unquote(path))
        if op is None:
            return self.check_unrouted(method, path, tmpl, status, hdrs,
                                       body)
        where = '%s %s' % (method.upper(), tmpl)
        out = []
        responses = op.get('responses', {})
        resp = responses.get(str(status)) or \
            responses.get('%dXX' % (status // 100))
        if resp is None and status >= 500:
            resp = responses.get('default')
        if resp is None:
            return ['%s: status %d is not declared (declared: %s)' %
                    (where, status, ', '.join(sorted(responses)))]
        out += self.check_response(where, path, status, self.resolve(resp),
                                   hdrs, body)
        if status < 400:
            out += self.check_request(where, op, self.doc['paths'][tmpl],
                                      params, split.query, req_hdrs,
                                      req_body)
        return out

    def check_unrouted(self, method, path, tmpl, status, hdrs, body):
        unrouted = self.doc.get('x-vireo-unrouted', {})
        case = 'unknown-path' if tmpl is None else 'unknown-method'
        where = '%s %s (%s)' % (method.upper(), path, case)
        if case not in unrouted:
            return ['%s: the document has no answer for an %s' %
                    (where, case.replace('-', ' '))]
        responses = unrouted[case]
        resp = responses.get(str(status))
        if resp is None and status >= 500:
            resp = responses.get('default')
        if resp is None:
            return ['%s: status %d is not declared (declared: %s)' %
                    (where, status, ', '.join(sorted(responses)))]
        out = self.check_response(where, path, status, self.resolve(resp),
                                  hdrs, body)
        if case == 'unknown-method' and status == 405:
            allow = {m.strip().upper() for m in
                     hdrs.get('allow', '').split(',') if m.strip()}
            if allow != self.allowed(path):
                out.append('%s: Allow is %r, the document has %s' %
                           (where, hdrs.get('allow'),
                            ', '.join(sorted(self.allowed(path)))))
        return out

    def check_response(self, where, path, status, resp, hdrs, body):
        out = []
        where = '%s -> %d' % (where, status)
        for name, h in resp.get('headers', {}).items():
            h = self.resolve(h)
            v = hdrs.get(name.lower())
            if v is None:
                if h.get('required'):
                    out.append('%s: header %s is missing' % (where, name))
                continue
            if 'schema' in h:
                why = self.validate(h['schema'], coerce(v, h['schema']))
                if why:
                    out.append('%s: header %s: %s' % (where, name, why))
        content = resp.get('content')
        if not content:
            if body:
                out.append('%s: a body (%d bytes, %s) where the document '
                           'declares none' % (where, len(body),
                                              hdrs.get('content-type')))
            return out
        ctype = hdrs.get('content-type')
        if ctype is None:
            return out + ['%s: no Content-Type; the document has %s' %
                          (where, ', '.join(content))]
        mtype, mparams = media_type(ctype)
        media = None
        for key, m in content.items():
            ktype, kparams = media_type(key)
            if kparams != mparams:
                continue
            if ktype == mtype or (ktype.endswith('/*') and
                                  mtype.startswith(ktype[:-1])) or \
                    ktype == '*/*':
                media = m
                break
        if media is None:
            return out + ['%s: Content-Type %r is not declared (declared: '
                          '%s)' % (where, ctype, ', '.join(content))]
        if not is_json(mtype):
            if 'schema' in media and media['schema'].get('type') == \
                    'string' and 'charset' in mparams:
                try:
                    body.decode(mparams['charset'])
                except (LookupError, UnicodeDecodeError) as e:
                    out.append('%s: body is not %s: %s' %
                               (where, mparams['charset'], e))
            return out
        try:
            payload = json.loads(body)
        except ValueError as e:
            return out + ['%s: body is not JSON (%s): %r' %
                          (where, e, body[:200])]
        if 'schema' in media:
            why = self.validate(media['schema'], payload)
            if why:
                out.append('%s: %s' % (where, why))
        if mtype == 'application/problem+json' and isinstance(payload,
                                                               dict):
            if payload.get('status') != status:
                out.append('%s: the problem says status %r' %
                           (where, payload.get('status')))
            inst = payload.get('instance')
            if inst is not None and inst not in \
                    (path, urllib.parse.unquote(path)):
                out.append('%s: the problem\'s instance is %r' %
                           (where, inst))
        return out

    def parameters(self, op, item, where):
        """{(in, name): parameter} of an operation (its own over its
        path's)."""
        out = {}
        for p in item.get('parameters', []) + op.get('parameters', []):
            p = self.resolve(p)
            out[(p['in'], p['name'])] = p
        return out

    def check_request(self, where, op, item, path_params, query, req_hdrs,
                      req_body):
        """What the server accepted (status < 400) but the document
        forbids."""
        out = []
        what = '%s accepted' % where
        params = self.parameters(op, item, where)
        for name, value in (path_params or {}).items():
            p = params.get(('path', name))
            if p is None:
                out.append('%s: path parameter {%s} is not declared' %
                           (where, name))
                continue
            value = urllib.parse.unquote(value)
            why = self.validate(p['schema'], coerce(value, p['schema']))
            if why:
                out.append('%s path parameter %s=%r: %s' %
                           (what, name, value, why))
        seen = set()
        for name, value in urllib.parse.parse_qsl(query,
                                                  keep_blank_values=True):
            p = params.get(('query', name))
            if p is None:
                out.append('%s an undeclared query parameter %r' %
                           (what, name))
                continue
            seen.add(name)
            why = self.validate(p['schema'], coerce(value, p['schema']))
            if why:
                out.append('%s query parameter %s=%r: %s' %
                           (what, name, value, why))
        for (kind, name), p in params.items():
            if kind == 'query' and p.get('required') and name not in seen:
                out.append('%s no %r, a required query parameter' %
                           (what, name))
        rb = op.get('requestBody')
        has_body = bool(req_body)
        if rb is None:
            if has_body:
                out.append('%s a body, the operation takes none' % what)
            return out
        rb = self.resolve(rb)
        if not has_body:
            if rb.get('required'):
                out.append('%s no body, the operation requires one' % what)
            return out
        ctype = req_hdrs.get('content-type')
        if ctype is None:
            return out + ['%s a body without Content-Type' % what]
        mtype, _ = media_type(ctype)
        media = next((m for k, m in rb.get('content', {}).items()
                      if media_type(k)[0] == mtype), None)
        if media is None:
            return out + ['%s a body of type %r (declared: %s)' %
                          (what, ctype, ', '.join(rb.get('content', {})))]
        if is_json(mtype) and 'schema' in media:
            try:
                payload = json.loads(req_body)
            except ValueError:
                return out + ['%s a body that is not JSON' % what]
            why = self.validate(media['schema'], payload)
            if why:
                out.append('%s a body the document forbids: %s' %
                           (what, why))
        return out

    # ---- server-sent events

    def events_of(self, path):
        """{event name: schema} the document gives for the event stream at
        `path` (GET, 200, text/event-stream)."""
        tmpl, op, _ = self.operation('GET', urllib.parse.urlsplit(path).path)
        if op is None:
            return None
        resp = self.resolve(op['responses'].get('200', {}))
        media = resp.get('content', {}).get('text/event-stream')
        if media is None:
            return None
        return {name: e.get('schema') for name, e in
                media.get('x-vireo-events', {}).items()}

    def check_event(self, path, event):
        """Violations in one event ({field: value} as read from the
        stream: id, event, data) of the stream at `path`."""
        events = self.events_of(path)
        where = 'GET %s event' % path
        if events is None:
            return ['%s: the document describes no event stream here' %
                    where]
        name = event.get('event', 'message')
        if name not in events:
            return ['%s %r is not declared (declared: %s)' %
                    (where, name, ', '.join(sorted(events)))]
        out = []
        if 'id' in event and not INTEGER.match(event['id']):
            out.append('%s %s: id %r is not a number' %
                       (where, name, event['id']))
        schema = events[name]
        if schema is None:
            return out
        try:
            payload = json.loads(event.get('data', ''))
        except ValueError:
            return out + ['%s %s: data is not JSON: %r' %
                          (where, name, event.get('data', '')[:200])]
        why = self.validate(schema, payload)
        if why:
            out.append('%s %s: %s' % (where, name, why))
        return out


_spec = None


def spec():
    """The checked-in document, loaded once."""
    global _spec
    if _spec is None:
        _spec = Spec()
    return _spec
