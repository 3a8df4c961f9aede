import { FieldmeshError } from '../protocol/errors.js';
import { type FieldProblem, problemsMessage } from '../protocol/field-problems.js';
import { topicRootProblem, topicsFor } from '../protocol/topics.js';
import { isReservedTopic } from './hooks.js';
import {
  filterProblem,
  filtersOverlap,
  filterWithin,
  matchLevels,
  topicNameProblem,
} from './topic-filters.js';

export {
  filterProblem,
  filtersOverlap,
  filterWithin,
  matchLevels,
  topicNameProblem,
} from './topic-filters.js';

/**
 * Topic ACLs of the embedded broker: per user and per role, allow or deny, publish or subscribe.
 * Pure: no I/O, no aedes. The YAML loader is in acl-file.ts; the aedes hooks call compileAcl's checks.
 */

export type AclAccess = 'publish' | 'subscribe' | 'readwrite';

export interface AclRule {
  /** A topic filter (`+` and `#` wildcards); `%c` is the client id, `%u` the username. */
  readonly topic: string;
  readonly access: AclAccess;
  /** Default `allow`. A matching `deny` beats every `allow`. */
  readonly permission?: 'allow' | 'deny' | undefined;
}

export interface AclUser {
  readonly roles?: readonly string[] | undefined;
  readonly rules?: readonly AclRule[] | undefined;
}

export interface AclDocument {
  /** Keyed by MQTT username. */
  readonly users?: Readonly<Record<string, AclUser>> | undefined;
  readonly roles?: Readonly<Record<string, readonly AclRule[]>> | undefined;
  /** Rules for clients without a username; used only when the broker allows anonymous access. */
  readonly anonymous?: readonly AclRule[] | undefined;
  /** Rules for users with a password but no entry under `users`; default none. */
  readonly authenticated?: readonly AclRule[] | undefined;
  /**
   * Rules for mesh nodes that logged in with their node key. Absent means every topic
   * (`#`, readwrite): agents must reach sensors and results whatever rules the sensors get.
   */
  readonly nodes?: readonly AclRule[] | undefined;
}

const ALL_TOPICS: readonly AclRule[] = Object.freeze([Object.freeze({ topic: '#', access: 'readwrite' })]);

/**
 * The rules a broker uses when it has no ACL file: every authenticated client may use every topic
 * and read the broker's `$SYS` state (which `#` does not reach, §4.7.2).
 */
const READ_SYS: AclRule = { topic: '$SYS/#', access: 'subscribe' };
export const OPEN_ACL: AclDocument = Object.freeze({
  authenticated: [...ALL_TOPICS, READ_SYS],
  anonymous: [...ALL_TOPICS, READ_SYS],
});

export interface AclClient {
  readonly clientId: string;
  /** The username the client authenticated with; absent for anonymous clients. */
  readonly username?: string | undefined;
  /** Peer id of the mesh node this client has proven to be (set only after verifying its identity). */
  readonly nodeId?: string | undefined;
}

export interface Decision {
  readonly allowed: boolean;
  /** Which rule decided, or why none did; meant for the log. */
  readonly reason: string;
}

export interface AclOptions {
  /** Mesh topic root, e.g. `fieldmesh/v1/`; node topics under it belong to their node. */
  readonly topicRoot: string;
  /** Whether the broker lets clients in without a username; default false. */
  readonly allowAnonymous?: boolean | undefined;
}

export interface Acl {
  canPublish(client: AclClient, topic: string): Decision;
  canSubscribe(client: AclClient, filter: string): Decision;
}

/** The ACL document is unusable; lists every problem with its path. */
export class AclInvalidError extends FieldmeshError {
  readonly source: string;
  readonly problems: readonly FieldProblem[];

  constructor(source: string, problems: readonly FieldProblem[]) {
    super(
      'ACL_INVALID',
      problemsMessage(
        source,
        'the broker ACL',
        problems,
        'Fix the entries above (rules are { topic, access: publish|subscribe|readwrite, permission?: allow|deny }) and start again.',
      ),
    );
    this.source = source;
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Rules, compiled once.

interface CompiledRule {
  /** Where the rule is in the document, e.g. `roles.sensors[0]`, for decisions and logs. */
  readonly where: string;
  readonly topic: string;
  readonly levels: readonly string[];
  readonly substituted: boolean;
}

interface RuleSet {
  readonly publishDeny: readonly CompiledRule[];
  readonly publishAllow: readonly CompiledRule[];
  readonly subscribeDeny: readonly CompiledRule[];
  readonly subscribeAllow: readonly CompiledRule[];
}

const SUBSTITUTION = /%[cu]/g;

/** Every problem of an ACL document that the checks could not work with: bad filters, unknown roles. */
export function aclDocumentProblems(doc: AclDocument): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const checkRules = (rules: readonly AclRule[] | undefined, at: string, anonymous: boolean) => {
    rules?.forEach((rule, i) => {
      const why = filterProblem(rule.topic);
      if (why !== null)
        problems.push({
          path: `${at}[${i}].topic`,
          found: `${JSON.stringify(rule.topic)}, which ${why}`,
          expected: 'a topic filter with "+" and "#" only as whole levels, "#" last, e.g. plant/+/temp',
        });
      else if (anonymous && rule.topic.includes('%u'))
        problems.push({
          path: `${at}[${i}].topic`,
          found: JSON.stringify(rule.topic),
          expected: 'no %u: anonymous clients have no username, so the rule could never match',
        });
    });
  };
  const roleNames = Object.keys(doc.roles ?? {});
  for (const [name, rules] of Object.entries(doc.roles ?? {})) checkRules(rules, `roles.${name}`, false);
  for (const [name, user] of Object.entries(doc.users ?? {})) {
    checkRules(user.rules, `users.${name}.rules`, false);
    user.roles?.forEach((role, i) => {
      if (!Object.hasOwn(doc.roles ?? {}, role))
        problems.push({
          path: `users.${name}.roles[${i}]`,
          found: JSON.stringify(role),
          expected:
            roleNames.length === 0
              ? 'a role defined under roles (none is defined)'
              : `one of the roles defined under roles: ${roleNames.join(', ')}`,
        });
    });
  }
  checkRules(doc.anonymous, 'anonymous', true);
  checkRules(doc.authenticated, 'authenticated', false);
  checkRules(doc.nodes, 'nodes', false);
  return problems;
}

function buildRuleSet(entries: readonly { rules: readonly AclRule[]; at: string }[]): RuleSet {
  const set = { publishDeny: [], publishAllow: [], subscribeDeny: [], subscribeAllow: [] } as {
    [K in keyof RuleSet]: CompiledRule[];
  };
  for (const { rules, at } of entries) {
    rules.forEach((rule, i) => {
      const compiled: CompiledRule = {
        where: `${at}[${i}]`,
        topic: rule.topic,
        levels: Object.freeze(rule.topic.split('/')),
        substituted: /%[cu]/.test(rule.topic),
      };
      const deny = rule.permission === 'deny';
      if (rule.access !== 'subscribe') (deny ? set.publishDeny : set.publishAllow).push(compiled);
      if (rule.access !== 'publish') (deny ? set.subscribeDeny : set.subscribeAllow).push(compiled);
    });
  }
  return set;
}

/**
 * A value may be substituted only if it is one non-empty plain level. A `/` would let an id span
 * levels and reach topics of other ids (client `line1/temp` under `plant/%c/#` would own
 * `plant/line1/temp/...`, which is client `line1`'s); a `+` or `#` would turn the level into a
 * wildcard for subscribe checks (client id `#` would be granted `plant/#`); NUL is never valid in a
 * topic [MQTT-4.7.3-2]; an empty value would collapse onto a level other clients share.
 */
function substitutable(value: string | undefined): value is string {
  return value !== undefined && value.length > 0 && !/[+#/\0]/.test(value);
}

/**
 * The rule's levels for this client. For an allow rule, a value that cannot be substituted means
 * no match (null). For a deny rule that would fail open, so the rule instead covers everything from
 * the first level it cannot resolve (`plant/%c/secret` → `plant/#`), a superset of any substitution.
 */
function resolve(rule: CompiledRule, client: AclClient, deny: boolean): readonly string[] | null {
  if (!rule.substituted) return rule.levels;
  const out: string[] = [];
  for (const level of rule.levels) {
    if (!level.includes('%')) {
      out.push(level);
      continue;
    }
    let ok = true;
    // One pass, so a client id holding `%u` is never substituted again.
    const value = level.replace(SUBSTITUTION, (m) => {
      const v = m === '%c' ? client.clientId : client.username;
      if (!substitutable(v)) ok = false;
      return v ?? '';
    });
    if (!ok) return deny ? [...out, '#'] : null;
    out.push(value);
  }
  return out;
}

const allow = (reason: string): Decision => ({ allowed: true, reason });
const refuse = (reason: string): Decision => ({ allowed: false, reason });

/** Compiles an ACL document; throws AclInvalidError listing every problem of `doc`. */
export function compileAcl(doc: AclDocument, options: AclOptions): Acl {
  const problems = aclDocumentProblems(doc);
  const rootProblem = topicRootProblem(options.topicRoot);
  if (rootProblem !== null)
    problems.push({
      path: '(topicRoot option)',
      found: JSON.stringify(options.topicRoot),
      expected: rootProblem,
    });
  if (problems.length > 0) throw new AclInvalidError('ACL', problems);

  const roles = doc.roles ?? {};
  const users = new Map<string, RuleSet>(); // a Map, so a username such as `__proto__` finds nothing
  for (const [name, user] of Object.entries(doc.users ?? {})) {
    const entries = [{ rules: user.rules ?? [], at: `users.${name}.rules` }];
    for (const role of user.roles ?? []) entries.push({ rules: roles[role] ?? [], at: `roles.${role}` });
    users.set(name, buildRuleSet(entries));
  }
  const anonymous = buildRuleSet([{ rules: doc.anonymous ?? [], at: 'anonymous' }]);
  const authenticated = buildRuleSet([{ rules: doc.authenticated ?? [], at: 'authenticated' }]);
  const nodes = buildRuleSet([
    { rules: doc.nodes ?? ALL_TOPICS, at: doc.nodes ? 'nodes' : '(default nodes)' },
  ]);
  const nodesPrefix = `${topicsFor(options.topicRoot).root}nodes/`;
  const allowAnonymous = options.allowAnonymous === true;

  function rulesOf(client: AclClient): { set: RuleSet; who: string } | Decision {
    if (client.username !== undefined) {
      const who = `user ${JSON.stringify(client.username)}`;
      return { set: users.get(client.username) ?? authenticated, who };
    }
    if (client.nodeId !== undefined) return { set: nodes, who: `node ${client.nodeId}` };
    if (!allowAnonymous) return refuse('anonymous client and anonymous access is disabled');
    return { set: anonymous, who: 'anonymous clients' };
  }

  return {
    canPublish(client, topic) {
      const bad = topicNameProblem(topic);
      if (bad !== null) return refuse(`topic name ${bad}`);
      // §4.7.2: `$SYS/` carries the broker's own state; no client writes there, whatever the rules.
      if (isReservedTopic(topic)) return refuse('$SYS topics are reserved for the broker');
      if (topic.startsWith(nodesPrefix)) {
        // A node's record (and its last will) must come from that node, or any client could mark
        // a node offline or impersonate it; this overrides the rules both ways.
        const rest = topic.slice(nodesPrefix.length);
        const slash = rest.indexOf('/');
        const peer = slash < 0 ? rest : rest.slice(0, slash);
        if (peer !== '' && client.nodeId === peer) return allow(`own node topic of node ${peer}`);
        return refuse(`${nodesPrefix}${peer}… is publishable only by node ${peer || '(none)'}`);
      }
      const rules = rulesOf(client);
      if ('allowed' in rules) return rules;
      const levels = topic.split('/');
      for (const rule of rules.set.publishDeny) {
        const l = resolve(rule, client, true);
        if (l !== null && matchLevels(l, levels)) return refuse(`denied by ${rule.where} (${rule.topic})`);
      }
      for (const rule of rules.set.publishAllow) {
        const l = resolve(rule, client, false);
        if (l !== null && matchLevels(l, levels)) return allow(`allowed by ${rule.where} (${rule.topic})`);
      }
      return refuse(`no publish rule of ${rules.who} matches`);
    },

    canSubscribe(client, filter) {
      const bad = filterProblem(filter);
      if (bad !== null) return refuse(`topic filter ${bad}`);
      const rules = rulesOf(client);
      if ('allowed' in rules) return rules;
      const levels = filter.split('/');
      // A filter reaching any denied topic is refused: the subscriber would receive it.
      for (const rule of rules.set.subscribeDeny) {
        const l = resolve(rule, client, true);
        if (l !== null && filtersOverlap(levels, l))
          return refuse(`reaches topics denied by ${rule.where} (${rule.topic})`);
      }
      for (const rule of rules.set.subscribeAllow) {
        const l = resolve(rule, client, false);
        if (l !== null && filterWithin(levels, l)) return allow(`within ${rule.where} (${rule.topic})`);
      }
      return refuse(`no subscribe rule of ${rules.who} covers every topic the filter can match`);
    },
  };
}
