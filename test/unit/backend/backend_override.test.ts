/**
 * `--backend` (issues 4 and 5): the type changes on this node only, the
 * other Backend options stay those of the config, the override is logged
 * and a type other than the cluster's is warned about. vxlan-userspace is
 * vxlan (same lease type, so no warning on a vxlan cluster) with
 * Userspace on.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNetworkConfig } from "../../../src/config/network_config.js";
import { withBackendOverride } from "../../../src/daemon.js";
import { captureLogs } from "../../helpers/log_capture.js";

const logs = captureLogs();
const VXLAN =
  '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":7,"userspace":false,"Port":4789}}';

describe("withBackendOverride", () => {
  it("turns vxlan-userspace into vxlan with Userspace on and the config's other options", () => {
    logs.length = 0;
    const c = withBackendOverride(parseNetworkConfig(VXLAN), "vxlan-userspace");
    assert.equal(c.backendType, "vxlan");
    assert.deepEqual(c.backend, { Type: "vxlan", VNI: 7, Port: 4789, Userspace: true });
    assert.ok(logs.some((l) => /Backend type set by --backend: vxlan-userspace/.test(l)));
    assert.equal(logs.filter((l) => /cannot pass traffic/.test(l)).length, 0, logs.join("\n"));
  });

  it("warns when the node's type differs from the cluster's", () => {
    logs.length = 0;
    const c = withBackendOverride(parseNetworkConfig(VXLAN), "udp");
    assert.equal(c.backendType, "udp");
    assert.deepEqual(c.backend, parseNetworkConfig(VXLAN).backend);
    assert.ok(
      logs.some((l) => /runs the udp backend while the cluster's config says vxlan/.test(l)),
      logs.join("\n"),
    );
  });

  it("warns for vxlan-userspace on a cluster of another type", () => {
    logs.length = 0;
    const hostgw = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}');
    const c = withBackendOverride(hostgw, "vxlan-userspace");
    assert.equal(c.backendType, "vxlan");
    assert.deepEqual(c.backend, { Type: "host-gw", Userspace: true });
    assert.ok(
      logs.some((l) => /runs the vxlan backend while the cluster's config says host-gw/.test(l)),
    );
  });
});
