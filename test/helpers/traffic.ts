/**
 * Traffic for e2e tests, run inside a namespace as its own process
 * (`ip netns exec <ns> node dist/js/test/helpers/traffic.js <cmd> ...`);
 * each command prints one JSON line on stdout.
 *
 *   tcp-sink <port>                        accept one connection, read to the end: {bytes, sha256}
 *   tcp-send <ip> <port> <file>            send a file, close:                     {bytes, sha256}
 *   udp-sink <port> <ms>                   count datagrams for <ms> after the first: {datagrams, bytes}
 *   udp-send <ip> <port> <count> <size>    send numbered datagrams:                {datagrams}
 *   udp-raw <ip> <port> <hex> [srcIp]      send one datagram of the given bytes:   {sent}
 */
import { createHash } from "node:crypto";
import dgram from "node:dgram";
import { createReadStream } from "node:fs";
import net from "node:net";

function done(result: object): void {
  process.stdout.write(JSON.stringify(result) + "\n");
}

async function main(): Promise<void> {
  const [cmd, ...a] = process.argv.slice(2);
  switch (cmd) {
    case "tcp-sink": {
      const server = net.createServer((sock) => {
        const hash = createHash("sha256");
        let bytes = 0;
        sock.on("data", (d: Buffer) => {
          bytes += d.length;
          hash.update(d);
        });
        sock.on("end", () => {
          done({ bytes, sha256: hash.digest("hex") });
          server.close();
        });
      });
      server.listen(Number(a[0]), () => process.stderr.write("listening\n"));
      return;
    }
    case "tcp-send": {
      const hash = createHash("sha256");
      let bytes = 0;
      const sock = net.connect(Number(a[1]), a[0]!);
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", resolve);
        sock.once("error", reject);
      });
      const file = createReadStream(a[2]!, { highWaterMark: 1 << 20 });
      file.on("data", (d) => {
        const b = d as Buffer;
        bytes += b.length;
        hash.update(b);
      });
      file.pipe(sock);
      await new Promise<void>((resolve, reject) => {
        sock.once("close", () => resolve());
        sock.once("error", reject);
      });
      done({ bytes, sha256: hash.digest("hex") });
      return;
    }
    case "udp-sink": {
      const sock = dgram.createSocket({ type: "udp4", recvBufferSize: 4 << 20 });
      let datagrams = 0;
      let bytes = 0;
      let timer: NodeJS.Timeout | undefined;
      sock.on("message", (m) => {
        datagrams++;
        bytes += m.length;
        timer ??= setTimeout(() => {
          done({ datagrams, bytes });
          sock.close();
        }, Number(a[1]));
      });
      sock.bind(Number(a[0]), () => process.stderr.write("listening\n"));
      return;
    }
    case "udp-send": {
      const sock = dgram.createSocket("udp4");
      const count = Number(a[2]);
      const payload = Buffer.alloc(Number(a[3]), 0x5a);
      for (let i = 0; i < count; i++) {
        payload.writeUInt32BE(i, 0);
        await new Promise<void>((resolve, reject) =>
          sock.send(payload, Number(a[1]), a[0], (err) => (err ? reject(err) : resolve())),
        );
        // Paced (about 10 per ms): the test checks delivery, not how large a
        // burst the receiving application's socket buffer absorbs.
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 1));
      }
      sock.close();
      done({ datagrams: count });
      return;
    }
    case "udp-raw": {
      const sock = dgram.createSocket("udp4");
      if (a[3] !== undefined) await new Promise<void>((resolve) => sock.bind(0, a[3], resolve));
      await new Promise<void>((resolve, reject) =>
        sock.send(Buffer.from(a[2]!, "hex"), Number(a[1]), a[0], (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      sock.close();
      done({ sent: 1 });
      return;
    }
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`traffic: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
