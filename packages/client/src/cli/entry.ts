/** Process glue for `bin/vtt.js`: real streams and environment, Ctrl-C aborts the request, the exit status. */
import { runCli } from "./main.ts";

const controller = new AbortController();
process.once("SIGINT", () => {
  controller.abort(new Error("interrupted"));
  // a second Ctrl-C, or a request that ignores the abort, still ends the process
  setTimeout(() => process.exit(130), 2_000).unref();
});
const status = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
});
process.exitCode = controller.signal.aborted ? 130 : status;
