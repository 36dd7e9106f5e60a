/**
 * What the sandbox's containers "write": deterministic, plausible logs by image (nginx, php-fpm, node, redis,
 * postgres, ...) and metrics.k8s.io PodMetrics. Everything is derived from the pod (uid, container, start times,
 * restart count) and the clock, so the same pod shows the same log lines on every read.
 */
import type { KubeObject } from "./types.ts";
import type { Store } from "./store.ts";
import { badRequestError } from "./status.ts";
import { fnv32a, seededRandom, sha256Hex } from "./controllers/hash.ts";

export interface LogOptions {
  container?: string;
  tailLines?: number;
  sinceSeconds?: number;
  previous?: boolean;
  timestamps?: boolean;
  limitBytes?: number;
}

// ---------------------------------------------------------------- pod shapes read here

interface ContainerSpec {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: { containerPort?: number }[];
}
interface ContainerState {
  running?: { startedAt?: string };
  waiting?: { reason?: string; message?: string };
  terminated?: { startedAt?: string; finishedAt?: string; exitCode?: number; reason?: string; message?: string };
}
interface ContainerStatus {
  name: string;
  image?: string;
  restartCount?: number;
  state?: ContainerState;
  lastState?: ContainerState;
}
interface PodSpec {
  containers?: ContainerSpec[];
  initContainers?: ContainerSpec[];
}
interface PodStatus {
  phase?: string;
  podIP?: string;
  containerStatuses?: ContainerStatus[];
  initContainerStatuses?: ContainerStatus[];
}

function podSpec(pod: KubeObject): PodSpec {
  return (pod.spec ?? {}) as PodSpec;
}
function podStatus(pod: KubeObject): PodStatus {
  return (pod.status ?? {}) as PodStatus;
}

// ---------------------------------------------------------------- image kinds

export type ImageKind =
  | "nginx"
  | "httpd"
  | "php"
  | "node"
  | "redis"
  | "postgres"
  | "mysql"
  | "mongo"
  | "python"
  | "kaniko"
  | "buildkit"
  | "busybox"
  | "crash"
  | "generic";

/** The image reference without registry, tag or digest: "docker.io/library/nginx:1.27" -> "nginx". */
export function imageBaseName(image: string): string {
  const withoutDigest = image.split("@")[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf("/");
  const last = withoutDigest.slice(lastSlash + 1);
  return (last.split(":")[0] ?? last).toLowerCase();
}

export function isUnpullableImage(image: string | undefined): boolean {
  return (image ?? "").startsWith("sandbox.invalid/");
}

export function isCrashingImage(image: string | undefined): boolean {
  return (image ?? "").startsWith("sandbox.invalid/crash");
}

/** kaniko or buildkit images run image builds. */
export function isBuildImage(image: string | undefined): boolean {
  const i = (image ?? "").toLowerCase();
  return i.includes("kaniko") || i.includes("buildkit");
}

export function imageKind(image: string | undefined): ImageKind {
  if (isCrashingImage(image)) return "crash";
  const full = (image ?? "").toLowerCase();
  if (full.includes("kaniko")) return "kaniko";
  if (full.includes("buildkit")) return "buildkit";
  const base = imageBaseName(full);
  const tag = full.split("@")[0]?.split("/").pop()?.split(":")[1] ?? "";
  if (base.includes("nginx")) return "nginx";
  if (base === "httpd" || base.includes("apache")) return tag.includes("php") ? "php" : "httpd";
  if (base.includes("php") || tag.includes("fpm")) return "php";
  if (base === "node" || base.includes("node") || base.includes("next") || base.includes("express")) return "node";
  if (base.includes("redis") || base.includes("valkey")) return "redis";
  if (base.includes("postgres")) return "postgres";
  if (base.includes("mysql") || base.includes("mariadb")) return "mysql";
  if (base.includes("mongo")) return "mongo";
  if (base.includes("python") || base.includes("django") || base.includes("flask")) return "python";
  if (base === "busybox" || base === "alpine" || base === "debian" || base === "ubuntu") return "busybox";
  return "generic";
}

/** The `--destination` of a kaniko/buildkit build (also buildctl's `--output type=image,name=<ref>`). */
export function buildDestination(container: {
  image?: string;
  args?: string[];
  command?: string[];
}): string | undefined {
  if (!isBuildImage(container.image)) return undefined;
  const words = [...(container.command ?? []), ...(container.args ?? [])];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? "";
    if (w.startsWith("--destination=")) return w.slice("--destination=".length);
    if ((w === "--destination" || w === "-d") && words[i + 1]) return words[i + 1];
    const name = /(?:^|,)name=([^,]+)/.exec(w);
    if (w.includes("type=image") && name?.[1]) return name[1];
  }
  return undefined;
}

/** The digest a build of `destination` by the pod `podUid` reports (stable for the pair). */
export function buildDigest(destination: string, seed: string): string {
  return `sha256:${sha256Hex(`${destination}\u0000${seed}`)}`;
}

// ---------------------------------------------------------------- time formats

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const p2 = (n: number): string => String(n).padStart(2, "0");
const p3 = (n: number): string => String(n).padStart(3, "0");

/** 2026/11/26 18:42:25 (nginx error log) */
function nginxTime(t: Date): string {
  return `${t.getUTCFullYear()}/${p2(t.getUTCMonth() + 1)}/${p2(t.getUTCDate())} ${clock(t)}`;
}
/** 26/Nov/2026:18:42:25 +0000 (common log format) */
function clfTime(t: Date): string {
  return `${p2(t.getUTCDate())}/${MONTHS[t.getUTCMonth()]}/${t.getUTCFullYear()}:${clock(t)} +0000`;
}
function clock(t: Date): string {
  return `${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())}`;
}
/** 26-Nov-2026 18:42:25 (php-fpm) */
function fpmTime(t: Date): string {
  return `${p2(t.getUTCDate())}-${MONTHS[t.getUTCMonth()]}-${t.getUTCFullYear()} ${clock(t)}`;
}
/** 26 Nov 2026 18:42:25.123 (redis) */
function redisTime(t: Date): string {
  return `${p2(t.getUTCDate())} ${MONTHS[t.getUTCMonth()]} ${t.getUTCFullYear()} ${clock(t)}.${p3(t.getUTCMilliseconds())}`;
}
/** 2026-11-26 18:42:25.123 UTC (postgres) */
function pgTime(t: Date): string {
  return `${t.toISOString().slice(0, 10)} ${clock(t)}.${p3(t.getUTCMilliseconds())} UTC`;
}
/** Thu, 26 Nov 2026 18:42:25 GMT */
function httpDate(t: Date): string {
  return t.toUTCString();
}
/** The container runtime's RFC 3339 nanosecond timestamp, nanoseconds made up deterministically. */
function rfc3339Nano(t: Date, salt: number): string {
  const nanos = String(t.getUTCMilliseconds() * 1_000_000 + (salt % 1_000_000)).padStart(9, "0");
  return `${t.toISOString().slice(0, 19)}.${nanos}Z`;
}

// ---------------------------------------------------------------- log scripts

interface Line {
  at: number; // epoch ms
  text: string;
}

interface Script {
  /** Lines written at start-up, as (offset ms, text). */
  startup: [number, (t: Date) => string][];
  /** A line every `every` ms after start-up (0: none). */
  every: number;
  periodic?: (t: Date, i: number, rnd: () => number) => string;
  /** Lines written when the container exits (crashes, builds, jobs). */
  exit?: (t: Date) => string[];
}

const PATHS = ["/", "/", "/", "/index.html", "/healthz", "/api/items", "/favicon.ico", "/static/app.js", "/login"];
const AGENTS = [
  "kube-probe/1.32",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
  "curl/8.11.1",
  "Go-http-client/1.1",
];

function pick<T>(list: readonly T[], rnd: () => number): T {
  return list[Math.floor(rnd() * list.length)] as T;
}

function clientIp(rnd: () => number): string {
  return `10.244.${Math.floor(rnd() * 4)}.${1 + Math.floor(rnd() * 250)}`;
}

function scriptFor(
  kind: ImageKind,
  container: ContainerSpec,
  podName: string,
  seed: string,
  digestSeed: string,
): Script {
  const rndVersion = seededRandom(`${seed}:version`);
  switch (kind) {
    case "nginx": {
      const worker = 20 + Math.floor(rndVersion() * 15);
      const lines = [
        "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
        "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
        "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of /etc/nginx/conf.d/default.conf",
        "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf",
        "/docker-entrypoint.sh: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
        "/docker-entrypoint.sh: Configuration complete; ready for start up",
      ].map((text, i): [number, (t: Date) => string] => [i * 3, () => text]);
      const notices = [
        'using the "epoll" event method',
        "nginx/1.27.3",
        "built by gcc 12.2.0 (Debian 12.2.0-14)",
        "OS: Linux 6.8.0-1017-sandbox",
        "getrlimit(RLIMIT_NOFILE): 1048576:1048576",
        "start worker processes",
        `start worker process ${worker}`,
        `start worker process ${worker + 1}`,
      ].map((text, i): [number, (t: Date) => string] => [40 + i, (t) => `${nginxTime(t)} [notice] 1#1: ${text}`]);
      return {
        startup: [...lines, ...notices],
        every: 4000,
        periodic: (t, _i, rnd) => {
          const path = pick(PATHS, rnd);
          const status = path === "/favicon.ico" ? 404 : 200;
          const size = status === 404 ? 153 : 615 + Math.floor(rnd() * 4000);
          return `${clientIp(rnd)} - - [${clfTime(t)}] "GET ${path} HTTP/1.1" ${status} ${size} "-" "${pick(AGENTS, rnd)}" "-"`;
        },
      };
    }
    case "httpd":
      return {
        startup: [
          [
            0,
            () =>
              "AH00558: httpd: Could not reliably determine the server's fully qualified domain name, using 10.244.0.5. Set the 'ServerName' directive globally to suppress this message",
          ],
          [
            5,
            (t) =>
              `[${DAYS[t.getUTCDay()]} ${MONTHS[t.getUTCMonth()]} ${p2(t.getUTCDate())} ${clock(t)}.${p3(t.getUTCMilliseconds())}000 ${t.getUTCFullYear()}] [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/2.4.62 (Unix) configured -- resuming normal operations`,
          ],
          [
            6,
            (t) =>
              `[${DAYS[t.getUTCDay()]} ${MONTHS[t.getUTCMonth()]} ${p2(t.getUTCDate())} ${clock(t)}.${p3(t.getUTCMilliseconds())}000 ${t.getUTCFullYear()}] [core:notice] [pid 1:tid 1] AH00094: Command line: 'httpd -D FOREGROUND'`,
          ],
        ],
        every: 5000,
        periodic: (t, _i, rnd) => `${clientIp(rnd)} - - [${clfTime(t)}] "GET ${pick(PATHS, rnd)} HTTP/1.1" 200 45`,
      };
    case "php":
      return {
        startup: [
          [0, (t) => `[${fpmTime(t)}] NOTICE: fpm is running, pid 1`],
          [2, (t) => `[${fpmTime(t)}] NOTICE: ready to handle connections`],
        ],
        every: 6000,
        periodic: (t, _i, rnd) =>
          `${clientIp(rnd)} -  ${clfTime(t)} "GET ${pick(["/index.php", "/index.php", "/api.php", "/health.php"], rnd)}" 200`,
      };
    case "node": {
      const port = container.ports?.[0]?.containerPort ?? 3000;
      return {
        startup: [
          [0, () => ""],
          [1, () => "> app@1.0.0 start"],
          [2, () => "> node server.js"],
          [3, () => ""],
          [180, () => `Server listening on http://0.0.0.0:${port}`],
        ],
        every: 5000,
        periodic: (t, _i, rnd) =>
          `::ffff:${clientIp(rnd)} - - [${httpDate(t)}] "GET ${pick(PATHS, rnd)} HTTP/1.1" 200 ${2 + Math.floor(rnd() * 900)} "-" "${pick(AGENTS, rnd)}"`,
      };
    }
    case "redis":
      return {
        startup: [
          [0, (t) => `1:C ${redisTime(t)} * oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo`],
          [
            0,
            (t) =>
              `1:C ${redisTime(t)} * Redis version=7.4.1, bits=64, commit=00000000, modified=0, pid=1, just started`,
          ],
          [
            0,
            (t) =>
              `1:C ${redisTime(t)} # Warning: no config file specified, using the default config. In order to specify a config file use redis-server /path/to/redis.conf`,
          ],
          [1, (t) => `1:M ${redisTime(t)} * monotonic clock: POSIX clock_gettime`],
          [1, (t) => `1:M ${redisTime(t)} * Running mode=standalone, port=6379.`],
          [2, (t) => `1:M ${redisTime(t)} * Server initialized`],
          [2, (t) => `1:M ${redisTime(t)} * Ready to accept connections tcp`],
        ],
        every: 300_000,
        periodic: (t, i) => `1:M ${redisTime(t)} * 100 changes in 300 seconds. Saving... (${i + 1})`,
      };
    case "postgres":
      return {
        startup: [
          [0, () => "PostgreSQL Database directory appears to contain a database; Skipping initialization"],
          [1, () => ""],
          [
            20,
            (t) =>
              `${pgTime(t)} [1] LOG:  starting PostgreSQL 17.2 (Debian 17.2-1.pgdg120+1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit`,
          ],
          [21, (t) => `${pgTime(t)} [1] LOG:  listening on IPv4 address "0.0.0.0", port 5432`],
          [21, (t) => `${pgTime(t)} [1] LOG:  listening on IPv6 address "::", port 5432`],
          [23, (t) => `${pgTime(t)} [1] LOG:  listening on Unix socket "/var/run/postgresql/.s.PGSQL.5432"`],
          [
            30,
            (t) => `${pgTime(t)} [29] LOG:  database system was shut down at ${pgTime(new Date(t.getTime() - 60_000))}`,
          ],
          [36, (t) => `${pgTime(t)} [1] LOG:  database system is ready to accept connections`],
        ],
        every: 300_000,
        periodic: (t, _i, rnd) =>
          `${pgTime(t)} [27] LOG:  checkpoint starting: time\n${pgTime(new Date(t.getTime() + 1200))} [27] LOG:  checkpoint complete: wrote ${1 + Math.floor(rnd() * 40)} buffers (0.1%); 0 WAL file(s) added, 0 removed, 0 recycled`,
      };
    case "mysql":
      return {
        startup: [
          [0, (t) => `${t.toISOString().slice(0, 23)}000Z 0 [System] [MY-015015] [Server] MySQL Server - start.`],
          [
            400,
            (t) =>
              `${t.toISOString().slice(0, 23)}000Z 0 [System] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections. Version: '8.4.3'  socket: '/var/run/mysqld/mysqld.sock'  port: 3306  MySQL Community Server - GPL.`,
          ],
        ],
        every: 0,
      };
    case "mongo":
      return {
        startup: [
          [
            0,
            (t) =>
              `{"t":{"$date":"${t.toISOString().replace("Z", "+00:00")}"},"s":"I",  "c":"CONTROL",  "id":23285,   "ctx":"main","msg":"Automatically disabling TLS 1.0, to force-enable TLS 1.0 specify --sslDisabledProtocols 'none'"}`,
          ],
          [
            300,
            (t) =>
              `{"t":{"$date":"${t.toISOString().replace("Z", "+00:00")}"},"s":"I",  "c":"NETWORK",  "id":23016,   "ctx":"listener","msg":"Waiting for connections","attr":{"port":27017,"ssl":"off"}}`,
          ],
        ],
        every: 60_000,
        periodic: (t) =>
          `{"t":{"$date":"${t.toISOString().replace("Z", "+00:00")}"},"s":"I",  "c":"WTCHKPT",  "id":22430,   "ctx":"Checkpointer","msg":"WiredTiger message","attr":{"message":{"ts_sec":${Math.floor(t.getTime() / 1000)},"category":"WT_VERB_CHECKPOINT_PROGRESS","msg":"saving checkpoint snapshot min: 5, snapshot max: 5"}}}`,
      };
    case "python":
      return {
        startup: [
          [0, (t) => `[${t.toISOString().slice(0, 10)} ${clock(t)} +0000] [1] [INFO] Starting gunicorn 23.0.0`],
          [
            1,
            (t) =>
              `[${t.toISOString().slice(0, 10)} ${clock(t)} +0000] [1] [INFO] Listening at: http://0.0.0.0:8000 (1)`,
          ],
          [1, (t) => `[${t.toISOString().slice(0, 10)} ${clock(t)} +0000] [1] [INFO] Using worker: sync`],
          [4, (t) => `[${t.toISOString().slice(0, 10)} ${clock(t)} +0000] [7] [INFO] Booting worker with pid: 7`],
        ],
        every: 7000,
        periodic: (t, _i, rnd) =>
          `${clientIp(rnd)} - - [${clfTime(t)}] "GET ${pick(PATHS, rnd)} HTTP/1.1" 200 ${Math.floor(rnd() * 2000)}`,
      };
    case "kaniko": {
      const destination = buildDestination(container) ?? "registry.local/app:latest";
      const digest = buildDigest(destination, digestSeed);
      const kanikoTime = (ms: number): string => String(Math.floor(ms / 1000)).padStart(4, "0");
      return {
        startup: [
          [0, () => `INFO[${kanikoTime(0)}] Retrieving image manifest node:22-alpine`],
          [5, () => `INFO[${kanikoTime(5)}] Retrieving image node:22-alpine from registry index.docker.io`],
          [9, () => `INFO[${kanikoTime(9)}] Built cross stage deps: map[]`],
          [10, () => `INFO[${kanikoTime(10)}] Executing 0 build triggers`],
          [12, () => `INFO[${kanikoTime(12)}] Building stage 'node:22-alpine' [idx: '0', base-idx: '-1']`],
          [14, () => `INFO[${kanikoTime(14)}] Unpacking rootfs as cmd COPY . . requires it.`],
        ],
        every: 0,
        exit: () => [
          `INFO[0006] COPY . .`,
          `INFO[0006] Taking snapshot of files...`,
          `INFO[0007] Pushing image to ${destination}`,
          `INFO[0008] Pushed ${destination.split(":")[0]}@${digest}`,
        ],
      };
    }
    case "buildkit": {
      const destination = buildDestination(container) ?? "registry.local/app:latest";
      const digest = buildDigest(destination, digestSeed);
      return {
        startup: [
          [0, () => "#1 [internal] load build definition from Dockerfile"],
          [1, () => "#1 transferring dockerfile: 245B done"],
          [2, () => "#1 DONE 0.0s"],
          [3, () => "#2 [internal] load metadata for docker.io/library/node:22-alpine"],
        ],
        every: 0,
        exit: () => [
          "#2 DONE 1.2s",
          "#5 exporting to image",
          "#5 exporting layers 0.4s done",
          `#5 exporting manifest ${digest} done`,
          `#5 pushing layers 1.1s done`,
          `#5 pushing manifest for ${destination}@${digest} 0.3s done`,
          "#5 DONE 2.0s",
        ],
      };
    }
    case "crash":
      return {
        startup: [
          [0, () => "Starting application..."],
          [15, () => `Loading configuration from /etc/${podName.split("-")[0] ?? "app"}/config.yaml`],
        ],
        every: 0,
        exit: () => [
          "node:internal/modules/cjs/loader:1228",
          "  throw err;",
          "  ^",
          "",
          "Error: Cannot find module '/app/server.js'",
          "    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)",
          "    at node:internal/main/run_main_module:28:49 {",
          "  code: 'MODULE_NOT_FOUND',",
          "  requireStack: []",
          "}",
          "",
          "Node.js v22.12.0",
        ],
      };
    case "busybox": {
      const words = [...(container.command ?? []), ...(container.args ?? [])].join(" ");
      const echoes = [...words.matchAll(/echo\s+(?:"([^"]*)"|'([^']*)'|([^;&|]+))/g)].map((m) =>
        (m[1] ?? m[2] ?? m[3] ?? "").trim(),
      );
      return { startup: echoes.map((text, i): [number, (t: Date) => string] => [i, () => text]), every: 0 };
    }
    case "generic":
      return {
        startup: [
          [0, (t) => `time="${t.toISOString()}" level=info msg="starting ${imageBaseName(container.image ?? "app")}"`],
          [25, (t) => `time="${t.toISOString()}" level=info msg="configuration loaded" source=env`],
          [
            60,
            (t) =>
              `time="${t.toISOString()}" level=info msg="listening" addr=":${container.ports?.[0]?.containerPort ?? 8080}"`,
          ],
        ],
        every: 10_000,
        periodic: (t, _i, rnd) =>
          `time="${t.toISOString()}" level=info msg="request" method=GET path=${pick(PATHS, rnd)} status=200 duration=${(rnd() * 5).toFixed(3)}ms`,
      };
  }
}

/** Lines of periodic output kept at most (older ones have "rotated away"). */
const MAX_PERIODIC_LINES = 5000;
const PERIODIC_START_MS = 3000;

interface Instance {
  started: number;
  finished?: number;
  script: Script;
  seed: string;
}

/** How far a reader got in an instance's output. */
interface Position {
  startup: boolean;
  periodic: number;
  exit: boolean;
}

/** The lines an instance wrote after `from` and up to `until` (inclusive), oldest first, and the new position. */
function linesSince(instance: Instance, until: number, from: Position): { lines: Line[]; position: Position } {
  const { started, finished, script } = instance;
  const end = Math.min(until, finished ?? until);
  const position = { ...from };
  const lines: Line[] = [];
  if (!from.startup) {
    for (const [offset, text] of script.startup) {
      const at = Math.min(started + offset, finished ?? Number.MAX_SAFE_INTEGER);
      lines.push({ at, text: text(new Date(at)) });
    }
    position.startup = true;
  }
  if (script.every > 0 && script.periodic && end >= started + PERIODIC_START_MS) {
    const count = Math.floor((end - started - PERIODIC_START_MS) / script.every) + 1;
    for (let i = Math.max(from.periodic, count - MAX_PERIODIC_LINES); i < count; i++) {
      const rnd = seededRandom(`${instance.seed}:${i}`);
      const at = started + PERIODIC_START_MS + i * script.every + Math.floor(rnd() * Math.min(900, script.every / 2));
      if (at > end) break;
      lines.push({ at, text: script.periodic(new Date(at), i, rnd) });
      position.periodic = i + 1;
    }
  }
  if (finished !== undefined && finished <= until && !from.exit) {
    for (const text of script.exit?.(new Date(finished)) ?? []) lines.push({ at: finished, text });
    position.exit = true;
  }
  return { lines: lines.flatMap((l) => l.text.split("\n").map((text) => ({ at: l.at, text }))), position };
}

const START: Position = { startup: false, periodic: 0, exit: false };

/** The lines an instance wrote up to `until` (inclusive), oldest first. */
function instanceLines(instance: Instance, until: number): Line[] {
  return linesSince(instance, until, START).lines;
}

function millis(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/** Chooses the container a log request is about, or throws the API's 400. */
function chooseContainer(pod: KubeObject, options: LogOptions): ContainerSpec {
  const spec = podSpec(pod);
  const containers = spec.containers ?? [];
  const inits = spec.initContainers ?? [];
  const name = pod.metadata.name;
  if (options.container !== undefined) {
    const found = [...containers, ...inits].find((c) => c.name === options.container);
    if (!found) throw badRequestError(`container ${options.container} is not valid for pod ${name}`);
    return found;
  }
  const preferred = pod.metadata.annotations?.["kubectl.kubernetes.io/default-container"];
  const byAnnotation = containers.find((c) => c.name === preferred);
  if (byAnnotation) return byAnnotation;
  if (containers.length === 1 && containers[0]) return containers[0];
  const names = containers.map((c) => c.name).join(" ");
  const initNames = inits.length > 0 ? ` or one of the init containers: [${inits.map((c) => c.name).join(" ")}]` : "";
  throw badRequestError(`a container name must be specified for pod ${name}, choose one of: [${names}]${initNames}`);
}

const PULL_ERRORS = new Set(["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"]);

/** The instance whose log is asked for, or throws the kubelet's 400. */
function chooseInstance(pod: KubeObject, container: ContainerSpec, previous: boolean): Instance {
  const status = podStatus(pod);
  const cs = [...(status.containerStatuses ?? []), ...(status.initContainerStatuses ?? [])].find(
    (s) => s.name === container.name,
  );
  const podName = pod.metadata.name;
  const restarts = cs?.restartCount ?? 0;
  const make = (started: number | undefined, finished: number | undefined, generation: number): Instance => {
    const seed = `${pod.metadata.uid ?? podName}:${container.name}:${generation}`;
    const kind = imageKind(container.image);
    return {
      started: started ?? Date.now(),
      ...(finished === undefined ? {} : { finished }),
      script: scriptFor(
        kind,
        container,
        podName,
        `${pod.metadata.uid ?? podName}:${container.name}`,
        pod.metadata.ownerReferences?.find((o) => o.controller)?.uid ?? pod.metadata.uid ?? podName,
      ),
      seed,
    };
  };
  if (previous) {
    const last = cs?.lastState?.terminated;
    if (!last) throw badRequestError(`previous terminated container "${container.name}" in pod "${podName}" not found`);
    return make(millis(last.startedAt), millis(last.finishedAt), Math.max(0, restarts - 1));
  }
  const state = cs?.state;
  if (state?.running) return make(millis(state.running.startedAt), undefined, restarts);
  if (state?.terminated) return make(millis(state.terminated.startedAt), millis(state.terminated.finishedAt), restarts);
  const last = cs?.lastState?.terminated;
  if (state?.waiting && last) return make(millis(last.startedAt), millis(last.finishedAt), Math.max(0, restarts - 1));
  const reason = state?.waiting?.reason ?? "ContainerCreating";
  if (PULL_ERRORS.has(reason)) {
    throw badRequestError(
      `container "${container.name}" in pod "${podName}" is waiting to start: image can't be pulled`,
    );
  }
  throw badRequestError(`container "${container.name}" in pod "${podName}" is waiting to start: ${reason}`);
}

function formatLines(lines: Line[], options: LogOptions, salt: number): string {
  return lines
    .map((l, i) => (options.timestamps ? `${rfc3339Nano(new Date(l.at), salt + i * 7919)} ${l.text}\n` : `${l.text}\n`))
    .join("");
}

function limitBytes(text: string, limit: number | undefined): string {
  if (limit === undefined || limit <= 0) return text;
  const buf = Buffer.from(text, "utf8");
  return buf.length <= limit ? text : buf.subarray(0, limit).toString("utf8");
}

/** Plausible, deterministic log text for a pod's container as of `now` (a few start-up lines by image kind: nginx, php-fpm, node, ...). Throws a StatusError 400 if the container is not in the pod. */
export function renderPodLog(pod: KubeObject, options: LogOptions, now: Date): string {
  const container = chooseContainer(pod, options);
  const instance = chooseInstance(pod, container, options.previous === true);
  let lines = instanceLines(instance, now.getTime());
  if (options.sinceSeconds !== undefined) {
    const since = now.getTime() - options.sinceSeconds * 1000;
    lines = lines.filter((l) => l.at >= since);
  }
  if (options.tailLines !== undefined) lines = options.tailLines <= 0 ? [] : lines.slice(-options.tailLines);
  return limitBytes(formatLines(lines, options, fnv32a(instance.seed)), options.limitBytes);
}

/** How often a follower looks for new lines. */
const FOLLOW_TICK_MS = 500;

/**
 * Follow: calls onChunk with new lines as they are "written" (a timer per follower) until the returned function is
 * called or the pod goes away. The first chunk (on the next macrotask) is what renderPodLog would answer now, as
 * `kubectl logs -f` shows the existing lines first; with `previous` only that chunk is sent. onEnd is called when
 * the stream ends by itself (pod deleted, container exited, limitBytes reached), not after the returned stop
 * function was called. Errors (unknown container, container waiting to start) are thrown synchronously as
 * StatusError 400, before anything is scheduled.
 */
export function followPodLog(
  store: Store,
  pod: KubeObject,
  options: LogOptions,
  onChunk: (text: string) => void,
  onEnd: () => void,
): () => void {
  const container = chooseContainer(pod, options);
  let instance = chooseInstance(pod, container, options.previous === true);
  const startedAt = new Date();
  const first = renderPodLog(pod, { ...options, container: container.name }, startedAt);
  /** How far the current instance's output was sent. */
  let position = linesSince(instance, startedAt.getTime(), START).position;
  let sent = Buffer.byteLength(first, "utf8");
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = (): void => {
    if (stopped) return;
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    onEnd();
  };
  const emit = (text: string): boolean => {
    if (text === "") return true;
    const limit = options.limitBytes;
    if (limit !== undefined && limit > 0) {
      const room = limit - sent;
      const part = limitBytes(text, Math.max(0, room));
      if (part !== "") onChunk(part);
      sent += Buffer.byteLength(part, "utf8");
      return sent < limit;
    }
    onChunk(text);
    return true;
  };
  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    const current = store.get("pods", pod.metadata.namespace, pod.metadata.name);
    if (!current || current.metadata.uid !== pod.metadata.uid) return finish();
    const now = Date.now();
    let next: Instance;
    try {
      next = chooseInstance(current, container, false);
    } catch {
      timer = setTimeout(tick, FOLLOW_TICK_MS);
      return;
    }
    if (next.seed !== instance.seed) position = START;
    const { lines: fresh, position: after } = linesSince(next, now, position);
    position = after;
    instance = next;
    if (!emit(formatLines(fresh, options, fnv32a(next.seed) + now))) return finish();
    if (next.finished !== undefined) return finish();
    timer = setTimeout(tick, FOLLOW_TICK_MS);
  };
  timer = setTimeout(() => {
    timer = undefined;
    if (stopped) return;
    if (!emit(first) || options.previous === true || instance.finished !== undefined) return finish();
    timer = setTimeout(tick, FOLLOW_TICK_MS);
  }, 0);
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
}

// ---------------------------------------------------------------- metrics

/** Typical (cpu millicores, memory MiB) ranges of a container by image kind. */
const USAGE: Record<ImageKind, [number, number, number, number]> = {
  nginx: [1, 4, 3, 12],
  httpd: [1, 5, 8, 30],
  php: [4, 25, 18, 64],
  node: [6, 40, 45, 140],
  redis: [2, 8, 3, 12],
  postgres: [4, 20, 24, 90],
  mysql: [6, 30, 350, 450],
  mongo: [8, 35, 120, 260],
  python: [3, 20, 40, 110],
  kaniko: [300, 900, 200, 700],
  buildkit: [300, 900, 200, 700],
  busybox: [0, 1, 0.3, 1],
  crash: [1, 5, 10, 30],
  generic: [2, 15, 10, 60],
};

/** metrics.k8s.io/v1beta1 PodMetrics for a running pod (plausible cpu "12m"/memory "34Mi" per container, stable for a pod), or undefined if not running. */
export function podMetrics(pod: KubeObject, now: Date): KubeObject | undefined {
  const status = podStatus(pod);
  if (status.phase !== "Running") return undefined;
  const running = new Set((status.containerStatuses ?? []).filter((c) => c.state?.running).map((c) => c.name));
  const window = 15_000;
  const bucket = Math.floor(now.getTime() / window);
  const containers = (podSpec(pod).containers ?? [])
    .filter((c) => running.has(c.name))
    .map((c) => {
      const [cpuLo, cpuHi, memLo, memHi] = USAGE[imageKind(c.image)];
      const base = seededRandom(`${pod.metadata.uid ?? pod.metadata.name}:${c.name}:usage`);
      const jitter = seededRandom(`${pod.metadata.uid ?? pod.metadata.name}:${c.name}:${bucket}`);
      const cpuMilli = (cpuLo + base() * (cpuHi - cpuLo)) * (0.9 + jitter() * 0.2);
      const memMi = (memLo + base() * (memHi - memLo)) * (0.98 + jitter() * 0.04);
      return {
        name: c.name,
        usage: {
          cpu: `${Math.max(1, Math.round(cpuMilli * 1_000_000))}n`,
          memory: `${Math.max(1, Math.round(memMi * 1024))}Ki`,
        },
      };
    });
  if (containers.length === 0) return undefined;
  const timestamp = new Date(bucket * window).toISOString().replace(/\.\d{3}Z$/, "Z");
  return {
    kind: "PodMetrics",
    apiVersion: "metrics.k8s.io/v1beta1",
    metadata: {
      name: pod.metadata.name,
      ...(pod.metadata.namespace === undefined ? {} : { namespace: pod.metadata.namespace }),
      creationTimestamp: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
      ...(pod.metadata.labels === undefined ? {} : { labels: { ...pod.metadata.labels } }),
    },
    timestamp,
    window: "15s",
    containers,
  };
}
