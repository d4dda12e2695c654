/**
 * Entry of the packet parser process (parser.ts), started by the broker (broker-link.ts) with an
 * IPC channel. The user to become comes in the environment; the configuration down the pipe.
 * The process ends when the pipe closes: a broker that dies takes its parser with it.
 */
import { messageOf } from "../../errors.js";
import { Parser } from "./parser.js";
import { closeInherited } from "./inherited-fds.js";
import { INHERITED_ENV, RUN_AS_ENV } from "./parser-env.js";
import type { BrokerMessage, ParserMessage } from "./protocol.js";

function main(): void {
  // First: nothing of the broker's but stdio and the pipe to it.
  const channel = Number(process.env.NODE_CHANNEL_FD ?? "-1");
  closeInherited(process.env[INHERITED_ENV] ?? "", [channel]);
  Reflect.deleteProperty(process.env, INHERITED_ENV);
  const send = process.send?.bind(process);
  const [uid, gid] = (process.env[RUN_AS_ENV] ?? "").split(":").map(Number);
  if (send === undefined || uid === undefined || gid === undefined || !(uid > 0) || !(gid >= 0)) {
    process.stderr.write("fwknopd packet parser: start it through fwknopd (PRIVSEP Y)\n");
    process.exitCode = 64;
    return;
  }
  const parser = new Parser(
    {
      send: (m: ParserMessage) => {
        if (process.connected) send(m);
      },
      exit: (code) => {
        process.exitCode = code;
        process.disconnect();
      },
    },
    { uid, gid },
  );
  process.on("message", (m: BrokerMessage) => {
    parser.onMessage(m).catch((e: unknown) => {
      // Said to the broker, which logs it (or reports it as the reason the start failed).
      process.exitCode = 70;
      if (process.connected)
        send({ t: "fatal", message: messageOf(e) }, undefined, {}, () => process.exit(70));
      else process.exit(70);
    });
  });
  process.on("disconnect", () => {
    process.exit(process.exitCode ?? 0);
  });
  // The broker stops us with a message; a signal from a terminal is its to handle. SIGUSR1
  // would open Node's inspector (code execution) to any process of RUN_AS_USER: a listener of
  // our own keeps it shut.
  for (const sig of ["SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const)
    process.on(sig, () => undefined);
}

main();
