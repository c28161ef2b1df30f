/**
 * esbuild plugin: etcd3 parses its gRPC .proto files from disk when its
 * connection pool module loads, which a single executable cannot do. At
 * build time this plugin parses the same files with protobufjs (keepCase,
 * as proto-loader would) and rewrites that one loadSync call into
 * proto-loader's fromJSON with the descriptor inlined and the options
 * unchanged. It then checks that both routes yield the same services and
 * methods, so an etcd3 upgrade that changes the call fails the build.
 */
import { readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { rootPath } from "../util.mjs";

// esbuild reports real paths: resolve a symlinked node_modules too.
const POOL_JS = realpathSync(rootPath("node_modules", "etcd3", "lib", "connection-pool.js"));
const RPC_PROTO = rootPath("node_modules", "etcd3", "proto", "rpc.proto");
const LOAD_CALL =
  /\(0, proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`, \{/g;

/** The same options connection-pool.js passes (functions can't be JSON). */
const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

// Resolve protobufjs and proto-loader the way etcd3 does, so the build uses
// the very copies that end up in the bundle.
const requireFromEtcd3 = createRequire(rootPath("node_modules", "etcd3", "lib", "index.js"));

function etcdDescriptorJson() {
  const protobuf = requireFromEtcd3("protobufjs");
  const root = new protobuf.Root();
  root.loadSync(RPC_PROTO, { keepCase: true });
  root.resolveAll();
  return root.toJSON();
}

/** Method paths per service of a proto-loader package definition. */
function serviceShape(definition) {
  const shape = {};
  for (const [name, entry] of Object.entries(definition)) {
    if (entry.format !== undefined) continue; // a message or enum, not a service
    shape[name] = Object.values(entry).map(
      (m) => `${m.path} ${m.requestStream} ${m.responseStream}`,
    );
  }
  return JSON.stringify(shape);
}

function checkEquivalent(json) {
  const loader = requireFromEtcd3("@grpc/proto-loader");
  const fromDisk = serviceShape(loader.loadSync(RPC_PROTO, LOADER_OPTIONS));
  const fromJson = serviceShape(loader.fromJSON(json, LOADER_OPTIONS));
  if (fromDisk !== fromJson || fromDisk === "{}") {
    throw new Error("the inlined descriptor defines different services than rpc.proto");
  }
}

/** Returns the plugin. */
export function etcdProtoPlugin() {
  return {
    name: "etcd-proto",
    setup(build) {
      build.onLoad({ filter: /[\\/]connection-pool\.js$/ }, (args) => {
        if (args.path !== POOL_JS) return undefined;
        try {
          const json = etcdDescriptorJson();
          checkEquivalent(json);
          const source = readFileSync(POOL_JS, "utf8");
          const matches = source.match(LOAD_CALL)?.length ?? 0;
          if (matches !== 1) {
            throw new Error(`expected one loadSync call in ${POOL_JS}, found ${matches}`);
          }
          const contents = source.replace(
            LOAD_CALL,
            `(0, proto_loader_1.fromJSON)(${JSON.stringify(json)}, {`,
          );
          return { contents, loader: "js", resolveDir: rootPath("node_modules", "etcd3", "lib") };
        } catch (err) {
          return { errors: [{ text: `Cannot inline etcd3's proto files: ${err.message}` }] };
        }
      });
    },
  };
}
