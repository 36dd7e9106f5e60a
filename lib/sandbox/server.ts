/**
 * The sandbox's Kubernetes API server over node:http: authentication, discovery, OpenAPI, and the resource
 * endpoints (list, watch, get, create, replace, patch, delete; status, scale and log subresources; metrics).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { selfSignedCertificate } from "./http/tls.ts";
import fastJsonPatch from "fast-json-patch";
import { isScalar, parseDocument, visit, type Document } from "yaml";
import { combineMatchers, parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import {
  badRequestError,
  conflictError,
  invalidError,
  methodNotAllowedError,
  notFoundError,
  OBJECT_MODIFIED,
  pathNotFoundError,
  StatusError,
  successStatus,
  unauthorizedError,
  unprocessableError,
  unsupportedMediaTypeError,
} from "./status.ts";
import { clone, timestamp, type Store } from "./store.ts";
import { groupVersionOf, REVIEW_KEYS, type KubeObject, type ResourceType } from "./types.ts";
import { Authenticator } from "./http/auth.ts";
import {
  authorize,
  forbiddenError,
  requestAttributes,
  rulesReviewStatus,
  type RequestAttributes,
  type UserInfo,
} from "./http/rbac.ts";
import {
  aggregatedDiscovery,
  AGGREGATED_V2,
  AGGREGATED_V2BETA1,
  apiGroupDoc,
  apiGroupList,
  apiResourceList,
  apiVersions,
  wantsAggregated,
} from "./http/discovery.ts";
import { openAPIDocument, openAPIRoot } from "./http/openapi.ts";
import { toTable, wantsTable } from "./http/table.ts";
import { validateObject } from "./http/validate.ts";
import { applyDefaults, normalizeQuantities } from "./http/defaults.ts";
import { serveWatch } from "./http/watch.ts";
import { decodeProtobuf, PROTOBUF } from "./http/protobuf.ts";
import { fieldValidationOf, validateFields, warningHeader } from "./http/fields.ts";
import {
  checkDepth,
  mediaType,
  parseJSONObject,
  queryFlag,
  queryInt,
  readBody,
  readBodyBuffer,
  sendError,
  sendJSON,
  sendStatus,
} from "./http/util.ts";
import { mergePatch, strategicMergePatch } from "./patch/merge.ts";
import { serverSideApply, trackUpdate } from "./patch/apply.ts";

export const SERVER_VERSION = {
  major: "1",
  minor: "33",
  gitVersion: "v1.33.0-sandbox",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2026-01-01T00:00:00Z",
  goVersion: "go1.24.0",
  compiler: "gc",
  platform: "linux/amd64",
};

export interface LogOptions {
  container?: string;
  tailLines?: number;
  sinceSeconds?: number;
  previous?: boolean;
  timestamps?: boolean;
  limitBytes?: number;
}

/** What the server takes from lib/sandbox/synthetic.ts (pod logs and metrics). */
export interface SyntheticHooks {
  renderPodLog(pod: KubeObject, options: LogOptions, now: Date): string;
  followPodLog(
    store: Store,
    pod: KubeObject,
    options: LogOptions,
    onChunk: (text: string) => void,
    onEnd: () => void,
  ): () => void;
  podMetrics(pod: KubeObject, now: Date): KubeObject | undefined;
}

export interface ApiServerOptions {
  store: Store;
  /** The static bearer token of the admin user (`sandbox-admin`, group system:masters). */
  token: string;
  /** How many requests the audit log keeps (default 10000; the oldest go first). */
  auditLogSize?: number;
  host?: string;
  port?: number;
  hooks?: Partial<SyntheticHooks>;
  bookmarkIntervalMs?: number;
  log?: (line: string) => void;
}

export interface RequestCounts {
  reads: number;
  writes: number;
  watches: number;
  byVerb: Record<string, number>;
}

/** One request as the audit log keeps it (what kube-apiserver's audit events say of it). */
export interface AuditEntry {
  time: string;
  /** "system:anonymous" when no valid token came with the request. */
  user: string;
  groups: string[];
  /** get, list, watch, create, update, patch, delete, deletecollection; the lower-cased method for non-resource paths. */
  verb: string;
  resourceRequest: boolean;
  path: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** The HTTP status answered (for a watch or a log follow: when its headers were sent). */
  code: number;
}

const ANONYMOUS: UserInfo = { name: "system:anonymous", groups: ["system:unauthenticated"] };
/** Paths anyone may GET (system:public-info-viewer is bound to system:unauthenticated). */
const PUBLIC_PATHS = new Set(["/version", "/healthz", "/readyz", "/livez"]);

interface Target {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const PATCH_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml",
];
const BODY_TYPES = ["application/json", "application/yaml"];
const READ_VERBS = new Set(["get", "list"]);
const METRICS_GROUP = "metrics.k8s.io";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class ApiServer {
  readonly store: Store;
  private readonly authenticator: Authenticator;
  private readonly audit: AuditEntry[] = [];
  private readonly auditLogSize: number;
  /** The authorized attributes of each request in flight (SSA's create-on-apply is authorized again as create). */
  private readonly attributes = new WeakMap<IncomingMessage, RequestAttributes>();
  private readonly host: string;
  private readonly port: number;
  private readonly hooks: Partial<SyntheticHooks>;
  private readonly bookmarkIntervalMs: number;
  private readonly log: (line: string) => void;
  private servers: { listener: NetServer; http: Server; https: HttpsServer; sockets: Set<Socket> } | undefined;
  private readonly streams = new Set<() => void>();
  private readonly counts: RequestCounts = { reads: 0, writes: 0, watches: 0, byVerb: {} };
  private address = "";

  constructor(options: ApiServerOptions) {
    this.store = options.store;
    this.authenticator = new Authenticator(options.token, (namespace, name) =>
      this.store.getRef("serviceaccounts", namespace, name),
    );
    this.auditLogSize = Math.max(1, options.auditLogSize ?? 10000);
    this.host = options.host ?? "127.0.0.1";
    this.port = options.port ?? 0;
    this.hooks = options.hooks ?? {};
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 15000;
    this.log = options.log ?? (() => undefined);
  }

  /**
   * Starts listening; resolves with the base URL (http). The same port also speaks https (a self-signed
   * certificate): kubectl sends its bearer token only over https, so the kubeconfig points there.
   */
  async start(): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        if (!(err instanceof StatusError)) {
          // a bug, not a bad request: say where (the client gets a 500 Status)
          this.log(
            `sandbox: ${req.method ?? "?"} ${req.url ?? "?"} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
          );
        }
        try {
          sendError(res, err);
        } catch {
          res.destroy();
        }
      });
    };
    // Go's net/http (kube-apiserver) takes 1 MB of request line and headers; Node's default, 16 KB, refused the long
    // label selectors that a real cluster accepts (431)
    const http = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, handler);
    http.keepAliveTimeout = 30000;
    const { key, cert } = selfSignedCertificate();
    const https = createHttpsServer({ key, cert, maxHeaderSize: MAX_HEADER_BYTES }, handler);
    https.keepAliveTimeout = 30000;
    const sockets = new Set<Socket>();
    const listener = createNetServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      // a connection that never says anything is dropped; once dispatched, the http(s) server's timeouts apply
      const silent = (): void => {
        socket.destroy();
      };
      socket.setTimeout(30000, silent);
      socket.once("data", (first: Buffer) => {
        socket.setTimeout(0);
        socket.off("timeout", silent);
        socket.pause();
        socket.unshift(first);
        (first[0] === 0x16 ? https : http).emit("connection", socket);
        process.nextTick(() => socket.resume());
      });
    });
    this.servers = { listener, http, https, sockets };
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(this.port, this.host, () => {
        listener.off("error", reject);
        resolve();
      });
    });
    const { port } = listener.address() as AddressInfo;
    this.address = `${this.host}:${port}`;
    return `http://${this.address}`;
  }

  /** The https URL of the same port. */
  secureUrl(): string {
    return `https://${this.address}`;
  }

  async stop(): Promise<void> {
    for (const end of [...this.streams]) end();
    const servers = this.servers;
    if (servers === undefined) return;
    this.servers = undefined;
    const closed = new Promise<void>((resolve) => servers.listener.close(() => resolve()));
    servers.http.closeAllConnections();
    servers.https.closeAllConnections();
    for (const socket of servers.sockets) socket.destroy();
    await closed;
  }

  /** Ends every open watch and log stream (as an apiserver restart would); returns how many were open. */
  dropStreams(): number {
    const open = [...this.streams];
    for (const end of open) end();
    return open.length;
  }

  /** The audit trail: one entry per request, oldest first (at most auditLogSize). */
  auditLog(): AuditEntry[] {
    return this.audit.slice(-this.auditLogSize).map((e) => ({ ...e, groups: [...e.groups] }));
  }

  /** Starts the audit entry of a request; its code is filled in when the response head is written. */
  private record(res: ServerResponse, attrs: RequestAttributes): void {
    const entry: AuditEntry = {
      time: new Date().toISOString(),
      user: attrs.user.name,
      groups: [...attrs.user.groups],
      verb: attrs.verb,
      resourceRequest: attrs.resourceRequest,
      path: attrs.path,
      apiGroup: attrs.apiGroup,
      resource: attrs.resource,
      subresource: attrs.subresource,
      namespace: attrs.namespace,
      name: attrs.name,
      code: 0,
    };
    this.audit.push(entry);
    // trimmed in batches (a tenth of the size at a time), so that a full log costs no copy per request
    if (this.audit.length >= this.auditLogSize + Math.ceil(this.auditLogSize / 10)) {
      this.audit.splice(0, this.audit.length - this.auditLogSize);
    }
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
    res.writeHead = ((...args: unknown[]) => {
      if (entry.code === 0 && typeof args[0] === "number") entry.code = args[0];
      return writeHead(...args);
    }) as typeof res.writeHead;
    res.once("close", () => {
      if (entry.code === 0) entry.code = res.statusCode;
    });
  }

  requestCounts(): RequestCounts {
    return { ...this.counts, byVerb: { ...this.counts.byVerb } };
  }

  private count(verb: string): void {
    this.counts.byVerb[verb] = (this.counts.byVerb[verb] ?? 0) + 1;
    if (verb === "watch") this.counts.watches++;
    else if (READ_VERBS.has(verb)) this.counts.reads++;
    else this.counts.writes++;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(`http://sandbox${(req.url ?? "/").startsWith("/") ? "" : "/"}${req.url ?? ""}`);
    } catch {
      return sendStatus(res, badRequestError("invalid request URL").status);
    }
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const query = url.searchParams;
    const method = (req.method ?? "GET").toUpperCase();

    // authentication, then authorization (RBAC), before anything is routed, as kube-apiserver's filters do
    const user = await this.authenticator.authenticate(req.headers.authorization);
    const attrs = requestAttributes(user ?? ANONYMOUS, method, url.pathname, query);
    this.record(res, attrs);
    const open = method === "GET" && PUBLIC_PATHS.has(path);
    if (open && path === "/version") return sendJSON(res, 200, SERVER_VERSION);
    if (open) {
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("ok");
      return;
    }
    if (user === undefined) return sendStatus(res, unauthorizedError().status);
    if (!authorize(this.store, attrs)) throw forbiddenError(attrs);
    this.attributes.set(req, attrs);

    const types = this.store.types.all();
    const accept = req.headers.accept;
    if (method === "GET") {
      if (path === "/api" || path === "/apis") {
        const aggregated = wantsAggregated(accept);
        if (aggregated !== undefined) {
          return sendJSON(
            res,
            200,
            aggregatedDiscovery(types, path === "/api", aggregated),
            aggregated === "v2" ? AGGREGATED_V2 : AGGREGATED_V2BETA1,
          );
        }
        return sendJSON(res, 200, path === "/api" ? apiVersions(this.address) : apiGroupList(types));
      }
      if (path === "/openapi/v3") return sendJSON(res, 200, openAPIRoot(types));
      if (path.startsWith("/openapi/v3/")) {
        const doc = openAPIDocument(types, path.slice("/openapi/v3/".length));
        return doc === undefined ? sendStatus(res, pathNotFoundError().status) : sendJSON(res, 200, doc);
      }
    }

    const segments = path
      .split("/")
      .filter((s) => s !== "")
      .map(decodeSegment);
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === "api" && segments.length >= 2) {
      group = "";
      version = segments[1] ?? "";
      rest = segments.slice(2);
    } else if (segments[0] === "apis" && segments.length >= 3) {
      group = segments[1] ?? "";
      version = segments[2] ?? "";
      rest = segments.slice(3);
    } else if (segments[0] === "apis" && segments.length === 2 && method === "GET") {
      const doc = apiGroupDoc(types, segments[1] ?? "");
      return doc === undefined ? sendStatus(res, pathNotFoundError().status) : sendJSON(res, 200, doc);
    } else {
      return sendStatus(res, pathNotFoundError().status);
    }
    if (rest.length === 0) {
      const list = method === "GET" ? apiResourceList(types, group, version) : undefined;
      return list === undefined ? sendStatus(res, pathNotFoundError().status) : sendJSON(res, 200, list);
    }
    let watchPath = false;
    if (rest[0] === "watch") {
      watchPath = true;
      rest = rest.slice(1);
    }
    const target = this.resolve(group, version, rest);
    if (target === undefined) return sendStatus(res, pathNotFoundError().status);
    if (group === METRICS_GROUP) return this.metrics(res, method, target, query);
    return this.resource(req, res, method, target, query, watchPath);
  }

  /** Maps the path after /api/v1 or /apis/<g>/<v> to a resource, namespace, name and subresource. */
  private resolve(group: string, version: string, rest: string[]): Target | undefined {
    const types = this.store.types;
    if (rest[0] === "namespaces" && rest.length >= 3) {
      const rt = types.byResource(group, version, rest[2] ?? "");
      if (rt !== undefined && rt.namespaced) {
        if (rest.length > 5) return undefined;
        return {
          rt,
          namespace: rest[1] ?? "",
          ...(rest[3] === undefined ? {} : { name: rest[3] }),
          ...(rest[4] === undefined ? {} : { subresource: rest[4] }),
        };
      }
    }
    const rt = types.byResource(group, version, rest[0] ?? "");
    if (rt === undefined || rest.length > 3) return undefined;
    if (rt.namespaced && rest.length > 1) return undefined;
    return {
      rt,
      ...(rest[1] === undefined ? {} : { name: rest[1] }),
      ...(rest[2] === undefined ? {} : { subresource: rest[2] }),
    };
  }

  private async resource(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    target: Target,
    query: URLSearchParams,
    watchPath: boolean,
  ): Promise<void> {
    const { rt, name, subresource } = target;
    if (
      subresource !== undefined &&
      !(rt.subresources ?? []).includes(subresource) &&
      !(rt.key === "namespaces" && subresource === "finalize")
    ) {
      return sendStatus(res, pathNotFoundError().status);
    }
    const collection = name === undefined;
    const accept = req.headers.accept;
    if (method === "POST" && subresource === "token" && rt.key === "serviceaccounts") {
      this.count("create");
      return this.tokenRequest(req, res, target);
    }
    if (REVIEW_KEYS.has(rt.key)) {
      this.count("create");
      if (method !== "POST" || !collection)
        return sendStatus(res, methodNotAllowedError(rt, method.toLowerCase()).status);
      return this.review(req, res, target);
    }
    if (method === "GET") {
      if (collection) {
        const watch = watchPath || queryFlag(query, "watch");
        this.count(watch ? "watch" : "list");
        return watch ? this.watch(res, target, query, accept) : this.list(res, target, query, accept);
      }
      if (watchPath && subresource === undefined) {
        // the legacy /watch/.../<name> form: a watch of one object
        this.count("watch");
        const selector = [query.get("fieldSelector") ?? "", `metadata.name=${name}`].filter((x) => x !== "").join(",");
        const q = new URLSearchParams(query);
        q.set("fieldSelector", selector);
        const { name: _name, ...collectionTarget } = target;
        return this.watch(res, collectionTarget, q, accept);
      }
      this.count("get");
      if (subresource === "log") return this.podLog(res, target, query);
      return this.get(res, target, accept);
    }
    if (!rt.verbs.includes("create") && method !== "GET") {
      this.count("unsupported");
      return sendStatus(res, methodNotAllowedError(rt, method.toLowerCase()).status);
    }
    if (target.namespace === undefined && rt.namespaced) {
      this.count("unsupported");
      return sendStatus(res, methodNotAllowedError(rt, method.toLowerCase()).status);
    }
    switch (method) {
      case "POST":
        this.count("create");
        if (!collection) return sendStatus(res, methodNotAllowedError(rt, "create").status);
        return this.create(req, res, target, query);
      case "PUT":
        this.count("update");
        if (collection) return sendStatus(res, methodNotAllowedError(rt, "update").status);
        return this.replace(req, res, target, query);
      case "PATCH":
        this.count("patch");
        if (collection) return sendStatus(res, methodNotAllowedError(rt, "patch").status);
        return this.patch(req, res, target, query);
      case "DELETE":
        if (collection) {
          this.count("deletecollection");
          return this.deleteCollection(req, res, target, query);
        }
        this.count("delete");
        return this.delete(req, res, target, query);
      default:
        this.count("unsupported");
        return sendStatus(res, methodNotAllowedError(rt, method.toLowerCase()).status);
    }
  }

  // ---- authentication and authorization APIs ------------------------------------------------------------------

  /** `POST .../serviceaccounts/<name>/token` (TokenRequest): a token for the ServiceAccount (`kubectl create token`). */
  private async tokenRequest(req: IncomingMessage, res: ServerResponse, target: Target): Promise<void> {
    const body = await this.readObject(req);
    const sa = this.requireObject(target);
    sendJSON(res, 201, await this.authenticator.tokenRequest(sa, body));
  }

  /** SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectRulesReview (`--list`), SelfSubjectReview (`whoami`). */
  private async review(req: IncomingMessage, res: ServerResponse, target: Target): Promise<void> {
    const body = await this.readObject(req);
    const attrs = this.attributes.get(req);
    const user = attrs?.user ?? ANONYMOUS;
    const spec = isRecord(body.spec) ? body.spec : {};
    const answer: Record<string, unknown> = {
      kind: target.rt.kind,
      apiVersion: groupVersionOf(target.rt),
      metadata: { creationTimestamp: null },
    };
    switch (target.rt.resource) {
      case "selfsubjectaccessreviews": {
        const r = isRecord(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
        const n = isRecord(spec.nonResourceAttributes) ? spec.nonResourceAttributes : undefined;
        if ((r === undefined) === (n === undefined)) {
          throw invalidError(target.rt, "", [
            {
              reason: "FieldValueRequired",
              field: "spec.resourceAttributes",
              message: "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
            },
          ]);
        }
        const text = (v: unknown): string => (typeof v === "string" ? v : "");
        const asked: RequestAttributes =
          r !== undefined
            ? {
                user,
                verb: text(r.verb),
                resourceRequest: true,
                path: "",
                apiGroup: text(r.group),
                apiVersion: text(r.version),
                resource: text(r.resource),
                subresource: text(r.subresource),
                namespace: text(r.namespace),
                name: text(r.name),
              }
            : {
                user,
                verb: text(n?.verb),
                resourceRequest: false,
                path: text(n?.path),
                apiGroup: "",
                apiVersion: "",
                resource: "",
                subresource: "",
                namespace: "",
                name: "",
              };
        answer.spec = spec;
        answer.status = { allowed: authorize(this.store, asked) };
        break;
      }
      case "selfsubjectrulesreviews":
        answer.spec = spec;
        answer.status = rulesReviewStatus(this.store, user, typeof spec.namespace === "string" ? spec.namespace : "");
        break;
      default:
        answer.status = {
          userInfo: { username: user.name, groups: user.groups, ...(user.uid === undefined ? {} : { uid: user.uid }) },
        };
    }
    sendJSON(res, 201, answer);
  }

  // ---- reads --------------------------------------------------------------------------------------------------

  private requireObject(target: Target): KubeObject {
    const obj = this.store.getRef(target.rt.key, target.namespace, target.name ?? "");
    if (obj === undefined) throw notFoundError(target.rt, target.name ?? "");
    return obj;
  }

  private get(res: ServerResponse, target: Target, accept: string | undefined): void {
    const obj = this.requireObject(target);
    if (target.subresource === "scale") return sendJSON(res, 200, this.scaleOf(target.rt, obj));
    if (wantsTable(accept)) {
      return sendJSON(
        res,
        200,
        toTable(target.rt, [obj], { resourceVersion: obj.metadata.resourceVersion ?? "" }, null),
      );
    }
    if (wantsPartialMetadata(accept)) return sendJSON(res, 200, partialMetadata(obj));
    sendJSON(res, 200, obj);
  }

  private list(res: ServerResponse, target: Target, query: URLSearchParams, accept: string | undefined): void {
    const { rt } = target;
    const matcher = combineMatchers(
      parseLabelSelector(query.get("labelSelector") ?? undefined),
      parseFieldSelector(query.get("fieldSelector") ?? undefined),
    );
    let items = this.store.listRefs(rt.key, target.namespace, matcher);
    const resourceVersion = this.store.currentResourceVersion();
    const limit = queryInt(query, "limit");
    const token = query.get("continue");
    if (token !== null && token !== "") {
      const { ns, name: nm } = decodeContinue(token);
      items = items.filter((o) => {
        const ons = o.metadata.namespace ?? "";
        return ons > ns || (ons === ns && o.metadata.name > nm);
      });
    }
    const meta: { resourceVersion: string; continue?: string; remainingItemCount?: number } = { resourceVersion };
    if (limit !== undefined && limit > 0 && items.length > limit) {
      const last = items[limit - 1] as KubeObject;
      meta.continue = Buffer.from(
        JSON.stringify({ ns: last.metadata.namespace ?? "", name: last.metadata.name }),
      ).toString("base64url");
      meta.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    if (wantsTable(accept)) return sendJSON(res, 200, toTable(rt, items, meta, query.get("includeObject")));
    if (wantsPartialMetadata(accept)) {
      return sendJSON(res, 200, {
        kind: "PartialObjectMetadataList",
        apiVersion: "meta.k8s.io/v1",
        metadata: meta,
        items: items.map(partialMetadata),
      });
    }
    sendJSON(res, 200, { kind: rt.listKind, apiVersion: groupVersionOf(rt), metadata: meta, items });
  }

  private watch(res: ServerResponse, target: Target, query: URLSearchParams, accept: string | undefined): void {
    const { rt } = target;
    const matcher = combineMatchers(
      parseLabelSelector(query.get("labelSelector") ?? undefined),
      parseFieldSelector(query.get("fieldSelector") ?? undefined),
    );
    const timeoutSeconds = queryInt(query, "timeoutSeconds");
    const rv = query.get("resourceVersion");
    if (rv !== null && rv !== "" && !/^\d+$/.test(rv))
      throw badRequestError(`invalid resource version: ${JSON.stringify(rv)}`);
    const table = wantsTable(accept);
    const includeObject = query.get("includeObject");
    let stop: () => void = () => undefined;
    stop = serveWatch(
      this.store,
      res,
      {
        rt,
        ...(target.namespace === undefined ? {} : { namespace: target.namespace }),
        ...(matcher === undefined ? {} : { matcher }),
        ...(query.get("resourceVersion") === null ? {} : { resourceVersion: query.get("resourceVersion") ?? "" }),
        sendInitialEvents: queryFlag(query, "sendInitialEvents"),
        allowBookmarks: queryFlag(query, "allowWatchBookmarks"),
        ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
        bookmarkIntervalMs: this.bookmarkIntervalMs,
        ...(table
          ? {
              transform: (o: KubeObject, first: boolean) => {
                const t = toTable(
                  rt,
                  [o],
                  { resourceVersion: o.metadata.resourceVersion ?? "" },
                  includeObject,
                ) as Record<string, unknown>;
                if (!first) t.columnDefinitions = [];
                return t;
              },
            }
          : wantsPartialMetadata(accept)
            ? { transform: (o: KubeObject) => partialMetadata(o) }
            : {}),
      },
      () => this.streams.delete(stop),
    );
    this.streams.add(stop);
  }

  private podLog(res: ServerResponse, target: Target, query: URLSearchParams): void {
    const pod = clone(this.requireObject(target));
    const options: LogOptions = {};
    const container = query.get("container");
    if (container !== null && container !== "") options.container = container;
    const tail = queryInt(query, "tailLines");
    if (tail !== undefined) options.tailLines = tail;
    const since = queryInt(query, "sinceSeconds");
    if (since !== undefined) options.sinceSeconds = since;
    const limitBytes = queryInt(query, "limitBytes");
    if (limitBytes !== undefined) options.limitBytes = limitBytes;
    if (queryFlag(query, "previous")) options.previous = true;
    if (queryFlag(query, "timestamps")) options.timestamps = true;
    const render = this.hooks.renderPodLog;
    const text = render === undefined ? "" : render(pod, options, new Date());
    if (!queryFlag(query, "follow") || this.hooks.followPodLog === undefined) {
      res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(200, { "Content-Type": "text/plain", "Transfer-Encoding": "chunked" });
    res.flushHeaders();
    if (text !== "") res.write(text);
    let ended = false;
    let cancel: () => void = () => undefined;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.streams.delete(end);
      cancel();
      res.end();
    };
    this.streams.add(end);
    res.on("close", end);
    cancel = this.hooks.followPodLog(
      this.store,
      pod,
      { ...options, tailLines: 0 },
      (chunk) => {
        if (!ended) res.write(chunk);
      },
      end,
    );
    if (ended) cancel();
  }

  private metrics(res: ServerResponse, method: string, target: Target, query: URLSearchParams): void {
    const { rt } = target;
    if (method !== "GET") return sendStatus(res, methodNotAllowedError(rt, method.toLowerCase()).status);
    const now = new Date();
    const podMetricsOf = (pod: KubeObject): KubeObject | undefined => this.hooks.podMetrics?.(clone(pod), now);
    const metricsOf =
      rt.resource === "nodes" ? (node: KubeObject) => this.nodeMetrics(node, now, podMetricsOf) : podMetricsOf;
    const source = rt.resource === "nodes" ? "nodes" : "pods";
    if (target.name !== undefined) {
      this.count("get");
      const object = this.store.getRef(source, target.namespace, target.name);
      const m = object === undefined ? undefined : metricsOf(object);
      if (m === undefined) throw notFoundError({ group: METRICS_GROUP, resource: rt.resource }, target.name);
      return sendJSON(res, 200, m);
    }
    this.count(queryFlag(query, "watch") ? "watch" : "list");
    if (queryFlag(query, "watch")) return sendStatus(res, methodNotAllowedError(rt, "watch").status);
    const matcher = combineMatchers(
      parseLabelSelector(query.get("labelSelector") ?? undefined),
      parseFieldSelector(query.get("fieldSelector") ?? undefined),
    );
    const items = this.store
      .listRefs(source, target.namespace, matcher)
      .map(metricsOf)
      .filter((m): m is KubeObject => m !== undefined);
    sendJSON(res, 200, {
      kind: rt.listKind,
      apiVersion: `${METRICS_GROUP}/v1beta1`,
      metadata: { resourceVersion: this.store.currentResourceVersion() },
      items,
    });
  }

  /** NodeMetrics: a base load plus the usage of the pods running on the node. */
  private nodeMetrics(
    node: KubeObject,
    now: Date,
    podMetricsOf: (pod: KubeObject) => KubeObject | undefined,
  ): KubeObject {
    let nanoCores = 150_000_000;
    let kib = 900 * 1024;
    for (const pod of this.store.listRefs("pods")) {
      const spec = isRecord(pod.spec) ? pod.spec : {};
      if (spec.nodeName !== node.metadata.name) continue;
      const m = podMetricsOf(pod);
      for (const c of Array.isArray(m?.containers)
        ? (m.containers as { usage?: { cpu?: string; memory?: string } }[])
        : []) {
        nanoCores += cpuNanoCores(c.usage?.cpu);
        kib += memoryKiB(c.usage?.memory);
      }
    }
    return {
      kind: "NodeMetrics",
      apiVersion: `${METRICS_GROUP}/v1beta1`,
      metadata: {
        name: node.metadata.name,
        creationTimestamp: timestamp(now),
        ...(node.metadata.labels === undefined ? {} : { labels: node.metadata.labels }),
      },
      timestamp: timestamp(now),
      window: "15s",
      usage: { cpu: `${Math.round(nanoCores)}n`, memory: `${Math.round(kib)}Ki` },
    };
  }

  // ---- writes -------------------------------------------------------------------------------------------------

  private manager(req: IncomingMessage, query: URLSearchParams): string {
    const fm = query.get("fieldManager");
    if (fm !== null && fm !== "") return fm;
    const ua = req.headers["user-agent"] ?? "unknown";
    return (ua.split("/")[0] ?? "unknown").slice(0, 128);
  }

  private dryRun(query: URLSearchParams, body?: Record<string, unknown>): boolean {
    const values = query.getAll("dryRun");
    const fromBody = Array.isArray(body?.dryRun) ? (body.dryRun as unknown[]) : [];
    for (const v of [...values, ...fromBody]) {
      if (v === "All") return true;
      if (v !== "") throw badRequestError(`dryRun: Unsupported value: ${JSON.stringify(v)}: supported values: "All"`);
    }
    return false;
  }

  /** Parses a create/update body (JSON or YAML) into an object. */
  private async readObject(req: IncomingMessage): Promise<Record<string, unknown>> {
    const type = mediaType(req.headers["content-type"]);
    if (type === PROTOBUF) return decodeProtobuf(await readBodyBuffer(req));
    if (type !== "" && !BODY_TYPES.includes(type)) throw unsupportedMediaTypeError(BODY_TYPES);
    const body = await readBody(req);
    if (type === "application/yaml") return parseYAMLObject(body);
    return parseJSONObject(body);
  }

  /** Checks apiVersion/kind/name/namespace of a body against the URL and returns it as an object of this type. */
  private checkBody(
    target: Target,
    body: Record<string, unknown>,
    requireName: boolean,
    requireTypeMeta = false,
  ): KubeObject {
    const { rt } = target;
    const gv = groupVersionOf(rt);
    // like kube-apiserver, a typed endpoint defaults a missing apiVersion/kind from the URL
    // an apply configuration must say what it is (server-side apply decodes it as unstructured)
    if (requireTypeMeta && (body.kind === undefined || body.apiVersion === undefined)) {
      const missing = body.kind === undefined ? "Kind" : "apiVersion";
      throw badRequestError(`Object '${missing}' is missing in '${truncate(JSON.stringify(body))}'`);
    }
    const kind = body.kind ?? rt.kind;
    const apiVersion = body.apiVersion ?? gv;
    if (typeof kind !== "string" || typeof apiVersion !== "string") {
      throw badRequestError(`Object 'Kind' is missing in '${truncate(JSON.stringify(body))}'`);
    }
    if (apiVersion !== gv) {
      throw badRequestError(
        `the API version in the data (${apiVersion}) does not match the expected API version (${gv})`,
      );
    }
    if (kind !== rt.kind) {
      throw badRequestError(`the kind in the data (${kind}) does not match the expected kind (${rt.kind})`);
    }
    body.kind = kind;
    body.apiVersion = apiVersion;
    if (body.metadata !== undefined && !isRecord(body.metadata)) {
      throw badRequestError("metadata must be an object");
    }
    const obj = body as unknown as KubeObject;
    obj.metadata ??= { name: "" };
    const meta = obj.metadata;
    if (meta.name !== undefined && typeof meta.name !== "string")
      throw badRequestError("metadata.name must be a string");
    if (rt.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== "" && meta.namespace !== target.namespace) {
        throw badRequestError("the namespace of the provided object does not match the namespace sent on the request");
      }
      meta.namespace = target.namespace ?? "";
    } else {
      delete meta.namespace;
    }
    if (target.name !== undefined) {
      if (meta.name === undefined || meta.name === "") meta.name = target.name;
      else if (meta.name !== target.name) {
        throw badRequestError(
          `the name of the object (${meta.name}) does not match the name on the URL (${target.name})`,
        );
      }
    } else if (requireName) meta.name ??= "";
    meta.name ??= "";
    return obj;
  }

  /** Field validation (fieldValidation=Strict|Warn|Ignore): refuses, or drops and warns about, unknown fields. */
  private checkFields(res: ServerResponse, query: URLSearchParams, target: Target, obj: KubeObject): void {
    const warnings = validateFields(target.rt, obj, fieldValidationOf(query));
    if (warnings.length > 0 && !res.headersSent) res.setHeader("Warning", warningHeader(warnings));
  }

  private prepare(target: Target, obj: KubeObject, old: KubeObject | undefined): void {
    // like the registries' PrepareForCreate: a new object's status is the server's (controllers fill it in)
    if (old === undefined && target.rt.subresources?.includes("status") === true) delete obj.status;
    applyDefaults(target.rt, obj);
    const causes = validateObject(target.rt, obj, old);
    if (causes.length > 0) throw invalidError(target.rt, obj.metadata.name, causes);
  }

  private async create(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    query: URLSearchParams,
  ): Promise<void> {
    const body = await this.readObject(req);
    const dryRun = this.dryRun(query);
    const obj = this.checkBody(target, body, false);
    if (obj.metadata.name === "" && (obj.metadata.generateName ?? "") === "") {
      throw invalidError(target.rt, "", [
        {
          reason: "FieldValueRequired",
          field: "metadata.name",
          message: "Required value: name or generateName is required",
        },
      ]);
    }
    delete obj.metadata.managedFields;
    this.checkFields(res, query, target, obj);
    this.prepare(target, obj, undefined);
    trackUpdate(undefined, obj, this.manager(req, query), groupVersionOf(target.rt), timestamp(new Date()));
    const created = this.store.create(target.rt.key, obj, { dryRun });
    sendJSON(res, 201, created);
  }

  private async replace(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    query: URLSearchParams,
  ): Promise<void> {
    const { rt } = target;
    const body = await this.readObject(req);
    const dryRun = this.dryRun(query);
    if (target.subresource === "scale") {
      const existing = this.requireObject(target);
      const replicas = parseScale(body);
      const rv = isRecord(body.metadata) ? body.metadata.resourceVersion : undefined;
      if (typeof rv === "string" && rv !== "" && rv !== existing.metadata.resourceVersion) {
        throw conflictError(rt, existing.metadata.name, OBJECT_MODIFIED);
      }
      const updated = this.scaleTo(req, query, target, existing, replicas, dryRun);
      return sendJSON(res, 200, this.scaleOf(rt, updated));
    }
    const obj = this.checkBody(target, body, true);
    const existing = this.requireObject(target);
    if (target.subresource === "finalize") {
      // a Terminating namespace whose spec.finalizers are emptied goes at once (what force-deleting one does)
      const spec = isRecord(obj.spec) ? obj.spec : {};
      const finalizers = Array.isArray(spec.finalizers) ? spec.finalizers : [];
      if (finalizers.length === 0 && existing.metadata.deletionTimestamp !== undefined && !dryRun) {
        const gone = clone(existing);
        this.store.finalizeNamespace(existing.metadata.name);
        gone.spec = { finalizers: [] };
        return sendJSON(res, 200, gone);
      }
      return sendJSON(res, 200, existing);
    }
    if (target.subresource === "status") {
      const next = clone(existing);
      next.status = obj.status;
      if (obj.metadata.resourceVersion !== undefined) next.metadata.resourceVersion = obj.metadata.resourceVersion;
      // status writes keep the object's managedFields as they are (one atomic status-only write)
      return sendJSON(res, 200, this.store.update(rt.key, next, { subresource: "status", dryRun }));
    }
    if (obj.metadata.managedFields === undefined && existing.metadata.managedFields !== undefined) {
      obj.metadata.managedFields = clone(existing.metadata.managedFields);
    }
    this.checkFields(res, query, target, obj);
    this.prepare(target, obj, existing);
    trackUpdate(existing, obj, this.manager(req, query), groupVersionOf(rt), timestamp(new Date()));
    sendJSON(res, 200, this.store.update(rt.key, obj, { dryRun }));
  }

  private scaleOf(_rt: ResourceType, obj: KubeObject): unknown {
    const spec = isRecord(obj.spec) ? obj.spec : {};
    const status = isRecord(obj.status) ? obj.status : {};
    const selector = isRecord(spec.selector) && isRecord(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
    return {
      kind: "Scale",
      apiVersion: "autoscaling/v1",
      metadata: {
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
        creationTimestamp: obj.metadata.creationTimestamp,
      },
      spec: { replicas: typeof spec.replicas === "number" ? spec.replicas : 1 },
      status: {
        replicas: typeof status.replicas === "number" ? status.replicas : 0,
        selector: Object.entries(selector)
          .map(([k, v]) => `${k}=${String(v as string)}`)
          .join(","),
      },
    };
  }

  private scaleTo(
    req: IncomingMessage,
    query: URLSearchParams,
    target: Target,
    existing: KubeObject,
    replicas: number,
    dryRun: boolean,
  ): KubeObject {
    const next = clone(existing);
    next.spec = { ...(isRecord(next.spec) ? next.spec : {}), replicas };
    trackUpdate(existing, next, this.manager(req, query), groupVersionOf(target.rt), timestamp(new Date()), "scale");
    return this.store.update(target.rt.key, next, { dryRun });
  }

  private async patch(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    query: URLSearchParams,
  ): Promise<void> {
    const { rt } = target;
    const type = mediaType(req.headers["content-type"]);
    if (!PATCH_TYPES.includes(type)) throw unsupportedMediaTypeError(PATCH_TYPES);
    const text = await readBody(req);
    const dryRun = this.dryRun(query);
    const force = query.get("force");
    const isApply = type === "application/apply-patch+yaml";
    if (force !== null && !isApply) {
      throw invalidError({ group: "meta.k8s.io", resource: "patchoptions", kind: "PatchOptions" }, "", [
        {
          reason: "FieldValueForbidden",
          field: "force",
          message: "Forbidden: may not be specified for non-apply patch",
        },
      ]);
    }
    const manager = this.manager(req, query);
    if (isApply) {
      if (query.get("fieldManager") === null || query.get("fieldManager") === "") {
        throw invalidError({ group: "meta.k8s.io", resource: "patchoptions", kind: "PatchOptions" }, "", [
          {
            reason: "FieldValueRequired",
            field: "fieldManager",
            message: "Required value: is required for apply patch",
          },
        ]);
      }
      const attrs = this.attributes.get(req);
      // server-side apply of an object that does not exist yet creates it: kube-apiserver then also requires `create`
      const authorizeCreate = (): void => {
        if (attrs === undefined) return;
        const create = { ...attrs, verb: "create" };
        if (!authorize(this.store, create)) throw forbiddenError(create);
      };
      return this.apply(res, query, target, text, manager, queryFlag(query, "force"), dryRun, authorizeCreate);
    }
    const existing = this.requireObject(target);
    let patched: unknown;
    const base: unknown = target.subresource === "scale" ? this.scaleOf(rt, existing) : existing;
    if (type === "application/json-patch+json") {
      let ops: unknown;
      try {
        ops = JSON.parse(text);
      } catch (err) {
        throw badRequestError(`error decoding patch: ${err instanceof Error ? err.message : String(err)}`);
      }
      checkDepth(ops);
      if (!Array.isArray(ops))
        throw badRequestError(
          `error decoding patch: json: cannot unmarshal ${ops === null ? "null" : typeof ops === "object" ? "object" : typeof ops} into Go value of type jsonpatch.Patch`,
        );
      try {
        patched = fastJsonPatch.applyPatch(clone(base), ops as fastJsonPatch.Operation[], true, true).newDocument;
      } catch (err) {
        const message = err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err);
        throw unprocessableError(message);
      }
    } else {
      const patch = parseJSONObject(text, "the patch");
      patched = type === "application/merge-patch+json" ? mergePatch(base, patch) : strategicMergePatch(base, patch);
    }
    if (!isRecord(patched)) throw badRequestError("the patch removed the whole object");
    if (target.subresource === "scale") {
      const replicas = parseScale(patched);
      const updated = this.scaleTo(req, query, target, existing, replicas, dryRun);
      return sendJSON(res, 200, this.scaleOf(rt, updated));
    }
    const obj = patched as KubeObject;
    if (!isRecord(obj.metadata)) throw badRequestError("the patch removed metadata");
    obj.apiVersion = groupVersionOf(rt);
    obj.kind = rt.kind;
    if (obj.metadata.name !== existing.metadata.name) {
      throw badRequestError(
        `the name of the object (${String(obj.metadata.name)}) does not match the name on the URL (${existing.metadata.name})`,
      );
    }
    if (rt.namespaced && obj.metadata.namespace !== existing.metadata.namespace) {
      throw badRequestError("the namespace of the provided object does not match the namespace sent on the request");
    }
    if (target.subresource === "status") {
      return sendJSON(res, 200, this.store.update(rt.key, obj, { subresource: "status", dryRun }));
    }
    this.checkFields(res, query, target, obj);
    this.prepare(target, obj, existing);
    trackUpdate(existing, obj, manager, groupVersionOf(rt), timestamp(new Date()));
    sendJSON(res, 200, this.store.update(rt.key, obj, { dryRun }));
  }

  private apply(
    res: ServerResponse,
    query: URLSearchParams,
    target: Target,
    text: string,
    manager: string,
    force: boolean,
    dryRun: boolean,
    authorizeCreate: () => void,
  ): void {
    const { rt } = target;
    if (this.store.getRef(rt.key, target.namespace, target.name ?? "") === undefined) authorizeCreate();
    const body = parseYAMLObject(text);
    const applied = this.checkBody(target, body, true, true);
    this.checkFields(res, query, target, applied);
    // compare and merge quantities as the server stores them ("1024Mi" is the "1Gi" already there)
    normalizeQuantities(rt, applied);
    const live = this.store.getRef(rt.key, target.namespace, target.name ?? "");
    const wanted = applied.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== "" && wanted !== live?.metadata.resourceVersion) {
      if (live === undefined) throw notFoundError(rt, target.name ?? "");
      throw conflictError(rt, live.metadata.name, OBJECT_MODIFIED);
    }
    const merged = serverSideApply({
      live,
      applied,
      manager,
      force,
      apiVersion: groupVersionOf(rt),
      now: timestamp(new Date()),
    });
    merged.apiVersion = groupVersionOf(rt);
    merged.kind = rt.kind;
    merged.metadata.name = target.name ?? "";
    if (rt.namespaced) merged.metadata.namespace = target.namespace ?? "";
    this.prepare(target, merged, live);
    if (live === undefined) {
      delete merged.metadata.resourceVersion;
      return sendJSON(res, 201, this.store.create(rt.key, merged, { dryRun }));
    }
    merged.metadata.resourceVersion = live.metadata.resourceVersion ?? "";
    sendJSON(res, 200, this.store.update(rt.key, merged, { dryRun }));
  }

  private async deleteOptions(req: IncomingMessage, query: URLSearchParams): Promise<Record<string, unknown>> {
    const text = await readBody(req);
    const body = text.trim() === "" ? {} : parseJSONObject(text, "the DeleteOptions");
    const policy = query.get("propagationPolicy") ?? body.propagationPolicy;
    if (policy !== undefined && policy !== null && !["Orphan", "Background", "Foreground"].includes(String(policy))) {
      throw invalidError({ group: "meta.k8s.io", resource: "deleteoptions", kind: "DeleteOptions" }, "", [
        {
          reason: "FieldValueNotSupported",
          field: "propagationPolicy",
          message: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan", "nil"`,
        },
      ]);
    }
    if (query.get("orphanDependents") === "true" || body.orphanDependents === true) body.propagationPolicy = "Orphan";
    else if (policy !== undefined && policy !== null) body.propagationPolicy = policy;
    return body;
  }

  private async delete(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    query: URLSearchParams,
  ): Promise<void> {
    const { rt } = target;
    const options = await this.deleteOptions(req, query);
    const dryRun = this.dryRun(query, options);
    const existing = this.requireObject(target);
    const pre = isRecord(options.preconditions) ? options.preconditions : {};
    if (typeof pre.uid === "string" && pre.uid !== existing.metadata.uid) {
      throw conflictError(
        rt,
        existing.metadata.name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${existing.metadata.uid ?? ""}`,
      );
    }
    if (typeof pre.resourceVersion === "string" && pre.resourceVersion !== existing.metadata.resourceVersion) {
      throw conflictError(
        rt,
        existing.metadata.name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${existing.metadata.resourceVersion ?? ""}`,
      );
    }
    const policy = options.propagationPolicy as "Orphan" | "Background" | "Foreground" | undefined;
    const deleted = this.store.delete(rt.key, target.namespace, existing.metadata.name, {
      ...(policy === undefined ? {} : { propagationPolicy: policy }),
      dryRun,
    });
    const stillThere = !dryRun && this.store.getRef(rt.key, target.namespace, existing.metadata.name) !== undefined;
    if (stillThere || rt.key === "pods" || dryRun) return sendJSON(res, 200, deleted);
    sendJSON(res, 200, successStatus(rt, existing.metadata.name, existing.metadata.uid));
  }

  private async deleteCollection(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    query: URLSearchParams,
  ): Promise<void> {
    const { rt } = target;
    const options = await this.deleteOptions(req, query);
    const dryRun = this.dryRun(query, options);
    const matcher = combineMatchers(
      parseLabelSelector(query.get("labelSelector") ?? undefined),
      parseFieldSelector(query.get("fieldSelector") ?? undefined),
    );
    const policy = options.propagationPolicy as "Orphan" | "Background" | "Foreground" | undefined;
    const items: KubeObject[] = [];
    for (const o of this.store.listRefs(rt.key, target.namespace, matcher)) {
      try {
        items.push(
          this.store.delete(rt.key, o.metadata.namespace, o.metadata.name, {
            ...(policy === undefined ? {} : { propagationPolicy: policy }),
            dryRun,
          }),
        );
      } catch (err) {
        if (!(err instanceof StatusError && err.code === 404)) throw err;
      }
    }
    sendJSON(res, 200, {
      kind: rt.listKind,
      apiVersion: groupVersionOf(rt),
      metadata: { resourceVersion: this.store.currentResourceVersion() },
      items,
    });
  }
}

/** Does the Accept header ask for metadata only (`as=PartialObjectMetadata[List]`)? */
function wantsPartialMetadata(accept: string | undefined): boolean {
  return accept !== undefined && /as=PartialObjectMetadata/i.test(accept) && /g=meta\.k8s\.io/i.test(accept);
}

function partialMetadata(o: KubeObject): unknown {
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

const CPU_UNITS: Record<string, number> = { n: 1, u: 1e3, m: 1e6, "": 1e9 };
const MEMORY_UNITS: Record<string, number> = {
  Ki: 1,
  Mi: 1024,
  Gi: 1024 * 1024,
  k: 1000 / 1024,
  M: 1e6 / 1024,
  G: 1e9 / 1024,
  "": 1 / 1024,
};

function cpuNanoCores(q: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(n|u|m|)$/.exec(q ?? "");
  return m === null ? 0 : Number(m[1]) * (CPU_UNITS[m[2] ?? ""] ?? 0);
}

function memoryKiB(q: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G|)$/.exec(q ?? "");
  return m === null ? 0 : Number(m[1]) * (MEMORY_UNITS[m[2] ?? ""] ?? 0);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequestError(`invalid path segment: ${JSON.stringify(segment)}`);
  }
}

/** Request line and headers, as Go's http.DefaultMaxHeaderBytes. */
export const MAX_HEADER_BYTES = 1 << 20;

function truncate(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

/** The value of `text` when it is a JSON object, else undefined (YAML proper, or not valid). */
function parseJSONIfJSON(text: string): unknown {
  if (!/^\s*\{/.test(text)) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Refuses a mapping with a key twice, in one pass per mapping. yaml's own `uniqueKeys` compares each key with every
 * earlier one (quadratic): a 20,000-key mapping held the event loop for ~17 s.
 */
function checkUniqueKeys(doc: Document): void {
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        // like yaml's check: scalar keys compare by value, other keys (`? [a, b]`) by identity
        if (!isScalar(pair.key)) continue;
        const id = `${typeof pair.key.value}:${String(pair.key.value)}`;
        if (seen.has(id)) throw new Error("Map keys must be unique");
        seen.add(id);
      }
    },
  });
}

/** Parses a YAML (or JSON) document into an object, or a 400. */
export function parseYAMLObject(text: string): Record<string, unknown> {
  // JSON is YAML: read as JSON (as application/json bodies are) when it is, ~10x faster and lighter than the YAML
  // parser's syntax tree for a body of megabytes
  const json = parseJSONIfJSON(text);
  if (json !== undefined) {
    if (!isRecord(json)) throw badRequestError("error decoding YAML: the document is not a mapping");
    checkDepth(json);
    return json;
  }
  let value: unknown;
  try {
    const doc = parseDocument(text, { strict: true, uniqueKeys: false });
    const [error] = doc.errors;
    if (error !== undefined) throw error;
    checkUniqueKeys(doc);
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err);
    throw badRequestError(`error decoding YAML: ${message}`);
  }
  if (!isRecord(value)) throw badRequestError("error decoding YAML: the document is not a mapping");
  checkDepth(value);
  return value;
}

const INT32_MAX = 2147483647;

function parseScale(body: Record<string, unknown>): number {
  const spec = isRecord(body.spec) ? body.spec : {};
  const replicas = spec.replicas ?? 0;
  if (typeof replicas === "number" && Number.isInteger(replicas) && replicas > INT32_MAX) {
    throw badRequestError(
      `json: cannot unmarshal number ${replicas} into Go struct field ScaleSpec.spec.replicas of type int32`,
    );
  }
  if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0) {
    throw invalidError({ group: "autoscaling", resource: "scale", kind: "Scale" }, "", [
      {
        reason: "FieldValueInvalid",
        field: "spec.replicas",
        message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
      },
    ]);
  }
  return replicas;
}

/**
 * The `{ns, name}` a `continue` token of this server holds; 400 for anything else. Any base64 of JSON decodes, so the
 * shape is checked too (`null` was a 500).
 */
function decodeContinue(token: string): { ns: string; name: string } {
  let start: unknown;
  try {
    start = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw badRequestError("continue key is not valid: illegal base64 data");
  }
  if (isRecord(start)) {
    const { ns = "", name = "" } = start;
    if (typeof ns === "string" && typeof name === "string") return { ns, name };
  }
  throw badRequestError("continue key is not valid: server does not recognize this encoded version");
}
