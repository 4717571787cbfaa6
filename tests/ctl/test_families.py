"""invqctl families: lint (exit 0 / 65 with every problem as FILE:LINE: message,
66 for an unreadable file), show (human and --json, which must agree with
Python's configparser reading the same files), explain (human, --json, no
family = exit 1), and acl: the rules are accepted by the real redis-server
(ACL SETUSER through redis-cli, and an aclfile loaded at start) and enforced
(keys outside the families get NOPERM, inside they are deleted, and only the
commands each family's ops need are allowed). The docs' ini examples lint."""
import configparser
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import *  # noqa: E402,F403

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, 'families')
EXAMPLE = os.environ['INVQ_FAMILIES_EXAMPLE']


def fam(*args, check_rc=None, cwd=None, env_extra=None):
    """invqctl families ARGS, without an INVQ_FAMILIES from outside."""
    return ctl('families', *args, check_rc=check_rc, cwd=cwd, env_extra=dict({'INVQ_FAMILIES': ''}, **(env_extra or {})))


def lines(b):
    return b.decode().splitlines()


def as_user(user):
    c = Redis()
    c('AUTH', user, 'any-password')  # nopass
    return c


def enforced(c, what):
    """What the worker's cache user may and may not do with the example file."""
    r('SET', 'user:1', 'a')
    r('SET', 'session:1', 's')
    r('SET', '{price:A}:eur', '9')
    for cmd, ok in [
            (('DEL', 'user:1'), 1),
            (('DEL', 'user:2:v3', 'stock:w:s', '{price:A}:eur'), 1),  # one DEL across families
            (('UNLINK', 'recs:u7'), 0),
            (('INCR', 'ver:user:1'), 1),
            (('PEXPIRE', '{price:B}:usd', '100'), 0),
            (('EXISTS', 'user:1', 'ver:user:1', 'stock:w:s'), 1),
            (('PING',), 'PONG'),
            (('DEL', 'session:1'), None),                     # no family
            (('DEL', 'user:1', 'session:1'), None),           # one key outside spoils the command
            (('DEL', 'ver:user:1'), None),                    # a version key takes only INCR
            (('INCR', 'user:1'), None),                       # a versioned family bumps its version keys only
            (('PEXPIRE', 'user:1', '100'), None),             # user: ops del, bump
            (('INCR', 'stock:w:s'), None),                    # stock: ops del
            (('DEL', 'invq:{default}:pending'), None),        # the queue's keys
            (('GET', 'user:1'), None),
            (('FLUSHALL',), None)]:
        c.sock.sendall(c._enc(cmd))
        got = c._read()
        if ok is None:
            check(isinstance(got, RedisError) and str(got).startswith('NOPERM'),
                  '%s: %s should be refused, got %r' % (what, cmd, got))
        else:
            check(not isinstance(got, RedisError), '%s: %s refused: %r' % (what, cmd, got))
            if ok == 1 and cmd[0] == 'DEL' and cmd[1] == 'user:1':
                check(got == 1 and r('EXISTS', 'user:1') == 0, '%s: user:1 not deleted' % what)
    check(r('EXISTS', 'session:1') == 1, '%s: session:1 was deleted' % what)
    check(r('EXISTS', '{price:A}:eur') == 0, '%s: {price:A}:eur not deleted' % what)


if '--aclfile-check' in sys.argv:  # run again by with-redis --aclfile, below
    r = Redis()
    enforced(as_user('invq-worker'), 'aclfile')
    print('ok')
    sys.exit(0)

# ------------------------------------------------------------------ lint
p = fam('lint', EXAMPLE, check_rc=0)
check(p.stdout.decode().endswith(': ok, 3 classes, 4 families\n'), p.stdout)
fam('lint', 'good.ini', check_rc=0, cwd=FIX)
# the ```ini examples of the docs are valid files
ROOT = os.path.dirname(os.path.dirname(HERE))
with tempfile.TemporaryDirectory() as d:
    for doc in ('README.md', 'schemas/families-v1.md'):
        blocks = re.findall(r'```ini\n(.*?)```', open(os.path.join(ROOT, doc), encoding='utf-8').read(), re.S)
        check(blocks, '%s has no ```ini example' % doc)
        for i, block in enumerate(blocks):
            path = os.path.join(d, '%s-%d.ini' % (os.path.basename(doc), i))
            open(path, 'w', encoding='utf-8').write(block)
            fam('lint', path, check_rc=0)
for name in ('bad', 'overlap'):
    p = fam('lint', name + '.ini', check_rc=65, cwd=FIX)
    want = open(os.path.join(FIX, name + '.expected')).read()
    check(p.stdout.decode() == want, 'lint %s.ini printed\n%s\nexpected\n%s' % (name, p.stdout.decode(), want))
    for line in lines(p.stdout):
        check(re.match(r'^%s\.ini:\d+: \S' % name, line), 'not FILE:LINE: message: %r' % line)
p = fam('lint', 'bad.ini', '--json', check_rc=65, cwd=FIX)
doc = json.loads(p.stdout)
check(doc['valid'] is False and doc['file'] == 'bad.ini', doc)
check([x['line'] for x in doc['problems']] ==
      [int(l.split(':')[1]) for l in open(os.path.join(FIX, 'bad.expected'))], doc['problems'])
doc = json.loads(fam('lint', EXAMPLE, '--json', check_rc=0).stdout)
check(doc['valid'] is True and doc['families'] == 4 and doc['problems'] == [], doc)
p = fam('lint', '/nonexistent/families.ini', check_rc=66)
check(p.stdout == b'/nonexistent/families.ini: cannot open: No such file or directory\n', p.stdout)
fam('lint', check_rc=64)
fam('lint', 'a.ini', 'b.ini', check_rc=64)
# the reserved namespace is the one given
p = fam('lint', EXAMPLE, '--namespace', 'user', check_rc=65)
check(b"keys under 'user:' are reserved for the queue" in p.stdout, p.stdout)
p = fam('show', 'bad.ini', check_rc=65, cwd=FIX)
check(p.stdout == b'' and p.stderr.decode() == open(os.path.join(FIX, 'bad.expected')).read(), p.stderr)

# ------------------------------------------------- show against configparser
UNITS = {'ms': 1, 's': 1000, 'm': 60000, 'h': 3600000, 'd': 86400000}


def ms(text):
    m = re.fullmatch(r'(\d+)(ms|s|m|h|d)', text)
    return int(m.group(1)) * UNITS[m.group(2)]


def compare_with_configparser(path):
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(path, encoding='utf-8')
    doc = json.loads(fam('show', path, '--json', check_rc=0).stdout)
    classes = {c['name']: c for c in doc['classes']}
    fams = {f['name']: f for f in doc['families']}
    check(sorted(cp.sections()) == sorted(['class ' + n for n in classes] + ['family ' + n for n in fams]),
          (cp.sections(), list(classes), list(fams)))
    for n, c in classes.items():
        s = cp['class ' + n]
        check(c['ttl_ms'] == ms(s['ttl']), (n, 'ttl'))
        check(c['jitter_pct'] == int(s.get('jitter', '0%').rstrip('%')), (n, 'jitter'))
        check(c['negative_ttl_ms'] == (ms(s['negative_ttl']) if 'negative_ttl' in s else None), (n, 'negative'))
        check(c['lease_ttl_ms'] == ms(s.get('lease_ttl', '5s')), (n, 'lease'))
        check(c['description'] == s.get('description'), (n, c['description'], s.get('description')))
    for n, f in fams.items():
        s = cp['family ' + n]
        check([k['pattern'] for k in f['keys']] == [k.strip() for k in s['keys'].split(',')],
              (n, f['keys'], s['keys']))
        check((f['version_key'] or {}).get('pattern') == s.get('version_key'), (n, 'version_key'))
        check(f['class'] == s['class'], (n, 'class'))
        check(f['ops'] == [o for o in ('del', 'bump', 'expire')
                           if o in [x.strip() for x in s.get('ops', 'del, bump, expire').split(',')]], (n, 'ops'))
        check(f['mode'] == s.get('mode', 'enforce'), (n, 'mode'))
        for field in ('owner', 'triggers', 'source', 'audit_query', 'description'):
            check(f[field] == s.get(field), (n, field, f[field], s.get(field)))
    return doc


doc = compare_with_configparser(EXAMPLE)
user = [f for f in doc['families'] if f['name'] == 'user'][0]
check(user['keys'][1] == {'pattern': 'user:{id}:profile', 'line': 45, 'placeholders': ['id'],
                          'glob': 'user:*:profile', 'data_glob': 'user:*:profile:v*'}, user['keys'][1])
check(user['rate'] == {'keys': 50000, 'period_ms': 1000} and user['audit_params'] == ['id'], user)
doc = compare_with_configparser(os.path.join(FIX, 'good.ini'))
sess = [f for f in doc['families'] if f['name'] == 'session'][0]
check(sess['description'] == 'Login sessions.\nShadow mode until the hit rate is known.', sess['description'])
check([k['line'] for k in sess['keys']] == [13, 15, 16], sess['keys'])
p = fam('show', EXAMPLE, check_rc=0)
out = p.stdout.decode()
for want in ('family user (line 41)', 'user:{id}:profile  (acl ~user:*:profile)', 'version key  ver:user:{id}',
             'mode         shadow', 'rate         50000/s', 'ttl 30s, jitter 10%, negative ttl 2s, lease 2s',
             '  audit query  SELECT amount FROM prices\n               WHERE sku = :sku'):
    check(want in out, 'show lacks %r:\n%s' % (want, out))

# ---------------------------------------------------------------- explain
p = fam('explain', 'user:42:profile', '--families', EXAMPLE, check_rc=0)
out = p.stdout.decode()
for want in ('family       user (line 41)', 'pattern      user:{id}:profile  (id=42)', 'kind         key',
             'version key  ver:user:42', 'class        standard: ttl 10m, jitter 10%', 'owner        team-accounts',
             'mode         enforce', 'ops          del, bump\n'):
    check(want in out, 'explain lacks %r:\n%s' % (want, out))
e = json.loads(fam('explain', 'user:42:v17', '--families', EXAMPLE, '--json', check_rc=0).stdout)
check(e['family'] == 'user' and e['kind'] == 'data_key' and e['version'] == 17 and e['params'] == {'id': '42'}
      and e['ttl_ms'] == 600000 and e['jitter_pct'] == 10 and e['mode'] == 'enforce'
      and e['ops'] == ['del', 'bump'] and e['allowed_ops'] == ['del', 'bump'] and e['version_key'] == 'ver:user:42', e)
e = json.loads(fam('explain', 'ver:user:42', '--families', EXAMPLE, '--json', check_rc=0).stdout)
check(e['kind'] == 'version_key' and e['allowed_ops'] == ['bump'] and e['version_key'] is None, e)
e = json.loads(fam('explain', '{price:SKU-9}:eur', '--families', EXAMPLE, '--json', check_rc=0).stdout)
check(e['family'] == 'price' and e['params'] == {'sku': 'SKU-9', 'currency': 'eur'} and e['class'] == 'critical'
      and e['ttl_ms'] == 30000, e)
p = fam('explain', 'session:1', '--families', EXAMPLE, check_rc=1)
check(p.stdout == b'session:1: no family\n', p.stdout)
e = json.loads(fam('explain', 'user:1:2', '--families', EXAMPLE, '--json', check_rc=1).stdout)
check(e == {'key': 'user:1:2', 'family': None}, e)
fam('explain', 'invq:{default}:pending', '--families', EXAMPLE, check_rc=1)
fam('explain', 'stock:w1:s1', check_rc=0, env_extra={'INVQ_FAMILIES': EXAMPLE})
p = fam('explain', 'x', check_rc=64)
check(b'--families FILE' in p.stderr, p.stderr)
fam('explain', 'x', '--families', os.path.join(FIX, 'bad.ini'), check_rc=65)

# -------------------------------------------------------------------- acl
p = fam('acl', EXAMPLE, check_rc=0)
line = p.stdout.decode().strip()
check(line == 'user invq-worker on resetkeys resetchannels clearselectors -@all +ping +select '
      '(~user:* ~{price:*}:* ~stock:*:* ~recs:u* +del +unlink) (~ver:user:* +incr) '
      '(~{price:*}:* ~recs:u* +pexpire) (~user:* ~ver:user:* ~{price:*}:* ~stock:*:* ~recs:u* +exists)', line)
acl = json.loads(fam('acl', EXAMPLE, '--json', '--nopass', '--user', 'cache', check_rc=0).stdout)
check(acl['user'] == 'cache' and acl['rules'][0] == 'nopass' and len(acl['selectors']) == 4, acl)
fam('acl', EXAMPLE, '--format', 'xml', check_rc=64)
fam('acl', EXAMPLE, '--password-sha256', 'nothex', check_rc=64)
fam('acl', 'bad.ini', check_rc=65, cwd=FIX)

r = Redis()
# 1. ACL SETUSER through redis-cli, as an operator would paste it
cli = os.environ.get('REDIS_CLI')
check(cli, 'REDIS_CLI not set')
setuser = fam('acl', EXAMPLE, '--format', 'setuser', '--nopass', check_rc=0).stdout
sock = os.environ.get('INVQ_TEST_REDIS_SOCKET')
cli_args = [cli, '-s', sock] if sock else [cli, '-p', os.environ['INVQ_TEST_REDIS_PORT']]
p = subprocess.run(cli_args, input=setuser, capture_output=True, timeout=30)
check(p.returncode == 0 and p.stdout.strip() == b'OK', 'redis-cli ACL SETUSER: %r %r' % (p.stdout, p.stderr))
enforced(as_user('invq-worker'), 'SETUSER')
# 2. the JSON rules as argv (what a program would send)
check(r('ACL', 'SETUSER', 'cache2', *acl['rules']) == 'OK', 'ACL SETUSER from --json')
enforced(as_user('cache2'), 'SETUSER --json')
# 3. the selectors appended to an existing user line
sel = fam('acl', EXAMPLE, '--format', 'selectors', check_rc=0).stdout.decode().split(') (')
check(len(sel) == 4 and sel[0].startswith('(~user:*'), sel)

# 4. an ACL file loaded by a fresh redis-server at start
with tempfile.TemporaryDirectory() as d:
    aclfile = os.path.join(d, 'users.acl')
    user_line = fam('acl', EXAMPLE, '--nopass', check_rc=0).stdout.decode()
    with open(aclfile, 'w') as fp:
        fp.write('user default on nopass ~* &* +@all\n' + user_line)
    p = subprocess.run([os.environ['WITH_REDIS'], '--aclfile', aclfile, '--', sys.executable,
                        os.path.abspath(__file__), '--aclfile-check'],
                       capture_output=True, timeout=120, env=dict(os.environ, INVQ_FAMILIES_ACL_CHECK='1'))
    check(p.returncode == 0, 'aclfile server: exit %d\n%s\n%s' % (p.returncode, p.stdout.decode(), p.stderr.decode()))
print('ok')
