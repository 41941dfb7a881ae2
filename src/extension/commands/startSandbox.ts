import * as vscode from 'vscode';
import { formatUsdPerHour } from '../../core/cost/billing';
import type { CloudCreateOptions, ProviderKind, SandboxRecord } from '../../core/model';
import { formatSize, validateName } from '../../core/profile';
import { kindsOfferedInSettings, providerKindInfo } from '../../core/providers/kinds';
import { describeError } from '../../core/errors';
import type { Cockpit } from '../cockpit';
import { COMMAND_IDS } from '../commandIds';
import type { DigitalOceanAccount } from '../digitalOceanAccount';
import { loadCore } from '../lazyCore';
import { providerLabel } from '../presentation';
import { askCloudChoices } from './cloudChoices';
import { pickWithLast, type Pick } from './quickPicks';

/** What Start Sandbox needs; the quick pick asks for it, a caller (a test, another extension) may pass it. */
export interface StartSandboxOptions {
  provider?: ProviderKind;
  cpus?: number;
  memory?: number;
  image?: string;
  /** A desktop of this size (WIDTHxHEIGHT, e.g. 1280x800) in the sandbox, from the desktop image. */
  desktop?: string;
  /** A local folder to copy in; null for none; undefined means the first workspace folder. */
  folder?: string | null;
  name?: string;
  /** For a cloud provider: region, size, the yes a GPU size needs, time-to-live. */
  cloud?: CloudCreateOptions;
}

interface LastChoices {
  provider?: ProviderKind;
  size?: string;
  folder?: string;
  region?: string;
  cloudSize?: string;
  /** Whether the last DigitalOcean sandbox had a desktop. */
  cloudDesktop?: boolean;
}

const LAST_CHOICES_KEY = 'sandboxes.startSandbox.last';
const STEPS = 4;
/** The cloud kind whose steps are region and size (cloudChoices.ts), signing in first when needed. */
const CLOUD_KIND: ProviderKind = 'digitalocean';
/** The Desktop profile: a desktop of this size, with room for a browser. */
const DESKTOP_PROFILE = { geometry: '1280x800', cpus: 2, memory: 4 * 1024 ** 3 };

/** Start Sandbox: provider, profile, folder, name (Escape at any step leaves nothing), then create with progress. */
export function startSandboxCommand(cockpit: Cockpit, account: DigitalOceanAccount) {
  return async (options?: StartSandboxOptions): Promise<SandboxRecord | undefined> => {
    const programmatic = typeof options === 'object' && options !== null;
    const chosen = programmatic ? withDefaults(cockpit, options) : await askForOptions(cockpit, account);
    if (!chosen) {
      cockpit.log.info('Start Sandbox cancelled before anything was made');
      return undefined;
    }
    const settings = cockpit.settings();
    try {
      // The token kept by VS Code reaches the core before a cloud create reads it.
      if (chosen.provider === CLOUD_KIND) await account.ready();
      const record = await cockpit.withProgress(`Starting sandbox${chosen.name ? ` ${chosen.name}` : ''}`, (signal, report) =>
        cockpit.controller.create({
          name: chosen.name,
          provider: chosen.provider,
          profile: { cpus: chosen.cpus, memory: chosen.memory, image: chosen.image, desktop: chosen.desktop, network: settings.network },
          // Builds the desktop image too when the profile has a desktop.
          push: chosen.folder ? { localRoot: chosen.folder, excludes: settings.syncExcludes } : undefined,
          buildImageIfMissing: true,
          cloud: chosen.cloud,
          signal,
          onProgress: (progress) => {
            cockpit.log.info(`${chosen.name ?? 'new sandbox'}: ${progress.message}`);
            report(progress.message, progress.fraction);
          },
        }),
      );
      cockpit.log.info(`Sandbox ${record.name} (${record.id}) is running`);
      if (record.cloud) void account.afterCloudCreate(record);
      await cockpit.refresh();
      if (!programmatic) {
        const where = record.cloud
          ? ` in ${record.cloud.region} at ${formatUsdPerHour(record.cloud.usdPerHour)}, billed until it is deleted or hibernated`
          : '';
        const actions = record.profile.desktop ? ['Open Desktop', 'Open Terminal'] : ['Open Terminal'];
        void vscode.window.showInformationMessage(`Sandbox ${record.name} is running${where}.`, ...actions).then((choice) => {
          if (choice === 'Open Desktop') void vscode.commands.executeCommand(COMMAND_IDS.openDesktop, record.id);
          if (choice === 'Open Terminal') void vscode.commands.executeCommand(COMMAND_IDS.openTerminal, record.id);
        });
      }
      return record;
    } catch (error) {
      await cockpit.refresh();
      if (programmatic) throw error;
      await cockpit.showError(error);
      return undefined;
    }
  };
}

function withDefaults(cockpit: Cockpit, options: StartSandboxOptions): StartSandboxOptions {
  const settings = cockpit.settings();
  const folder = options.folder === undefined ? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath : options.folder;
  const provider = options.provider ?? settings.defaultProvider;
  return {
    provider,
    cpus: options.cpus ?? settings.cpus,
    memory: options.memory ?? settings.memory,
    // The image setting names a plain sandbox image: a desktop runs the desktop image.
    // A droplet's system is the provider's choice (CloudCreateOptions.os), not a Docker image.
    image: options.image ?? (options.desktop || provider === CLOUD_KIND ? undefined : settings.image),
    desktop: options.desktop,
    folder,
    name: options.name,
    cloud: options.cloud,
  };
}

async function askForOptions(cockpit: Cockpit, account: DigitalOceanAccount): Promise<StartSandboxOptions | undefined> {
  const settings = cockpit.settings();
  const memento = cockpit.context.globalState;
  const last = memento.get<LastChoices>(LAST_CHOICES_KEY) ?? {};
  const title = (step: number) => `Start Sandbox (${step}/${STEPS})`;

  const kinds = kindsOfferedInSettings();
  // Whether DigitalOcean needs a sign-in first, read while the pick shows.
  const providers = account.isSignedIn().then(
    (signedIn) => providerPicks(kinds, signedIn),
    () => providerPicks(kinds, false),
  );
  const provider = await pickWithLast(providers, last.provider ?? settings.defaultProvider, { title: title(1), placeHolder: 'Where should the sandbox run?' });
  if (!provider) return undefined;
  if (provider === CLOUD_KIND) return askForCloudOptions(cockpit, account, last);

  const image = settings.image ?? loadCore().sandboxImageTag();
  const desktopImage = loadCore().desktopImageTag();
  const sizes: Pick<{ key: string; cpus: number; memory: number; desktop?: string }>[] = [
    { key: 'default', cpus: settings.cpus, memory: settings.memory },
    { key: 'small', cpus: 1, memory: 1024 ** 3 },
    { key: 'large', cpus: 4, memory: 8 * 1024 ** 3 },
    { key: 'desktop', cpus: DESKTOP_PROFILE.cpus, memory: DESKTOP_PROFILE.memory, desktop: DESKTOP_PROFILE.geometry },
  ].map((size) => ({
    label: { default: 'Default', small: 'Small', large: 'Large', desktop: 'Desktop' }[size.key]!,
    description: `${size.cpus} CPU · ${formatSize(size.memory)}${size.desktop ? ` · desktop ${size.desktop}` : ''}`,
    detail:
      size.key === 'default'
        ? `From the sandboxes.defaultProfile settings · image ${image}`
        : size.desktop
          ? `XFCE, Firefox and xterm you can watch and drive here (Open Desktop) · image ${desktopImage}, built when missing`
          : `image ${image}`,
    value: size,
  }));
  const size = await pickWithLast(sizes, last.size ?? 'default', { title: title(2), placeHolder: 'Profile: size and image' }, (value) => value.key);
  if (!size) return undefined;

  const folder = await askForFolder(last.folder, title(3));
  if (folder === undefined) return undefined;

  const name = await askForName(cockpit, title(4));
  if (name === undefined) return undefined;

  await memento.update(LAST_CHOICES_KEY, { ...last, provider, size: size.key, folder } satisfies LastChoices);
  return {
    provider,
    cpus: size.cpus,
    memory: size.memory,
    image: size.desktop ? undefined : settings.image,
    desktop: size.desktop,
    folder: folder || null,
    name: name || undefined,
  };
}

/** The kinds with their words from the registry; DigitalOcean says when picking it signs in first. */
function providerPicks(kinds: ProviderKind[], cloudSignedIn: boolean): Pick<ProviderKind>[] {
  return kinds.map((kind) => {
    const description = providerKindInfo(kind)?.description;
    const signInFirst = kind === CLOUD_KIND && !cloudSignedIn;
    return {
      label: providerLabel(kind),
      description: signInFirst ? `${description ?? ''} Not signed in: signs you in first.`.trim() : description,
      value: kind,
    };
  });
}

/** DigitalOcean: region and size (cloudChoices.ts) instead of a profile, a desktop or none, then folder and name. */
async function askForCloudOptions(cockpit: Cockpit, account: DigitalOceanAccount, last: LastChoices): Promise<StartSandboxOptions | undefined> {
  const title = (step: number) => `Start Sandbox (${step}/6)`;
  const choice = await askCloudChoices(cockpit, account, { region: last.region, size: last.cloudSize }, title, 2);
  if (!choice) return undefined;
  const desktops: Pick<boolean>[] = [
    { label: 'No desktop', description: 'a shell, over SSH', value: false },
    {
      label: 'Desktop',
      description: `XFCE ${DESKTOP_PROFILE.geometry}`,
      detail: 'XFCE with xterm you can watch and drive here (Open Desktop); installed at first boot, so the create takes a few minutes more',
      value: true,
    },
  ];
  const desktop = await pickWithLast(desktops, String(last.cloudDesktop ?? false), { title: title(4), placeHolder: 'A desktop in the droplet?' }, (value) =>
    String(value),
  );
  if (desktop === undefined) return undefined;
  const folder = await askForFolder(last.folder, title(5));
  if (folder === undefined) return undefined;
  const name = await askForName(cockpit, title(6));
  if (name === undefined) return undefined;
  await cockpit.context.globalState.update(LAST_CHOICES_KEY, {
    ...last,
    provider: CLOUD_KIND,
    folder,
    region: choice.cloud.region,
    cloudSize: choice.cloud.size,
    cloudDesktop: desktop,
  } satisfies LastChoices);
  return {
    provider: CLOUD_KIND,
    cpus: choice.cpus,
    memory: choice.memory,
    desktop: desktop ? DESKTOP_PROFILE.geometry : undefined,
    folder: folder || null,
    name: name || undefined,
    cloud: choice.cloud,
  };
}

/** The folder step: a workspace folder, none, or one chosen in a dialog; undefined when backed out of. */
async function askForFolder(last: string | undefined, title: string): Promise<string | undefined> {
  const folders: Pick<string>[] = (vscode.workspace.workspaceFolders ?? []).map((folder) => ({
    label: `$(folder) ${folder.name}`,
    description: folder.uri.fsPath,
    value: folder.uri.fsPath,
  }));
  folders.push({ label: '$(circle-slash) No folder', description: 'start with an empty workspace', value: '' });
  folders.push({ label: '$(folder-opened) Choose a folder…', value: '?' });
  const folder = await pickWithLast(folders, last ?? folders[0]!.value, { title, placeHolder: 'Folder to copy into the sandbox' });
  if (folder !== '?') return folder;
  const chosen = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Copy into Sandbox' });
  return chosen?.[0]?.fsPath;
}

/** The name step: empty for a generated name; undefined when backed out of. */
function askForName(cockpit: Cockpit, title: string): Thenable<string | undefined> {
  const taken = new Set(cockpit.records.map((record) => record.name));
  return vscode.window.showInputBox({
    title,
    prompt: 'Name of the sandbox (leave empty for a generated one)',
    placeHolder: 'fix-login-2',
    ignoreFocusOut: true,
    validateInput: (value) => {
      if (value === '') return undefined;
      if (taken.has(value)) return `A sandbox named ${value} already exists; pick another name.`;
      try {
        validateName(value);
        return undefined;
      } catch (error) {
        return describeError(error);
      }
    },
  });
}
