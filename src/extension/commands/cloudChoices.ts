import * as vscode from 'vscode';
import type { CloudCreateOptions } from '../../core/model';
import type { Catalog, SizeOffer } from '../../core/providers/digitalocean/catalog';
import { gpuQuestion, regionPickItem, sizePickItem } from '../cloudPresentation';
import type { Cockpit } from '../cockpit';
import type { DigitalOceanAccount } from '../digitalOceanAccount';
import { loadCore } from '../lazyCore';
import { pickWithLast, type Pick } from './quickPicks';

/** What Start Sandbox asks of a DigitalOcean sandbox: a region and a size (which sets CPUs and memory). */
export interface CloudChoice {
  cloud: CloudCreateOptions & { region: string; size: string };
  cpus: number;
  /** Bytes. */
  memory: number;
}

/** The region and size picked last time, offered first (region) or marked (size). */
export interface LastCloudChoice {
  region?: string;
  size?: string;
}

const CREATE_GPU = 'Create GPU Sandbox';

/**
 * The cloud steps of Start Sandbox: sign in when no token is at hand, then a region and a size
 * read from DigitalOcean now (prices change), cheapest first, and a modal yes for a GPU size's
 * price. Undefined when the person backs out or the catalog cannot be read (said once); nothing
 * is made before the last step of Start Sandbox.
 */
export async function askCloudChoices(
  cockpit: Cockpit,
  account: DigitalOceanAccount,
  last: LastCloudChoice,
  title: (step: number) => string,
  firstStep: number,
): Promise<CloudChoice | undefined> {
  try {
    if (!(await account.isSignedIn()) && !(await account.signIn())) return undefined;
    const core = loadCore();
    const credentials = await core.readCredentials(cockpit.stateDir());
    if (!credentials) return undefined;
    const client = new core.DigitalOceanClient({ token: credentials.token, baseUrl: credentials.apiUrl });
    const catalog: Promise<Catalog> = core.readCatalog(client);
    // Read while the region pick shows; an Escape before it settles must not leave a rejection unheard.
    catalog.catch(() => undefined);

    const regions = catalog.then((read) => read.regions.map((region): Pick<string> => ({ ...regionPickItem(region), value: region.slug })));
    const region = await pickWithLast(regions, last.region ?? core.PREFERRED_REGION, {
      title: title(firstStep),
      placeHolder: 'Region: where the droplet runs',
      matchOnDescription: true,
    });
    if (!region) return undefined;

    const offered = core.sizesIn(await catalog, region);
    if (offered.length === 0) {
      void cockpit.notify('error', `DigitalOcean offers no size in ${region} to this account; pick another region.`);
      return undefined;
    }
    // Cheapest first, as listed: the last size used is marked, not moved.
    const sizes = offered.map((size): Pick<SizeOffer> => ({
      ...sizePickItem(size),
      description: size.slug === last.size ? '(last used)' : undefined,
      value: size,
    }));
    const picked = await vscode.window.showQuickPick(sizes, {
      title: title(firstStep + 1),
      placeHolder: `Size in ${region}: price per hour, cheapest first (billed by the second until deleted)`,
      matchOnDetail: true,
      ignoreFocusOut: true,
    });
    if (!picked) return undefined;
    const size = picked.value;

    const question = gpuQuestion(size);
    if (question !== undefined) {
      const answer = await vscode.window.showWarningMessage(question, { modal: true }, CREATE_GPU);
      if (answer !== CREATE_GPU) {
        cockpit.log.info(`Start Sandbox: the GPU size ${size.slug} was not confirmed; nothing was made`);
        return undefined;
      }
    }
    return {
      cloud: { region, size: size.slug, confirmGpu: question !== undefined },
      cpus: size.vcpus,
      memory: size.memoryMb * 1024 ** 2,
    };
  } catch (error) {
    await cockpit.showError(error);
    return undefined;
  }
}
