"""The `invqctl audit` scenarios, run against either source of truth: a
SQLite file (test_audit.py) or a real PostgreSQL server (test_audit_pg.py).
Each scenario plants rows in the database and values in the cache Redis
(stale values, orphans, negative entries, escaped values, lease and unknown
markers, versioned data keys, binary keys), runs the real invqctl and
asserts the exact counts; the in-flight scenarios change or delete keys
(a real invq-worker included) between the audit's reads and checks.

A Source gives: url (the families file's `source`), sql(text, params)
(autocommit), and the column types for the schema."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_common import (CONSUMERS, PENDING, Redis, Worker, check, ctl, ctl_argv, fail,  # noqa: E402,F401
                        json_lines, make_job, wait_for)

MAGIC = b'\x00invq:'
NEGATIVE = MAGIC + b'N1'
ESCAPE = MAGIC + b'D1:'
LEASE = MAGIC + b'L1:' + b'0123456789abcdef' * 2
UNKNOWN = MAGIC + b'Z9:a later protocol'

SKIPS = ['gone', 'lease', 'unknown_marker', 'wrong_type', 'old_version', 'bad_version', 'unsettled', 'unfit']

FAMILIES = """\
[class std]
ttl = 10m

[family user]
keys = user:{{id}}, user:{{id}}:name
class = std
source = {url}
audit_query = SELECT name FROM users WHERE id = :id

[family bin]
keys = bin:{{id}}
class = std
source = {url}
audit_query = SELECT v FROM bins WHERE id = :id

[family vuser]
keys = vuser:{{id}}
version_key = ver:vuser:{{id}}
class = std
source = {url}
audit_query = SELECT name FROM vusers WHERE id = :id

[family flight]
keys = flight:{{id}}
class = std
source = {url}
audit_query = {flight_query}

[family plain]
keys = plain:{{id}}
class = std
"""


def write_families(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, 'w') as f:
        f.write(text)
    return path


def family_file(tmp, src, flight_query='SELECT v FROM flight WHERE id = :id', extra=''):
    return write_families(tmp, 'families.ini', FAMILIES.format(url=src.url, flight_query=flight_query) + extra)


def schema(src):
    t = src.types
    for sql in ('CREATE TABLE users (id %s PRIMARY KEY, name %s)' % (t['int'], t['text']),
                'CREATE TABLE bins (id %s PRIMARY KEY, v %s)' % (t['blob'], t['blob']),
                'CREATE TABLE vusers (id %s PRIMARY KEY, name %s)' % (t['int'], t['text']),
                'CREATE TABLE flight (id %s PRIMARY KEY, v %s)' % (t['int'], t['text'])):
        src.sql(sql)


def audit(fam_path, *args, rc=None, env_extra=None, timeout=120):
    """invqctl audit against the test Redis; returns (CompletedProcess, JSON objects)."""
    url = os.environ['INVQ_TEST_REDIS_URL']
    p = ctl('audit', '--cache-url', url, '--families', fam_path, '--rate', '0', *args,
            check_rc=rc, env_extra=env_extra, timeout=timeout)
    out = json_lines(p) if '--json' in args and p.stdout.strip().startswith(b'{') else []
    return p, out


def start_audit(fam_path, *args):
    """invqctl audit in the background (for the in-flight scenarios)."""
    env = dict(os.environ)
    argv = ctl_argv('audit', '--cache-url', os.environ['INVQ_TEST_REDIS_URL'], '--families', fam_path,
                    '--rate', '0', '--json', *args)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def finish(proc, rc):
    out, err = proc.communicate(timeout=180)
    if proc.returncode != rc:
        fail('audit exit %d, expected %d\nstdout: %s\nstderr: %s' %
             (proc.returncode, rc, out.decode(errors='replace'), err.decode(errors='replace')))
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def gets(r):
    """GET commands the cache has run since CONFIG RESETSTAT (the audit is
    the only client that sends GET)."""
    m = re.search(rb'cmdstat_get:calls=(\d+)', r('INFO', 'commandstats'))
    return int(m.group(1)) if m else 0


def expect(res, **want):
    """res[field] == value for every field; skipped.X as skipped_X."""
    for k, v in want.items():
        got = res['skipped'][k[8:]] if k.startswith('skipped_') else res[k]
        check(got == v, '%s: %s = %r, expected %r\n%s' % (res.get('family'), k, got, v, json.dumps(res)))
    for k in SKIPS:
        if 'skipped_' + k not in want:
            check(res['skipped'][k] == 0, '%s: skipped %s = %r, expected 0' % (res['family'], k, res['skipped'][k]))


# ------------------------------------------------------------ planting

def plant_user(src, r):
    for i in [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12]:
        src.sql('INSERT INTO users (id, name) VALUES (%s, %s)' % (src.p, src.p), (i, 'name-%d' % i))
    for i in range(1, 6):
        r('SET', 'user:%d' % i, 'name-%d' % i)             # ok x5
    r('SET', 'user:1:name', 'name-1')                       # ok (second pattern)
    r('SET', 'user:2:name', 'wrong')                        # stale
    r('SET', 'user:6', 'wrong')                             # stale
    r('SET', 'user:77', 'ghost')                            # orphan: no row 77
    r('SET', 'user:8', NEGATIVE)                            # ok: no row 8, remembered as such
    r('SET', 'user:9', NEGATIVE)                            # stale: row 9 exists
    r('SET', 'user:10', LEASE)                              # a load in progress: skipped
    r('SET', 'user:11', UNKNOWN)                            # skipped
    r('HSET', 'user:12', 'f', 'v')                          # wrong type: skipped
    r('SET', 'other:1', 'not a family key')
    r('SET', 'plain:1', 'no source')


USER_COUNTS = dict(sampled=14, checked=11, ok=7, stale=3, orphan=1, negative=2, rechecked=4,
                   skipped_lease=1, skipped_unknown_marker=1, skipped_wrong_type=1)


def plant_bin(src, r):
    ins = 'INSERT INTO bins (id, v) VALUES (%s, %s)' % (src.p, src.p)
    src.sql(ins, (b'\xff\x00\x01', b'\x00\xffvalue'))
    src.sql(ins, (b'\xfe\xfd', b'new\xff'))
    src.sql(ins, (src.text_id(b'esc'), NEGATIVE))
    r('SET', b'bin:\xff\x00\x01', b'\x00\xffvalue')        # ok, binary key and value
    r('SET', b'bin:\xfe\xfd', b'old\xff')                  # stale
    r('SET', 'bin:esc', ESCAPE + NEGATIVE)                  # ok: escaped data that looks like a negative entry
    r('SET', 'bin:neg', NEGATIVE)                           # ok: no row, negative entry


BIN_COUNTS = dict(sampled=4, checked=4, ok=3, stale=1, orphan=0, negative=1, rechecked=1)


def plant_vuser(src, r):
    for i in range(1, 5):
        src.sql('INSERT INTO vusers (id, name) VALUES (%s, %s)' % (src.p, src.p), (i, 'name-%d' % i))
    r('SET', 'vuser:1:v0', 'name-1')                        # ok: no version key = version 0
    r('SET', 'ver:vuser:2', '3')
    r('SET', 'vuser:2:v3', 'name-2')                        # ok
    r('SET', 'vuser:2:v2', 'old')                           # an old version: never read, not sampled twice
    r('SET', 'ver:vuser:3', '1')
    r('SET', 'vuser:3:v1', 'wrong')                         # stale
    r('SET', 'ver:vuser:4', '2')
    r('SET', 'vuser:4:v1', 'name-4')                        # only an old version cached: skipped
    r('SET', 'ver:vuser:5', 'abc')
    r('SET', 'vuser:5:v0', 'x')                             # a version key readers refuse: skipped


VUSER_COUNTS = dict(sampled=5, checked=3, ok=2, stale=1, orphan=0, negative=0, rechecked=1,
                    skipped_old_version=1, skipped_bad_version=1)


def by_family(objs):
    return {o['family']: o for o in objs if o.get('family')}


def parse_prom(text):
    out = {}
    for line in text.splitlines():
        if line.startswith('#') or not line.strip():
            continue
        name, value = line.rsplit(' ', 1)
        out[name] = float(value)
    return out


def promtool_check(path):
    promtool = os.environ.get('PROMTOOL')
    check(promtool, 'PROMTOOL is not set (prometheus is in deploy/install-deps.sh)')
    with open(path, 'rb') as f:
        p = subprocess.run([promtool, 'check', 'metrics'], stdin=f, capture_output=True, timeout=60)
    check(p.returncode == 0, 'promtool check metrics: %s%s' % (p.stdout.decode(), p.stderr.decode()))


# ------------------------------------------------------------ scenarios

def scenario_planted(src, tmp):
    """Every kind of cached value, all families at once, with --prom."""
    r = Redis()
    schema(src)
    plant_user(src, r)
    plant_bin(src, r)
    plant_vuser(src, r)
    fam = family_file(tmp, src)
    prom = os.path.join(tmp, 'audit.prom')
    with open(prom, 'w') as f:
        f.write('old content\n')
    p, objs = audit(fam, '--json', '--grace-ms', '100', '--prom', prom, rc=3)
    fams = by_family(objs)
    check(sorted(fams) == ['bin', 'flight', 'user', 'vuser'], 'families audited: %s' % sorted(fams))
    check(objs[-1]['family'] is None and objs[-1]['families'] == 4, 'no totals line last: %r' % objs[-1])
    expect(fams['user'], **USER_COUNTS)
    expect(fams['bin'], **BIN_COUNTS)
    expect(fams['vuser'], **VUSER_COUNTS)
    expect(fams['flight'], sampled=0, checked=0, rechecked=0)
    check(fams['flight']['stale_ratio'] is None, fams['flight'])
    check(abs(fams['user']['stale_ratio'] - 4 / 11) < 1e-9, fams['user']['stale_ratio'])
    tot = objs[-1]
    check(tot['checked'] == 18 and tot['stale'] == 5 and tot['orphan'] == 1 and tot['failed'] == 0, tot)
    check(all(o['error'] is None for o in fams.values()), objs)
    check(fams['user']['source'] == src.shown, fams['user']['source'])

    # examples: both values, binary safe
    ex = {e['key']: e for e in fams['user']['examples']}
    check(sorted(ex) == ['user:2:name', 'user:6', 'user:77', 'user:9'], sorted(ex))
    check(ex['user:6'] == {'key': 'user:6', 'outcome': 'stale', 'cached': 'wrong', 'cached_len': 5,
                           'cached_negative': False, 'source': 'name-6', 'source_len': 6}, ex['user:6'])
    check(ex['user:77']['outcome'] == 'orphan' and ex['user:77']['source'] is None, ex['user:77'])
    check(ex['user:9']['cached_negative'] and ex['user:9']['cached'] is None and ex['user:9']['source'] == 'name-9',
          ex['user:9'])
    bex = fams['bin']['examples']
    check(len(bex) == 1 and bex[0]['key'] == 'bin:\\xfe\\xfd' and bex[0]['cached'] == 'old\\xff' and
          bex[0]['source'] == 'new\\xff' and bex[0]['cached_len'] == 4, bex)
    vex = fams['vuser']['examples']
    check(len(vex) == 1 and vex[0]['key'] == 'vuser:3:v1' and vex[0]['source'] == 'name-3', vex)

    # the Prometheus file: valid, atomic (no temporary file left), exact
    promtool_check(prom)
    check(oct(os.stat(prom).st_mode & 0o777) == '0o644', oct(os.stat(prom).st_mode))
    check(not [x for x in os.listdir(tmp) if x.startswith('.audit.prom')], 'temporary file left: %s' % os.listdir(tmp))
    m = parse_prom(open(prom).read())
    check(m['invq_audit_keys{family="user",outcome="stale"}'] == 3, m)
    check(m['invq_audit_keys{family="user",outcome="orphan"}'] == 1, m)
    check(m['invq_audit_keys{family="user",outcome="lease"}'] == 1, m)
    check(m['invq_audit_keys{family="vuser",outcome="old_version"}'] == 1, m)
    check(sum(v for k, v in m.items() if k.startswith('invq_audit_keys{family="user"')) == 14, m)
    check(m['invq_audit_checked_keys{family="bin"}'] == 4, m)
    check(abs(m['invq_audit_stale_ratio{family="user"}'] - 4 / 11) < 1e-9, m)
    check(m['invq_audit_success{family="user"}'] == 1, m)
    check(m['invq_audit_rechecked_keys{family="user"}'] == 4, m)
    check(abs(m['invq_audit_last_run_timestamp_seconds{family="user"}'] - time.time()) < 600, m)
    check(str(m['invq_audit_stale_ratio{family="flight"}']) == 'nan', m)

    # the human table says the same
    p, _ = audit(fam, '--family', 'user', '--grace-ms', '0', rc=3)
    out = p.stdout.decode()
    row = [line for line in out.splitlines() if line.startswith('user ')]
    check(row and row[0].split()[-9:-2] == ['14', '11', '7', '3', '1', '4', '3'], out)
    check('user: stale user:6: cached "wrong", source "name-6"' in out, out)
    check('user: orphan user:77: cached "ghost", source has no row' in out, out)
    check('user: stale user:9: cached a negative entry (no such row), source "name-9"' in out, out)
    check('user: skipped lease 1, unknown_marker 1, wrong_type 1' in out, out)

    # --sample bounds the sample: distinct keys, no more than asked
    for _ in range(3):
        p, objs = audit(fam, '--json', '--family', 'user', '--sample', '5', '--grace-ms', '0')
        res = objs[0]
        check(res['sampled'] == 5 and res['scanned'] == 14, res)
        check(res['checked'] + sum(res['skipped'].values()) == 5, res)
    # --rate bounds the pace: 14 first checks and 4 re-checks at 40/s take 17/40 s at least
    p, objs = audit(fam, '--json', '--family', 'user', '--grace-ms', '0', '--rate', '40', rc=3)
    check(objs[0]['duration_s'] >= 17 / 40 * 0.98, objs[0])
    # nothing stale: exit 0
    r('SET', 'user:6', 'name-6')
    r('SET', 'user:2:name', 'name-2')
    r('DEL', 'user:77', 'user:9')
    p, objs = audit(fam, '--json', '--family', 'user', '--grace-ms', '0', rc=0)
    expect(objs[0], sampled=12, checked=9, ok=9, stale=0, orphan=0, rechecked=0,
           skipped_lease=1, skipped_unknown_marker=1, skipped_wrong_type=1)
    return fam


def scenario_read_only_redis(src, fam):
    """The audit runs as a Redis user that may only SCAN and GET, and sends nothing else."""
    r = Redis()
    r('ACL', 'SETUSER', 'auditor', 'on', '>audit-pw', 'resetkeys', '~*', 'resetchannels', '-@all', '+scan', '+get')
    r('ACL', 'LOG', 'RESET')
    r('CONFIG', 'RESETSTAT')
    url = os.environ['INVQ_TEST_REDIS_URL']
    url += ('&' if '?' in url else '?') + 'user=auditor&password=audit-pw'
    p = ctl('audit', '--cache-url', url, '--families', fam, '--family', 'user', '--family', 'vuser',
            '--rate', '0', '--grace-ms', '0', '--json', check_rc=3)
    objs = json_lines(p)
    check(len(objs) == 3 and all(o.get('error') is None for o in objs), objs)
    stats = r('INFO', 'commandstats').decode()
    cmds = sorted(set(re.findall(r'cmdstat_([a-z|]+):', stats)) - {'info', 'config|resetstat', 'acl|setuser',
                                                                    'acl|log'})
    check(cmds == ['auth', 'get', 'scan'], 'the audit sent %s' % cmds)
    check(r('ACL', 'LOG') == [], 'NOPERM while auditing: %r' % r('ACL', 'LOG'))


def scenario_refilled_in_grace(src, fam):
    """A stale key that is invalidated and refilled with the new value during
    the grace period is not counted."""
    r = Redis()
    src.sql('INSERT INTO flight (id, v) VALUES (1, %s)' % src.p, ('new',))
    r('SET', 'flight:1', 'old')
    r('CONFIG', 'RESETSTAT')
    proc = start_audit(fam, '--family', 'flight', '--grace-ms', '2000')
    wait_for(lambda: gets(r) >= 2, 'the first check (two GETs)', timeout=60)
    r('SET', 'flight:1', 'new')
    res = finish(proc, 0)[0]
    expect(res, sampled=1, checked=1, ok=1, stale=0, orphan=0, rechecked=1)
    # the control: left alone, the same key is stale after its re-check
    r('SET', 'flight:1', 'old')
    _, objs = audit(fam, '--json', '--family', 'flight', '--grace-ms', '0', rc=3)
    expect(objs[0], sampled=1, checked=1, ok=0, stale=1, rechecked=1)


def scenario_deleted_by_worker_in_grace(src, fam):
    """A stale key that a real invq-worker deletes during the grace period
    (its invalidation was in flight) is not counted."""
    r = Redis()
    src.sql('UPDATE flight SET v = %s WHERE id = 1' % src.p, ('newest',))
    r('SET', 'flight:1', 'old')
    w = Worker()
    try:
        wait_for(lambda: r('ZCARD', CONSUMERS) > 0, 'the worker to register', timeout=60)
        r('CONFIG', 'RESETSTAT')
        proc = start_audit(fam, '--family', 'flight', '--grace-ms', '3000')
        wait_for(lambda: gets(r) >= 2, 'the first check (two GETs)', timeout=60)
        # the writer's invalidation, pushed as a producer pushes it
        r('LPUSH', PENDING, make_job('audit-del-1', [('del', ['flight:1'])]))
        wait_for(lambda: r('EXISTS', 'flight:1') == 0, 'the worker to delete flight:1', timeout=60)
        check(gets(r) == 2, 'the re-check ran before the worker deleted the key (machine too slow?)')
        res = finish(proc, 0)[0]
    finally:
        w.stop()
    expect(res, sampled=1, checked=0, ok=0, stale=0, orphan=0, rechecked=1, skipped_gone=1)


def scenario_errors(src, tmp, fam):
    """Usage, bad families files, bad queries, an unreachable cache."""
    url = os.environ['INVQ_TEST_REDIS_URL']
    # usage
    p = ctl('audit', '--families', fam, check_rc=64, env_extra={'INVQ_CACHE_URL': ''})
    check(b'--cache-url' in p.stderr, p.stderr)
    p = ctl('audit', '--cache-url', url, check_rc=64, env_extra={'INVQ_FAMILIES': ''})
    check(b'--families' in p.stderr, p.stderr)
    p = ctl('audit', '--cache-url', url, '--families', fam, '--family', 'nosuch', check_rc=64)
    check(b"no family 'nosuch'" in p.stderr, p.stderr)
    p = ctl('audit', '--cache-url', url, '--families', fam, '--family', 'plain', check_rc=64)
    check(b"family 'plain'" in p.stderr and b'declares no source' in p.stderr, p.stderr)
    p = ctl('audit', '--cache-url', url, '--families', fam, '--sample', '0', check_rc=64)
    check(b'--sample' in p.stderr, p.stderr)
    p = ctl('audit', '--cache-url', 'http://cache:6379', '--families', fam, check_rc=64)
    check(b'--cache-url' in p.stderr, p.stderr)
    # environment
    p = ctl('audit', '--family', 'user', '--rate', '0', '--grace-ms', '0', '--json', check_rc=0,
            env_extra={'INVQ_CACHE_URL': url, 'INVQ_FAMILIES': fam})
    check(json_lines(p)[0]['family'] == 'user', p.stdout)
    # no family declares a source: exit 1
    nosrc = write_families(tmp, 'nosrc.ini', '[class c]\nttl = 1m\n\n[family a]\nkeys = a:{id}\nclass = c\n')
    p = ctl('audit', '--cache-url', url, '--families', nosrc, check_rc=1)
    check(b'no family' in p.stderr, p.stderr)
    # a families file with problems, one that cannot be read
    bad = write_families(tmp, 'bad.ini', FAMILIES.format(url='sqlite:relative/path.db', flight_query='SELECT 1'))
    p = ctl('audit', '--cache-url', url, '--families', bad, check_rc=65)
    check(re.search(rb'bad\.ini:\d+: source: ', p.stderr), p.stderr)
    ctl('audit', '--cache-url', url, '--families', os.path.join(tmp, 'absent.ini'), check_rc=66)

    def one(name, query, source=None, code=65, args=()):
        text = ('[class c]\nttl = 1m\n\n[family f]\nkeys = user:{id}\nclass = c\nsource = %s\naudit_query = %s\n'
                % (source or src.url, query))
        path = write_families(tmp, name + '.ini', text)
        prom = os.path.join(tmp, name + '.prom')
        p = ctl('audit', '--cache-url', url, '--families', path, '--rate', '0', '--grace-ms', '0', '--json',
                '--prom', prom, *args, check_rc=code)
        res = json_lines(p)[0]
        check(res['error'] and res['error']['exit_code'] == code, res)
        check(parse_prom(open(prom).read())['invq_audit_success{family="f"}'] == 0, open(prom).read())
        return res['error']['message'] + ' | ' + p.stderr.decode()

    msg = one('badquery', 'SELECT name FROM nosuchtable WHERE id = :id')
    check('nosuchtable' in msg and 'family f' in msg, msg)
    msg = one('twocols', 'SELECT name, id FROM users WHERE id = :id')
    check('returns 2 columns' in msg, msg)
    msg = one('tworows', 'SELECT name FROM users WHERE id >= :id')
    check('more than one row' in msg or 'rows' in msg, msg)

    # the cache Redis down: exit 69, the message names it, the metrics say so
    prom = os.path.join(tmp, 'down.prom')
    down = 'unix://' + os.path.join(tmp, 'no-such.sock')
    p = ctl('audit', '--cache-url', down, '--families', fam, '--prom', prom, '--json', check_rc=69)
    check(b'cache redis' in p.stderr and b'unreachable' in p.stderr, p.stderr)
    promtool_check(prom)
    m = parse_prom(open(prom).read())
    check(m['invq_audit_success{family="user"}'] == 0 and m['invq_audit_success{family="bin"}'] == 0, m)
    # --prom into a directory that does not exist: exit 73, the report is still printed
    p = ctl('audit', '--cache-url', url, '--families', fam, '--family', 'bin', '--rate', '0', '--grace-ms', '0',
            '--prom', os.path.join(tmp, 'no', 'dir', 'x.prom'), check_rc=73)
    check(b'--prom' in p.stderr and p.stdout.startswith(b'FAMILY'), p.stderr + p.stdout)
    return one
