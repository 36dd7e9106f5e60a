/**
 * Raw HTTP for the fuzz tests: node:http (not fetch, whose URL parser would normalise `..` and `%2e%2e` away and
 * refuse some headers), keep-alive, a deadline per request, and the answer's status, headers and text.
 */
import http from "node:http";

export interface RawRequest {
  method: string;
  /** Path and query string, sent exactly as given. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export function createClient(baseUrl: string, maxSockets = 16) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  return {
    /**
     * Sends once; a request that met a reset on a kept-alive socket the server had just closed (the race Node's docs
     * describe for `request.reusedSocket`) is sent once more on a new socket, as HTTP clients do.
     */
    async send(req: RawRequest, timeoutMs = 20_000, streamMs?: number): Promise<RawResponse> {
      try {
        return await once(req, timeoutMs, streamMs);
      } catch (err) {
        if (!(err instanceof ReusedSocketReset)) throw err;
        return once(req, timeoutMs, streamMs);
      }
    },
    close(): void {
      agent.destroy();
    },
  };

  /** With `streamMs`, a 2xx answer is taken as it stands that long after its headers (a watch never ends). */
  function once(req: RawRequest, timeoutMs: number, streamMs?: number): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
      const r = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: req.method,
          path: req.path,
          agent,
          headers: { ...req.headers, ...(body === undefined ? {} : { "Content-Length": String(body.length) }) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          const answer = (): RawResponse => ({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString("utf8"),
          });
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(answer()));
          res.on("error", reject);
          const status = res.statusCode ?? 0;
          if (streamMs !== undefined && status >= 200 && status < 300) {
            setTimeout(() => {
              resolve(answer());
              r.destroy();
            }, streamMs);
          }
        },
      );
      r.setTimeout(timeoutMs, () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      r.on("error", (err: Error & { code?: string }) =>
        reject(r.reusedSocket && err.code === "ECONNRESET" ? new ReusedSocketReset(err.message) : err),
      );
      r.end(body);
    });
  }
}

class ReusedSocketReset extends Error {}
