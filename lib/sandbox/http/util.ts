/** Small HTTP helpers for the sandbox's API server. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { StatusError, badRequestError, internalError, type V1StatusLike } from "../status.ts";

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Reads the whole request body as text (at most MAX_BODY_BYTES: 413 beyond). */
export async function readBody(req: IncomingMessage): Promise<string> {
  return (await readBodyBuffer(req)).toString("utf8");
}

/** Reads the whole request body (at most MAX_BODY_BYTES: 413 beyond). */
export function readBodyBuffer(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        failed = true;
        reject(
          new StatusError({
            kind: "Status",
            apiVersion: "v1",
            metadata: {},
            status: "Failure",
            message: "the request body is too large",
            reason: "RequestEntityTooLarge",
            code: 413,
          }),
        );
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on("error", (err) => {
      if (!failed) reject(err);
    });
  });
}

export function sendJSON(res: ServerResponse, code: number, body: unknown, contentType = "application/json"): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(code, {
    "Content-Type": contentType,
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-cache, private",
  });
  res.end(text);
}

export function sendStatus(res: ServerResponse, status: V1StatusLike): void {
  sendJSON(res, status.code, status);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof StatusError) sendStatus(res, err.status);
  else sendStatus(res, internalError(err instanceof Error ? err.message : String(err)).status);
}

/** The media type of a Content-Type header, lower case, without parameters. */
export function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** Parses a JSON body into an object, or a 400 in kube-apiserver's words. */
export function parseJSONObject(body: string, what = "the request body"): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw badRequestError(
      `couldn't get version/kind; json parse error: ${err instanceof Error ? err.message : String(err)} (${what})`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequestError(`couldn't get version/kind; json parse error: ${what} is not a JSON object`);
  }
  checkDepth(value);
  return value as Record<string, unknown>;
}

/** Kubernetes objects are shallow; refuse absurdly nested documents (400) before recursive code meets them. */
export const MAX_DEPTH = 100;
export function checkDepth(value: unknown): void {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== "object" || v === null) continue;
    if (depth > MAX_DEPTH) throw badRequestError(`the request body is nested deeper than ${MAX_DEPTH} levels`);
    for (const child of Object.values(v))
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
  }
}

export function queryFlag(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  return v !== null && v !== "false" && v !== "0";
}

export function queryInt(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw badRequestError(`invalid value for ${name}: ${JSON.stringify(v)}`);
  return n;
}

/** "5m", "3h", "2d": duration.HumanDuration as kubectl's AGE column prints it. */
export function humanDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  return `${Math.floor(hours / 24 / 365)}y`;
}
