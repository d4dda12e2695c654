/**
 * koffi, the FFI our daemon uses to call libnftables and libc directly (design.md "Speed"): an
 * optional dependency, loaded on first use only, so a machine without it (or where its prebuilt
 * binary does not load) falls back to the portable paths with one log line saying why.
 */
import type * as KoffiModule from "koffi";
import { messageOf } from "../../errors.js";

export type Koffi = typeof KoffiModule;

let loaded: { ok: true; koffi: Koffi } | { ok: false; why: string } | undefined;

/** The koffi module, or the reason it cannot be used here. */
export function loadKoffi(): Koffi | string {
  if (loaded === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = { ok: true, koffi: require("koffi") as Koffi };
    } catch (e) {
      loaded = {
        ok: false,
        why: `koffi is not available (${messageOf(e).split("\n")[0]})`,
      };
    }
  }
  return loaded.ok ? loaded.koffi : loaded.why;
}
