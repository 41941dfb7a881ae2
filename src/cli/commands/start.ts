import * as path from 'node:path';
import { EXIT } from '../../app/exitStatus';
import { cloudCreateOptions, isCloudKind } from '../../app/cloudOptions';
import { parseNumber, parseProviderKind } from '../../app/parse';
import { ensureDaemonForCloud } from '../../core/cloud/daemon';
import type { SandboxController } from '../../core/controller';
import { SandboxError, describeError, isSandboxError } from '../../core/errors';
import { gpuRefusalPriceLine } from '../../core/cost/billing';
import type { CloudCreateOptions, Profile, SandboxRecord } from '../../core/model';
import { OPEN_NETWORK_WARNING, formatHostEntry, networkFromOptions, parseHostEntry } from '../../core/network/policy';
import { DEFAULT_DESKTOP_GEOMETRY, parseGeometry, parseLogPatterns, parseSize } from '../../core/profile';
import { DEFAULT_PROVIDER_KIND, HOSTED_PROVIDER_KIND, providerKindInfos } from '../../core/providers/kinds';
import { isDirectory, parse, progressReporter, selfCommand, type Command, type Context } from '../command';
import { askYesNo } from '../prompt';
import { reportBudgetAlerts } from './budgetAlerts';

export const startCommand: Command = {
  name: 'start',
  usage: [
    ['start [PATH]', 'create a sandbox (and copy PATH into it)'],
    ['start --desktop [PATH]', 'create a sandbox with a desktop (see sandbox desktop)'],
    ['start NAME', 'start a stopped sandbox'],
    ['start --from SNAPSHOT [PATH]', 'create a sandbox from a snapshot (see sandbox snapshots)'],
    ['start --provider digitalocean [PATH]', 'create a cloud sandbox (see sandbox cloud, sandbox cost)'],
  ],
  help: `Usage: sandbox start [PATH | NAME] [options]
  --name NAME         name of the new sandbox (default: sandbox-<id>)
  --from SNAPSHOT     start from a snapshot (\`sandbox snapshots\`): its files, and its profile
                      unless other options here say otherwise; the sandbox gets its own SSH keys
  --agent ID          the agent the sandbox works for
  --cpus N            CPUs (default 2)
  --memory SIZE       memory, like 2g (default 2g)
  --pids N            process limit (default 1024)
  --disk SIZE         disk limit, where the engine supports it
  --image TAG         a sandbox image, or one built FROM it (default: the built sandbox image)
  --no-sudo           the agent user gets no sudo
  --to DIR            where PATH goes inside (default /home/agent/workspace)
  --exclude PATTERN   skip files matching PATTERN (gitignore syntax; repeatable)
  --provider KIND     ${providerKindInfos()
    .map((info) => (info.kind === DEFAULT_PROVIDER_KIND ? `${info.kind} (default)` : info.kind))
    .join(' or ')}
  --host NAME         an SSH host added with \`sandbox host add\` (implies --provider ${HOSTED_PROVIDER_KIND})
  --desktop           run a desktop in the sandbox (the desktop image; see \`sandbox desktop\`)
  --geometry WxH      the desktop's size (default 1280x800; implies --desktop)
  --network POLICY    default (the internet, not this machine or private addresses), open
                      (unfiltered), none (no network: exec only), or allow:DOMAIN,... (only those)
  --allow-domain D    allow the domain D and names under it (repeatable; makes an allowlist)
  --add-host NAME:IP  a host name for the sandbox and its allowlist (repeatable)
  --log-file PATTERN  agent log files the collector tails, like '~/workspace/*.log' (repeatable)
Cloud sandboxes (--provider digitalocean; sign in first with \`sandbox cloud login\`):
  --region R          a region, like nyc3 (default: the provider's)
  --size S            a size, like s-2vcpu-4gb (default: the smallest that fits --cpus and --memory)
  --gpu MODEL         the cheapest size with that GPU, like h100; its price is shown and needs --yes
  --yes               confirm a GPU size's price (for scripts)
  --ttl DURATION      time-to-live, like 90m or 2h (default 2h): past it the daemon destroys the
                      sandbox when idle and hibernates it when a command runs (\`sandbox extend\`)
  --os SYSTEM         ubuntu-24-04 (default) or ubuntu-22-04
  --budget USD        the monthly budget for this create (default: \`sandbox cost --set-budget\`, $50)
A cloud create is refused, with the figures, when it would take the month past the budget; it
starts the daemon when none runs.`,
  async run(args, context) {
    const { values, positionals } = parse(args, {
      name: { type: 'string' },
      from: { type: 'string' },
      agent: { type: 'string' },
      cpus: { type: 'string' },
      memory: { type: 'string' },
      pids: { type: 'string' },
      disk: { type: 'string' },
      image: { type: 'string' },
      'no-sudo': { type: 'boolean' },
      to: { type: 'string' },
      exclude: { type: 'string', multiple: true },
      desktop: { type: 'boolean' },
      geometry: { type: 'string' },
      provider: { type: 'string' },
      host: { type: 'string' },
      network: { type: 'string' },
      'allow-domain': { type: 'string', multiple: true },
      'add-host': { type: 'string', multiple: true },
      'log-file': { type: 'string', multiple: true },
      region: { type: 'string' },
      size: { type: 'string' },
      gpu: { type: 'string' },
      yes: { type: 'boolean' },
      ttl: { type: 'string' },
      os: { type: 'string' },
      budget: { type: 'string' },
    });
    if (positionals.length > 1) throw new SandboxError('invalid-input', 'Give at most one folder or sandbox: sandbox start [PATH | NAME].');
    const target = positionals[0];
    const { controller } = context;

    if (target !== undefined && (await startsExisting(controller, target))) {
      const creationOnly = [
        'name',
        'from',
        'agent',
        'cpus',
        'memory',
        'pids',
        'disk',
        'image',
        'no-sudo',
        'to',
        'exclude',
        'desktop',
        'geometry',
        'provider',
        'host',
        'network',
        'allow-domain',
        'add-host',
        'log-file',
        'region',
        'size',
        'gpu',
        'yes',
        'ttl',
        'os',
        'budget',
      ].filter((option) => values[option as keyof typeof values] !== undefined);
      if (creationOnly.length > 0) {
        throw new SandboxError('invalid-input', `--${creationOnly[0]} applies only when creating a sandbox, and ${target} already exists.`);
      }
      const record = await controller.start(target, context.signal);
      if (context.json) context.printJson(record);
      else context.out(`Started ${record.name} (${record.id}).`);
      // A hibernated cloud sandbox restored is a new machine that bills again.
      if (isCloudKind(record.provider)) await afterCloudCreate(context, record, undefined);
      return EXIT.ok;
    }
    if (target !== undefined && !isDirectory(target)) {
      throw new SandboxError('invalid-input', `The folder ${target} does not exist; give a folder to copy into a new sandbox.`);
    }

    const profile: Partial<Profile> = {
      cpus: values.cpus !== undefined ? parseNumber(values.cpus, 'CPU count') : undefined,
      memory: values.memory !== undefined ? parseSize(values.memory, 'memory limit') : undefined,
      pids: values.pids !== undefined ? parseNumber(values.pids, 'process limit') : undefined,
      disk: values.disk !== undefined ? parseSize(values.disk, 'disk limit') : undefined,
      image: values.image,
      sudo: values['no-sudo'] ? false : undefined,
      desktop: values.desktop || values.geometry !== undefined ? (values.geometry ?? DEFAULT_DESKTOP_GEOMETRY) : undefined,
      network: networkFromOptions(values.network, values['allow-domain']),
      hosts: values['add-host']?.map((entry) => formatHostEntry(parseHostEntry(entry))),
      logs: values['log-file'] ? parseLogPatterns(values['log-file']) : undefined,
    };
    if (profile.desktop) parseGeometry(profile.desktop);
    // From a snapshot, the provider is the snapshot's unless one is named.
    const fromSnapshot = values.from;
    const named = values.provider !== undefined || values.host !== undefined;
    const provider = fromSnapshot !== undefined && !named ? undefined : parseProviderKind(values.provider, values.host);
    const cloud = cloudCreateOptions(provider, values);
    const progress = progressReporter(context);
    let record: SandboxRecord;
    try {
      const create = (confirmed: CloudCreateOptions | undefined) =>
        controller.create({
          provider,
          host: values.host,
          name: values.name,
          agentId: values.agent,
          fromSnapshot,
          profile,
          push: target !== undefined ? { localRoot: path.resolve(target), remoteDir: values.to, excludes: values.exclude } : undefined,
          buildImageIfMissing: true,
          cloud: confirmed,
          signal: context.signal,
          onProgress: progress.onProgress,
        });
      record = await create(cloud).catch(async (error: unknown) => {
        // A GPU size's price asked of the person at a terminal, then the create again with their yes.
        progress.done();
        const confirmed = await confirmGpuPrice(context, cloud, error);
        if (!confirmed) throw error;
        return create(confirmed);
      });
    } finally {
      progress.done();
    }
    if (record.profile.network === 'open') process.stderr.write(`${OPEN_NETWORK_WARNING}\n`);
    if (isCloudKind(record.provider)) await afterCloudCreate(context, record, cloud?.budgetUsd);
    if (context.json) {
      context.printJson(record);
    } else {
      const origin = fromSnapshot !== undefined ? ` from the snapshot ${fromSnapshot}` : '';
      context.out(`Started ${record.name} (${record.id})${origin}${target !== undefined ? `, with ${target} in ${record.workdir}` : ''}.`);
      context.out(`Run a command:  ${selfCommand()} exec ${record.name} -- python3 --version`);
    }
    return EXIT.ok;
  },
};

/** The cloud options with a yes to a GPU size's price, when a terminal's person gives it to the refusal `error`; otherwise undefined. */
async function confirmGpuPrice(context: Context, cloud: CloudCreateOptions | undefined, error: unknown): Promise<CloudCreateOptions | undefined> {
  if (!cloud || cloud.confirmGpu || context.json || !process.stdin.isTTY || !isSandboxError(error)) return undefined;
  const price = gpuRefusalPriceLine(error.message);
  if (price === undefined) return undefined;
  process.stderr.write(`${price}\n`);
  return (await askYesNo('This is a GPU size, billed by the second until it is destroyed. Create it at that price? [y/N] '))
    ? { ...cloud, confirmGpu: true }
    : undefined;
}

/** A cloud sandbox needs the daemon for its time-to-live and the budget: started here when none runs; then the alerts due. */
async function afterCloudCreate(context: Context, record: SandboxRecord, budgetUsd: number | undefined): Promise<void> {
  try {
    const daemon = await ensureDaemonForCloud(context.controller.store.root, process.argv[1]!);
    if (daemon.started && !context.json)
      process.stderr.write(`sandbox: started the daemon (pid ${daemon.status.holder?.pid}) to enforce time-to-live and budget.\n`);
  } catch (error) {
    process.stderr.write(
      `sandbox: the daemon could not be started (${describeError(error)}), so ${record.name}'s time-to-live is not enforced; run \`sandbox daemon start\`.\n`,
    );
  }
  await reportBudgetAlerts(context, record.id, budgetUsd);
}

/**
 * `start X` starts the sandbox X, or creates one from the folder X. Something that looks like a
 * path is a folder; otherwise an existing sandbox wins over a folder of the same name.
 */
async function startsExisting(controller: SandboxController, target: string): Promise<boolean> {
  if (target === '.' || target === '..' || target.includes('/') || target.includes(path.sep)) return false;
  try {
    await controller.resolve(target);
    return true;
  } catch (error) {
    if (isSandboxError(error, 'not-found')) return false;
    throw error;
  }
}
