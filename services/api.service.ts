/**
 * `api`: the moleculer-web gateway. Publishes every versioned domain service's REST routes under /api (auto-aliases
 * from `settings.rest` + each action's `rest`), authenticates `Authorization: Bearer <JWT>` into `ctx.meta.userID`
 * and `ctx.meta.roles`, and answers every error as JSON `{name, message, code, type, data}` without a stack trace
 * (docs/architecture.md, "Access" and "Errors"). Unauthenticated: GET /api/health, /api/ready, /api/openapi.json.
 * Hardening (docs/architecture.md, "The gateway"): a token bucket per verified userID (failed authentications: per
 * client address) answering 429 with Retry-After, one audit line per change on the "audit" logger, and security
 * headers on every answer.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { performance } from "node:perf_hooks";
import type { Context, Logger, Service, ServiceSchema } from "moleculer";
import { Errors } from "moleculer";
import type { ApiRouteSchema, ApiSettingsSchema, CorsOptions } from "moleculer-web";
import ApiGateway from "moleculer-web";
import { decodeJwt } from "jose";
import { auditEntry, isAudited } from "../lib/audit.ts";
import { bearerToken, verifyToken, loadJwtSecret, type Identity } from "../lib/auth.ts";
import { readConfig } from "../lib/config.ts";
import { createRateLimiter, rateLimitFromEnv, type RateLimit, type RateLimiter } from "../lib/ratelimit.ts";
import { AliasIndex, type ResolvableAlias, type ResolvedAlias } from "../lib/alias-index.ts";
import { jsonOf, markAnswerSerializer } from "../lib/shared-answer.ts";
import { TurnBatchedResponse } from "../lib/turn-batched-response.ts";
import { invalid, unauthorized } from "../lib/errors.ts";
import type { CallerMeta } from "../lib/meta.ts";
import {
  buildOpenApi,
  normalizeRule,
  type OpenApiAction,
  type OpenApiDocument,
  type OpenApiRoute,
} from "../lib/openapi.ts";

declare module "moleculer" {
  interface ActionSchema {
    /** ms a call of the action may take (0 = no limit), else the broker's requestTimeout: moleculer reads it, its types omit it. */
    timeout?: number;
  }
}

/** What `GET /api/health` answers. */
export interface HealthResult {
  status: "ok";
}

/** One `*.readiness` action's answer, as `GET /api/ready` reports it. */
export interface ReadinessCheck {
  ready: boolean;
  checks?: unknown;
  error?: { name: string; message: string; code: number; type: string | null };
}

/** What `GET /api/ready` answers (HTTP 200 when `status` is "ready", else 503). */
export interface ReadyResult {
  status: "ready" | "unavailable";
  broker: "started" | "stopped";
  checks: Record<string, ReadinessCheck>;
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  name: string;
  message: string;
  code: number;
  type: string | null;
  data: unknown;
}

export interface Settings extends ApiSettingsSchema {
  /** Listening port; 0 = any free port (tests). Default: readConfig().port. */
  port?: number;
  /** Listening address. */
  ip: string;
  /** Action masks the authenticated route publishes (only versioned domain services). */
  publish: string[];
  /** Largest JSON body, e.g. "1mb"; null = readConfig().bodyLimit. */
  bodyLimit: string | null;
  /** JWT key; null = readConfig().jwtSecret, else the secret generated under dataDir. Never published. */
  jwtSecret: string | null;
  /** Where the generated JWT secret is kept; null = readConfig().dataDir. */
  dataDir: string | null;
  /** Origins allowed by CORS; null = CORS_ORIGINS (comma-separated), unset = CORS off. */
  corsOrigins: string[] | null;
  /** Milliseconds each `*.readiness` action may take. */
  readinessTimeout: number;
  /**
   * Requests per second and burst per caller (verified userID; client address for failed authentications);
   * rate 0 = off; null = RATE_LIMIT and RATE_LIMIT_BURST (default 50/s, burst 100). Admins get the same budget.
   * (Not named `rateLimit`: moleculer-web reads that setting for its own fixed-window limiter.)
   */
  requestRateLimit: RateLimit | null;
}

type GatewayMeta = CallerMeta & { $statusCode?: number };

/** What the gateway keeps of a change between its call and its answer, for the audit line. */
interface PendingAudit {
  identity: Identity;
  action: string;
  method: string;
  url: string;
  params: unknown;
  requestID: string | undefined;
  start: number;
  result?: unknown;
}

/** The parts of a moleculer-web alias the gateway reads (its typings omit `fullPath`). */
interface GatewayAlias extends ResolvableAlias {
  action: string | null;
  route: { opts: { name?: string; pathToRegexpOptions?: Record<string, unknown> } };
}

/** moleculer-web's request: the node request plus the fields it sets. */
type GatewayRequest = IncomingMessage & {
  originalUrl?: string;
  $params?: unknown;
  $action?: { name?: unknown; params?: unknown };
};

interface HttpError {
  status: number;
  body: ErrorBody;
  retryable: boolean;
}

interface Methods {
  createServer(): void;
  authenticate(ctx: Context<unknown, GatewayMeta>, req: GatewayRequest): Promise<Identity>;
  beforeCall(ctx: Context<unknown, GatewayMeta>, req: GatewayRequest, res: ServerResponse): Promise<void>;
  spend(limiter: RateLimiter, key: string): void;
  startAudit(
    ctx: Context<unknown, GatewayMeta>,
    identity: Identity,
    action: string,
    req: GatewayRequest,
    res: ServerResponse,
  ): void;
  authorize(ctx: Context<unknown, GatewayMeta>): void;
  errorHandler(req: GatewayRequest, res: ServerResponse, err: unknown): void;
  sendHttpError(req: GatewayRequest, res: ServerResponse, err: unknown): void;
  openApiDocument(): OpenApiDocument;
  encodeResponse(req: GatewayRequest, res: ServerResponse, data: unknown): string;
  resolveAlias(url: string, method?: string): ResolvedAlias<GatewayAlias>;
  optimizeAliasesOrder(): void;
}

interface LocalVars {
  server: Server;
  /** moleculer-web's: whether `server` is HTTPS (never, see createServer). */
  isHTTPS: boolean;
  /** moleculer-web's request handler (the method its createServer gives the server). */
  httpHandler(req: IncomingMessage, res: ServerResponse): Promise<void>;
  aliases: GatewayAlias[];
  /** The index of `aliases` that resolveAlias uses; rebuilt when the list changes (see resolveAlias). */
  aliasIndex: AliasIndex<GatewayAlias> | undefined;
  jwtSecret: string;
  /** Buckets per verified userID. */
  userLimiter: RateLimiter;
  /** Buckets per client address, spent by failed authentications only (kept apart: address churn cannot evict users). */
  addressLimiter: RateLimiter;
  auditLogger: Logger;
  /** Changes under way, by request (a WeakMap: nothing to clean up). */
  pendingAudits: WeakMap<IncomingMessage, PendingAudit>;
  /** Authorization headers whose token was verified lately (see `authenticate`). */
  verifiedTokens: Map<string, { identity: Identity; until: number }>;
}

type ApiThis = Service<Settings> & Methods & LocalVars;

const PUBLIC_ROUTE = "public";
/** How long a verified token is taken as verified (never past its `exp`), and how many are kept (then all forgotten). */
const VERIFIED_TOKEN_TTL_MS = 30_000;
const VERIFIED_TOKENS_MAX = 10_000;
const PUBLIC_ACTIONS = { health: "api.health", ready: "api.ready", openapi: "api.openapi" } as const;
const RETRY_AFTER_SECONDS = 5;

/**
 * Sent with every answer, errors and probes included: no MIME sniffing, nothing cached (answers are per caller),
 * no framing, no referrer. Node's http server adds no X-Powered-By and neither does moleculer-web.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-store",
  "X-Frame-Options": "DENY",
  "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
  "Referrer-Policy": "no-referrer",
};
/** SECURITY_HEADERS as a list, made once: every answer sets them (an Object.entries per request was measurable). */
const SECURITY_HEADER_LIST: readonly (readonly [string, string])[] = Object.entries(SECURITY_HEADERS);

/**
 * Whether `logger.debug` provably writes nothing: no newLogEntry middleware hook, and every appender's level for the
 * module is above debug (moleculer gives such a logger a function that filters each line out, but only after the
 * caller has built the line). Unknown appenders count as logging.
 */
export function debugIsSilent(logger: Logger, mod: string, hasLogEntryHook: boolean): boolean {
  if (hasLogEntryHook) return false;
  const appenders = (logger as { appenders?: unknown }).appenders;
  if (!Array.isArray(appenders)) return false;
  return appenders.every((appender: unknown) => {
    const getLevel = (appender as { getLogLevel?: unknown }).getLogLevel;
    if (typeof getLevel !== "function") return false;
    const level: unknown = getLevel.call(appender, mod);
    return level === null || level === "fatal" || level === "error" || level === "warn" || level === "info";
  });
}

/** 429 RATE_LIMITED with the whole seconds to wait (also sent as Retry-After). */
function rateLimited(retryAfter: number): Errors.MoleculerClientError {
  return new Errors.MoleculerClientError(`Too many requests: retry in ${retryAfter} s`, 429, "RATE_LIMITED", {
    retryAfter,
  });
}

/** The address the request came from (X-Forwarded-For is not trusted: any client can write it). */
function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "unknown";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function serviceUnavailable(action: unknown): HttpError {
  const name = typeof action === "string" ? action : undefined;
  return {
    status: 503,
    retryable: true,
    body: {
      name: "ServiceUnavailableError",
      message: name === undefined ? "Service unavailable" : `Service unavailable: '${name}' cannot be reached`,
      code: 503,
      type: "SERVICE_UNAVAILABLE",
      data: name === undefined ? null : { action: name },
    },
  };
}

/**
 * Any thrown value as the HTTP answer: status = code when 400-599 else 500; a missing service → retryable 503;
 * body-parser errors → 400/413; 5xx other than retryable 503s lose their message and data.
 */
function httpErrorOf(err: unknown): HttpError {
  const e: Record<string, unknown> = isRecord(err) ? err : { message: String(err) };
  let name = typeof e["name"] === "string" ? e["name"] : "Error";
  let message = typeof e["message"] === "string" ? e["message"] : "";
  const rawCode = typeof e["code"] === "number" ? e["code"] : e["status"];
  let code = typeof rawCode === "number" && Number.isInteger(rawCode) ? rawCode : 500;
  let type = typeof e["type"] === "string" ? e["type"] : null;
  let data: unknown = e["data"] ?? null;
  const retryable = e["retryable"] === true;

  if (type === "SERVICE_NOT_FOUND" || type === "SERVICE_NOT_AVAILABLE" || name === "ServiceUnavailableError") {
    return serviceUnavailable(isRecord(data) ? data["action"] : undefined);
  }
  // body-parser's errors, which moleculer-web wraps keeping their status and dotted type.
  if (type === "entity.parse.failed") {
    [name, message, code, type, data] = ["BadRequestError", "Invalid JSON in request body", 400, "INVALID_JSON", null];
  } else if (type === "entity.too.large") {
    [name, message, code, type, data] = [
      "PayloadTooLargeError",
      "Request body too large",
      413,
      "PAYLOAD_TOO_LARGE",
      null,
    ];
  } else if (type !== null && /^[a-z]+(\.[a-z]+)+$/.test(type)) {
    type = type.toUpperCase().replace(/\./g, "_");
  }

  // The validator adds the nodeID (a host name) to each issue; callers need the field, rule and value only.
  if (Array.isArray(data)) {
    data = data.map((item: unknown) => {
      if (!isRecord(item) || !("nodeID" in item)) return item;
      const { nodeID: _nodeID, ...rest } = item;
      return rest;
    });
  }

  const status = code >= 400 && code <= 599 ? code : 500;
  if (status >= 500 && !(retryable && status === 503)) {
    message = STATUS_CODES[status] ?? "Internal Server Error";
    if (status === 500) name = "InternalServerError";
    data = null;
  }
  return { status, retryable, body: { name, message, code: status, type, data } };
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * `parser`, run only for a request with a `Transfer-Encoding` or `Content-Length` header; any other request has no body
 * (RFC 9112 6.3), and body-parser would only find that out itself, a few debug calls later. That was ~2% of the
 * gateway's busy time under a load of GETs (docs/performance.md change 60); every request that may have a body still
 * goes through body-parser, which decides as before (a `Content-Length: 0` is parsed as an empty body).
 */
function onlyWithBody(parser: Middleware): Middleware {
  return (req, res, next) => {
    if (req.headers["transfer-encoding"] === undefined && req.headers["content-length"] === undefined) next();
    else parser(req, res, next);
  };
}

/**
 * body-parser's errors (bad JSON, too large, a Content-Encoding that does not decode, a charset it does not know) as
 * client errors keeping their HTTP status. Without this, moleculer-web re-wraps a non-moleculer error with `err.code`
 * as its code, and zlib's string codes (`Z_DATA_ERROR`) made a corrupt gzip/deflate/br body a 500.
 */
function bodyReadError(err: unknown): unknown {
  if (!isRecord(err) || err instanceof Errors.MoleculerError) return err;
  const status = typeof err["status"] === "number" ? err["status"] : err["statusCode"];
  if (typeof status !== "number" || status < 400 || status > 499) return err;
  const type = typeof err["type"] === "string" ? err["type"] : "INVALID_BODY";
  const detail = typeof err["message"] === "string" ? err["message"] : "";
  const message = type === "INVALID_BODY" ? `Request body could not be read: ${detail}` : detail;
  return new Errors.MoleculerClientError(message, status, type);
}

/**
 * The field path of a param that fastest-validator would crash on, if any. A rule with `convert: true` runs
 * Number()/String() on the value, which throws a TypeError (answered 500) for an object whose own `toString` is not a
 * function: `{"replicas": {"toString": 1}}`, `?page[toString]=1`. Such a value is never valid there.
 */
export function unconvertibleParam(schema: unknown, params: unknown, prefix = ""): string | undefined {
  if (!isRecord(schema) || !isRecord(params)) return undefined;
  if (prefix === "" && !mayConvert(schema)) return undefined;
  for (const [key, raw] of Object.entries(schema)) {
    if (key.startsWith("$$") || !Object.hasOwn(params, key)) continue;
    const found = unconvertibleValue(normalizeRule(raw), params[key], `${prefix}${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Per action params schema: whether any of its rules may hold `convert` (most read actions' have none). */
const schemasThatMayConvert = new WeakMap<object, boolean>();

/**
 * Whether `convert` appears anywhere in the schema (a rule's `convert: true`, or a shorthand such as
 * "number|convert"), found once per schema object: the walk below normalizes every rule of the schema on every
 * request, which is wasted on the schemas with no conversion at all. An unreadable schema counts as converting.
 */
function mayConvert(schema: Record<string, unknown>): boolean {
  let known = schemasThatMayConvert.get(schema);
  if (known === undefined) {
    try {
      known = JSON.stringify(schema).includes("convert");
    } catch {
      known = true;
    }
    schemasThatMayConvert.set(schema, known);
  }
  return known;
}

function unconvertibleValue(rule: Record<string, unknown>, value: unknown, path: string): string | undefined {
  if (rule["convert"] === true && isRecord(value) && Object.hasOwn(value, "toString")) {
    if (typeof value["toString"] !== "function") return path;
  }
  if (rule["type"] === "multi" && Array.isArray(rule["rules"])) {
    for (const sub of rule["rules"]) {
      const found = unconvertibleValue(normalizeRule(sub), value, path);
      if (found !== undefined) return found;
    }
  }
  if (rule["type"] === "object" && isRecord(rule["props"])) return unconvertibleParam(rule["props"], value, `${path}.`);
  if (rule["type"] === "array" && rule["items"] !== undefined && Array.isArray(value)) {
    const items = normalizeRule(rule["items"]);
    for (const [i, item] of value.entries()) {
      const found = unconvertibleValue(items, item, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The JSON answer written straight to the socket when Node's HTTP parser refuses a request (no req/res exist). */
function parserErrorAnswer(code: string | undefined): string {
  const [status, name, type, message] =
    code === "HPE_HEADER_OVERFLOW"
      ? [431, "RequestHeaderFieldsTooLargeError", "HEADERS_TOO_LARGE", "Request line or headers too large"]
      : code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "RequestTimeoutError", "REQUEST_TIMEOUT", "Request not received in time"]
        : [400, "BadRequestError", "BAD_REQUEST", "Malformed HTTP request"];
  const body = JSON.stringify({ name, message, code: status, type, data: null });
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`,
    "Content-Type: application/json; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    "Connection: close",
    ...SECURITY_HEADER_LIST.map(([k, v]) => `${k}: ${v}`),
  ];
  return `${head.join("\r\n")}\r\n\r\n${body}`;
}

function pathOf(url: string | undefined): string {
  const raw = url ?? "";
  const q = raw.indexOf("?");
  return q === -1 ? raw : raw.slice(0, q);
}

/** The gateway's two routes under /api: public probes and docs, and the authenticated domain routes. */
function gatewayRoutes(settings: Settings, bodyLimit: string): ApiRouteSchema[] {
  return [
    {
      name: PUBLIC_ROUTE,
      path: "/api",
      aliases: {
        "GET /health": PUBLIC_ACTIONS.health,
        "GET /ready": PUBLIC_ACTIONS.ready,
        "GET /openapi.json": PUBLIC_ACTIONS.openapi,
      },
      whitelist: Object.values(PUBLIC_ACTIONS),
      mappingPolicy: "restrict",
      bodyParsers: false,
      callOptions: { retries: 0 },
      logging: false,
    },
    {
      name: "domain",
      path: "/api",
      autoAliases: true,
      mappingPolicy: "restrict",
      whitelist: settings.publish,
      // moleculer-web's per-request log lines are off (settings.logRequest/logResponse: null), but with `logging` on it
      // still formats each answer's duration (hrtime, toFixed, colours) before finding that out; created() writes the line.
      logging: false,
      // Authentication, rate limiting and the start of the audit run as onBeforeCall (not moleculer-web's
      // `authentication`, which would also copy the identity into ctx.meta.user and log it); `authorization` then
      // re-checks that a userID is set.
      onBeforeCall(
        this: ApiThis,
        ctx: Context<unknown, GatewayMeta>,
        _route: unknown,
        req: GatewayRequest,
        res: ServerResponse,
      ) {
        return this.beforeCall(ctx, req, res);
      },
      onAfterCall(
        this: ApiThis,
        _ctx: unknown,
        _route: unknown,
        req: GatewayRequest,
        _res: ServerResponse,
        data: unknown,
      ) {
        const pending = this.pendingAudits.get(req);
        if (pending !== undefined) pending.result = data;
        return data;
      },
      authorization: true,
      // moleculer-web's `bodyParsers` would run body-parser's JSON parser on every request; it runs here only on those
      // that announce a body (see onlyWithBody).
      bodyParsers: false,
      use: [
        onlyWithBody(ApiGateway.bodyParser.json({ limit: bodyLimit, strict: true })),
        // an error middleware (4 parameters) is called only with the parser's errors
        (err: unknown, _req: IncomingMessage, _res: ServerResponse, next: (err?: unknown) => void) =>
          next(bodyReadError(err)),
      ],
    },
  ];
}

const schema: ServiceSchema<Settings, Methods, LocalVars> & {
  merged?: (this: Service, schema: ServiceSchema<Settings>) => void;
} = {
  name: "api",
  mixins: [ApiGateway],

  settings: {
    $secureSettings: ["jwtSecret"],
    ip: "0.0.0.0",
    publish: ["v1.k8s.**"],
    bodyLimit: null,
    jwtSecret: null,
    dataDir: null,
    corsOrigins: null,
    readinessTimeout: 5000,
    requestRateLimit: null,
    // One debug line per request is written by created(); moleculer-web's own lines (params included) stay off.
    logRequest: null,
    logRequestParams: null,
    logResponse: null,
    logResponseData: null,
    logRouteRegistration: "debug",
    log4XXResponses: false,
    onError(this: ApiThis, req: GatewayRequest, res: ServerResponse, err: unknown) {
      this.sendHttpError(req, res, err);
    },
  },

  actions: {
    /**
     * moleculer-web's own entry point (its handler comes from the mixin), taken out of the broker's retryPolicy: the
     * actions it calls are retried on their own, and a retry of the whole HTTP request after their retryable 503 found
     * no route any more and answered 404 instead of that 503. No timeout of its own either: the action it calls has
     * the broker's (requestTimeout, a 504 when it runs out), and a timer per request on top of that one cost ~1.5% of a
     * read's CPU (docs/performance.md, change 52).
     */
    rest: { retryPolicy: { enabled: false }, timeout: 0 },

    /** Liveness: the process answers. REST: GET /api/health (public). @throws nothing */
    health: {
      description: "Liveness: the gateway process answers",
      handler(): HealthResult {
        return { status: "ok" };
      },
    },

    /**
     * Readiness: the broker is started and every `*.readiness` action in the registry resolves; else HTTP 503
     * naming the failed checks. REST: GET /api/ready (public). @throws nothing (answers 503 instead)
     */
    ready: {
      description: "Readiness: the broker is started and every service's readiness check passes (else 503)",
      async handler(this: ApiThis, ctx: Context<unknown, GatewayMeta>): Promise<ReadyResult> {
        const names = [
          ...new Set(
            this.broker.registry
              .getActionList({ onlyAvailable: true, skipInternal: true })
              .map((item) => item.name)
              .filter((n) => n.endsWith(".readiness")),
          ),
        ].sort();
        const checks: Record<string, ReadinessCheck> = {};
        await Promise.all(
          names.map(async (name) => {
            try {
              const result: unknown = await ctx.call(name, {}, { timeout: this.settings.readinessTimeout, retries: 0 });
              const ready = !isRecord(result) || result["ready"] !== false;
              checks[name] = { ready, ...(isRecord(result) && "checks" in result ? { checks: result["checks"] } : {}) };
            } catch (err) {
              const { body } = httpErrorOf(err);
              checks[name] = {
                ready: false,
                error: { name: body.name, message: body.message, code: body.code, type: body.type },
              };
            }
          }),
        );
        const started = this.broker.started && !this.broker.stopping;
        const ready = started && Object.values(checks).every((c) => c.ready);
        if (!ready) ctx.meta.$statusCode = 503;
        return { status: ready ? "ready" : "unavailable", broker: started ? "started" : "stopped", checks };
      },
    },

    /** The OpenAPI 3.1 document of every published route. REST: GET /api/openapi.json (public). @throws nothing */
    openapi: {
      description: "This OpenAPI 3.1 document: every published route with its parameters",
      handler(this: ApiThis): OpenApiDocument {
        return this.openApiDocument();
      },
    },
  },

  methods: {
    /**
     * Replaces moleculer-web's: the same plain HTTP server (the gateway serves HTTP; TLS ends in front of it) with its
     * timeouts, whose answers are written once per event-loop turn, all together (lib/turn-batched-response.ts).
     */
    createServer(this: ApiThis): void {
      if (this.server !== undefined) return;
      this.server = createServer({ ServerResponse: TurnBatchedResponse }, this.httpHandler);
      this.isHTTPS = false;
      if (this.settings.httpServerTimeout) this.server.setTimeout(this.settings.httpServerTimeout);
      if (this.settings.requestTimeout !== undefined) this.server.requestTimeout = this.settings.requestTimeout;
    },

    /**
     * Replaces moleculer-web's linear scan of every alias (each tried with its regex, deepest path first) with
     * lib/alias-index.ts, which answers the same alias from the few that can match the path. moleculer-web changes the
     * list by replacing it or pushing onto it, then re-sorting it (optimizeAliasesOrder, below): the index is rebuilt
     * on the first request after any of these.
     */
    resolveAlias(this: ApiThis, url: string, method = "GET"): ResolvedAlias<GatewayAlias> {
      let index = this.aliasIndex;
      if (index === undefined || !index.describes(this.aliases)) {
        index = new AliasIndex(this.aliases);
        this.aliasIndex = index;
      }
      return index.resolve(url, method);
    },

    /** moleculer-web's sort of the aliases, which also makes the alias index stale. */
    optimizeAliasesOrder(this: ApiThis): void {
      (ApiGateway.methods as { optimizeAliasesOrder(this: ApiThis): void }).optimizeAliasesOrder.call(this);
      this.aliasIndex = undefined;
    },

    /**
     * Verifies the request's bearer token, or throws a 401. Sets ctx.meta.userID and ctx.meta.roles.
     *
     * A token verified in the last VERIFIED_TOKEN_TTL_MS (and not past its `exp`) is not verified again: the HMAC
     * verification through WebCrypto was ~20% of the gateway's CPU for a read served from the watch cache
     * (docs/performance.md). The cache holds only headers whose token passed verifyToken, keyed by the whole
     * Authorization header (the token is a function of it), so a header seen lately is not parsed again either.
     */
    async authenticate(ctx: Context<unknown, GatewayMeta>, req: GatewayRequest): Promise<Identity> {
      const header = req.headers.authorization;
      const now = Date.now();
      const cached = header === undefined ? undefined : this.verifiedTokens.get(header);
      let identity: Identity;
      if (cached !== undefined && cached.until > now) {
        identity = { userID: cached.identity.userID, roles: [...cached.identity.roles] };
      } else {
        const token = bearerToken(header);
        identity = await verifyToken(token, this.jwtSecret);
        const exp = decodeJwt(token).exp;
        if (typeof exp === "number" && header !== undefined) {
          if (this.verifiedTokens.size >= VERIFIED_TOKENS_MAX) this.verifiedTokens.clear();
          this.verifiedTokens.set(header, {
            identity: { userID: identity.userID, roles: [...identity.roles] },
            until: Math.min(exp * 1000, now + VERIFIED_TOKEN_TTL_MS),
          });
        }
      }
      ctx.meta.userID = identity.userID;
      ctx.meta.roles = identity.roles;
      return identity;
    },

    /**
     * Before every domain call: authenticate (a failure spends the client address's budget: 429 once it is gone,
     * else the 401), spend the userID's budget (429), and, for a change, arrange its audit line.
     */
    async beforeCall(ctx: Context<unknown, GatewayMeta>, req: GatewayRequest, res: ServerResponse): Promise<void> {
      let identity: Identity;
      try {
        identity = await this.authenticate(ctx, req);
      } catch (err) {
        this.spend(this.addressLimiter, clientAddress(req));
        throw err;
      }
      this.spend(this.userLimiter, identity.userID);
      const field = unconvertibleParam(req.$action?.params, req.$params);
      if (field !== undefined) {
        throw invalid(field, `The '${field}' field must be a scalar, not an object with a 'toString' key.`, "convert");
      }
      // moleculer-web has resolved the action's endpoint before this hook.
      const action = req.$action?.name;
      if (isAudited(req.method) && typeof action === "string") this.startAudit(ctx, identity, action, req, res);
    },

    /** Takes one token of `key`'s bucket or throws 429 RATE_LIMITED. */
    spend(limiter: RateLimiter, key: string): void {
      const decision = limiter.take(key);
      if (!decision.allowed) throw rateLimited(decision.retryAfter);
    },

    /**
     * Writes the change's audit line (lib/audit.ts) on the "audit" logger, at info, once the answer is sent or the
     * client has gone: who, what, which object, the status, when. Never the body beyond its identifying fields.
     */
    startAudit(
      ctx: Context<unknown, GatewayMeta>,
      identity: Identity,
      action: string,
      req: GatewayRequest,
      res: ServerResponse,
    ): void {
      const pending: PendingAudit = {
        identity,
        action,
        method: req.method ?? "?",
        url: req.originalUrl ?? req.url ?? "",
        params: req.$params,
        requestID: ctx.requestID ?? undefined,
        start: performance.now(),
      };
      this.pendingAudits.set(req, pending);
      res.once("close", () => {
        this.pendingAudits.delete(req);
        const entry = auditEntry({
          userID: pending.identity.userID,
          roles: pending.identity.roles,
          action: pending.action,
          method: pending.method,
          url: pending.url,
          params: pending.params,
          ...(pending.result === undefined ? {} : { result: pending.result }),
          status: res.writableFinished ? res.statusCode : null,
          time: new Date(),
          durationMs: performance.now() - pending.start,
          ...(pending.requestID === undefined ? {} : { requestID: pending.requestID }),
        });
        this.auditLogger.info(entry);
      });
    },

    /** moleculer-web's authorization hook: no request reaches an action without a userID (services trust those). */
    authorize(ctx: Context<unknown, GatewayMeta>): void {
      if (typeof ctx.meta.userID !== "string" || ctx.meta.userID === "") throw unauthorized("Missing bearer token");
    },

    /** Replaces moleculer-web's handler so that errors are logged once, by sendHttpError. */
    errorHandler(req: GatewayRequest, res: ServerResponse, err: unknown): void {
      this.sendHttpError(req, res, err);
    },

    /** Writes the JSON error answer; logs 5xx with their stack, 4xx not at all. */
    sendHttpError(req: GatewayRequest, res: ServerResponse, err: unknown): void {
      const { status, body, retryable } = httpErrorOf(err);
      if (status >= 500) {
        this.logger.error(`${req.method ?? "?"} ${pathOf(req.originalUrl ?? req.url)} -> ${status}:`, err);
      }
      if (res.headersSent) {
        res.end();
        return;
      }
      let json: string;
      try {
        json = JSON.stringify(body);
      } catch {
        json = JSON.stringify({ ...body, data: null });
      }
      res.setHeader("Content-Type", "application/json; charset=utf-8");
      if (status === 401) {
        res.setHeader(
          "WWW-Authenticate",
          req.headers.authorization === undefined ? "Bearer" : 'Bearer error="invalid_token"',
        );
      }
      if (status === 503 && retryable) res.setHeader("Retry-After", String(RETRY_AFTER_SECONDS));
      if (status === 429) {
        const wait = isRecord(body.data) ? body.data["retryAfter"] : undefined;
        res.setHeader("Retry-After", String(typeof wait === "number" && wait >= 1 ? Math.ceil(wait) : 1));
      }
      res.writeHead(status);
      res.end(json);
    },

    /** Replaces moleculer-web's (JSON.stringify): a shared answer's JSON is written once (lib/shared-answer.ts). */
    encodeResponse(_req: GatewayRequest, _res: ServerResponse, data: unknown): string {
      return jsonOf(data);
    },

    /** The OpenAPI document of the aliases the gateway resolves now and the registry's action schemas. */
    openApiDocument(): OpenApiDocument {
      const routes: OpenApiRoute[] = this.aliases.flatMap((alias) =>
        alias.action === null
          ? []
          : [
              {
                method: alias.method,
                path: alias.fullPath,
                action: alias.action,
                public: alias.route.opts.name === PUBLIC_ROUTE,
              },
            ],
      );
      const actions: OpenApiAction[] = this.broker.registry.getActionList({ skipInternal: true }).flatMap((item) => {
        if (item.action === undefined) return [];
        const action: Record<string, unknown> = item.action;
        return [
          { name: item.name, params: action["params"], description: action["description"], openapi: action["openapi"] },
        ];
      });
      return buildOpenApi(routes, actions, {
        title: "moleculer-k8s",
        version: "1",
        description: "Run applications on Kubernetes: namespaces, images, volumes, envs and deployments.",
      });
    },
  },

  /** Fills the settings that come from the environment, before moleculer-web builds its server and routes. */
  merged(this: Service, merged: ServiceSchema<Settings>) {
    const config = readConfig();
    const settings = { ...(merged.settings as Settings) };
    // moleculer-web's own default is the raw PORT string; a number here was set on purpose (0 in tests).
    if (typeof settings.port !== "number") settings.port = config.port;
    const origins =
      settings.corsOrigins ??
      // CORS_ORIGINS is read here, not in lib/config.ts: only the gateway uses it.
      (process.env["CORS_ORIGINS"] ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    const cors: CorsOptions | undefined =
      origins.length === 0
        ? undefined
        : {
            origin: origins,
            methods: ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"],
            allowedHeaders: ["Authorization", "Content-Type"],
            maxAge: 600,
          };
    merged.settings = {
      ...settings,
      ...(cors === undefined ? {} : { cors }),
      routes: gatewayRoutes(settings, settings.bodyLimit ?? config.bodyLimit),
    };
  },

  created() {
    // What the gateway's calls answer is only serialized (encodeResponse): it may be given shared answers.
    markAnswerSerializer(this);
    const config = readConfig();
    this.jwtSecret = loadJwtSecret({
      jwtSecret: this.settings.jwtSecret ?? config.jwtSecret,
      dataDir: this.settings.dataDir ?? config.dataDir,
    });
    // RATE_LIMIT / RATE_LIMIT_BURST are read here, not in lib/config.ts: only the gateway uses them.
    const limit = this.settings.requestRateLimit ?? rateLimitFromEnv(process.env);
    this.userLimiter = createRateLimiter(limit);
    this.addressLimiter = createRateLimiter(limit);
    this.auditLogger = this.broker.getLogger("audit");
    this.pendingAudits = new WeakMap();
    this.verifiedTokens = new Map();
    // The debug line per request (below) costs a string, a timer reading and a "close" listener per request: made
    // only while debug lines can be written. `silentDebug` is the logger's debug function when it provably writes
    // nothing; a logger whose debug is replaced later (tests) logs again.
    const hooks = (this.broker.middlewares as unknown as { registeredHooks?: Record<string, unknown> } | undefined)
      ?.registeredHooks;
    const silentDebug = debugIsSilent(this.logger, this.fullName, hooks?.["newLogEntry"] !== undefined)
      ? this.logger.debug
      : undefined;
    // Before moleculer-web's handler, so that every answer carries the security headers whichever part of the gateway
    // writes it; then one line per request, at debug: method, path (no query string), status, duration. Never the
    // headers.
    this.server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
      for (const [name, value] of SECURITY_HEADER_LIST) res.setHeader(name, value);
      if (this.logger.debug === silentDebug) return;
      const start = performance.now();
      const line = `${req.method ?? "?"} ${pathOf(req.url)}`;
      res.once("close", () => {
        const status = res.writableFinished ? String(res.statusCode) : "aborted";
        this.logger.debug(`${line} ${status} ${(performance.now() - start).toFixed(1)}ms`);
      });
    });
    // A request Node's parser refuses (a request line or headers over --max-http-header-size, malformed HTTP): a JSON
    // answer like every other, then the connection is closed once the client's remaining bytes have been read (closing
    // with unread input would reset the connection before the client reads the answer).
    this.server.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
      if (err.code === "ECONNRESET" || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.resume();
      socket.end(parserErrorAnswer(err.code));
      setTimeout(() => socket.destroy(), 2000).unref();
    });
  },
};

export default schema;
