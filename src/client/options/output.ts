/** The client's options, group "output" (client/cmd_opts.h). */
import { text, onOff, rcBool, type ClientOption } from "./setters.js";

export const OUTPUT_OPTIONS: readonly ClientOption[] = [
  {
    long: "test",
    short: "T",
    arg: "none",
    group: "output",
    help: "Build and show the packet, do not send it.",
    set: onOff("test"),
  },
  {
    long: "save-packet",
    short: "B",
    arg: "required",
    metavar: "FILE",
    group: "output",
    help: "Write the packet to FILE (replacing it).",
    set: text("savePacketFile"),
  },
  {
    long: "save-packet-append",
    short: "b",
    arg: "none",
    group: "output",
    help: "With -B, append instead of replacing.",
    set: onOff("savePacketAppend"),
  },
  {
    long: "verbose",
    short: "v",
    arg: "none",
    rc: "VERBOSE",
    group: "output",
    help: "More output (repeatable).",
    early: true,
    set: (c, v) => {
      if (v === "") c.verbose++;
      else c.verbose = /^[0-9]+$/.test(v) ? Number(v) : rcBool(v) ? 1 : 0;
    },
  },
  {
    long: "version",
    short: "V",
    arg: "none",
    group: "output",
    help: "Print the version and exit.",
    early: true,
    set: onOff("showVersion"),
  },
  {
    long: "help",
    short: "h",
    arg: "none",
    group: "output",
    help: "Print this help and exit.",
    early: true,
    set: onOff("showHelp"),
  },
];
