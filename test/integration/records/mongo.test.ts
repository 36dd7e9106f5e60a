/**
 * The record services on MongoDB (moleculer-db-adapter-mongo). The tests against a live server run only when MONGO_URI
 * is set (each run uses, then drops, its own database); without it a single test says that they were skipped.
 * The "Mongo is down" test needs no server and always runs.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { ServiceBroker } from "moleculer";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { NamespaceEntity } from "../../../lib/entities.ts";
import { as, createRecordsBroker } from "../../helpers/records.ts";

const MONGO_URI = process.env.MONGO_URI?.trim() || undefined;
const alice = as("alice");

describe("v1.k8s.namespaces on MongoDB when it is down", () => {
  it("starts unready and answers 503 DATABASE_UNAVAILABLE instead of hanging", async () => {
    const broker = await createRecordsBroker({
      services: ["namespaces"],
      settings: {
        namespaces: { db: { mongoUri: "mongodb://127.0.0.1:1/x", mongoOptions: { serverSelectionTimeoutMS: 300 } } },
      },
    });
    const unavailable = { code: 503, type: "DATABASE_UNAVAILABLE", retryable: true };
    await expect(broker.call("v1.k8s.namespaces.readiness")).rejects.toMatchObject(unavailable);
    await expect(broker.call("v1.k8s.namespaces.create", { name: "x" }, alice)).rejects.toMatchObject(unavailable);
    // The caller learns nothing about hosts or drivers.
    const err = await broker.call("v1.k8s.namespaces.count").catch((e: unknown) => e);
    expect(String((err as Error).message)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    await broker.stop();
  });
});

if (MONGO_URI === undefined) {
  describe("v1.k8s.namespaces on MongoDB", () => {
    it("is skipped: MONGO_URI is not set", () => {
      console.log("mongo.test.ts: MONGO_URI is not set, the MongoDB tests were SKIPPED (set MONGO_URI to run them)");
      expect(process.env.MONGO_URI?.trim() || undefined).toBeUndefined();
    });
  });
} else {
  const uri = MONGO_URI;
  describe("v1.k8s.namespaces and v1.k8s.images on MongoDB", () => {
    const database = `moleculer_k8s_test_${process.pid}_${Date.now()}`;
    const brokers: ServiceBroker[] = [];
    let imagesDir: string;
    const start = async () => {
      const broker = await createRecordsBroker({
        mongoUri: uri,
        imagesDir,
        settings: {
          namespaces: { db: { mongoUri: uri, mongoDatabase: database } },
          images: { db: { mongoUri: uri, mongoDatabase: database } },
        },
      });
      brokers.push(broker);
      return broker;
    };

    beforeAll(async () => {
      imagesDir = await mkdtemp(path.join(tmpdir(), "moleculer-k8s-mongo-images-"));
    });
    afterAll(async () => {
      const last = brokers[brokers.length - 1];
      if (last !== undefined) {
        const svc = last.getLocalService({ name: "k8s.namespaces", version: 1 }) as unknown as {
          adapter: { db: { dropDatabase(): Promise<unknown> } };
        };
        await svc.adapter.db.dropDatabase();
      }
      for (const b of brokers) await b.stop();
      await rm(imagesDir, { recursive: true, force: true });
    });

    it("creates, reads, filters by membership and keeps records across a restart", async () => {
      const first = await start();
      await expect(first.call("v1.k8s.namespaces.readiness")).resolves.toEqual({
        ready: true,
        checks: { database: "ok" },
      });
      const ns = await first.call<NamespaceEntity, object>("v1.k8s.namespaces.create", { name: "mongo-ns" }, alice);
      expect(ns.id).toMatch(/^[0-9A-Za-z]{20}$/);
      await expect(first.call("v1.k8s.namespaces.count", {}, as("bob"))).resolves.toBe(0);
      await expect(first.call("v1.k8s.namespaces.count", {}, alice)).resolves.toBe(1);
      await expect(
        first.call("v1.k8s.namespaces.find", { query: { $or: [{}, { name: "mongo-ns" }] } }, as("bob")),
      ).resolves.toEqual([]);
      const updated = await first.call<NamespaceEntity, object>(
        "v1.k8s.namespaces.update",
        { id: ns.id, quota: { pods: 2 } },
        alice,
      );
      await first.stop();
      const second = await start();
      await expect(second.call("v1.k8s.namespaces.get", { id: ns.id }, alice)).resolves.toEqual(updated);
    });

    it("answers 20 concurrent creates of one name with one success and nineteen 409 (duplicate key 11000)", async () => {
      const broker = brokers[brokers.length - 1] ?? (await start());
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          broker.call("v1.k8s.namespaces.create", { name: "mongo-race" }, as(`u${i}`)),
        ),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of results) {
        if (r.status === "rejected") expect(r.reason).toMatchObject({ code: 409, type: "ALREADY_EXISTS" });
      }
    });

    it("refuses $where and malformed operators with 422", async () => {
      const broker = brokers[brokers.length - 1] ?? (await start());
      await expect(broker.call("v1.k8s.namespaces.find", { query: { $where: "1" } })).rejects.toMatchObject({
        code: 422,
      });
      await expect(broker.call("v1.k8s.namespaces.find", { query: { name: { $nope: 1 } } })).rejects.toMatchObject({
        code: 422,
      });
    });
  });
}
