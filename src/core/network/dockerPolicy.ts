/**
 * Puts a sandbox container's network policy in place at every start (Docker gives a container
 * a new network namespace each time it starts, so rules never outlive a stop).
 *
 * The rules are set by a short-lived sidecar container of our own image that joins the
 * sandbox's network namespace with NET_ADMIN alone: nothing of the sandbox's filesystem runs
 * with that capability, and the sandbox itself never gets it. An allowlist adds a long-lived
 * resolver sidecar (dnsmasq) that answers allowed names only and adds their addresses to the
 * set of addresses the sandbox may reach. The sandbox's init waits for a marker on a tmpfs
 * (gone at every stop) that is written only once the rules are in.
 */
import type Dockerode from 'dockerode';
import { SandboxError, describeError } from '../errors';
import { sandboxImageTag } from '../images';
import type { Profile } from '../model';
import { dockerExec } from '../transport/dockerExec';
import { HOST_PROBE_SCRIPT, localHostFacts, parseHostProbe, type EngineHostFacts } from './hostAddresses';
import { domainRoot, isAllowedName, parseHostEntry, parseNetworkPolicy, type NetworkPolicy } from './policy';
import { ALLOWED_SET4, ALLOWED_SET6, NFT_TABLE, buildRuleset } from './rules';

/** The tmpfs the sandbox's init watches (images/sandbox/sandbox-wait-network). */
export const NETWORK_MARKER_DIR = '/run/sandbox-network';
const NETWORK_MARKER = `${NETWORK_MARKER_DIR}/ready`;
/** On our sidecars: the container whose network namespace they serve. */
export const SIDECAR_LABEL = 'dev.agent-sandboxes.sidecar-of';
const RESOLVER_READY_MS = 10_000;

/**
 * The resolver sidecar: finds Docker's embedded DNS in the namespace (its UDP socket on
 * 127.0.0.11), forwards only the allowed domains there, and fills the allowed sets.
 */
const RESOLVER_SCRIPT = `set -eu
hex=$(awk '$2 ~ /^0B00007F:/ { sub(/^0B00007F:/, "", $2); print $2; exit }' /proc/net/udp)
[ -n "$hex" ] || { echo "resolver: no Docker DNS in this network namespace" >&2; exit 1; }
port=$(printf '%d' "0x$hex")
set --
for domain in $SANDBOX_ALLOW; do
  set -- "$@" "--server=/$domain/127.0.0.11#$port" "--nftset=/$domain/4#inet#${NFT_TABLE}#${ALLOWED_SET4},6#inet#${NFT_TABLE}#${ALLOWED_SET6}"
done
for record in $SANDBOX_HOSTS; do set -- "$@" "--host-record=$record"; done
exec dnsmasq --keep-in-foreground --log-facility=- --pid-file= --user=root --group=root --no-resolv --no-hosts --no-poll \\
  --listen-address=127.0.0.1 --bind-interfaces --port=53 --cache-size=1000 "$@"`;

export interface NetworkPolicyOptions {
  /** How to learn the engine machine's addresses: from this process (a local engine) or a probe container there. */
  hostFacts: 'local' | 'probe';
}

/** Create options of a sandbox container that follow from its policy. */
export function containerNetworkSettings(
  profile: Profile,
  network: string,
  sshPort: string,
): Partial<Dockerode.ContainerCreateOptions> & { HostConfig: Dockerode.HostConfig } {
  const policy = parseNetworkPolicy(profile.network);
  const extraHosts = (profile.hosts ?? []).map((text) => {
    const entry = parseHostEntry(text);
    return `${entry.name}:${entry.address}`;
  });
  const common = { Tmpfs: { [NETWORK_MARKER_DIR]: 'rw,nosuid,nodev,noexec,mode=0700,size=64k' }, ...(extraHosts.length ? { ExtraHosts: extraHosts } : {}) };
  if (policy.mode === 'none') return { HostConfig: { ...common, NetworkMode: 'none' } };
  return {
    ExposedPorts: { [sshPort]: {} },
    HostConfig: { ...common, NetworkMode: network, PortBindings: { [sshPort]: [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  };
}

export class DockerNetworkPolicy {
  private facts?: Promise<EngineHostFacts>;

  constructor(
    private readonly docker: Dockerode,
    private readonly options: NetworkPolicyOptions,
  ) {}

  /**
   * Sets the rules of `profile` in the running container `containerId`, then releases its init.
   * `subnets` are those of the sandboxes' network. Throws a SandboxError when anything fails;
   * the caller stops or removes the container then (fail closed).
   */
  async apply(containerId: string, profile: Profile, subnets: string[], signal?: AbortSignal): Promise<void> {
    const policy = parseNetworkPolicy(profile.network);
    await this.removeSidecars(containerId);
    if (policy.mode === 'default' || policy.mode === 'allow') {
      const facts = await this.hostFacts(signal);
      const entries = (profile.hosts ?? []).map(parseHostEntry);
      const allowedAddresses =
        policy.mode === 'allow' ? entries.filter((entry) => isAllowedName(entry.name, policy.domains)).map((entry) => entry.address) : [];
      const ruleset = buildRuleset({ mode: policy.mode, hostAddresses: facts.addresses, subnets, resolvers: facts.resolvers, allowedAddresses });
      const result = await this.runOnce(
        { Entrypoint: ['/usr/sbin/nft'], Cmd: [ruleset], HostConfig: { NetworkMode: `container:${containerId}`, CapDrop: ['ALL'], CapAdd: ['NET_ADMIN'] } },
        containerId,
        signal,
      );
      if (result.code !== 0) throw policyError(`nft exited with ${result.code}: ${result.output.trim().split('\n').slice(-3).join(' ')}`);
      if (policy.mode === 'allow')
        await this.startResolver(
          containerId,
          policy,
          entries.map((entry) => `${entry.name},${entry.address}`),
          signal,
        );
    }
    const marked = await dockerExec(
      this.docker,
      containerId,
      { command: ['/bin/sh', '-c', `[ -d ${NETWORK_MARKER_DIR} ] || exit 0; : > ${NETWORK_MARKER}`] },
      { user: 'root', cwd: '/' },
    );
    if (marked.exitCode !== 0) throw policyError(`the start marker could not be written (${marked.stderr.trim() || `exit ${marked.exitCode}`})`);
  }

  /** Removes the sidecars serving `containerId` (its resolver); nothing when there are none. */
  async removeSidecars(containerId: string): Promise<void> {
    const sidecars = await this.docker.listContainers({ all: true, filters: { label: [`${SIDECAR_LABEL}=${containerId}`] } });
    await Promise.all(
      sidecars.map((sidecar) =>
        this.docker
          .getContainer(sidecar.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  }

  private hostFacts(signal?: AbortSignal): Promise<EngineHostFacts> {
    if (this.options.hostFacts === 'local') return Promise.resolve(localHostFacts());
    this.facts ??= this.runOnce(
      { Entrypoint: ['/bin/sh', '-c', HOST_PROBE_SCRIPT], HostConfig: { NetworkMode: 'host', CapDrop: ['ALL'] } },
      undefined,
      signal,
    ).then((result) => {
      if (result.code !== 0) throw policyError(`the look at the engine's machine failed (exit ${result.code})`);
      return parseHostProbe(result.output);
    });
    this.facts.catch(() => (this.facts = undefined));
    return this.facts;
  }

  private async startResolver(
    containerId: string,
    policy: Extract<NetworkPolicy, { mode: 'allow' }>,
    hostRecords: string[],
    signal?: AbortSignal,
  ): Promise<void> {
    const image = await this.sidecarImage();
    const resolver = await this.docker.createContainer({
      name: `agent-sandboxes-resolver-${containerId.slice(0, 12)}`,
      Image: image,
      Entrypoint: ['/bin/sh', '-c', RESOLVER_SCRIPT, 'resolver'],
      Env: [`SANDBOX_ALLOW=${policy.domains.map(domainRoot).join(' ')}`, `SANDBOX_HOSTS=${hostRecords.join(' ')}`],
      Labels: { [SIDECAR_LABEL]: containerId },
      abortSignal: signal,
      HostConfig: {
        ...SIDECAR_LIMITS,
        NetworkMode: `container:${containerId}`,
        CapDrop: ['ALL'],
        CapAdd: ['NET_ADMIN', 'NET_BIND_SERVICE', 'SETGID'],
        RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 },
      },
    } as Dockerode.ContainerCreateOptions);
    await resolver.start();
    const deadline = Date.now() + RESOLVER_READY_MS;
    for (;;) {
      // dnsmasq's UDP socket on 127.0.0.1:53, in the namespace it shares with the sandbox.
      const probe = await dockerExec(
        this.docker,
        resolver.id,
        { command: ['grep', '-q', ' 0100007F:0035 ', '/proc/net/udp'] },
        { user: 'root', cwd: '/' },
      ).catch(() => undefined);
      if (probe?.exitCode === 0) return;
      if (Date.now() > deadline) {
        const log = (await resolver.logs({ stdout: true, stderr: true, follow: false }).catch(() => Buffer.alloc(0))) as Buffer;
        throw policyError(`the allowlist's resolver did not start (${printable(log).slice(-300)})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Runs one of our sidecars to its end; its exit code and output. */
  private async runOnce(spec: Dockerode.ContainerCreateOptions & { HostConfig: Dockerode.HostConfig }, containerId: string | undefined, signal?: AbortSignal) {
    const image = await this.sidecarImage();
    const sidecar = await this.docker.createContainer({
      ...spec,
      Image: image,
      Labels: containerId ? { [SIDECAR_LABEL]: containerId } : {},
      abortSignal: signal,
      HostConfig: { ...SIDECAR_LIMITS, ...spec.HostConfig },
    } as Dockerode.ContainerCreateOptions);
    try {
      await sidecar.start();
      const { StatusCode } = (await sidecar.wait()) as { StatusCode: number };
      // nft says nothing when it succeeds; the probe's output is its answer.
      const wanted = StatusCode !== 0 || !containerId;
      const output = wanted ? ((await sidecar.logs({ stdout: true, stderr: true, follow: false })) as Buffer) : Buffer.alloc(0);
      return { code: StatusCode, output: printable(output) };
    } finally {
      await sidecar.remove({ force: true }).catch(() => undefined);
    }
  }

  private async sidecarImage(): Promise<string> {
    const image = sandboxImageTag();
    try {
      await this.docker.getImage(image).inspect();
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) {
        throw new SandboxError(
          'image-missing',
          `The network policy is set with the sandbox image ${image}, which is not on this engine; build it with \`sandbox image build\`.`,
        );
      }
      throw policyError(describeError(error));
    }
    return image;
  }
}

const SIDECAR_LIMITS: Dockerode.HostConfig = {
  Memory: 64 * 1024 * 1024,
  PidsLimit: 32,
  NanoCpus: 500_000_000,
  SecurityOpt: ['no-new-privileges'],
  ReadonlyRootfs: true,
};

function policyError(detail: string): SandboxError {
  return new SandboxError(
    'provider-error',
    `The sandbox's network policy could not be put in place (${detail}); the sandbox was stopped, try starting it again.`,
  );
}

/** The engine's multiplexed log frames as text (headers dropped, control bytes shown as '?'). */
function printable(frames: Buffer): string {
  const parts: string[] = [];
  let offset = 0;
  while (offset + 8 <= frames.length) {
    const size = frames.readUInt32BE(offset + 4);
    parts.push(frames.subarray(offset + 8, offset + 8 + size).toString('utf8'));
    offset += 8 + size;
  }
  return parts.join('').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?');
}
