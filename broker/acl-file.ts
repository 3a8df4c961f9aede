import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { FieldmeshError } from '../protocol/errors.js';
import {
  deepFreeze,
  describeValue,
  type FieldProblem,
  problemFromIssue,
} from '../protocol/field-problems.js';
import { type AclDocument, AclInvalidError, aclDocumentProblems } from './acl.js';

/**
 * The broker ACL file (YAML):
 *
 *   users:   { press-sensor-1: { roles: [sensors] }, scada: { rules: [{ topic: 'fieldmesh/v1/#', access: subscribe }] } }
 *   roles:   { sensors: [{ topic: 'plant/%c/#', access: publish }] }
 *   anonymous: [ ... ]       # only used when the broker allows anonymous access
 *   authenticated: [ ... ]   # users with a password but no entry under users
 *   nodes: [ ... ]           # mesh agents (node-key login); default every topic
 */

const ruleSchema = z.strictObject({
  topic: z
    .string()
    .min(1)
    .describe('Topic filter; + and # wildcards, %c = client id, %u = username. Quote it in YAML.'),
  access: z.enum(['publish', 'subscribe', 'readwrite']).describe('What the rule is about.'),
  permission: z
    .enum(['allow', 'deny'])
    .optional()
    .describe('Default allow; a matching deny beats any allow.'),
});

const nonEmptyName = z.string().min(1);

export const aclFileSchema = z.strictObject({
  users: z
    .record(
      nonEmptyName,
      z.strictObject({
        roles: z.array(nonEmptyName).optional().describe('Roles whose rules this user also has.'),
        rules: z.array(ruleSchema).optional().describe("The user's own rules."),
      }),
    )
    .optional()
    .describe('Keyed by MQTT username.'),
  roles: z.record(nonEmptyName, z.array(ruleSchema)).optional().describe('Named rule lists users can share.'),
  anonymous: z
    .array(ruleSchema)
    .optional()
    .describe('Rules for clients without a username, when the broker allows anonymous access.'),
  authenticated: z
    .array(ruleSchema)
    .optional()
    .describe('Rules for users in the credentials file that have no entry under users.'),
  nodes: z
    .array(ruleSchema)
    .optional()
    .describe('Rules for mesh nodes (agents logged in with their node key); default every topic.'),
});

// The schema and the engine's document type must stay the same shape.
const _sameShape: (d: z.output<typeof aclFileSchema>) => AclDocument = (d) => d;
void _sameShape;

const WORDING = {
  knownFields: 'only users, roles, anonymous, authenticated, nodes and the rule fields',
  objectWord: 'a mapping',
};

/** The ACL file could not be read at all. */
export class AclUnreadableError extends FieldmeshError {
  constructor(file: string, why: string, cause?: unknown) {
    super('ACL_UNREADABLE', `${file}: ${why}`, { cause });
  }
}

/** Reads and validates an ACL file; throws AclUnreadableError or AclInvalidError (every problem at once). */
export async function loadAclFile(file: string): Promise<AclDocument> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file; point the broker ACL setting at a YAML file with users, roles and anonymous'
        : `cannot read (${code}); check the file's permissions`;
    throw new AclUnreadableError(file, why, err);
  }
  return parseAclText(text, file);
}

/** Parses and validates ACL YAML; `file` only names the source in errors. Returns a frozen document. */
export function parseAclText(text: string, file: string): AclDocument {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new AclInvalidError(
      file,
      doc.errors.map((e) => ({
        path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '',
        found: 'invalid YAML',
        expected: e.message.split('\n')[0] ?? 'valid YAML',
      })),
    );
  }
  return validateAclDocument(doc.toJS() ?? {}, file);
}

/** Validates already-parsed data (YAML, JSON or code) as an ACL document and freezes it. */
export function validateAclDocument(raw: unknown, file: string): AclDocument {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new AclInvalidError(file, [
      {
        path: '',
        found: describeValue(raw, 'a mapping'),
        expected: 'a mapping with users, roles, anonymous',
      },
    ]);
  }
  const result = aclFileSchema.safeParse(raw);
  if (!result.success) {
    throw new AclInvalidError(
      file,
      result.error.issues.map((issue) => withYamlHints(problemFromIssue(issue, raw, WORDING), issue.path)),
    );
  }
  const problems = aclDocumentProblems(result.data);
  if (problems.length > 0) throw new AclInvalidError(file, problems);
  return deepFreeze(result.data);
}

/** The YAML traps that show up as a confusing type error. */
function withYamlHints(problem: FieldProblem, path: readonly PropertyKey[]): FieldProblem {
  if (path.at(-1) === 'topic' && (problem.found === 'null' || problem.found === 'nothing'))
    return {
      ...problem,
      expected: `a topic filter such as 'plant/#' (quote it: an unquoted # starts a YAML comment)`,
    };
  if (path.length === 2 && (path[0] === 'users' || path[0] === 'roles') && problem.found === 'null')
    return { ...problem, expected: `${problem.expected} (an entry with nothing after the colon is null)` };
  return problem;
}
