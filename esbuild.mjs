// Bundles the extension, the CLI and the CLI's MCP server, and the pages of the desktop viewer and the dashboard.
import { copyFileSync, mkdirSync } from 'node:fs';
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');

/**
 * dockerode's BuildKit support (a gRPC session and protobuf progress) is half of its weight and
 * slows every CLI start; we build with the classic builder, so those two modules become stubs.
 */
const withoutBuildKit = {
  name: 'without-buildkit',
  setup(build) {
    build.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (args) =>
      /[\\/]dockerode[\\/]lib$/.test(args.resolveDir) ? { path: args.path, namespace: 'buildkit-stub' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'buildkit-stub' }, () => ({
      contents: "module.exports = function () { throw new Error('BuildKit builds are not part of this bundle.'); };",
      loader: 'js',
    }));
  },
};
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  plugins: [withoutBuildKit],
  // Optional native accelerators of ssh2 (pulled in by docker-modem); ssh2 falls back to pure JS.
  external: ['cpu-features', './crypto/build/Release/sshcrypto.node'],
};

await Promise.all([
  // The extension is two files: a small one loaded at activation, and the heavy core loaded on first use.
  esbuild.build({
    ...common,
    entryPoints: ['src/extension/extension.ts'],
    outfile: 'dist/extension.js',
    external: [...common.external, 'vscode', './core.js'],
  }),
  esbuild.build({ ...common, entryPoints: ['src/extension/coreBundle.ts'], outfile: 'dist/core.js' }),
  // The `sandbox` command is two files too: a lean entry that hands `exec` to a running daemon's
  // socket when there is one, and the full CLI it loads for everything else.
  esbuild.build({
    ...common,
    entryPoints: ['src/cli/launcher.ts'],
    outfile: 'dist/cli.js',
    banner: { js: '#!/usr/bin/env node' },
    external: [...common.external, './cliMain.js'],
  }),
  esbuild.build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cliMain.js' }),
  // `sandbox mcp`'s server with the MCP SDK, loaded by that command only: the CLI starts without it.
  esbuild.build({ ...common, entryPoints: ['src/mcp/main.ts'], outfile: 'dist/mcp.js' }),
  // The collector's OTLP exporter with OpenTelemetry's SDK, loaded only when collector.json names an endpoint.
  esbuild.build({ ...common, entryPoints: ['src/core/collector/otlpSink.ts'], outfile: 'dist/otlp.js' }),
  // The desktop viewer runs in a page (a webview or a browser tab): noVNC and our glue, one script.
  esbuild.build({
    entryPoints: ['src/viewer/main.ts'],
    outfile: 'dist/viewer.js',
    bundle: true,
    platform: 'browser',
    // noVNC awaits at its top level, which only a module can: the page loads it as type="module".
    format: 'esm',
    target: 'es2022',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
  }),
  // The dashboard runs in a page too: uPlot and our code in dist/dashboard.js, their styles in dist/dashboard.css.
  esbuild.build({
    entryPoints: ['src/dashboard/main.ts'],
    outfile: 'dist/dashboard.js',
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
  }),
]);

// The collector's SQLite is WebAssembly: bundled code loads the .wasm from its own folder.
mkdirSync('dist', { recursive: true });
copyFileSync('node_modules/node-sqlite3-wasm/dist/node-sqlite3-wasm.wasm', 'dist/node-sqlite3-wasm.wasm');
