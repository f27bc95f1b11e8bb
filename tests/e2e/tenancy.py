"""A small tenancy for the end-to-end tests: two tenant groups, their
users, objects, and a logged-in token per kind of caller."""
import json

PASSWORD = 'correct-horse-7'


def setup_tenancy(d):
    """t1: alice (owner of the objects), bob (member), dave (t1's group
    administrator); t2: carol (another tenant).  Returns a dict of
    role -> token (None for anonymous) and the ids of the groups."""
    ids = {}
    for g in ('t1', 't2'):
        st, _, body = d.request('POST', '/api/v1/groups', {'name': g})
        assert st == 201, body
        ids[g] = body['id']
    for name, group in (('alice', 't1'), ('bob', 't1'), ('dave', 't1'),
                        ('carol', 't2')):
        st, _, body = d.request('POST', '/api/v1/users',
                                {'name': name, 'password': PASSWORD,
                                 'group': group})
        assert st == 201, body
        ids[name] = body['id']
    st, _, body = d.request('POST', '/api/v1/groups/t1/admins',
                            {'user': 'dave'})
    assert st == 200, body
    tokens = {
        'anonymous': None,
        'owner': d.login('alice', PASSWORD),
        'member': d.login('bob', PASSWORD),
        'other': d.login('carol', PASSWORD),
        'group_admin': d.login('dave', PASSWORD),
        'superuser': d.token,
    }
    return tokens, ids


def share_image(d, name='guest'):
    """Make an administrator's image usable by every tenant."""
    st, _, body = d.request('POST', '/api/v1/ownership',
                            {'kind': 'image', 'ids': [name],
                             'permissions': '644'})
    assert st == 204, body
