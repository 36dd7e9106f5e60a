import { describe, expect, it } from "@jest/globals";
import { X509Certificate } from "node:crypto";
import { selfSignedCertificate, serialNumber } from "../../../lib/sandbox/http/tls.ts";

describe("selfSignedCertificate", () => {
  it.each([
    ["0x00 then a byte below 0x80 (was illegal padding)", [0x00, 0x10]],
    ["0x80 (was masked to 0x00)", [0x80, 0x01]],
    ["0xff", [0xff, 0xff]],
    ["0x01", [0x01, 0x00]],
  ])("makes a certificate OpenSSL parses when the random serial starts %s", (_label, head) => {
    const random = Buffer.alloc(16, 0x11);
    Buffer.from(head).copy(random);
    const { cert } = selfSignedCertificate("sandbox", random);
    const x509 = new X509Certificate(cert);
    expect(x509.checkHost("localhost")).toBe("localhost");
    expect(x509.checkIP("127.0.0.1")).toBe("127.0.0.1");
  });

  it("keeps a serial positive and minimal", () => {
    for (let first = 0; first < 256; first++) {
      const serial = serialNumber(Buffer.from([first, 0x00, 0x00]));
      expect(serial[0]).toBeGreaterThanOrEqual(0x40);
      expect(serial[0]).toBeLessThan(0x80);
    }
  });
});
