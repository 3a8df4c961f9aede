// The entry point of the release builds: the same CLI as bin/fieldmesh.js, bundled.
import { run } from '../../agent/cli/main.js';

process.exitCode = await run(process.argv.slice(2));
