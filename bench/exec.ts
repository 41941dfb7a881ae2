/**
 * Exec of `true`, like with like and interleaved: in-process against in-process (our exec agent
 * against the engine API's exec; our SSH session against ssh2 alone on one warm connection), a
 * process against a process (`sandbox exec` against `docker exec`), and our SSH session against
 * OpenSSH reusing one warm connection (`ssh host true` over a ControlMaster).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import Dockerode from 'dockerode';
import { Client } from 'ssh2';
import { SandboxController } from '../src/core/controller';
import { DockerProvider } from '../src/core/providers/docker';
import type { StateStore } from '../src/core/store/stateStore';
import { interleave, median, p50p95, ratioLine, report, scaled, sh } from './util';

export interface ExecSubject {
  controller: SandboxController;
  store: StateStore;
  ref: string;
  name: string;
  containerId: string;
  cli: string;
  env: NodeJS.ProcessEnv;
}

/** Runs `true` through the engine API's exec in this process: create, start, wait for the end, inspect. */
export async function engineApiExec(docker: Dockerode, containerId: string): Promise<void> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: ['true'], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve).on('close', resolve).on('error', reject);
    stream.resume();
  });
  await exec.inspect();
}

/** Our exec agent and the engine API in this process; `sandbox exec` and `docker exec` as processes. */
export async function execLatency(subject: ExecSubject): Promise<void> {
  const { controller, ref, name, containerId, cli, env } = subject;
  const docker = new Dockerode();
  const ours = () => controller.exec(ref, { command: ['true'] });
  await ours(); // warm the exec agent
  await engineApiExec(docker, containerId);
  const inProcess = await interleave(scaled(40), { ours, api: () => engineApiExec(docker, containerId) });
  const perProcess = await interleave(scaled(10), {
    ours: () => sh(`node ${cli} exec ${name} -- true`, env),
    cli: () => sh(`docker exec ${containerId} true`),
  });
  report('Exec of `true`, p50 / p95, interleaved', [
    ['in-process: controller.exec (exec agent)', p50p95(inProcess.ours)],
    ['in-process: the engine API exec (dockerode)', p50p95(inProcess.api)],
    ['in-process p50 ratio', ratioLine(median(inProcess.ours), median(inProcess.api), 1)],
    ['per process: `sandbox exec`', p50p95(perProcess.ours)],
    ['per process: `docker exec`', p50p95(perProcess.cli)],
    ['per-process p50 ratio', ratioLine(median(perProcess.ours), median(perProcess.cli))],
  ]);
}

/** One ssh2 connection to the sandbox with the key and address OpenSSH would use (`ssh -G`). */
async function connectRawSsh2(configFile: string, alias: string): Promise<Client> {
  const resolved = new Map<string, string>();
  for (const line of (await sh(`ssh -G -F ${configFile} ${alias}`)).split('\n')) {
    const [key, ...value] = line.split(' ');
    if (key && !resolved.has(key)) resolved.set(key, value.join(' '));
  }
  const identity = resolved.get('identityfile');
  if (!identity) throw new Error(`ssh -G found no IdentityFile for ${alias} in ${configFile}; run \`sandbox ssh-config\` and try again.`);
  const privateKey = await fs.readFile(identity.replace(/^~/, os.homedir()));
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({ host: resolved.get('hostname'), port: Number(resolved.get('port')), username: resolved.get('user'), privateKey });
  });
  return client;
}

/** Runs `true` on a warm ssh2 connection: what the SSH library costs with nothing of ours around it. */
function rawSsh2Exec(client: Client): Promise<void> {
  return new Promise((resolve, reject) => {
    client.exec('true', (error, channel) => {
      if (error) return reject(error);
      channel.on('close', () => resolve()).resume();
      channel.stderr.resume();
    });
  });
}

/** Exec over the sandbox's persistent SSH session against ssh2 alone, multiplexed OpenSSH, fresh OpenSSH and the Docker paths. */
export async function sshExecLatency(subject: ExecSubject): Promise<void> {
  const { controller, store, ref, containerId } = subject;
  const overSsh = new SandboxController({ store, execChannel: 'ssh' });
  const overDockerApi = new SandboxController({ store, providers: { docker: new DockerProvider({ execChannel: 'docker' }) } });
  const target = await controller.sshTarget(ref);
  // OpenSSH through our config, which shares one master connection per sandbox (as ours reuses the session).
  const muxSsh = `ssh -F ${target.configFile} -o BatchMode=yes`;
  let raw: Client | undefined;
  try {
    await overSsh.exec(ref, { command: ['true'] }); // connect once
    await sh(`${muxSsh} ${target.alias} true`); // open the master before timing
    raw = await connectRawSsh2(target.configFile, target.alias);
    const warmRaw = raw;
    await rawSsh2Exec(warmRaw);
    const warm = await interleave(scaled(40), {
      ours: () => overSsh.exec(ref, { command: ['true'] }),
      ssh2: () => rawSsh2Exec(warmRaw),
      mux: () => sh(`${muxSsh} ${target.alias} true`),
    });
    const others = await interleave(scaled(15), {
      freshSsh: () => sh(`${muxSsh} -o ControlPath=none ${target.alias} true`),
      dockerApi: () => overDockerApi.exec(ref, { command: ['true'] }),
      dockerCli: () => sh(`docker exec ${containerId} true`),
      agent: () => controller.exec(ref, { command: ['true'] }),
    });
    report('Exec of `true` over SSH, p50 / p95, interleaved', [
      ['in-process: our persistent SSH session', p50p95(warm.ours)],
      ['in-process: ssh2 alone on one warm connection', p50p95(warm.ssh2)],
      ['in-process p50 ratio', ratioLine(median(warm.ours), median(warm.ssh2))],
      ['process: `ssh sandbox-NAME true` through our config, second call on', p50p95(warm.mux)],
      ['our session vs multiplexed ssh (p50)', ratioLine(median(warm.ours), median(warm.mux), 1)],
      ['process: fresh `ssh host true` per command', p50p95(others.freshSsh)],
      ["our config's shared connection vs fresh ssh (p50)", ratioLine(median(warm.mux), median(others.freshSsh), 0.1)],
      ['in-process: Docker exec through the engine API', p50p95(others.dockerApi)],
      ['in-process: exec agent (the Docker default)', p50p95(others.agent)],
      ['process: `docker exec`', p50p95(others.dockerCli)],
      ['our session vs fresh ssh (p50)', ratioLine(median(warm.ours), median(others.freshSsh), 0.1)],
      ['our session vs Docker exec, API (p50)', ratioLine(median(warm.ours), median(others.dockerApi), 1)],
    ]);
  } finally {
    raw?.end();
    await sh(`${muxSsh} -O exit ${target.alias}`).catch(() => undefined);
    overSsh.dispose();
    overDockerApi.dispose();
  }
}
