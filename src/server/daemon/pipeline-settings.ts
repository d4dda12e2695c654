/** What processSpa is given for every packet, made once per configuration (daemon.ts). */
import type { DaemonConfig } from "../daemon-config.js";
import type { PipelineSettings, ReplayState } from "../pipeline/types.js";

/** `noNat`: the firewall cannot do NAT, so NAT requests are refused whatever the config says. */
export function pipelineSettingsOf(
  cfg: DaemonConfig,
  replay: ReplayState,
  noNat: string | null = null,
): PipelineSettings {
  return {
    packetAging: cfg.packetAging,
    maxPacketAge: cfg.maxPacketAge,
    testMode: cfg.testMode,
    destinationRule: cfg.destinationRule,
    replay,
    nat:
      noNat === null
        ? cfg.nat
        : { ...cfg.nat, forwarding: false, localNat: false, unsupported: noNat },
  };
}
