// A real MCP client for the bb-supervise tests: the official TypeScript
// SDK over Streamable HTTP.
//
//   node client.mjs URL info              initialize; print what was negotiated
//   node client.mjs URL list              tools/list
//   node client.mjs URL call TOOL [JSON]  tools/call with JSON arguments
//
// Prints one JSON document on stdout; SDK errors go to stderr, exit 1.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, cmd, tool, args] = process.argv.slice(2);
if (!url || !cmd) {
  console.error("usage: client.mjs URL info|list|call TOOL [JSON]");
  process.exit(2);
}

const client = new Client({ name: "bb-test-client", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url));

try {
  await client.connect(transport);
  let out;
  if (cmd === "info") {
    out = {
      protocolVersion: transport.protocolVersion,
      serverInfo: client.getServerVersion(),
      capabilities: client.getServerCapabilities(),
      instructions: client.getInstructions(),
    };
  } else if (cmd === "list") {
    out = await client.listTools();
  } else if (cmd === "call") {
    out = await client.callTool(
      { name: tool, arguments: args ? JSON.parse(args) : {} },
      undefined,
      { timeout: 120000 },
    );
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
  console.log(JSON.stringify(out, null, 2));
  await client.close();
} catch (e) {
  console.error(`mcp-client: ${e.message ?? e}`);
  await client.close().catch(() => {});
  process.exit(1);
}
