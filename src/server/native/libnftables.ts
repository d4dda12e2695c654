/**
 * libnftables (the library behind the `nft` program, Debian's libnftables1) called in our own
 * process through koffi: an element change is parsed and committed by the library in ~0.1 ms and
 * stays flat as sets grow (measured here, nft 1.0.6: 0.09 ms at p50 over 3,000 adds), where a
 * line through a long-lived `nft -i` process costs ~0.5 ms plus waking that process, which on a
 * busy 2-core machine was the largest part of SPA-to-open latency (issue 6).
 *
 * The call is synchronous on purpose: it takes less time than a hop to a worker thread would
 * (koffi's async call measured ~2 ms for its first use), and one call commits a whole batch. The
 * library's own output and errors go to in-memory buffers (nft_ctx_buffer_output/_error), never to
 * our stdout, and every run drains both so an error is attributed to the command that caused it.
 * API: nftables' include/nftables/libnftables.h.
 */
import { CommandError } from "../../exec.js";
import { loadKoffi } from "./koffi.js";

/** The sonames tried, newest first (Debian 12 ships libnftables.so.1). */
const SONAMES = ["libnftables.so.1"];
const NFT_CTX_DEFAULT = 0;

interface Api {
  ctxNew: (flags: number) => unknown;
  ctxFree: (ctx: unknown) => void;
  bufferOutput: (ctx: unknown) => number;
  bufferError: (ctx: unknown) => number;
  getOutput: (ctx: unknown) => string | null;
  getError: (ctx: unknown) => string | null;
  runCmd: (ctx: unknown, buf: string) => number;
}

function bind(): Api | string {
  const koffi = loadKoffi();
  if (typeof koffi === "string") return koffi;
  const errors: string[] = [];
  for (const name of SONAMES) {
    try {
      const lib = koffi.load(name);
      const f = (decl: string): ((...a: unknown[]) => unknown) =>
        lib.func(decl) as (...a: unknown[]) => unknown;
      const ctxNew = f("void *nft_ctx_new(uint32_t flags)");
      const ctxFree = f("void nft_ctx_free(void *ctx)");
      const bufferOutput = f("int nft_ctx_buffer_output(void *ctx)");
      const bufferError = f("int nft_ctx_buffer_error(void *ctx)");
      const getOutput = f("const char *nft_ctx_get_output_buffer(void *ctx)");
      const getError = f("const char *nft_ctx_get_error_buffer(void *ctx)");
      const runCmd = f("int nft_run_cmd_from_buffer(void *ctx, const char *buf)");
      return {
        ctxNew: (flags) => ctxNew(flags),
        ctxFree: (ctx) => {
          ctxFree(ctx);
        },
        bufferOutput: (ctx) => bufferOutput(ctx) as number,
        bufferError: (ctx) => bufferError(ctx) as number,
        getOutput: (ctx) => getOutput(ctx) as string | null,
        getError: (ctx) => getError(ctx) as string | null,
        runCmd: (ctx, buf) => runCmd(ctx, buf) as number,
      };
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message.split("\n")[0] ?? ""}`);
    }
  }
  return `libnftables could not be loaded (${errors.join("; ")})`;
}

export class NftLibrary {
  readonly description = "libnftables, in-process";
  private ctx: unknown;

  private constructor(private readonly api: Api) {
    const ctx = api.ctxNew(NFT_CTX_DEFAULT);
    if (ctx === null) throw new Error("nft_ctx_new failed");
    if (api.bufferOutput(ctx) !== 0 || api.bufferError(ctx) !== 0) {
      api.ctxFree(ctx);
      throw new Error("nft_ctx_buffer_output/_error failed");
    }
    this.ctx = ctx;
  }

  /** The library, or why it cannot be used here (koffi or libnftables missing). */
  static open(): NftLibrary | string {
    const api = bind();
    if (typeof api === "string") return api;
    try {
      return new NftLibrary(api);
    } catch (e) {
      return `libnftables: ${(e as Error).message}`;
    }
  }

  /** Run one nft command (a transaction); resolves once the kernel has committed it. */
  run(line: string): Promise<void> {
    if (line.includes("\n")) throw new Error("internal: one nft command per line");
    const ctx = this.ctx;
    if (ctx === null) return Promise.reject(new Error("libnftables channel closed"));
    const rc = this.api.runCmd(ctx, line);
    this.api.getOutput(ctx);
    const err = this.api.getError(ctx) ?? "";
    if (rc === 0) return Promise.resolve();
    return Promise.reject(
      new CommandError(["libnftables", line], rc, err !== "" ? err : "command failed"),
    );
  }

  close(): void {
    const ctx = this.ctx;
    this.ctx = null;
    if (ctx !== null) this.api.ctxFree(ctx);
  }
}
