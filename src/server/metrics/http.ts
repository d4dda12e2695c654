/**
 * METRICS_LISTEN: a small HTTP server for /metrics (Prometheus text) and /healthz, on its own
 * address and port (never the SPA port: config refuses that). Only GET and HEAD of those two
 * paths; anything else is a 404 or 405 with no body worth reading.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { EnvironmentError, messageOf } from "../../errors.js";
import type { Registry } from "prom-client";

export interface Health {
  ok: boolean;
  /** Each part and whether it is up, for the body. */
  parts: Record<string, boolean>;
}

export interface MetricsServer {
  /** "http://ADDR:PORT" as bound. */
  url: string;
  close(): Promise<void>;
}

function answer(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store" });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  registry: Registry,
  health: () => Health,
): Promise<void> {
  const path = (req.url ?? "").split("?")[0];
  if (path !== "/metrics" && path !== "/healthz") {
    answer(res, 404, "text/plain", "not found\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    answer(res, 405, "text/plain", "method not allowed\n");
    return;
  }
  if (path === "/healthz") {
    const h = health();
    answer(res, h.ok ? 200 : 503, "application/json", `${JSON.stringify(h)}\n`);
    return;
  }
  answer(res, 200, registry.contentType, await registry.metrics());
}

export function startMetricsServer(
  host: string,
  port: number,
  registry: Registry,
  health: () => Health,
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    route(req, res, registry, health).catch((e: unknown) => {
      answer(res, 500, "text/plain", `${messageOf(e)}\n`);
    });
  });
  // A scraper that connects and says nothing must not hold a socket for long.
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  server.maxConnections = 64;
  return new Promise((resolve, reject) => {
    server.once("error", (e) => {
      reject(new EnvironmentError(`METRICS_LISTEN ${host}:${port}: ${messageOf(e)}`));
    });
    server.listen({ host, port, exclusive: true }, () => {
      const shown = host.includes(":") ? `[${host}]` : host;
      resolve({
        url: `http://${shown}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => {
              done();
            });
            server.closeAllConnections();
          }),
      });
    });
  });
}
