/**
 * The pure rules of image builds against the catalog: which build's results stand on an image record
 * (mixins/image-build.mixin.ts `standingBuild`), and how an admin's new tag or digest is written into `image`
 * (services/images.service.ts `referenceWith`).
 */
import { describe, expect, it } from "@jest/globals";
import { standingBuild, type ImageBuild } from "../../mixins/image-build.mixin.ts";
import { dataVolumeName, referenceWith } from "../../services/images.service.ts";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;

function build(id: string, status: ImageBuild["status"], tag: string, digest?: string): ImageBuild {
  return {
    id,
    tag,
    destination: `docker.io/library/nginx:${tag}`,
    ...(digest === undefined ? {} : { digest }),
    status,
    namespace: "moleculer-k8s-builds",
    job: `build-nginx-${id}`,
    source: { git: "https://example.com/a.git", dockerfile: "Dockerfile" },
    startedAt: "2026-01-01T00:00:00.000Z",
  };
}

describe("standingBuild", () => {
  const ok = build("a", "Succeeded", "2.0.0", D1);
  const record = { tag: "2.0.0", digest: D1, image: `docker.io/library/nginx:2.0.0@${D1}` };

  it("is the newest Succeeded build while the record holds its tag, digest and image", () => {
    expect(standingBuild({ ...record, builds: [ok] })).toBe(ok);
    // Later failed or running builds change nothing.
    expect(standingBuild({ ...record, builds: [ok, build("b", "Failed", "3"), build("c", "Running", "4")] })).toBe(ok);
    // A build recorded before images were pinned by digest (image = destination).
    expect(standingBuild({ ...record, image: "docker.io/library/nginx:2.0.0", builds: [ok] })).toBe(ok);
  });

  it("is none after an admin change of tag, digest or image, a newer build, or without a successful build", () => {
    expect(standingBuild({ ...record, tag: "2.0.1", builds: [ok] })).toBeUndefined();
    expect(standingBuild({ ...record, digest: D2, builds: [ok] })).toBeUndefined();
    expect(standingBuild({ ...record, image: "nginx:1.27", builds: [ok] })).toBeUndefined();
    expect(standingBuild({ ...record, builds: [ok, build("b", "Succeeded", "3.0.0", D2)] })).toBeUndefined();
    expect(standingBuild({ ...record, builds: [build("b", "Failed", "2.0.0")] })).toBeUndefined();
    expect(standingBuild({ ...record })).toBeUndefined();
  });
});

describe("referenceWith", () => {
  it("replaces the tag `image` names, dropping a digest that belonged to the old tag", () => {
    expect(referenceWith("nginx:1.27", { tag: "1.28" })).toBe("nginx:1.28");
    expect(referenceWith(`docker.io/library/nginx:2.0.0@${D1}`, { tag: "2.0.1" })).toBe(
      "docker.io/library/nginx:2.0.1",
    );
    expect(referenceWith(`docker.io/library/nginx:2.0.0@${D1}`, { tag: "2.0.1", digest: D2 })).toBe(
      `docker.io/library/nginx:2.0.1@${D2}`,
    );
    expect(referenceWith("localhost:5000/team/app:1", { tag: "2" })).toBe("localhost:5000/team/app:2");
  });

  it("replaces a digest `image` names, and leaves an `image` without tag or digest as it is", () => {
    expect(referenceWith(`nginx:1.27@${D1}`, { digest: D2 })).toBe(`nginx:1.27@${D2}`);
    expect(referenceWith("nginx:1.27", { digest: D2 })).toBe("nginx:1.27");
    expect(referenceWith("localhost:5000/app", { tag: "2", digest: D2 })).toBe("localhost:5000/app");
    expect(referenceWith("nginx:1.27", { tag: "1.27" })).toBe("nginx:1.27");
  });
});

describe("dataVolumeName", () => {
  it("names a deployment's data volume <deployment>-<volume>, a DNS label of at most 63 characters, unique", () => {
    expect(dataVolumeName("db", "postgres-data")).toBe("db-postgres-data");
    const long = dataVolumeName("a".repeat(55), "b".repeat(20));
    expect(long).toBe(`${"a".repeat(55)}-${"b".repeat(7)}`);
    expect(long).toHaveLength(63);
    // Cut right after a '-': no trailing '-'.
    expect(dataVolumeName("a".repeat(62), "data")).toBe("a".repeat(62));
    // Two volumes whose names cut to the same: the second gets a number.
    expect(dataVolumeName("a".repeat(55), `${"b".repeat(7)}x`, [long])).toBe(`${"a".repeat(55)}-bbb-2`);
  });
});
