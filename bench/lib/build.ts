import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { REPO } from './proc.js';

/** What a run built and measured: one checkout's `src/`. */
export interface TetherBuild {
  commit: string;
  dirtyFiles: number;
  version: string;
}

/**
 * Where a checkout's build goes: this checkout's in `BENCH_TETHER_BUILD` (default
 * `node_modules/.cache/mcp-tether-bench`), another checkout's (`BENCH_BASELINE`) in
 * `node_modules/.cache/mcp-tether-bench-base` under that checkout, so its build
 * resolves that checkout's dependencies and never overwrites this one's, even
 * when both share one node_modules.
 */
export function buildDir(checkout: string): string {
  if (checkout !== REPO) return `${checkout}/node_modules/.cache/mcp-tether-bench-base`;
  return `${REPO}/${process.env.BENCH_TETHER_BUILD ?? 'node_modules/.cache/mcp-tether-bench'}`;
}

/**
 * Compiles a checkout's `src/` (this one by default) with its own compiler and
 * tsconfig into `buildDir(checkout)` (not `dist/`, which other work may be
 * rebuilding), so every server of a run uses one consistent build. Returns what
 * was built.
 */
export function buildTether(checkout: string = REPO): TetherBuild {
  const out = buildDir(checkout);
  mkdirSync(out, { recursive: true });
  execFileSync(
    `${checkout}/node_modules/.bin/tsc`,
    [
      '-p',
      'tsconfig.build.json',
      '--outDir',
      `${out}/dist`,
      '--sourceMap',
      'false',
      '--declaration',
      'false',
    ],
    { cwd: checkout, stdio: 'inherit' },
  );
  const pkg = JSON.parse(readFileSync(`${checkout}/package.json`, 'utf8')) as { version: string };
  // The build reads its version from ../../package.json, as dist/ does.
  writeFileSync(`${out}/package.json`, `${JSON.stringify({ type: 'module', version: pkg.version })}\n`);
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: checkout }).toString().trim();
    } catch {
      return '';
    }
  };
  const dirty = git(['status', '--porcelain', 'src']);
  return {
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirtyFiles: dirty === '' ? 0 : dirty.split('\n').length,
    version: pkg.version,
  };
}
