/**
 * pcap capture: SPA packets caught with no socket listening on the SPA port, and SPA packets read
 * from a capture file (--pcap-file) that tcpdump wrote in the namespace.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CLIENT_IP, SERVER_IP, createRig, waitFor } from "./rig.js";
import { keyArgs, knock } from "./knock.js";
import { TsFwknopd } from "./ts-fwknopd.js";

const b64 = (n: number): string => randomBytes(n).toString("base64");
const home = mkdtempSync(join(tmpdir(), "pcap-home-"));
after(() => {
  rmSync(home, { recursive: true, force: true });
});

describe(
  "fwknopd with pcap capture",
  { skip: !existsSync("/usr/bin/tcpdump") && "tcpdump is not installed (.ci/run installs it)" },
  () => {
    it("catches SPA on the wire with nothing listening on the SPA port", async () => {
      const rig = await createRig({ servicePort: 1234 });
      const key = b64(32);
      const hmacKey = b64(64);
      const d = new TsFwknopd(
        rig,
        "PCAP_INTF veth0;\nPCAP_FILTER udp port 62201;\nFIREWALL_TYPE nftables;\nNFT_PROTECT_PORTS Y;\n",
        `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 5\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
      );
      try {
        await d.start();
        assert.match(d.logs(), /Listening: pcap capture on veth0 \(filter 'udp port 62201'/);
        const socks = await rig.run(rig.serverNs, ["ss", "-Hlun"]);
        assert.doesNotMatch(socks.stdout, /:62201\b/, "nothing may listen on the SPA port");
        assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false);
        await knock(
          rig,
          "c",
          ["-A", "tcp/1234", "-a", CLIENT_IP, "-D", SERVER_IP, ...keyArgs(key, hmacKey)],
          home,
        );
        assert.ok(await waitFor(() => rig.tcpConnect(SERVER_IP, 1234, 200), 5000, 20), d.logs());
      } finally {
        await d.stop();
        d.cleanup();
        await rig.teardown();
      }
    });

    it("--pcap-file: grants from the packets in a capture file, then exits", async () => {
      const rig = await createRig({ servicePort: 1234, deny: "nftables" });
      const key = b64(32);
      const hmacKey = b64(64);
      const d = new TsFwknopd(
        rig,
        "PCAP_INTF veth0;\nFIREWALL_TYPE nftables;\nNFT_JUMP_CHAIN inet admin input;\nFLUSH_IPT_AT_EXIT N;\n",
        `SOURCE ANY\nOPEN_PORTS tcp/1234\nFW_ACCESS_TIMEOUT 30\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\n`,
      );
      const cap = join(d.dir, "spa.pcap");
      try {
        const dump = rig.spawn(rig.serverNs, [
          "tcpdump",
          "-i",
          "veth0",
          "-U",
          "-n",
          "-w",
          cap,
          "udp",
          "port",
          "62201",
        ]);
        let dumpErr = "";
        dump.stderr?.on("data", (c: Buffer) => (dumpErr += c.toString()));
        assert.ok(await waitFor(() => /listening on/.test(dumpErr), 5000), dumpErr);
        await knock(
          rig,
          "ts",
          [
            "-A",
            "tcp/1234",
            "-a",
            CLIENT_IP,
            "-D",
            SERVER_IP,
            "--key-base64-rijndael",
            key,
            "--key-base64-hmac",
            hmacKey,
          ],
          home,
        );
        assert.ok(
          await waitFor(() => existsSync(cap) && statSync(cap).size > 200, 3000),
          "nothing captured",
        );
        dump.kill("SIGTERM");
        await waitFor(() => dump.exitCode !== null || dump.signalCode !== null, 3000);
        assert.equal(await rig.tcpConnect(SERVER_IP, 1234), false, "open before the file was read");
        const run = await d.command(["--pcap-file", cap]);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stderr, /Processed 1 SPA-sized packet\(s\) from /);
        assert.match(
          run.stderr,
          /Added access for user '.*' \(stanza #1\) from 198\.18\.0\.2 to tcp\/1234 via nftables/,
        );
        assert.equal(
          await rig.tcpConnect(SERVER_IP, 1234),
          true,
          "the grant from the file should be open",
        );
      } finally {
        await d.stop();
        d.cleanup();
        await rig.teardown();
      }
    });
  },
);
