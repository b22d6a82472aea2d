// Keeps a test's child processes from outliving the test runner, even when the
// runner is killed without running its hooks (SIGKILL, a crashed worker).
//
// Two ways in, both told the runner's PID in TETHER_TEST_PARENT_PID:
//   node --import <this file> child.js   a node child exits once the runner is gone
//   node <this file> <pid>               watches a program that is not node (nginx,
//                                        redis-server): SIGTERM, then SIGKILL after
//                                        a bound, once the runner is gone; exits
//                                        when that program is gone
import { fileURLToPath } from 'node:url';

const CHECK_EVERY_MS = 500;
const KILL_AFTER_MS = 2_000;

function gone(pid) {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return err.code === 'ESRCH';
  }
}

const parentPid = Number(process.env.TETHER_TEST_PARENT_PID);
const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];

if (parentPid > 0 && isMain) {
  const target = Number(process.argv[2]);
  const timer = setInterval(() => {
    if (gone(target)) process.exit(0);
    if (!gone(parentPid)) return;
    clearInterval(timer);
    try {
      process.kill(target, 'SIGTERM');
    } catch {
      process.exit(0);
    }
    setTimeout(() => {
      if (!gone(target)) process.kill(target, 'SIGKILL');
      process.exit(0);
    }, KILL_AFTER_MS);
  }, CHECK_EVERY_MS);
} else if (parentPid > 0) {
  // Unref'd: it never keeps the child alive by itself.
  setInterval(() => {
    if (gone(parentPid)) process.exit(3);
  }, CHECK_EVERY_MS).unref();
}
