import type { BatchQos, CardEntry } from '@educard/terminal-sdk';
import type { HttpListenerLimits } from '@educard/terminal-sdk/listeners';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AuditSink, Guard, PrincipalResolver } from '../access/index.js';
import type { DeviceAccounts } from '../broker/index.js';
import type { CommandSender } from '../commands/index.js';
import type { BodyGrants } from '../grants/index.js';
import type { StoreFailure } from '../ingest/index.js';
import type { LibraryHttpDeps } from '../library/index.js';
import type { RosterService } from '../roster/index.js';
import type { BridgeStore, Device } from '../store/index.js';

/** What the HTTP listener takes before authentication, and whom it believes about the client. */
export interface HttpListening {
  limits: HttpListenerLimits & { bodyBytes: number; importBodyBytes: number };
  /** Reverse proxies (addresses, CIDR ranges) whose X-Forwarded-For and -Proto are believed. */
  trustProxy: readonly string[];
}

export interface HttpDeps {
  store: BridgeStore;
  listening: HttpListening;
  roster: RosterService;
  adminToken: string;
  logger: Logger;
  /** What an enrolled device is told about where to connect. */
  mqttUrl: () => string;
  /** The broker's other nodes devices are told at enrollment (none: a single node). */
  mqttFailover: () => string[];
  /** The QoS devices are told to publish their batches with (none: the gateway's default). */
  deviceBatchQos?: BatchQos | undefined;
  /** The broker's device accounts: provisioned at enrollment, removed at revocation (cutting the device off). */
  accounts: DeviceAccounts;
  /**
   * Called after a device is enrolled; on a new epoch the acknowledgement its old key was given is
   * withdrawn, so the new chain never sees it.
   */
  onEnroll?: (device: Device, change: { newEpoch: boolean; previousSchool?: string }) => void;
  /** What /health adds to its answer (the broker's and ingest's state). */
  health: () => Record<string, unknown>;
  /** Since when ingest's commits have failed, while they do: /health answers 503 (Ingest.storeFailure). */
  storeFailure?: () => StoreFailure | undefined;
  /** Signs and sends the commands the admin routes give devices. */
  commands: CommandSender;
  /** The grants body URLs carry: snapshot and catalogue bodies are served to their school's devices only. */
  grants: BodyGrants;
  /** The library's catalogue and loan ledger routes (docs/api.md, "Library"). */
  library?: LibraryHttpDeps;
  /** Who else may call the protected routes besides the admin token (signed-in accounts). */
  resolvers?: PrincipalResolver[];
  /** The schools the bridge knows (rosters and directory), with their names where known. */
  schools?: () => { id: string; name?: string }[];
  /** Where refused and administrative requests are written down. */
  audit: AuditSink;
  /** Routes anyone may call (signing in), registered after the cookie parser. */
  publicRoutes?: ((app: FastifyInstance) => void)[];
  /** Told of every card status change the API makes, after it is published (operations keeps the history). */
  onCardChange?: (change: CardChange) => void;
  /** Signs again, after a key rotation, what else the roster keys sign (the venues' hotlist and plans). */
  onKeysRotated?: () => Promise<unknown>;
  /** More protected routes (attendance, operations, central sync, accounts), each checking its actions. */
  routes?: ((app: ProtectedApp, guard: Guard) => void)[];
}

/** A card status set through the API, and the roster version that carries it to the gates. */
export interface CardChange {
  cardId: string;
  school: string;
  personId: string;
  status: CardEntry['status'];
  version: number;
  actor: string;
  at: string;
}

/** The scope of the protected routes: every request in it has a principal. */
export type ProtectedApp = FastifyInstance;

/** Writes down an administrative action of the request's principal (outcome `ok` unless told). */
export type Audited = (
  request: Parameters<Guard>[0],
  action: string,
  fields: { target?: string; school?: string; outcome?: 'ok' | 'failed'; detail?: Record<string, unknown> },
) => void;

/** What every protected route module is given: the bridge's parts, the action check and the audit. */
export interface RouteContext {
  deps: HttpDeps;
  guard: Guard;
  audited: Audited;
}
