/**
 * Test PKI made with the openssl CLI: a CA, a server certificate for the
 * given IP addresses, a client certificate, and a second CA that signed
 * nothing (for "wrong CA" cases). EC P-256 keys, valid two days.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCerts {
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  readonly otherCaFile: string;
}

function openssl(dir: string, args: readonly string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/** Writes the PKI into `dir`; the server certificate is valid for `ips` and localhost. */
export function makeCerts(dir: string, ips: readonly string[]): TestCerts {
  const f = (name: string): string => join(dir, name);
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  for (const ca of ["ca", "other-ca"]) {
    openssl(dir, [
      "req",
      "-x509",
      ...key,
      "-keyout",
      f(`${ca}.key`),
      "-out",
      f(`${ca}.crt`),
      "-days",
      "2",
      "-subj",
      `/CN=flannel test ${ca}`,
    ]);
  }
  const san = [...ips.map((ip) => `IP:${ip}`), "DNS:localhost"].join(",");
  writeFileSync(f("server.ext"), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  writeFileSync(f("client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [name, cn] of [
    ["server", "etcd"],
    ["client", "flanneld"],
  ] as const) {
    openssl(dir, [
      "req",
      ...key,
      "-keyout",
      f(`${name}.key`),
      "-out",
      f(`${name}.csr`),
      "-subj",
      `/CN=${cn}`,
    ]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      f(`${name}.csr`),
      "-CA",
      f("ca.crt"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      f(`${name}.crt`),
      "-extfile",
      f(`${name}.ext`),
    ]);
  }
  return {
    caFile: f("ca.crt"),
    serverCertFile: f("server.crt"),
    serverKeyFile: f("server.key"),
    clientCertFile: f("client.crt"),
    clientKeyFile: f("client.key"),
    otherCaFile: f("other-ca.crt"),
  };
}
