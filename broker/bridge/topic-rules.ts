import { filterProblem, filtersOverlap, matchLevels } from '../topic-filters.js';

/**
 * Which local topics the bridge forwards, and under which upstream name. Pure.
 *
 * A rule subscribes to `filter` on the local broker; a message on topic T is forwarded as
 * `remotePrefix + (T without stripPrefix)`, the way Mosquitto's `topic … out … local-prefix
 * remote-prefix` does. Rules may not overlap: with two matching subscriptions an MQTT 3.1.1
 * broker may deliver a message twice [MQTT-3.3.5-1], and which rule names it would be a guess.
 */
export interface BridgeTopicRule {
  /** Local topic filter, e.g. `plant/+/vibration`. */
  filter: string;
  /** QoS of the local subscription and of the upstream publish. */
  qos: 0 | 1;
  /** Taken off the front of the local topic; must be a literal (wildcard-free) start of `filter`. */
  stripPrefix?: string | undefined;
  /** Put in front of the (stripped) topic upstream, e.g. `site-a/`. */
  remotePrefix?: string | undefined;
}

/** Where a local message goes upstream. */
export interface Route {
  topic: string;
  qos: 0 | 1;
}

/** Every problem with `rules`, each naming the rule by its index (`topics[2].filter …`). */
export function topicRuleProblems(rules: readonly BridgeTopicRule[]): string[] {
  const problems: string[] = [];
  if (rules.length === 0) problems.push('topics is empty: list at least one local topic filter to forward');
  rules.forEach((rule, i) => {
    const where = `topics[${i}]`;
    const bad = filterProblem(rule.filter);
    if (bad !== null) problems.push(`${where}.filter ${JSON.stringify(rule.filter)} ${bad}`);
    const strip = rule.stripPrefix ?? '';
    if (strip !== '' && !literalStart(rule.filter).startsWith(strip)) {
      problems.push(
        `${where}.stripPrefix ${JSON.stringify(strip)} is not a wildcard-free start of the filter ` +
          `${JSON.stringify(rule.filter)}: every forwarded topic must begin with it`,
      );
    }
    const prefix = rule.remotePrefix ?? '';
    if (/[+#\0]/.test(prefix)) {
      problems.push(
        `${where}.remotePrefix ${JSON.stringify(prefix)} contains a wildcard or NUL; use literal levels`,
      );
    }
    for (let j = 0; j < i; j++) {
      const other = rules[j]!;
      if (filterProblem(other.filter) === null && bad === null && overlap(other.filter, rule.filter)) {
        problems.push(
          `${where}.filter ${JSON.stringify(rule.filter)} overlaps topics[${j}].filter ` +
            `${JSON.stringify(other.filter)}: a message would be forwarded twice; make them disjoint`,
        );
      }
    }
  });
  return problems;
}

/**
 * A router for validated rules: the route of a local topic, or null when no rule matches it
 * (the local broker sent something the bridge did not subscribe to) or when stripping leaves
 * nothing to publish to.
 */
export function createRouter(rules: readonly BridgeTopicRule[]): (topic: string) => Route | null {
  const compiled = rules.map((rule) => ({ rule, levels: rule.filter.split('/') }));
  return (topic) => {
    const levels = topic.split('/');
    const hit = compiled.find((c) => matchLevels(c.levels, levels));
    if (hit === undefined) return null;
    const strip = hit.rule.stripPrefix ?? '';
    const remote = (hit.rule.remotePrefix ?? '') + topic.slice(strip.length);
    return remote === '' ? null : { topic: remote, qos: hit.rule.qos };
  };
}

/** The part of a filter before its first wildcard level, e.g. `plant/` for `plant/+/x`. */
function literalStart(filter: string): string {
  const levels = filter.split('/');
  const firstWild = levels.findIndex((l) => l === '+' || l === '#');
  if (firstWild === -1) return filter;
  return levels.slice(0, firstWild).join('/') + (firstWild > 0 ? '/' : '');
}

function overlap(a: string, b: string): boolean {
  return filtersOverlap(a.split('/'), b.split('/'));
}
