import type { z } from 'zod';

/** One problem of a document (config file, model manifest): where, what was there, what belongs there. */
export interface FieldProblem {
  /** Field path such as `pipelines[0].window.stride`; empty for the whole document. */
  readonly path: string;
  readonly found: string;
  readonly expected: string;
}

export interface ProblemWording {
  /** What an unknown field should have been, e.g. "only the fields of the manifest format". */
  readonly knownFields: string;
  /** How a mapping is called in the document's own format: "a mapping" (YAML), "an object" (JSON). */
  readonly objectWord: string;
}

/** Field paths as `outputs[1].shape[0]`. */
export function formatPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of p) out += typeof seg === 'number' ? `[${seg}]` : `${out ? '.' : ''}${String(seg)}`;
  return out;
}

/** A schema issue as a problem an operator can act on, quoting the value found in `root`. */
export function problemFromIssue(
  issue: z.core.$ZodIssue,
  root: unknown,
  wording: ProblemWording,
): FieldProblem {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${k}"`).join(', ');
    return {
      path: formatPath([...issue.path, issue.keys[0] ?? '']),
      found: `unknown field${issue.keys.length > 1 ? 's' : ''} ${keys}`,
      expected: `${wording.knownFields} (check the spelling)`,
    };
  }
  const found = describeValue(valueAt(root, issue.path), wording.objectWord);
  if (issue.code === 'invalid_type') {
    return {
      path: formatPath(issue.path),
      found,
      expected: TYPE_WORDS[issue.expected] ?? `a ${issue.expected}`,
    };
  }
  const expected = issue.message
    .replace(/^Invalid (input|string|option): (expected )?/i, '')
    .replace(/^Too (small|big): expected /, '');
  return { path: formatPath(issue.path), found, expected };
}

/** `<source>: N problems in <what>`, one indented line per problem, then what to do. */
export function problemsMessage(
  source: string,
  what: string,
  problems: readonly FieldProblem[],
  advice: string,
): string {
  const n = problems.length;
  return `${source}: ${n} problem${n === 1 ? '' : 's'} in ${what}\n${problemLines(problems)}\n${advice}`;
}

/** The lines of a problem list, one per problem, indented for an error message. */
export function problemLines(problems: readonly FieldProblem[]): string {
  return problems
    .map((p) => `  ${p.path || '(top level)'}: found ${p.found}; expected ${p.expected}`)
    .join('\n');
}

export function describeValue(value: unknown, objectWord = 'an object'): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return objectWord;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  array: 'a list',
  object: 'an object',
  int: 'a whole number',
  boolean: 'true or false',
};

function valueAt(root: unknown, p: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of p) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}
