import { afterEach, describe, expect, it } from "@jest/globals";
import { Agent, createServer, request, ServerResponse, type IncomingMessage, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { TurnBatchedResponse } from "../../lib/turn-batched-response.ts";

/**
 * The gateway's ServerResponse (lib/turn-batched-response.ts) writes the answers ended in one event-loop turn together
 * at the end of the turn. What a client and the code that answers can see must be what Node's own ServerResponse
 * gives: every case below but the first runs against both classes.
 */
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: string;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(responseClass: typeof ServerResponse, handler: Handler): Promise<number> {
  const server = createServer({ ServerResponse: responseClass }, handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function get(port: number, path = "/", agent?: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, ...(agent === undefined ? {} : { agent }) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** What the handler saw right after end(), in the same turn, and later. */
interface Seen {
  headersSent?: boolean;
  writableEnded?: boolean;
  bytesWritten?: number;
  finished?: boolean;
  callback?: boolean;
  thrown?: string;
}

describe("TurnBatchedResponse", () => {
  it("writes an answer at the end of the turn that ended it, not during end()", async () => {
    for (const [responseClass, writtenAtEnd] of [
      [ServerResponse, true],
      [TurnBatchedResponse, false],
    ] as const) {
      let seen: Seen = {};
      const port = await serve(responseClass, (_req, res) => {
        res.end("hello");
        seen = { bytesWritten: res.socket?.bytesWritten ?? -1 };
      });
      expect(await get(port)).toMatchObject({ status: 200, body: "hello" });
      expect(seen.bytesWritten !== 0).toBe(writtenAtEnd);
    }
  });

  describe.each([
    ["Node's ServerResponse", ServerResponse],
    ["TurnBatchedResponse", TurnBatchedResponse],
  ])("answers as %s does", (_name, responseClass) => {
    it("answers many requests of one turn, each with its own status, headers and body", async () => {
      const port = await serve(responseClass, (req, res) => {
        const n = Number(req.url?.slice(1));
        res.setHeader("X-N", String(n));
        res.statusCode = 200 + (n % 3);
        res.end(JSON.stringify({ n }));
      });
      // Forty connections at once: the server reads several requests per turn.
      const agent = new Agent({ keepAlive: true, maxSockets: 40 });
      const answers = await Promise.all(Array.from({ length: 200 }, (_, n) => get(port, `/${n}`, agent)));
      agent.destroy();
      answers.forEach((a, n) => {
        expect(a).toMatchObject({ status: 200 + (n % 3), body: JSON.stringify({ n }) });
        expect(a.headers["x-n"]).toBe(String(n));
      });
    });

    it("says the answer is sent from end() on; 'finish' and the end callback follow", async () => {
      let seen: Seen = {};
      const done = new Promise<void>((resolve) => {
        void serve(responseClass, (_req, res) => {
          res.on("finish", () => {
            seen.finished = true;
            resolve();
          });
          res.end("x", () => (seen.callback = true));
          seen = { ...seen, headersSent: res.headersSent, writableEnded: res.writableEnded };
        }).then((port) => get(port));
      });
      await done;
      await new Promise((resolve) => setImmediate(resolve));
      expect(seen).toEqual({ headersSent: true, writableEnded: true, finished: true, callback: true });
    });

    it("refuses a header set after end() as Node does, and the client gets the first answer whole", async () => {
      const seen: Seen = {};
      const port = await serve(responseClass, (_req, res) => {
        res.setHeader("X-First", "1");
        res.end("first");
        try {
          res.setHeader("X-Second", "2");
        } catch (err) {
          seen.thrown = (err as { code?: string }).code ?? String(err);
        }
        try {
          res.writeHead(500);
        } catch (err) {
          seen.thrown += ` ${(err as { code?: string }).code ?? String(err)}`;
        }
      });
      const answer = await get(port);
      expect(answer).toMatchObject({ status: 200, body: "first" });
      expect(answer.headers["x-first"]).toBe("1");
      expect(answer.headers["x-second"]).toBeUndefined();
      expect(seen.thrown).toBe("ERR_HTTP_HEADERS_SENT ERR_HTTP_HEADERS_SENT");
    });

    it("reports a second end() and a write after end() as Node does; the client gets the first answer", async () => {
      const reported: string[] = [];
      const port = await serve(responseClass, (_req, res) => {
        res.on("error", (err: { code?: string }) => reported.push(`error ${err.code ?? "?"}`));
        res.end("one");
        res.end("two");
        res.write("three", (err) => reported.push(`callback ${(err as { code?: string } | null)?.code ?? "none"}`));
      });
      expect(await get(port)).toMatchObject({ status: 200, body: "one" });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(reported.sort()).toEqual([
        "callback ERR_STREAM_WRITE_AFTER_END",
        "error ERR_STREAM_WRITE_AFTER_END",
        "error ERR_STREAM_WRITE_AFTER_END",
      ]);
    });

    it("refuses an argument end() cannot send at the call, so that the handler can still answer", async () => {
      let seen: Seen = {};
      const port = await serve(responseClass, (_req, res) => {
        try {
          res.end(42 as unknown as string);
        } catch (err) {
          seen = { thrown: (err as { code?: string }).code ?? String(err) };
          res.statusCode = 500;
          res.end("refused");
        }
      });
      expect(await get(port)).toMatchObject({ status: 500, body: "refused" });
      expect(seen.thrown).toBe("ERR_INVALID_ARG_TYPE");
    });

    it("answers pipelined requests on one connection in order", async () => {
      const port = await serve(responseClass, (req, res) => {
        res.setHeader("Content-Type", "text/plain");
        res.end(`answer to ${req.url ?? "?"}`);
      });
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, "127.0.0.1", () => {
          // Three requests in one write: Node parses them in one turn and queues the later answers behind the first.
          socket.write(
            "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n" +
              "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
          );
        });
        let text = "";
        socket.setEncoding("utf8");
        socket.on("data", (chunk: string) => (text += chunk));
        socket.on("end", () => resolve(text));
        socket.on("error", reject);
      });
      const bodies = raw
        .split("\r\n\r\n")
        .slice(1)
        .map((part) => part.split("HTTP/1.1")[0]);
      expect(bodies).toEqual(["answer to /1", "answer to /2", "answer to /3"]);
    });

    it("sends a streamed answer whole and in order", async () => {
      const port = await serve(responseClass, (_req, res) => {
        res.setHeader("Content-Type", "text/plain");
        res.write("a");
        setTimeout(() => {
          res.write("b");
          res.end("c");
        }, 5);
      });
      expect(await get(port)).toMatchObject({ status: 200, body: "abc" });
    });
  });

  it("closes the connection when Node refuses an end() at the end of the turn, and goes on serving", async () => {
    const port = await serve(TurnBatchedResponse, (req, res) => {
      if (req.url === "/mismatch") {
        // Node checks the length it was promised only when end() is carried out: here, after the handler returned.
        res.strictContentLength = true;
        res.setHeader("Content-Length", "10");
        res.end("short");
        return;
      }
      res.end("fine");
    });
    await expect(get(port, "/mismatch")).rejects.toThrow();
    expect(await get(port, "/ok")).toMatchObject({ status: 200, body: "fine" });
  });
});
