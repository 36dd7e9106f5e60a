/**
 * The suite's HTTP to the API server: client-node's requests and watches sent with undici's `request` instead of its
 * `fetch`, over the same connection pool (the dispatcher client-node's authentication hands out) with the same headers.
 *
 * Why: client-node sends every call through undici's WHATWG `fetch`, and reads every watch through `fetch`'s web stream,
 * `Readable.fromWeb` and `readline`. While 100 deployments were created, that machinery's own code was ~11% of the
 * suite's busy time (fetch 7%, web streams 3%, readline and the stream adapter the rest), for what `request` does with
 * a Node stream: same pool, same parser. Without it the suite used 26% less CPU for those creates, its garbage less
 * too (docs/performance.md, change 66). `request` is undici's documented lower-level API
 * (undici is client-node's own HTTP library); client-node takes an `httpApi` in its Configuration for this.
 *
 * What stays as `fetch` did it: the status and headers (names in lower case, repeated ones joined with ", "), the body
 * read to its end before the answer is handed on (client-node's generated code does not read the body of a 401), gzip
 * asked for and undone (kube-apiserver compresses large lists), failures as undici raises them (lib/kube/errors.ts
 * finds their network code with or without fetch's `TypeError` around them). The watch keeps client-node's `Watch`
 * contract: `done` once, a connect and then an inactivity timeout, the AbortController handed back. A followed pod log
 * (`podLogStream`) is read the same way, instead of client-node's `Log`, which also answers every refusal without its
 * Status (a follow of a container that is waiting to start said "HTTP 400" instead of why).
 */
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { StringDecoder } from "node:string_decoder";
import { STATUS_CODES } from "node:http";
import type { Readable } from "node:stream";
import {
  ApiException,
  HttpMethod,
  RequestContext,
  ResponseContext,
  type KubeConfig,
  type PromiseHttpLibrary,
} from "@kubernetes/client-node";
import { request, type Dispatcher } from "undici";

const gunzipAsync = promisify(gunzip);

type Headers = Record<string, string>;

/** undici's answer headers as fetch's `Headers` showed them to client-node: one string per (lower-case) name. */
function flatHeaders(raw: Dispatcher.ResponseData["headers"]): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/**
 * The body as client-node's RequestContext holds it, in a form `request` sends: the Kubernetes API takes JSON (or
 * YAML) text; a multipart form (which no Kubernetes API takes) is refused rather than sent wrong.
 */
function requestBody(body: ReturnType<RequestContext["getBody"]>): string | Buffer | null {
  if (body === undefined) return null;
  if (typeof body === "string" || Buffer.isBuffer(body)) return body;
  if (body instanceof URLSearchParams) return body.toString();
  throw new TypeError("a multipart request body is not supported by the suite's Kubernetes client");
}

/** The connection pool client-node's authentication chose for the request, as `request` takes it. */
function dispatcherOf(context: RequestContext): { dispatcher?: Dispatcher } {
  const dispatcher = context.getDispatcher() as Dispatcher | undefined;
  return dispatcher === undefined ? {} : { dispatcher };
}

/** A PromiseHttpLibrary for client-node's Configuration (`wrapHttpLibrary`), over undici's `request`. */
export class UndiciRequestLibrary implements PromiseHttpLibrary {
  async send(context: RequestContext): Promise<ResponseContext> {
    const answer = await request(context.getUrl(), {
      method: context.getHttpMethod() as Dispatcher.HttpMethod,
      headers: { "accept-encoding": "gzip", ...context.getHeaders() },
      body: requestBody(context.getBody()),
      signal: context.getSignal() ?? null,
      ...dispatcherOf(context),
    });
    const headers = flatHeaders(answer.headers);
    let bytes = Buffer.from(await answer.body.arrayBuffer());
    if (headers["content-encoding"] === "gzip") bytes = await gunzipAsync(bytes);
    return new ResponseContext(answer.statusCode, headers, {
      text: () => Promise.resolve(bytes.toString("utf8")),
      binary: () => Promise.resolve(bytes),
      stream: () => new Blob([bytes]).stream(),
    });
  }
}

export type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

/**
 * client-node's `Watch.watch`, reading the stream with `request`: opens `path?watch=true&<queryParams>` and calls
 * `callback(type, object, event)` for each line of the answer (a line that is not JSON is skipped), then `done(err)`
 * once, when the stream ends (null), fails, or was aborted through the AbortController answered (null). Until the
 * answer's headers, and then between two chunks, at most `timeoutMs` may pass; after that `done` gets a TimeoutError.
 */
export async function watchStream(
  kubeConfig: KubeConfig,
  path: string,
  queryParams: Record<string, string | number | boolean | undefined>,
  callback: WatchCallback,
  done: (err: unknown) => void,
  timeoutMs = 30_000,
): Promise<AbortController> {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error("No currently active cluster");
  const url = new URL(cluster.server + path);
  url.searchParams.set("watch", "true");
  for (const [key, value] of Object.entries(queryParams)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const controller = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let doneCalled = false;
  const resetTimer = (): void => {
    if (doneCalled) return;
    if (timer !== undefined) {
      timer.refresh();
      return;
    }
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort(timeoutError());
    }, timeoutMs);
    timer.unref();
  };
  const doneOnce = (err: unknown): void => {
    if (doneCalled) return;
    doneCalled = true;
    if (timer !== undefined) clearTimeout(timer);
    controller.abort();
    done(err !== null && err !== undefined && timedOut ? timeoutError() : err);
  };
  const context = new RequestContext(url.toString(), HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(context);
  try {
    resetTimer();
    const answer = await request(url, {
      method: "GET",
      headers: context.getHeaders(),
      signal: controller.signal,
      ...dispatcherOf(context),
    });
    const body = answer.body;
    if (answer.statusCode !== 200) {
      body.destroy();
      throw Object.assign(new Error(STATUS_CODES[answer.statusCode] ?? "Internal Server Error"), {
        statusCode: answer.statusCode,
      });
    }
    // The connect timeout is over; from here on it is an inactivity timeout.
    resetTimer();
    const decoder = new StringDecoder("utf8");
    let pending = "";
    const emit = (line: string): void => {
      if (line === "") return;
      let event: { type?: unknown; object?: unknown };
      try {
        event = JSON.parse(line) as { type?: unknown; object?: unknown };
      } catch {
        return; // as client-node: a line that is not JSON is skipped
      }
      callback(String(event.type), event.object, event);
    };
    body.on("data", (chunk: Buffer) => {
      resetTimer();
      pending += decoder.write(chunk);
      let start = 0;
      for (let newline = pending.indexOf("\n"); newline !== -1; newline = pending.indexOf("\n", start)) {
        emit(pending.slice(start, newline)); // a CRLF's "\r" is JSON whitespace
        start = newline + 1;
      }
      pending = start === 0 ? pending : pending.slice(start);
    });
    body.on("end", () => {
      emit(pending + decoder.end());
      pending = "";
      doneOnce(null);
    });
    body.on("error", doneOnce);
    body.on("close", () => doneOnce(null));
  } catch (err) {
    doneOnce(err);
  }
  return controller;
}

/** What a pod's log is asked with (the API's query parameters of `GET .../pods/<pod>/log`). */
export interface PodLogQuery {
  container: string;
  follow?: boolean | undefined;
  tailLines?: number | undefined;
  sinceSeconds?: number | undefined;
  limitBytes?: number | undefined;
  previous?: boolean | undefined;
  timestamps?: boolean | undefined;
}

/**
 * Opens `GET /api/v1/namespaces/<namespace>/pods/<pod>/log` and answers its body as a Node stream, with the
 * AbortController that ends it. Any answer but 200 is thrown as client-node's ApiException with the API's Status as
 * its body (lib/kube/errors.ts reads its reason and message: a missing pod is a 404 naming it, a container waiting to
 * start a 400 saying so); a failure to connect is undici's own error.
 */
export async function podLogStream(
  kubeConfig: KubeConfig,
  namespace: string,
  pod: string,
  query: PodLogQuery,
): Promise<{ stream: Readable; controller: AbortController }> {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error("No currently active cluster");
  const url = new URL(
    `${cluster.server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log`,
  );
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const controller = new AbortController();
  const context = new RequestContext(url.toString(), HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(context);
  const answer = await request(url, {
    method: "GET",
    headers: context.getHeaders(),
    signal: controller.signal,
    ...dispatcherOf(context),
  });
  if (answer.statusCode !== 200) {
    const body = await answer.body.text();
    throw new ApiException(
      answer.statusCode,
      `HTTP ${answer.statusCode} from the Kubernetes API`,
      body,
      flatHeaders(answer.headers),
    );
  }
  return { stream: answer.body, controller };
}

/** What client-node's Watch hands `done` when its timeout ended the watch. */
function timeoutError(): DOMException {
  return new DOMException("The operation was aborted due to timeout", "TimeoutError");
}
