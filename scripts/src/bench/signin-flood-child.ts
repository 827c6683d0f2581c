// Run as a child process by the security benchmark, so that its own work does not land in the figure's
// process: sign-ins with a new user name and a wrong password each, `rate` a second spread over
// `addresses` source addresses (127.0.9.x, all this machine), until SIGTERM; then it reports what the
// bridge answered, by status.
import { request } from 'node:http';

const [url, rateText, addressText] = process.argv.slice(2) as [string, string, string];
const rate = Number(rateText);
const addresses = Number(addressText);
const answers: Record<string, number> = {};
let sent = 0;
let open = 0;

function signIn(): void {
  const body = JSON.stringify({ username: `flood-${sent}`, password: 'not the password at all' });
  const localAddress = `127.0.9.${1 + (sent % addresses)}`;
  sent += 1;
  open += 1;
  const done = (key: string) => {
    open -= 1;
    answers[key] = (answers[key] ?? 0) + 1;
  };
  const call = request(`${url}/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    localAddress,
    agent: false,
  });
  call.on('response', (response) => {
    response.resume();
    response.on('end', () => done(String(response.statusCode)));
  });
  call.on('error', () => done('error'));
  call.end(body);
}

const timer = setInterval(() => {
  // Ten ticks a second; at most 256 sign-ins waiting for an answer, half the bridge's connection cap,
  // so that the gateways' own requests still get through.
  for (let i = 0; i < rate / 10 && open < 256; i++) signIn();
}, 100);

process.once('SIGTERM', () => {
  clearInterval(timer);
  process.stdout.write(`${JSON.stringify({ sent, answers })}\n`);
  process.exit(0);
});
