// Run by `npm run bench -- gateway --pi` inside the cgroup that limits it to a Raspberry-class budget:
// the gateway group on the Pi profile, its results as JSON on the last line.
import { gatewayBench, PI_PROFILE } from './gateway.js';

process.stdout.write(`${JSON.stringify(await gatewayBench(PI_PROFILE))}\n`);
