import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { ServiceBroker } from "moleculer";
import { mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { NamespaceEntity } from "../../../lib/entities.ts";
import { as, asAdmin, createRecordsBroker } from "../../helpers/records.ts";

const alice = as("alice");
let dataDir: string;
const started: ServiceBroker[] = [];

/** How many of this process's file descriptors are open on `file` (Linux: the links under /proc/self/fd). */
async function handlesOf(file: string): Promise<number> {
  const fds = await readdir("/proc/self/fd");
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => "")));
  return targets.filter((t) => t === file).length;
}

async function start(dir: string): Promise<ServiceBroker> {
  const broker = await createRecordsBroker({ services: ["namespaces"], dataDir: dir });
  started.push(broker);
  return broker;
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "moleculer-k8s-records-"));
});
afterAll(async () => {
  for (const b of started) await b.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe("v1.k8s.namespaces on NeDB files", () => {
  it("keeps records, changes and unique names across a broker restart", async () => {
    const first = await start(dataDir);
    const ns = await first.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "kept" }, alice);
    await first.call("v1.k8s.namespaces.addMember", { id: ns.id, userID: "bob", role: "viewer" }, alice);
    const changed = await first.call<NamespaceEntity, object>(
      "v1.k8s.namespaces.update",
      { id: ns.id, quota: { pods: 4 } },
      asAdmin(),
    );
    const dropped = await first.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "dropped" }, alice);
    await first.call("v1.k8s.namespaces.remove", { id: dropped.id }, alice);
    await first.stop();

    expect(await readFile(path.join(dataDir, "namespaces.db"), "utf8")).toContain('"kept"');

    const second = await start(dataDir);
    await expect(second.call("v1.k8s.namespaces.get", { id: ns.id }, alice)).resolves.toEqual(changed);
    await expect(second.call("v1.k8s.namespaces.get", { id: ns.id }, as("bob"))).resolves.toMatchObject({
      name: "kept",
    });
    await expect(second.call("v1.k8s.namespaces.count")).resolves.toBe(1);
    await expect(second.call("v1.k8s.namespaces.create", { name: "kept" }, alice)).rejects.toMatchObject({
      code: 409,
      type: "ALREADY_EXISTS",
    });
    await second.stop();
  });

  it("defaults to one NeDB file per collection under DATA_DIR when no db settings are given", async () => {
    const dir = path.join(dataDir, "from-env");
    const saved = { DATA_DIR: process.env.DATA_DIR, MONGO_URI: process.env.MONGO_URI };
    process.env.DATA_DIR = dir;
    delete process.env.MONGO_URI;
    try {
      const broker = await createRecordsBroker({ services: ["namespaces"], settings: { namespaces: { db: {} } } });
      started.push(broker);
      await broker.call("v1.k8s.namespaces.create", { name: "env-dir" }, alice);
      await broker.stop();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(await readFile(path.join(dir, "namespaces.db"), "utf8")).toContain('"env-dir"');
  });

  it("answers 503 DATABASE_UNAVAILABLE (retryable) when its file cannot be written, and recovers", async () => {
    const dir = path.join(dataDir, "failing");
    const broker = await start(dir);
    const file = path.join(dir, "namespaces.db");
    const before = await broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "before" }, alice);
    await expect(broker.call("v1.k8s.namespaces.readiness")).resolves.toEqual({
      ready: true,
      checks: { database: "ok" },
    });

    // Put a directory where the data file was: appends fail (even for root, unlike a permission change).
    await rename(file, `${file}.saved`);
    await mkdir(file);
    const unavailable = { code: 503, type: "DATABASE_UNAVAILABLE", retryable: true };
    await expect(broker.call("v1.k8s.namespaces.create", { name: "during" }, alice)).rejects.toMatchObject(unavailable);
    await expect(broker.call("v1.k8s.namespaces.readiness")).rejects.toMatchObject(unavailable);

    await rm(file, { recursive: true });
    await rename(`${file}.saved`, file);
    await expect(broker.call("v1.k8s.namespaces.readiness")).resolves.toMatchObject({ ready: true });
    // The failed create left nothing behind, in memory or on disk.
    await expect(broker.call("v1.k8s.namespaces.count", { query: { name: "during" } })).resolves.toBe(0);
    await expect(broker.call("v1.k8s.namespaces.create", { name: "during" }, alice)).resolves.toMatchObject({
      name: "during",
    });
    await broker.stop();
    const again = await start(dir);
    await expect(again.call("v1.k8s.namespaces.get", { id: before.id })).resolves.toMatchObject({ name: "before" });
    await expect(again.call("v1.k8s.namespaces.count")).resolves.toBe(2);
    await again.stop();
  });

  it("appends every change through one open handle, also after a compaction, and closes it on stop", async () => {
    const dir = path.join(dataDir, "appends");
    const file = path.join(dir, "namespaces.db");
    const broker = await start(dir);
    const first = await broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "one" }, alice);
    await broker.call("v1.k8s.namespaces.update", { id: first.id, quota: { pods: 2 } }, asAdmin());
    expect(await handlesOf(file)).toBe(1);
    // NeDB's compaction writes a new file and renames it over the old one; later changes must land in the new file.
    const svc = broker.getLocalService({ name: "k8s.namespaces", version: 1 }) as unknown as {
      adapter: { db: { compactDatafileAsync(): Promise<void> } };
    };
    await svc.adapter.db.compactDatafileAsync();
    const second = await broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "two" }, alice);
    await broker.call("v1.k8s.namespaces.update", { id: second.id, quota: { pods: 3 } }, asAdmin());
    expect(await handlesOf(file)).toBe(1);
    await broker.stop();
    expect(await handlesOf(file)).toBe(0);

    const again = await start(dir);
    await expect(again.call("v1.k8s.namespaces.get", { id: first.id }, alice)).resolves.toMatchObject({
      quota: { pods: 2 },
    });
    await expect(again.call("v1.k8s.namespaces.get", { id: second.id }, alice)).resolves.toMatchObject({
      name: "two",
      quota: { pods: 3 },
    });
    await again.stop();
  });

  it("compacts its file while running once it has grown past its live size, keeping every record", async () => {
    const dir = path.join(dataDir, "compaction");
    const file = path.join(dir, "namespaces.db");
    const compactAfterBytes = 16 * 1024;
    const broker = await createRecordsBroker({
      services: ["namespaces"],
      settings: { namespaces: { db: { dataDir: dir, compactAfterBytes } } },
    });
    started.push(broker);
    const kept = await broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "kept" }, alice);
    const busy = await broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "busy" }, alice);
    let largest = 0;
    // 400 changes of one record: each appends the whole record (~0.5 KB), ~200 KB in all without compaction.
    for (let pods = 1; pods <= 400; pods += 1) {
      await broker.call("v1.k8s.namespaces.update", { id: busy.id, quota: { pods } }, asAdmin());
      largest = Math.max(largest, (await stat(file)).size);
    }
    const line = (await readFile(file, "utf8")).split("\n").find((l) => l.includes('"busy"'))?.length ?? 0;
    expect(line).toBeGreaterThan(200);
    // Live data: two records and the index lines; the file never held more than the floor past twice that.
    expect(largest).toBeLessThan(compactAfterBytes + 2 * 4 * line + line);
    await broker.stop();

    const again = await start(dir);
    await expect(again.call("v1.k8s.namespaces.get", { id: busy.id }, alice)).resolves.toMatchObject({
      quota: { pods: 400 },
    });
    await expect(again.call("v1.k8s.namespaces.get", { id: kept.id }, alice)).resolves.toMatchObject({ name: "kept" });
    await expect(again.call("v1.k8s.namespaces.count")).resolves.toBe(2);
    await again.stop();
  });

  it("loads a file whose last line was cut short (a power loss mid-append): the cut line is set aside", async () => {
    const dir = path.join(dataDir, "torn");
    const file = path.join(dir, "namespaces.db");
    const broker = await start(dir);
    const kept = await broker.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "kept" }, alice);
    await broker.stop();
    await writeFile(file, `${await readFile(file, "utf8")}{"name":"torn","_id":"abc`);

    const again = await start(dir);
    await expect(again.call("v1.k8s.namespaces.get", { id: kept.id }, alice)).resolves.toMatchObject({ name: "kept" });
    await expect(again.call("v1.k8s.namespaces.count")).resolves.toBe(1);
    await expect(again.call("v1.k8s.namespaces.create", { name: "next" }, alice)).resolves.toMatchObject({
      name: "next",
    });
    const aside = (await readdir(dir)).filter((f) => f.startsWith("namespaces.db.torn-"));
    expect(aside).toHaveLength(1);
    expect(await readFile(path.join(dir, aside[0] ?? ""), "utf8")).toBe('{"name":"torn","_id":"abc');
    await again.stop();
  });

  it("starts unready, instead of hanging, when DATA_DIR cannot be created", async () => {
    const notADir = path.join(dataDir, "plain-file");
    await writeFile(notADir, "not a directory");
    const broker = await start(path.join(notADir, "data"));
    const unavailable = { code: 503, type: "DATABASE_UNAVAILABLE", retryable: true };
    await expect(broker.call("v1.k8s.namespaces.readiness")).rejects.toMatchObject(unavailable);
    await expect(broker.call("v1.k8s.namespaces.list", {}, alice)).rejects.toMatchObject(unavailable);
    await expect(broker.call("v1.k8s.namespaces.create", { name: "x" }, alice)).rejects.toMatchObject(unavailable);
    await broker.stop();
  });

  it("reconnects once DATA_DIR can be created, and then loads the image catalog", async () => {
    const blocker = path.join(dataDir, "blocker");
    await writeFile(blocker, "not a directory");
    const db = { dataDir: path.join(blocker, "data"), retryDelayMs: 50 };
    const broker = await createRecordsBroker({ settings: { namespaces: { db }, images: { db } } });
    started.push(broker);
    await expect(broker.call("v1.k8s.images.readiness")).rejects.toMatchObject({ code: 503 });
    await rm(blocker);
    const deadline = Date.now() + 5000;
    let images = 0;
    while (images < 7 && Date.now() < deadline) {
      images = await broker.call<number>("v1.k8s.images.count").catch(() => 0);
      if (images < 7) await new Promise((r) => setTimeout(r, 20));
    }
    expect(images).toBeGreaterThanOrEqual(7);
    await expect(broker.call("v1.k8s.images.readiness")).resolves.toMatchObject({ ready: true });
    await expect(broker.call("v1.k8s.namespaces.create", { name: "later" }, alice)).resolves.toMatchObject({
      name: "later",
    });
    await broker.stop();
  });
});
