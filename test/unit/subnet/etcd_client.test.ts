/**
 * explain(): gRPC's error text as the daemon logs it, without timestamps,
 * empty resolution notes or OpenSSL's codes, and naming the TLS flags when
 * a certificate is the problem.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { explain } from "../../../src/subnet/etcd_client.js";

const CHECK = " (check --etcd-cafile, --etcd-certfile and --etcd-keyfile)";

describe("explain()", () => {
  const cases: Array<{ name: string; raw: string; text: string }> = [
    {
      name: "drops the empty resolution note",
      raw: "14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ",
      text: "14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1",
    },
    {
      name: "names the TLS flags for a CA that did not sign etcd's certificate",
      raw: "14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate. Resolution note: ",
      text: `14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate${CHECK}`,
    },
    {
      name: "keeps OpenSSL's reason and detail, not its codes, file and line, nor the timestamp",
      raw:
        "14 UNAVAILABLE: No connection established. Last error: 80DC6DB70D7F0000:error:0A000412:SSL routines:" +
        "ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:" +
        "SSL alert number 42\n (2026-11-26T00:00:01.225Z). Resolution note: ",
      text: `14 UNAVAILABLE: No connection established. Last error: sslv3 alert bad certificate (SSL alert number 42)${CHECK}`,
    },
    {
      name: "keeps an OpenSSL reason without detail",
      raw: "Last error: 40F7:error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:1889:",
      text: `Last error: certificate verify failed${CHECK}`,
    },
    {
      name: "leaves other errors alone",
      raw: "3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password",
      text: "3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password",
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => assert.equal(explain(new Error(tc.raw)), tc.text));
  }
});
