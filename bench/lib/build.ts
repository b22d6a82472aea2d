import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { REPO } from './proc.js';

/**
 * Compiles this checkout's `src/` into a private directory (not `dist/`,
 * which other work may be rebuilding), so every server of a run uses one
 * consistent build. Returns what was built.
 */
export function buildTether(): { commit: string; dirtyFiles: number; version: string } {
  const out = `${REPO}/${process.env.BENCH_TETHER_BUILD ?? 'node_modules/.cache/mcp-tether-bench'}`;
  mkdirSync(out, { recursive: true });
  execFileSync(
    `${REPO}/node_modules/.bin/tsc`,
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
    { cwd: REPO, stdio: 'inherit' },
  );
  const pkg = JSON.parse(readFileSync(`${REPO}/package.json`, 'utf8')) as { version: string };
  // The build reads its version from ../../package.json, as dist/ does.
  writeFileSync(`${out}/package.json`, `${JSON.stringify({ type: 'module', version: pkg.version })}\n`);
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: REPO }).toString().trim();
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
