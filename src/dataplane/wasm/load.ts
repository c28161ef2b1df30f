/**
 * Compiling and instantiating the packet core. The module is compiled once
 * per byte array and may be instantiated several times; instances get no
 * imports, because the core imports nothing from the host (asconfig.json
 * removes even `abort`), and this is checked rather than assumed.
 *
 * The project's TypeScript lib (ES2023 + Node types) has no WebAssembly
 * declarations and pulling in "dom" would leak browser globals everywhere,
 * so the few API members used here are typed locally.
 */

/** A compiled WebAssembly.Module (opaque here). */
export interface WasmModule {
  readonly [Symbol.toStringTag]: string;
}

/** The WebAssembly.Memory members the façade reads. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

/** What instantiateCore() returns: the raw exports, checked for the start-up ones. */
export type RawExports = Record<string, unknown> & { readonly memory: WasmMemory };

interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: object): Promise<{ exports: Record<string, unknown> }>;
  Module: { imports(module: WasmModule): Array<{ module: string; name: string }> };
  Memory: abstract new (...args: never[]) => WasmMemory;
}

const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Exports checked here; each façade checks the ones it wraps (abi.ts requireExports). */
const EXPORTED_FUNCTIONS = ["abiVersion", "init"] as const;

const compiled = new WeakMap<Uint8Array, Promise<WasmModule>>();

/**
 * Compiles the core, once per `bytes` object. Rejects when the bytes are
 * not valid WebAssembly or the module imports anything.
 */
export function compileCore(bytes: Uint8Array): Promise<WasmModule> {
  let pending = compiled.get(bytes);
  if (pending === undefined) {
    pending = compile(bytes);
    compiled.set(bytes, pending);
  }
  return pending;
}

async function compile(bytes: Uint8Array): Promise<WasmModule> {
  let module: WasmModule;
  try {
    module = await wasm.compile(bytes);
  } catch (err) {
    throw new Error("Cannot compile the packet core: invalid WebAssembly", { cause: err });
  }
  const imports = wasm.Module.imports(module);
  if (imports.length > 0) {
    const names = imports.map((i) => `${i.module}.${i.name}`).join(", ");
    throw new Error(`Cannot use the packet core: it imports ${names}`);
  }
  return module;
}

/** Instantiates a compiled core with no imports and checks its exports. */
export async function instantiateCore(module: WasmModule): Promise<RawExports> {
  const { exports } = await wasm.instantiate(module, {});
  if (!(exports["memory"] instanceof wasm.Memory)) {
    throw new Error("Cannot use the packet core: it does not export its memory");
  }
  for (const name of EXPORTED_FUNCTIONS) {
    if (typeof exports[name] !== "function") {
      throw new Error(`Cannot use the packet core: export ${name} is missing`);
    }
  }
  return exports as RawExports;
}
