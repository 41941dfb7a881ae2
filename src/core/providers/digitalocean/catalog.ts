/**
 * What DigitalOcean offers, read at run time (`/v2/regions`, `/v2/sizes`): prices change, sizes
 * come and go, and a size is offered in some regions only. A create names a region and a size,
 * or a GPU model; otherwise the smallest size that fits the sandbox's profile is chosen.
 */
import { SandboxError } from '../../errors';
import type { Profile } from '../../model';
import { isGpuSize, priceLine, type SizePrice } from '../../cost/billing';
import { gpuOf, type DigitalOceanClient, type Region, type Size } from './api/client';

/** A size, with what a person chooses by: price, CPUs, memory, GPUs, where it is offered. */
export interface SizeOffer extends SizePrice {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  usdPerMonth: number;
  regions: string[];
  description?: string;
}

export interface RegionOffer {
  slug: string;
  name: string;
  /** Sizes offered there, as the region lists them. */
  sizes: string[];
}

export interface Catalog {
  regions: RegionOffer[];
  sizes: SizeOffer[];
}

/** New York 3 is DigitalOcean's own default; the first available region when it is not offered. */
export const PREFERRED_REGION = 'nyc3';

export async function readCatalog(client: DigitalOceanClient, signal?: AbortSignal): Promise<Catalog> {
  const [regions, sizes] = await Promise.all([client.regions(signal), client.sizes(signal)]);
  return { regions: regions.filter((region) => region.available).map(regionOffer), sizes: sizes.filter((size) => size.available).map(sizeOffer) };
}

function regionOffer(region: Region): RegionOffer {
  return { slug: region.slug, name: region.name, sizes: [...(region.sizes ?? [])] };
}

function sizeOffer(size: Size): SizeOffer {
  const gpu = gpuOf(size);
  const vramGb = gpu?.vram ? Number.parseFloat(gpu.vram) : undefined;
  return {
    slug: size.slug,
    usdPerHour: size.price_hourly,
    usdPerMonth: size.price_monthly,
    vcpus: size.vcpus,
    memoryMb: size.memory,
    diskGb: size.disk,
    regions: [...(size.regions ?? [])],
    description: size.description,
    gpu: gpu && { count: gpu.count, model: gpu.model, vramGb: Number.isFinite(vramGb) ? vramGb : undefined },
  };
}

/** Sizes offered in a region, cheapest first. */
export function sizesIn(catalog: Catalog, region: string): SizeOffer[] {
  const listed = new Set(catalog.regions.find((offer) => offer.slug === region)?.sizes ?? []);
  return catalog.sizes
    .filter((size) => size.regions.includes(region) && (listed.size === 0 || listed.has(size.slug)))
    .sort((a, b) => a.usdPerHour - b.usdPerHour);
}

export function chooseRegion(catalog: Catalog, requested?: string): RegionOffer {
  if (requested !== undefined) {
    const region = catalog.regions.find((offer) => offer.slug === requested);
    if (!region) {
      throw new SandboxError(
        'invalid-input',
        `DigitalOcean has no available region "${requested}"; pick one of ${catalog.regions.map((offer) => offer.slug).join(', ')}.`,
      );
    }
    return region;
  }
  const region = catalog.regions.find((offer) => offer.slug === PREFERRED_REGION) ?? catalog.regions[0];
  if (!region) throw new SandboxError('provider-error', 'DigitalOcean lists no available region for this account; check the account in its control panel.');
  return region;
}

export interface SizeRequest {
  region: string;
  size?: string;
  gpu?: string;
  profile: Pick<Profile, 'cpus' | 'memory'>;
}

/**
 * The size a create uses: the one named (offered in the region), the cheapest of a GPU model, or
 * the cheapest CPU size with at least the profile's CPUs and memory.
 */
export function chooseSize(catalog: Catalog, request: SizeRequest): SizeOffer {
  const offered = sizesIn(catalog, request.region);
  if (request.size !== undefined) {
    const size = catalog.sizes.find((offer) => offer.slug === request.size);
    if (!size) throw new SandboxError('invalid-input', `DigitalOcean has no available size "${request.size}"; see the sizes with \`sandbox cloud sizes\`.`);
    if (!offered.includes(size)) {
      const elsewhere = size.regions.slice(0, 6).join(', ');
      throw new SandboxError(
        'invalid-input',
        `The size ${size.slug} is not offered in ${request.region}${elsewhere ? `; it is in ${elsewhere}` : ''}: pick another region (--region) or size (--size).`,
      );
    }
    return size;
  }
  if (request.gpu !== undefined) {
    const model = request.gpu.toLowerCase();
    const gpus = offered.filter((size) => isGpuSize(size) && (size.gpu?.model.toLowerCase().includes(model) || size.slug.toLowerCase().includes(model)));
    if (gpus.length === 0) {
      const models = [...new Set(offered.filter(isGpuSize).map((size) => size.gpu?.model ?? size.slug))];
      throw new SandboxError(
        'invalid-input',
        `No ${request.gpu} GPU size is offered in ${request.region}${models.length ? `; there: ${models.join(', ')}` : '; try another region (--region)'}.`,
      );
    }
    return gpus[0]!;
  }
  const memoryMb = request.profile.memory / (1024 * 1024);
  const fits = offered.filter((size) => !isGpuSize(size) && size.vcpus >= request.profile.cpus && size.memoryMb >= memoryMb);
  if (fits.length === 0) {
    throw new SandboxError(
      'invalid-input',
      `No size in ${request.region} has ${request.profile.cpus} CPUs and ${Math.round(memoryMb)} MB of memory; name one with --size, or ask for less.`,
    );
  }
  return fits[0]!;
}

/** One line per size for a pick list or `sandbox cloud sizes`. */
export function describeSize(size: SizeOffer): string {
  return priceLine(size);
}
