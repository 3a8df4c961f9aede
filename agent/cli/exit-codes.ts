/** Exit codes of the `fieldmesh` command; documented in README.md and `fieldmesh --help`. */
export const EXIT = {
  ok: 0,
  /** Something unexpected: a bug; the message says where to look. */
  failure: 1,
  /** Wrong command line: unknown command or flag, missing argument. */
  usage: 2,
  /** The configuration file is missing, unreadable or invalid. */
  config: 3,
  /** A part could not start: port in use, broker unreachable, no pipeline could run. */
  unavailable: 4,
  /** An input file (model, manifest, key) is invalid. */
  input: 5,
  /** `fieldmesh status`: the node's API answers, but the node is not ready (reasons printed). */
  notReady: 6,
} as const;

export const EXIT_HELP = `Exit codes:
  0  success (also after Ctrl-C or SIGTERM: a clean stop)
  1  unexpected failure (a bug: please report it with the log)
  2  usage error: unknown command or flag, missing argument
  3  configuration file missing, unreadable or invalid
  4  could not start: port in use, broker unreachable, no pipeline could run
  5  an input file (model, manifest, node key) is invalid
  6  status: the node answers but is not ready (the reasons are printed)`;

const BY_CODE: Record<string, number> = {
  CLI_USAGE: EXIT.usage,
  CONFIG_INVALID: EXIT.config,
  CONFIG_UNREADABLE: EXIT.config,
  BROKER_CONFIG_INVALID: EXIT.config,
  MQTT_CONFIG_INVALID: EXIT.config,
  BRIDGE_CONFIG_INVALID: EXIT.config,
  BROKER_LISTEN_FAILED: EXIT.unavailable,
  BROKER_SETUP_FAILED: EXIT.unavailable,
  BROKER_STORAGE_DISK_FAILED: EXIT.unavailable,
  LEVELDB_UNAVAILABLE: EXIT.unavailable,
  BROKER_STORAGE_REDIS_UNREACHABLE: EXIT.unavailable,
  BRIDGE_STORE_FAILED: EXIT.unavailable,
  SETTLEMENT_START_FAILED: EXIT.unavailable,
  SETTLEMENT_STORE_UNAVAILABLE: EXIT.unavailable,
  MQTT_CONNECT_FAILED: EXIT.unavailable,
  AGENT_NOTHING_TO_RUN: EXIT.unavailable,
  MESH_API_LISTEN_FAILED: EXIT.unavailable,
  API_LISTEN_FAILED: EXIT.unavailable,
  STATUS_API_UNREACHABLE: EXIT.unavailable,
  STATUS_API_FAILED: EXIT.unavailable,
  // A missing or wrong token is fixed on the command line (--token), like any usage error.
  STATUS_API_UNAUTHORIZED: EXIT.usage,
  MODEL_FORMAT: EXIT.input,
  MODEL_DIGEST_MISMATCH: EXIT.input,
  MODEL_FILE_MISSING: EXIT.input,
  MANIFEST_INVALID: EXIT.input,
  MANIFEST_UNREADABLE: EXIT.input,
  MANIFEST_SIGNATURE_INVALID: EXIT.input,
  MODEL_PUBLISHER_UNTRUSTED: EXIT.input,
  MODEL_SIGNATURE_MISMATCH: EXIT.input,
  MODEL_BACKEND_UNAVAILABLE: EXIT.config,
  KEY_FILE_INVALID: EXIT.input,
  CREDENTIALS_FILE_INVALID: EXIT.input,
  ACL_INVALID: EXIT.input,
  ACL_UNREADABLE: EXIT.input,
  CREDENTIALS_FILE_UNREADABLE: EXIT.input,
  CREDENTIALS_FILE_UNWRITABLE: EXIT.input,
  FILE_UNREADABLE: EXIT.input,
};

export function exitCodeFor(code: string | undefined): number {
  return (code && BY_CODE[code]) || EXIT.failure;
}
