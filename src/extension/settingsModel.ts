import { parseSize } from '../core/profile';
import { formatNetworkPolicy, parseNetworkPolicy } from '../core/network/policy';
import type { ProviderKind } from '../core/model';
import { DEFAULT_PROVIDER_KIND, kindsOfferedInSettings } from '../core/providers/kinds';
import { DEFAULT_MONTHLY_BUDGET_USD } from '../core/cost/budget';
import { parseSshSources } from '../core/providers/digitalocean/sshSourceCidrs';

/** The extension's settings after checking; no vscode import, so it is tested in plain Node. */
export interface SandboxSettings {
  defaultProvider: ProviderKind;
  cpus: number;
  /** Bytes. */
  memory: number;
  /** Empty: the image built by the extension (`sandbox image build`). */
  image?: string;
  /** Empty: ~/.agent-sandboxes or $AGENT_SANDBOXES_HOME, shared with the CLI. */
  stateDir?: string;
  syncExcludes: string[];
  /** The network policy of new sandboxes (default, open, none or allow:DOMAIN,...); empty: default. */
  network?: string;
  /** What cloud sandboxes may cost a month, in USD; written to the state dir's budget file when it changes. */
  monthlyBudgetUsd: number;
}

export const SETTINGS_SECTION = 'sandboxes';
export const DEFAULT_SETTINGS: SandboxSettings = {
  defaultProvider: DEFAULT_PROVIDER_KIND,
  cpus: 2,
  memory: 2 * 1024 ** 3,
  syncExcludes: [],
  monthlyBudgetUsd: DEFAULT_MONTHLY_BUDGET_USD,
};
/** Where SSH to cloud sandboxes may come from, below the section. */
export const SSH_SOURCE_KEY = 'cloud.sshSourceCidr';

/** The SSH source setting checked: the CIDR blocks, or one sentence saying what to write. */
export function checkSshSourceSetting(value: unknown): { sources?: string[]; problem?: string } {
  if (value === undefined || value === null || value === '') return { sources: parseSshSources(['anywhere']) };
  try {
    if (typeof value !== 'string') throw new Error('not text');
    return { sources: parseSshSources([value]) };
  } catch {
    return {
      problem: `The setting ${SETTINGS_SECTION}.${SSH_SOURCE_KEY} is ${JSON.stringify(value)}; give address blocks such as "203.0.113.0/24", or "anywhere".`,
    };
  }
}

/** The monthly budget's key below the section. */
export const MONTHLY_BUDGET_KEY = 'cloud.monthlyBudgetUsd';
/** As the core's budget file accepts (src/core/cost/settings.ts): far above any sandbox budget. */
const MAX_MONTHLY_BUDGET_USD = 100_000;

/** The monthly budget setting checked: a number of dollars, or one sentence saying what to write. */
export function checkMonthlyBudgetSetting(value: unknown): { usd?: number; problem?: string } {
  if (value === undefined || value === null) return { usd: DEFAULT_SETTINGS.monthlyBudgetUsd };
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_MONTHLY_BUDGET_USD) return { usd: value };
  return {
    problem: `The setting ${SETTINGS_SECTION}.${MONTHLY_BUDGET_KEY} is ${JSON.stringify(value)}; give a number of US dollars from 0 to ${MAX_MONTHLY_BUDGET_USD}, such as 50.`,
  };
}

/**
 * Reads every `sandboxes.*` setting through `get` (a key below the section, like
 * `defaultProfile.cpus`). A bad value falls back to its default and yields one sentence that
 * names the setting and says what to write instead.
 */
export function readSettings(get: (key: string) => unknown): { settings: SandboxSettings; problems: string[] } {
  const problems: string[] = [];
  const settings: SandboxSettings = { ...DEFAULT_SETTINGS, syncExcludes: [] };
  const name = (key: string) => `${SETTINGS_SECTION}.${key}`;

  const provider = get('defaultProvider');
  if (provider !== undefined && provider !== null) {
    const offered: string[] = kindsOfferedInSettings();
    if (typeof provider === 'string' && offered.includes(provider)) settings.defaultProvider = provider as ProviderKind;
    else
      problems.push(
        `The setting ${name('defaultProvider')} is "${String(provider)}", which is not available here; use ${offered.map((p) => `"${p}"`).join(' or ')}.`,
      );
  }

  const cpus = get('defaultProfile.cpus');
  if (cpus !== undefined && cpus !== null) {
    if (typeof cpus === 'number' && Number.isFinite(cpus) && cpus > 0) settings.cpus = cpus;
    else problems.push(`The setting ${name('defaultProfile.cpus')} is ${JSON.stringify(cpus)}; give a positive number of CPUs such as 1 or 0.5.`);
  }

  const memory = get('defaultProfile.memory');
  if (memory !== undefined && memory !== null && memory !== '') {
    try {
      if (typeof memory !== 'string') throw new Error('not text');
      settings.memory = parseSize(memory, 'memory');
    } catch {
      problems.push(`The setting ${name('defaultProfile.memory')} is ${JSON.stringify(memory)}, which is not a size; write it like "512m" or "2g".`);
    }
  }

  const image = get('image');
  if (typeof image === 'string' && image.trim() !== '') {
    if (/\s/.test(image.trim())) problems.push(`The setting ${name('image')} "${image}" contains spaces; give an image tag such as "my-sandbox:1".`);
    else settings.image = image.trim();
  } else if (image !== undefined && image !== null && image !== '') {
    problems.push(`The setting ${name('image')} must be text (an image tag), not ${JSON.stringify(image)}.`);
  }

  const stateDir = get('stateDir');
  if (typeof stateDir === 'string' && stateDir.trim() !== '') {
    if (stateDir.startsWith('/') || stateDir.startsWith('~') || /^[A-Za-z]:[\\/]/.test(stateDir)) settings.stateDir = stateDir.trim();
    else problems.push(`The setting ${name('stateDir')} "${stateDir}" is not an absolute path; give a full path or leave it empty for ~/.agent-sandboxes.`);
  } else if (stateDir !== undefined && stateDir !== null && stateDir !== '') {
    problems.push(`The setting ${name('stateDir')} must be a path, not ${JSON.stringify(stateDir)}.`);
  }

  const excludes = get('syncExcludes');
  if (excludes !== undefined && excludes !== null) {
    if (Array.isArray(excludes) && excludes.every((pattern) => typeof pattern === 'string' && pattern.trim() !== ''))
      settings.syncExcludes = excludes as string[];
    else problems.push(`The setting ${name('syncExcludes')} must be a list of non-empty patterns such as ["*.log", "dist/"].`);
  }

  const network = get('defaultProfile.network');
  if (network !== undefined && network !== null && network !== '' && network !== 'default') {
    try {
      if (typeof network !== 'string') throw new Error('not text');
      settings.network = formatNetworkPolicy(parseNetworkPolicy(network));
    } catch {
      problems.push(
        `The setting ${name('defaultProfile.network')} is ${JSON.stringify(network)}; write "default", "open", "none" or "allow:example.com,*.pypi.org".`,
      );
    }
  }

  const budget = checkMonthlyBudgetSetting(get(MONTHLY_BUDGET_KEY));
  if (budget.usd !== undefined) settings.monthlyBudgetUsd = budget.usd;
  if (budget.problem) problems.push(budget.problem);

  return { settings, problems };
}
