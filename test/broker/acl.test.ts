import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AclClient,
  type AclDocument,
  AclInvalidError,
  compileAcl,
  filtersOverlap,
  filterWithin,
  matchLevels,
} from '../../broker/acl.js';
import { loadAclFile, parseAclText, validateAclDocument } from '../../broker/acl-file.js';
import { hasCode } from '../../protocol/errors.js';
import { DEFAULT_TOPIC_ROOT } from '../../protocol/topics.js';

const ROOT = DEFAULT_TOPIC_ROOT;
const acl = (doc: AclDocument, allowAnonymous = false) =>
  compileAcl(doc, { topicRoot: ROOT, allowAnonymous });
const user = (username: string, clientId = `${username}-c`): AclClient => ({ clientId, username });

// ---------------------------------------------------------------------------------------------
// Reference semantics, written straight from MQTT 3.1.1 §4.7, to check the engine's algebra against.

function refMatch(filter: readonly string[], topic: readonly string[]): boolean {
  if (topic[0]?.startsWith('$') && (filter[0] === '+' || filter[0] === '#')) return false;
  const go = (i: number): boolean => {
    if (i === filter.length) return i === topic.length;
    if (filter[i] === '#') return i <= topic.length; // `a/#` matches `a`, `a/x`, `a/x/y`
    if (i === topic.length) return false;
    return (filter[i] === '+' || filter[i] === topic[i]) && go(i + 1);
  };
  return go(0);
}

// Filters use up to 4 levels from {a, b, '', $s, +, #}; topics up to 5 levels also use `z`, a
// value no filter names, so "any other value" is represented. Deeper topics add nothing new.
const TOPIC_LEVELS = ['a', 'b', '', '$s', 'z'];
const ALL_TOPICS: string[][] = [];
for (let depth = 1; depth <= 5; depth++) {
  const grow = (prefix: string[]) => {
    if (prefix.length === depth) {
      ALL_TOPICS.push(prefix);
      return;
    }
    for (const l of TOPIC_LEVELS) grow([...prefix, l]);
  };
  grow([]);
}

const filterArb: fc.Arbitrary<string[]> = fc
  .array(fc.constantFrom('a', 'b', '', '$s', '+'), { minLength: 0, maxLength: 4 })
  .chain((head) =>
    head.length === 0
      ? fc.constant<string[]>(['#'])
      : fc.boolean().map((hash) => (hash && head.length < 4 ? [...head, '#'] : head)),
  );

describe('topic filter algebra', () => {
  it('matches topics as the spec says', () => {
    fc.assert(
      fc.property(filterArb, fc.constantFrom(...ALL_TOPICS), (f, t) => {
        expect(matchLevels(f, t)).toBe(refMatch(f, t));
      }),
      { numRuns: 2000 },
    );
  });

  it('filterWithin(F, P) holds exactly when every topic F matches is matched by P', () => {
    fc.assert(
      fc.property(filterArb, filterArb, (f, p) => {
        const brute = ALL_TOPICS.every((t) => !refMatch(f, t) || refMatch(p, t));
        expect(filterWithin(f, p)).toBe(brute);
      }),
      { numRuns: 3000 },
    );
  });

  it('filtersOverlap(A, B) holds exactly when some topic matches both', () => {
    fc.assert(
      fc.property(filterArb, filterArb, (a, b) => {
        const brute = ALL_TOPICS.some((t) => refMatch(a, t) && refMatch(b, t));
        expect(filtersOverlap(a, b)).toBe(brute);
        expect(filtersOverlap(b, a)).toBe(brute);
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with brute force on every pair of filters up to two levels (plus #)', () => {
    const heads: string[][] = [[]];
    for (const a of ['a', '', '$s', '+']) {
      heads.push([a]);
      for (const b of ['a', 'b', '+']) heads.push([a, b]);
    }
    const filters = heads.flatMap((h) => (h.length === 0 ? [['#']] : [h, [...h, '#']]));
    const topics = ALL_TOPICS.filter((t) => t.length <= 4);
    for (const f of filters)
      for (const p of filters) {
        const within = topics.every((t) => !refMatch(f, t) || refMatch(p, t));
        const overlap = topics.some((t) => refMatch(f, t) && refMatch(p, t));
        expect([f.join('/'), p.join('/'), filterWithin(f, p), filtersOverlap(f, p)]).toEqual([
          f.join('/'),
          p.join('/'),
          within,
          overlap,
        ]);
      }
  });

  it('containment is reflexive and transitive', () => {
    fc.assert(
      fc.property(filterArb, filterArb, filterArb, (a, b, c) => {
        expect(filterWithin(a, a)).toBe(true);
        if (filterWithin(a, b) && filterWithin(b, c)) expect(filterWithin(a, c)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('settles the examples', () => {
    const within = (f: string, p: string) => filterWithin(f.split('/'), p.split('/'));
    expect(within('plant/line1/temp', 'plant/+/temp')).toBe(true);
    expect(within('plant/+/temp', 'plant/+/temp')).toBe(true);
    expect(within('plant/#', 'plant/+/temp')).toBe(false);
    expect(within('#', 'plant/+/temp')).toBe(false);
    expect(within('plant', 'plant/#')).toBe(true);
    expect(within('plant/#', 'plant/+/#')).toBe(false); // plant/# also matches `plant`
    expect(within('$SYS/#', '#')).toBe(false);
    expect(within('+/x', '#')).toBe(true);
    expect(within('#', '+/#')).toBe(true); // every topic has a first level; `+/#` matches `a` too
    expect(within('a/#', 'a/+/#')).toBe(false); // but `a/+/#` does not match `a`
  });
});

// ---------------------------------------------------------------------------------------------

describe('compileAcl: users, roles, deny over allow', () => {
  const doc: AclDocument = {
    users: {
      'press-sensor-1': { roles: ['sensors'] },
      scada: {
        rules: [
          { topic: 'fieldmesh/v1/#', access: 'subscribe' },
          { topic: 'plant/#', access: 'readwrite' },
          { topic: 'plant/secret/#', access: 'readwrite', permission: 'deny' },
        ],
      },
      both: {
        roles: ['sensors', 'readers'],
        rules: [{ topic: 'plant/x/cal', access: 'publish', permission: 'deny' }],
      },
    },
    roles: {
      sensors: [{ topic: 'plant/%c/#', access: 'publish' }],
      readers: [{ topic: 'plant/+/temp', access: 'subscribe' }],
    },
  };
  const a = acl(doc);

  it('gives users the rules of their roles', () => {
    const d = a.canPublish(user('press-sensor-1', 'press-sensor-1'), 'plant/press-sensor-1/pressure');
    expect(d).toEqual({ allowed: true, reason: 'allowed by roles.sensors[0] (plant/%c/#)' });
    expect(a.canPublish(user('press-sensor-1', 'press-sensor-1'), 'plant/other/pressure').allowed).toBe(
      false,
    );
    expect(a.canSubscribe(user('press-sensor-1'), 'plant/#').allowed).toBe(false); // publish-only role
    expect(a.canSubscribe(user('both'), 'plant/line1/temp').reason).toBe(
      'within roles.readers[0] (plant/+/temp)',
    );
  });

  it('lets an explicit deny beat an allow, on publish and on subscribe', () => {
    const scada = user('scada');
    expect(a.canPublish(scada, 'plant/line1/temp').allowed).toBe(true);
    expect(a.canPublish(scada, 'plant/secret/key')).toEqual({
      allowed: false,
      reason: 'denied by users.scada.rules[2] (plant/secret/#)',
    });
    expect(a.canSubscribe(scada, 'plant/line1/#').allowed).toBe(true);
    // plant/# would deliver plant/secret/… too, so it is refused even though plant/# is allowed.
    expect(a.canSubscribe(scada, 'plant/#')).toEqual({
      allowed: false,
      reason: 'reaches topics denied by users.scada.rules[2] (plant/secret/#)',
    });
    expect(a.canSubscribe(scada, 'plant/+/key').allowed).toBe(false);
    expect(a.canPublish(user('both', 'x'), 'plant/x/cal').allowed).toBe(false); // user deny over role allow
    expect(a.canPublish(user('both', 'x'), 'plant/x/temp').allowed).toBe(true);
  });

  it('denies by default: unknown users, unmatched topics, prototype names', () => {
    expect(a.canPublish(user('stranger'), 'plant/a')).toEqual({
      allowed: false,
      reason: 'no publish rule of user "stranger" matches',
    });
    expect(a.canPublish(user('scada'), 'other/a').allowed).toBe(false);
    expect(a.canSubscribe(user('scada'), '#').allowed).toBe(false);
    for (const name of ['__proto__', 'constructor', 'toString'])
      expect(a.canPublish(user(name), 'plant/a').allowed).toBe(false);
    expect(acl({}).canSubscribe(user('scada'), 'a').allowed).toBe(false);
  });

  it('subscribes only within an allowed pattern', () => {
    const r = user('both');
    expect(a.canSubscribe(r, 'plant/line1/temp').allowed).toBe(true);
    expect(a.canSubscribe(r, 'plant/+/temp').allowed).toBe(true);
    expect(a.canSubscribe(r, 'plant/#').allowed).toBe(false);
    expect(a.canSubscribe(r, '#').allowed).toBe(false);
    expect(a.canSubscribe(r, 'plant/+/temp/#').allowed).toBe(false);
  });

  it('refuses malformed topics and filters with the reason', () => {
    expect(a.canPublish(user('scada'), 'plant/+/x').reason).toMatch(/wildcard/);
    expect(a.canPublish(user('scada'), '').allowed).toBe(false);
    expect(a.canSubscribe(user('scada'), 'plant/a#').reason).toMatch(/#/);
    expect(a.canSubscribe(user('scada'), 'plant/#/x').allowed).toBe(false);
  });
});

describe('compileAcl: substitution', () => {
  const a = acl({
    users: {
      dev: { rules: [{ topic: 'plant/%c/#', access: 'readwrite' }] },
      home: { rules: [{ topic: 'users/%u/in-%c', access: 'readwrite' }] },
      guarded: {
        rules: [
          { topic: 'plant/#', access: 'readwrite' },
          { topic: 'plant/%c/secret', access: 'readwrite', permission: 'deny' },
        ],
      },
    },
  });

  it('substitutes %c and %u', () => {
    expect(a.canPublish(user('dev', 'line1'), 'plant/line1/t').allowed).toBe(true);
    expect(a.canPublish(user('dev', 'line1'), 'plant/line2/t').allowed).toBe(false);
    expect(a.canSubscribe(user('dev', 'line1'), 'plant/line1/#').allowed).toBe(true);
    expect(a.canPublish(user('home', 'c7'), 'users/home/in-c7').allowed).toBe(true);
    expect(a.canPublish(user('home', 'c8'), 'users/home/in-c7').allowed).toBe(false);
  });

  it('never matches an id holding +, #, / or NUL, or an empty one', () => {
    for (const id of ['+', '#', 'line1/t', `a${String.fromCharCode(0)}`, '']) {
      expect(a.canSubscribe(user('dev', id), 'plant/+/#').allowed).toBe(false);
      expect(a.canPublish(user('dev', id), `plant/${id}/t`).allowed).toBe(false);
    }
    expect(a.canSubscribe(user('dev', '#'), 'plant/#').allowed).toBe(false);
  });

  it('substitutes in one pass, so an id holding %u is taken literally', () => {
    expect(a.canPublish(user('home', '%u'), 'users/home/in-%u').allowed).toBe(true);
    expect(a.canPublish(user('home', '%u'), 'users/home/in-home').allowed).toBe(false);
  });

  it('applies a deny rule it cannot substitute to everything below, failing closed', () => {
    expect(a.canPublish(user('guarded', 'line1'), 'plant/line1/secret').allowed).toBe(false);
    expect(a.canPublish(user('guarded', 'line1'), 'plant/line2/secret').allowed).toBe(true);
    expect(a.canPublish(user('guarded', 'a/b'), 'plant/a/b/secret').allowed).toBe(false);
  });
});

describe('compileAcl: anonymous clients', () => {
  const doc: AclDocument = { anonymous: [{ topic: 'public/#', access: 'readwrite' }] };
  const anon: AclClient = { clientId: 'x' };

  it('uses the anonymous rules only when anonymous access is enabled', () => {
    expect(acl(doc, true).canPublish(anon, 'public/a')).toEqual({
      allowed: true,
      reason: 'allowed by anonymous[0] (public/#)',
    });
    expect(acl(doc, true).canPublish(anon, 'private/a').allowed).toBe(false);
    expect(acl(doc, false).canSubscribe(anon, 'public/#')).toEqual({
      allowed: false,
      reason: 'anonymous client and anonymous access is disabled',
    });
    expect(acl({}, true).canPublish(anon, 'public/a').allowed).toBe(false);
  });

  it('never gives authenticated users the anonymous rules', () => {
    expect(acl(doc, true).canPublish(user('someone'), 'public/a').allowed).toBe(false);
  });
});

describe('compileAcl: mesh and reserved topics', () => {
  const a = acl({
    users: { admin: { rules: [{ topic: '#', access: 'readwrite' }] } },
    anonymous: [{ topic: '#', access: 'readwrite' }],
  });
  const node: AclClient = { clientId: 'fieldmesh-N1', nodeId: 'N1' };

  it('lets only the node itself publish its node topics, whatever the rules', () => {
    expect(a.canPublish(node, `${ROOT}nodes/N1`).allowed).toBe(true);
    expect(a.canPublish(node, `${ROOT}nodes/N1/status`).allowed).toBe(true);
    expect(a.canPublish(node, `${ROOT}nodes/N2`).allowed).toBe(false);
    expect(a.canPublish(user('admin'), `${ROOT}nodes/N1`)).toEqual({
      allowed: false,
      reason: `${ROOT}nodes/N1… is publishable only by node N1`,
    });
    expect(a.canPublish({ clientId: 'N1', username: 'N1' }, `${ROOT}nodes/N1`).allowed).toBe(false);
    expect(a.canPublish(node, `${ROOT}nodes/`).allowed).toBe(false);
    expect(acl({ anonymous: [] }, true).canPublish(node, `${ROOT}nodes/N1`).allowed).toBe(true);
  });

  it('lets others subscribe to node topics if their rules allow', () => {
    expect(a.canSubscribe(user('admin'), `${ROOT}nodes/+`).allowed).toBe(true);
    expect(a.canSubscribe(user('nobody'), `${ROOT}nodes/+`).allowed).toBe(false);
  });

  it('follows a custom topic root, with or without its trailing slash', () => {
    const custom = compileAcl(
      { users: { admin: { rules: [{ topic: '#', access: 'readwrite' }] } } },
      { topicRoot: 'site7' },
    );
    expect(custom.canPublish(user('admin'), 'site7/nodes/N1').allowed).toBe(false);
    expect(custom.canPublish(user('admin'), `${ROOT}nodes/N1`).allowed).toBe(true);
  });

  it('refuses every publish to $SYS, and subscribes to it only by an explicit rule', () => {
    expect(a.canPublish(user('admin'), '$SYS/broker/x')).toEqual({
      allowed: false,
      reason: '$SYS topics are reserved for the broker',
    });
    expect(a.canPublish(user('admin'), '$SYS').allowed).toBe(false);
    expect(a.canSubscribe(user('admin'), '$SYS/#').allowed).toBe(false); // # does not reach $ topics
    const sys = acl({ users: { ops: { rules: [{ topic: '$SYS/#', access: 'readwrite' }] } } });
    expect(sys.canSubscribe(user('ops'), '$SYS/broker/+').allowed).toBe(true);
    expect(sys.canPublish(user('ops'), '$SYS/broker/x').allowed).toBe(false);
  });

  it('checks a publish in a few microseconds', () => {
    const many = acl({
      users: {
        u: {
          roles: ['r'],
          rules: Array.from({ length: 30 }, (_, i) => ({
            topic: `area${i}/+/x/#`,
            access: 'readwrite' as const,
          })),
        },
      },
      roles: { r: [{ topic: 'plant/%c/#', access: 'publish' }] },
    });
    const c = user('u', 'dev1');
    const n = 50_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) many.canPublish(c, 'plant/dev1/pressure');
    const us = ((performance.now() - t0) * 1000) / n;
    expect(us).toBeLessThan(20); // generous for CI; about 1 µs on a laptop
  });
});

// ---------------------------------------------------------------------------------------------

describe('ACL file', () => {
  const problemsOf = (text: string) => {
    try {
      parseAclText(text, 'acl.yaml');
    } catch (err) {
      expect(hasCode(err, 'ACL_INVALID')).toBe(true);
      return (err as AclInvalidError).problems;
    }
    throw new Error('expected AclInvalidError');
  };

  it('loads the documented example', () => {
    const doc = parseAclText(
      [
        'users:',
        '  press-sensor-1: { roles: [sensors] }',
        "  scada: { rules: [{ topic: 'fieldmesh/v1/#', access: subscribe }] }",
        'roles:',
        "  sensors: [{ topic: 'plant/%c/#', access: publish }]",
        'anonymous: []',
      ].join('\n'),
      'acl.yaml',
    );
    expect(Object.isFrozen(doc.users)).toBe(true);
    const a = acl(doc);
    expect(a.canPublish(user('press-sensor-1', 'p1'), 'plant/p1/bar').allowed).toBe(true);
    expect(a.canSubscribe(user('scada'), `${ROOT}nodes/+`).allowed).toBe(true);
  });

  it('reports every problem with its path, what was found and what belongs there', () => {
    const problems = problemsOf(
      [
        'users:',
        '  a: { roles: [sensor], rules: [{ topic: plant/x, access: write }] }',
        '  b: { rules: [{ topic: plant/#, access: publish, permision: deny }] }',
        'roles:',
        '  sensors: [{ topic: plant/%c/#, access: publish }]',
      ].join('\n'),
    );
    expect(problems).toEqual([
      {
        path: 'users.a.rules[0].access',
        found: '"write"',
        expected: expect.stringMatching(/publish.*subscribe.*readwrite/),
      },
      {
        path: 'users.b.rules[0].permision',
        found: 'unknown field "permision"',
        expected: expect.stringMatching(/spelling/),
      },
    ]);
    // Unknown roles and bad filters are reported once the shape is right.
    const second = problemsOf(
      [
        'users:',
        "  a: { roles: [sensor], rules: [{ topic: 'plant/x#', access: publish }] }",
        'roles: { sensors: [] }',
        "anonymous: [{ topic: 'u/%u', access: subscribe }]",
      ].join('\n'),
    );
    expect(second.map((p) => p.path)).toEqual([
      'users.a.rules[0].topic',
      'users.a.roles[0]',
      'anonymous[0].topic',
    ]);
    expect(second[1]).toMatchObject({
      found: '"sensor"',
      expected: 'one of the roles defined under roles: sensors',
    });
    expect(second[0]?.found).toMatch(/"plant\/x#", which has "#"/);
  });

  it('explains a bare # that YAML took for a comment', () => {
    const [p] = problemsOf('anonymous:\n  - topic: #\n    access: subscribe\n');
    expect(p).toMatchObject({ path: 'anonymous[0].topic', found: 'null' });
    expect(p?.expected).toMatch(/quote it/);
  });

  it('names the file and says what to do in the message', () => {
    expect(() => parseAclText('users: [1]', 'conf/acl.yaml')).toThrow(
      /^conf\/acl\.yaml: 1 problem in the broker ACL\n {2}users: found a list of 1; expected .*\nFix the entries/,
    );
    expect(() => parseAclText('users: {a: 1', 'acl.yaml')).toThrow(
      /line \d+, column \d+: found invalid YAML/,
    );
    expect(() => validateAclDocument('nope', 'x')).toThrow(/\(top level\): found "nope"/);
  });

  it('accepts an empty file as an ACL that denies everything', () => {
    expect(acl(parseAclText('', 'acl.yaml')).canPublish(user('a'), 'a').allowed).toBe(false);
  });

  it('reports a missing file as unreadable', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fieldmesh-acl-'));
    try {
      await expect(loadAclFile(path.join(dir, 'missing.yaml'))).rejects.toMatchObject({
        code: 'ACL_UNREADABLE',
        message: expect.stringMatching(/missing\.yaml: no such file/),
      });
      const file = path.join(dir, 'acl.yaml');
      await writeFile(file, "anonymous: [{ topic: 'public/#', access: publish }]\n");
      const doc = await loadAclFile(file);
      expect(acl(doc, true).canPublish({ clientId: 'x' }, 'public/a').allowed).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('makes compileAcl refuse an in-code document with the same problems', () => {
    expect(() => acl({ users: { a: { roles: ['ghost'] } } })).toThrow(AclInvalidError);
    expect(() => compileAcl({}, { topicRoot: 'a/#' })).toThrow(/topicRoot option/);
  });
});
