#!/usr/bin/env node
/**
 * MCP conformance runner for mcp-tether (runs on Node >= 20).
 *
 * 1. Ensures a Node >= 22 binary and both conformance CLIs are available, installing
 *    them with `npm install --no-save --prefix node_modules/.cache/mcp-tether-conformance`
 *    when missing (`node-<platform>-<arch>@22` ships the Node 22 binary).
 * 2. Starts the server under test and waits for its `"msg":"server.listening"` JSON log
 *    line; the MCP endpoint is `<url>/mcp`.
 * 3. Runs, one after another:
 *      @modelcontextprotocol/conformance@0.1.16         server --suite all
 *      @modelcontextprotocol/conformance@0.2.0-alpha.12 server --requirements 2025-11-25
 *      @modelcontextprotocol/conformance@0.2.0-alpha.12 server --requirements 2026-07-28
 * 4. Prints each suite's summary, stops the server (by PID, also on error) and exits
 *    non-zero if any run has a failure (for 0.1.16 also: any warning). For the
 *    `--requirements` runs, scenarios the requirement set lists as not scored
 *    (extensions, pending) are reported but only fail the run with CONFORMANCE_STRICT=1.
 *
 * Environment:
 *   CONFORMANCE_SERVER_CMD    shell command starting another server; `{port}` is replaced by a
 *                             free port (also exported as PORT). It must print the
 *                             `server.listening` JSON line with a `url` field.
 *   CONFORMANCE_RUNS          comma list of runs to do: 0.1.16, 2025-11-25, 2026-07-28 (default all)
 *   CONFORMANCE_STRICT=1      also fail on not-scored scenarios of the --requirements runs
 *   CONFORMANCE_VERBOSE=1     echo the suites' full output (it is always written to a log file)
 *   CONFORMANCE_NODE          path of a Node >= 22 binary to run the suites with
 *   CONFORMANCE_CACHE_DIR     install/results directory (default node_modules/.cache/mcp-tether-conformance)
 *   CONFORMANCE_START_TIMEOUT_MS (default 60000), CONFORMANCE_RUN_TIMEOUT_MS (default 1200000)
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = resolve(
  process.env.CONFORMANCE_CACHE_DIR || join(ROOT, 'node_modules', '.cache', 'mcp-tether-conformance'),
);
const STAMP = new Date().toISOString().replace(/[:.]/g, '-');
const RESULTS = join(CACHE, 'results', STAMP);
const VERBOSE = process.env.CONFORMANCE_VERBOSE === '1';
const STRICT = process.env.CONFORMANCE_STRICT === '1';
const START_TIMEOUT = Number(process.env.CONFORMANCE_START_TIMEOUT_MS || 60_000);
const RUN_TIMEOUT = Number(process.env.CONFORMANCE_RUN_TIMEOUT_MS || 20 * 60_000);

const SUITES = [
  {
    id: '0.1.16',
    version: '0.1.16',
    alias: 'conformance-0.1.16',
    args: ['--suite', 'all'],
    warningsFail: true,
  },
  {
    id: '2025-11-25',
    version: '0.2.0-alpha.12',
    alias: 'conformance-0.2.0-alpha.12',
    args: ['--requirements', '2025-11-25'],
    requirements: '2025-11-25',
  },
  {
    id: '2026-07-28',
    version: '0.2.0-alpha.12',
    alias: 'conformance-0.2.0-alpha.12',
    args: ['--requirements', '2026-07-28'],
    requirements: '2026-07-28',
  },
];

const log = (msg) => process.stdout.write(`[conformance] ${msg}\n`);
class SetupError extends Error {}

// ---------------------------------------------------------------------------------------------
// Tooling: Node 22 and the two conformance CLIs
// ---------------------------------------------------------------------------------------------

function nodeMajor(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  const m = /^v(\d+)\./.exec(r.stdout ?? '');
  return m ? Number(m[1]) : 0;
}

function nodePackageName() {
  const os = process.platform === 'win32' ? 'win' : process.platform;
  return `node-${os}-${process.arch}`;
}

function cachedNodeBinary() {
  const pkg = join(CACHE, 'node_modules', nodePackageName());
  return process.platform === 'win32' ? join(pkg, 'bin', 'node.exe') : join(pkg, 'bin', 'node');
}

function installedVersion(alias) {
  try {
    return JSON.parse(readFileSync(join(CACHE, 'node_modules', alias, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

function ensureTooling() {
  const needNode = !process.env.CONFORMANCE_NODE && Number(process.versions.node.split('.')[0]) < 22;
  const cliMissing = [...new Map(SUITES.map((s) => [s.alias, s])).values()].some(
    (s) => installedVersion(s.alias) !== s.version,
  );
  const nodeMissing = needNode && !(existsSync(cachedNodeBinary()) && nodeMajor(cachedNodeBinary()) >= 22);
  if (cliMissing || nodeMissing) {
    mkdirSync(CACHE, { recursive: true });
    // One install for everything: separate --no-save installs into the same prefix prune each other.
    const specs = [
      ...new Map(
        SUITES.map((s) => [s.alias, `${s.alias}@npm:@modelcontextprotocol/conformance@${s.version}`]),
      ).values(),
    ];
    if (needNode) specs.push(`${nodePackageName()}@22`);
    log(`installing into ${CACHE}: ${specs.join(' ')}`);
    const r = spawnSync(
      'npm',
      ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', CACHE, ...specs],
      {
        stdio: 'inherit',
        shell: process.platform === 'win32',
      },
    );
    if (r.status !== 0) throw new SetupError(`npm install failed (exit ${r.status ?? r.signal})`);
  }
  let node = process.execPath;
  if (process.env.CONFORMANCE_NODE) node = process.env.CONFORMANCE_NODE;
  else if (needNode) node = cachedNodeBinary();
  const major = nodeMajor(node);
  if (major < 22) throw new SetupError(`the conformance suites need Node >= 22, but ${node} is v${major}`);
  for (const s of SUITES) {
    if (installedVersion(s.alias) !== s.version)
      throw new SetupError(`${s.alias} is not installed at ${s.version}`);
  }
  log(`suites run with ${node} (Node ${major})`);
  return node;
}

const cliPath = (alias) => join(CACHE, 'node_modules', alias, 'dist', 'index.js');

// ---------------------------------------------------------------------------------------------
// Server under test
// ---------------------------------------------------------------------------------------------

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

let serverChild;

function startServer(port, logFile) {
  const custom = process.env.CONFORMANCE_SERVER_CMD;
  const env = { ...process.env, PORT: String(port) };
  const options = {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: process.platform !== 'win32',
  };
  const child = custom
    ? // Through a shell; `detached` makes that shell a process-group leader, so stopping the
      // group also stops the server it started.
      spawn(custom.replaceAll('{port}', String(port)), { ...options, shell: true })
    : spawn(
        process.execPath,
        [
          'dist/cli/bin.js',
          'serve',
          '--port',
          String(port),
          '--host',
          '127.0.0.1',
          '--tools',
          'examples/conformance-fixtures.ts',
        ],
        options,
      );
  serverChild = child;
  log(
    `server: ${custom ?? `node dist/cli/bin.js serve --port ${port} --host 127.0.0.1 --tools examples/conformance-fixtures.ts`} (pid ${child.pid}, log ${logFile})`,
  );
  const out = createWriteStream(logFile);
  return new Promise((res, rej) => {
    let settled = false;
    let tail = '';
    const timer = setTimeout(
      () => finish(new SetupError(`server did not log "server.listening" within ${START_TIMEOUT} ms`)),
      START_TIMEOUT,
    );
    function finish(err, url) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) rej(err);
      else res(url);
    }
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream.on('data', (chunk) => {
        out.write(chunk);
        const s = chunk.toString();
        tail = (tail + s).slice(-2000);
        buf += s;
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.includes('server.listening')) continue;
          try {
            const entry = JSON.parse(line.slice(line.indexOf('{')));
            if (entry.msg === 'server.listening' && typeof entry.url === 'string')
              finish(undefined, entry.url);
          } catch {
            /* not the JSON line */
          }
        }
      });
    }
    child.on('error', (err) => finish(new SetupError(`server failed to start: ${err.message}`)));
    child.on('exit', (code, signal) => {
      const how = signal ?? `exit ${code}`;
      if (settled) log(`server exited (${how})`);
      else finish(new SetupError(`server exited before listening (${how}); output:\n${tail}`));
    });
  });
}

async function stopServer() {
  const child = serverChild;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((res) => child.once('exit', res));
  const signal = (sig) => {
    try {
      // detached => the server leads its own process group; take its children (e.g. a tsx worker) too.
      if (child.pid && process.platform !== 'win32') process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      try {
        child.kill(sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const timeout = new Promise((res) => setTimeout(() => res('timeout'), 5000));
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    signal('SIGKILL');
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------
// Running a suite
// ---------------------------------------------------------------------------------------------

/** Scenarios a requirement set scores (parsed from `conformance list --server --requirements`). */
function scoredScenarios(node, suite) {
  const r = spawnSync(
    node,
    [cliPath(suite.alias), 'list', '--server', '--requirements', suite.requirements],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) return undefined;
  const lines = r.stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith('Server scenarios'));
  if (start < 0) return undefined;
  const names = new Set();
  for (const line of lines.slice(start + 1)) {
    const m = /^\s+-\s+(\S+)/.exec(line);
    if (!m) break;
    names.add(m[1]);
  }
  return names;
}

function runCli(node, suite, url, outDir, logFile) {
  const args = [cliPath(suite.alias), 'server', '--url', url, ...suite.args, '-o', outDir];
  return new Promise((res) => {
    const child = spawn(node, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = createWriteStream(logFile);
    let text = '';
    const onData = (chunk) => {
      out.write(chunk);
      text += chunk.toString();
      if (VERBOSE) process.stdout.write(chunk);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      log(`${suite.id}: no result after ${RUN_TIMEOUT} ms, stopping it`);
      child.kill('SIGKILL');
    }, RUN_TIMEOUT);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      out.end();
      res({ code: code ?? 1, signal, text });
    });
  });
}

/** Reads `<outDir>/server-<scenario>-<timestamp>/checks.json` files. */
function readChecks(outDir) {
  const scenarios = new Map();
  if (!existsSync(outDir)) return scenarios;
  for (const entry of readdirSync(outDir)) {
    const file = join(outDir, entry, 'checks.json');
    if (!existsSync(file) || !statSync(file).isFile()) continue;
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/.exec(entry);
    const name = m ? m[1] : entry;
    let checks = [];
    try {
      checks = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      checks = [{ id: 'checks.json', status: 'FAILURE', errorMessage: `unreadable ${file}` }];
    }
    scenarios.set(name, checks);
  }
  return scenarios;
}

function tally(checks) {
  const of = (s) => checks.filter((c) => c.status === s);
  return { passed: of('SUCCESS').length, failures: of('FAILURE'), warnings: of('WARNING') };
}

const describe = (c) =>
  `${c.id ?? c.name}${c.errorMessage ? `: ${String(c.errorMessage).split('\n')[0].slice(0, 300)}` : ''}`;

async function runSuite(node, suite, url) {
  const outDir = join(RESULTS, suite.id);
  mkdirSync(outDir, { recursive: true });
  const logFile = join(RESULTS, `${suite.id}.log`);
  log(
    `=== @modelcontextprotocol/conformance@${suite.version} server ${suite.args.join(' ')} (log: ${logFile})`,
  );
  const scored = suite.requirements ? scoredScenarios(node, suite) : undefined;
  const { code, signal, text } = await runCli(node, suite, url, outDir, logFile);
  // Fallback when `list` could not be parsed: the CLI prints "Not scored for <rev>: ..." lines.
  const notScored = new Set();
  const marker = text.indexOf('Not scored for');
  if (marker >= 0) {
    for (const m of text.slice(marker).matchAll(/^\s+[\u2713\u2717]\s+(\S+)\s+\(/gmu)) notScored.add(m[1]);
  }

  // The suite's own summary (everything from "=== SUMMARY ===" on).
  const at = text.lastIndexOf('=== SUMMARY ===');
  if (at >= 0) process.stdout.write(`${text.slice(at).trimEnd()}\n`);
  else process.stdout.write(`${text.slice(-3000).trimEnd()}\n`);

  const scenarios = readChecks(outDir);
  const result = { suite, code, passed: 0, failed: 0, notScoredFailing: [], problems: [] };
  for (const [name, checks] of [...scenarios].sort(([a], [b]) => a.localeCompare(b))) {
    const t = tally(checks);
    const isScored = scored ? scored.has(name) : !notScored.has(name);
    const bad = t.failures.length > 0 || (suite.warningsFail && t.warnings.length > 0);
    if (!isScored) {
      if (bad) result.notScoredFailing.push(name);
      if (bad) result.problems.push(`  (not scored) ${name}: ${t.failures.map(describe).join(' | ')}`);
      continue;
    }
    if (bad) result.failed++;
    else result.passed++;
    for (const c of t.failures) result.problems.push(`  FAIL ${name}: ${describe(c)}`);
    for (const c of t.warnings)
      result.problems.push(`  ${suite.warningsFail ? 'FAIL (warning)' : 'warn'} ${name}: ${describe(c)}`);
  }
  if (scenarios.size === 0) result.problems.push('  no checks.json results were written');
  const scoredTotal = result.passed + result.failed;
  let ok = code === 0 && !signal && result.failed === 0 && scenarios.size > 0;
  if (STRICT && result.notScoredFailing.length > 0) ok = false;
  result.ok = ok;
  log(
    `${suite.id}: ${ok ? 'PASS' : 'FAIL'} — ${result.passed}/${scoredTotal} scenarios clean` +
      (suite.warningsFail ? ' (no failures, no warnings)' : ' (no failures)') +
      (result.notScoredFailing.length
        ? `; not scored but failing: ${result.notScoredFailing.join(', ')}`
        : '') +
      `; CLI exit ${signal ?? code}`,
  );
  for (const p of result.problems) process.stdout.write(`${p}\n`);
  return result;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const wanted = (process.env.CONFORMANCE_RUNS || SUITES.map((s) => s.id).join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const suites = SUITES.filter((s) => wanted.includes(s.id));
  if (suites.length === 0)
    throw new SetupError(`CONFORMANCE_RUNS selects no run (known: ${SUITES.map((s) => s.id).join(', ')})`);
  const node = ensureTooling();
  mkdirSync(RESULTS, { recursive: true });
  const port = await freePort();
  const base = await startServer(port, join(RESULTS, 'server.log'));
  const url = `${base.replace(/\/+$/, '')}/mcp`;
  log(`server listening; endpoint ${url}`);

  const results = [];
  for (const suite of suites) {
    if (serverChild.exitCode !== null || serverChild.signalCode !== null)
      throw new SetupError('the server exited during the runs');
    results.push(await runSuite(node, suite, url));
  }

  log('=== overall');
  for (const r of results) log(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.suite.version} ${r.suite.args.join(' ')}`);
  log(`results: ${RESULTS}`);
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  process.stdout.write(`conformance: ${passed} passed, ${failed} failed\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}

let exitCode = 1;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await stopServer();
    process.exit(130);
  });
}
try {
  exitCode = await main();
} catch (err) {
  log(err instanceof SetupError ? `error: ${err.message}` : `error: ${err?.stack ?? err}`);
  exitCode = 2;
} finally {
  await stopServer();
}
process.exit(exitCode);
