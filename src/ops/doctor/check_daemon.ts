/**
 * Daemon checks: does a flanneld answer on this node's status socket, is it
 * ready, does it hold a lease and how long until that lease expires.
 */
import type { DoctorFacts } from "./facts.js";
import { fail, ok, skip, warn, type CheckResult } from "./result.js";

/** Minutes of slack past the renewal time before a late renewal is worth a warning. */
const RENEW_SLACK_MINUTES = 5;

/** "2d 3h", "23h 12m", "5m 3s", "12s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

const JOURNAL = "`journalctl -u flanneld -e` says why";

export function checkDaemon(f: Pick<DoctorFacts, "daemon" | "now" | "settings">): CheckResult[] {
  const d = f.daemon;
  if (d.state === "not-running" && d.pids.length > 0) {
    const pids = d.pids.join(", ");
    return [
      warn(
        "daemon",
        "daemon",
        `flanneld runs here (pid ${pids}) but does not answer on its status socket (${d.why})`,
        {
          fix: "A daemon without the status API (upstream's flanneld, an older flanneld-ts), or one with another --subnet-file: give the doctor the daemon's flags; the checks below use etcd, subnet.env and the kernel",
          data: { pids },
        },
      ),
      skip("daemon", "lease", "the daemon's report is not available (etcd's view is under etcd)"),
    ];
  }
  if (d.state === "not-running") {
    return [
      fail("daemon", "daemon", `not running (${d.why})`, {
        fix: `Start it: \`systemctl start flanneld\`; ${JOURNAL} it stopped. The checks below use etcd, subnet.env and the kernel only`,
      }),
      skip("daemon", "lease", "the daemon is not running (etcd's view is under etcd)"),
    ];
  }
  if (d.state === "error") {
    return [
      fail("daemon", "daemon", `not answering: ${d.why}`, {
        fix: "The daemon may be stuck: `systemctl status flanneld`, then `systemctl restart flanneld`",
      }),
      skip("daemon", "lease", "the daemon did not answer"),
    ];
  }
  const r = d.report;
  const up = formatDuration(f.now - Date.parse(r.startedAt));
  const data = { pid: r.pid, version: r.version, phase: r.phase, startedAt: r.startedAt };
  const out: CheckResult[] = [];
  if (r.phase === "ready") {
    out.push(ok("daemon", "daemon", `running and ready (pid ${r.pid}, up ${up})`, { data }));
  } else {
    out.push(
      warn(
        "daemon",
        "daemon",
        `running but still starting (pid ${r.pid}, up ${up}): subnet.env not written yet`,
        {
          fix: `It turns ready once it holds a lease and its firewall rules are in place; if it stays starting, ${JOURNAL} (etcd unreachable, no network config, ...)`,
          data,
        },
      ),
    );
  }
  out.push(checkLease(f, r));
  return out;
}

function checkLease(
  f: Pick<DoctorFacts, "now" | "settings">,
  r: Extract<DoctorFacts["daemon"], { state: "running" }>["report"],
): CheckResult {
  const l = r.lease;
  if (l === undefined) {
    const msg = "no lease held";
    const fix = `The daemon acquires one from etcd at start-up; ${JOURNAL} (etcd unreachable, out of subnets, ...)`;
    return r.phase === "starting"
      ? warn("daemon", "lease", msg, { fix })
      : fail("daemon", "lease", msg, { fix });
  }
  const what = `${l.subnet}${l.ipv6Subnet !== undefined ? ` + ${l.ipv6Subnet}` : ""} (PublicIP ${l.publicIP})`;
  const data = {
    subnet: l.subnet,
    expiration: l.expiration,
    reservation: l.reservation,
    renewals: l.renewals,
  };
  if (l.reservation)
    return ok("daemon", "lease", `${what} held as a reservation (never expires)`, { data });
  if (l.expiration === null)
    return ok("daemon", "lease", `${what} held (expiry unknown)`, { data });
  const left = Date.parse(l.expiration) - f.now;
  const renewals = `${l.renewals} renewal${l.renewals === 1 ? "" : "s"}`;
  if (left <= 0) {
    return fail("daemon", "lease", `${what} expired ${formatDuration(-left)} ago`, {
      fix: "The daemon could not renew it: check etcd (below) and `journalctl -u flanneld | grep 'renewing lease'`; `systemctl restart flanneld` acquires it again",
      data,
    });
  }
  const margin = f.settings.renewMarginMinutes;
  if (left < (margin - RENEW_SLACK_MINUTES) * 60_000) {
    return warn(
      "daemon",
      "lease",
      `${what} expires in ${formatDuration(left)}: the renewal due ${margin}m before expiry has not happened`,
      {
        fix: "The daemon retries every minute; check etcd from this node (below) and `journalctl -u flanneld | grep 'renewing lease'`",
        data,
      },
    );
  }
  return ok("daemon", "lease", `${what} held, expires in ${formatDuration(left)} (${renewals})`, {
    data,
  });
}
