/**
 * Metrics whose samples are computed at scrape time (see metrics.ts): a
 * prom-client Counter or Gauge whose collect() replaces every sample with
 * what `samples()` returns. A counter is set by reset + inc(total), so the
 * source must only ever give totals that grow.
 */
import { Counter, Gauge, type Registry } from "prom-client";

export type Labels = Record<string, string>;
/** Label set (empty for a metric without labels) and value. */
export type Samples = Array<[Labels, number]>;

/** Registers a counter on `reg` whose samples come from `samples()` at each scrape. */
export function counter(
  reg: Registry,
  name: string,
  help: string,
  labelNames: string[],
  samples: () => Samples,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [reg],
    collect() {
      this.reset();
      for (const [labels, value] of samples()) {
        if (labelNames.length === 0) this.inc(value);
        else this.inc(labels, value);
      }
    },
  });
}

/** Registers a gauge on `reg` whose samples come from `samples()` at each scrape. */
export function gauge(
  reg: Registry,
  name: string,
  help: string,
  labelNames: string[],
  samples: () => Samples,
): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [reg],
    collect() {
      this.reset();
      for (const [labels, value] of samples()) {
        if (labelNames.length === 0) this.set(value);
        else this.set(labels, value);
      }
    },
  });
}
