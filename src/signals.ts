/**
 * SIGTERM/SIGINT → one AbortSignal for the whole process.
 *
 * Imported first by main.ts so that the handlers are installed before the
 * rest of the program loads: a signal that arrives during start-up still
 * ends the daemon cleanly (exit 0) instead of killing it mid-way. After the
 * first signal the handlers are removed, so a second one kills the process
 * with the default action, as upstream.
 */
const controller = new AbortController();
let received: NodeJS.Signals | undefined;

function onSignal(sig: NodeJS.Signals): void {
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  received = sig;
  controller.abort(new Error(`Received ${sig}`));
}

process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);

/** Aborted by the first SIGTERM or SIGINT. */
export const shutdownSignal: AbortSignal = controller.signal;

/** The signal that aborted `shutdownSignal`, if any. */
export function receivedSignal(): NodeJS.Signals | undefined {
  return received;
}
