/**
 * V8 flags every release artifact starts Node with: the executables carry them in their
 * preparation blob (`execArgv`), the armv7 launcher passes them on its command line. Measured
 * with `npm run bench -- footprint` (bench/README.md), which runs the x64 executable.
 *
 * `--max-semi-space-size=2` (MiB): V8's young generation at 2,000 readings/s otherwise grows
 * to its 16 MiB semi-spaces, and the old generation it feeds grows in steps with it: the
 * agent's heap swung between 63 and 203 MiB around a live set of 40–50 MiB, and its RSS
 * followed (about 20 % up over a 10-minute soak). With small semi-spaces the heap stays near
 * 55 MiB and the RSS flat (−0.1 % over the soak); p99 latency at that load stayed at 8.5–11 ms
 * against 8.8–9 ms without the flag (45-s runs, quiet machine).
 *
 * No cap on the old generation: the embedded broker keeps queued messages for offline
 * sessions on the heap, and a cap would turn a big backlog into a crash. An operator who wants
 * one sets NODE_OPTIONS=--max-old-space-size=<MiB> (the executables honour NODE_OPTIONS).
 */
export const RUNTIME_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
