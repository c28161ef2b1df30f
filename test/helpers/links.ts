/**
 * Link fixtures for tests against the recording netlink fake.
 */
import type { LinkDetails } from "../../src/netlink/netlink.js";

/** The node's underlay interface as the classic cluster has it: eth1, index 2, a veth. */
export const ETH1: LinkDetails = {
  index: 2,
  name: "eth1",
  mtu: 1500,
  up: true,
  running: true,
  loopback: false,
  mac: "02:00:00:00:00:01",
  kind: "veth",
};
