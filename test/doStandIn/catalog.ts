import type { Image, Region, Size } from '../../src/core/providers/digitalocean/api/client';

/** Regions of the stand-in; `tor1` offers no GPU, so "a size not offered in the region" can be shown. */
const REGION_NAMES: Record<string, string> = {
  nyc3: 'New York 3',
  ams3: 'Amsterdam 3',
  fra1: 'Frankfurt 1',
  tor1: 'Toronto 1',
};

const GPU_REGIONS = ['nyc3', 'ams3'];
const CPU_REGIONS = Object.keys(REGION_NAMES);

function cpuSize(slug: string, vcpus: number, memoryMb: number, diskGb: number, priceMonthly: number, priceHourly: number): Size {
  return {
    slug,
    vcpus,
    memory: memoryMb,
    disk: diskGb,
    transfer: Math.max(1, memoryMb / 1024),
    price_monthly: priceMonthly,
    price_hourly: priceHourly,
    regions: CPU_REGIONS,
    available: true,
    description: 'Basic',
    disk_info: [{ type: 'local', size: { amount: diskGb, unit: 'gib' } }],
  };
}

/** A realistic subset of DigitalOcean's sizes (mid-2026 prices), one GPU size among them. */
export const SIZES: Size[] = [
  cpuSize('s-1vcpu-1gb', 1, 1024, 25, 6, 0.00893),
  cpuSize('s-1vcpu-2gb', 1, 2048, 50, 12, 0.01786),
  cpuSize('s-2vcpu-2gb', 2, 2048, 60, 18, 0.02679),
  cpuSize('s-2vcpu-4gb', 2, 4096, 80, 24, 0.03571),
  cpuSize('s-4vcpu-8gb', 4, 8192, 160, 48, 0.07143),
  { ...cpuSize('c-8', 8, 16384, 100, 168, 0.25), description: 'CPU-Optimized' },
  {
    ...cpuSize('gpu-h100x1-80gb', 20, 245760, 720, 2522.16, 3.39),
    description: 'H100 GPU - 1X',
    transfer: 15,
    regions: GPU_REGIONS,
    gpu_info: { count: 1, model: 'nvidia_h100', vram: { amount: 80, unit: 'gib' } },
  },
];

export const REGIONS: Region[] = Object.entries(REGION_NAMES).map(([slug, name]) => ({
  slug,
  name,
  available: true,
  features: ['backups', 'ipv6', 'metadata', 'install_agent'],
  sizes: SIZES.filter((size) => size.regions.includes(slug)).map((size) => size.slug),
}));

/** Distribution images, by slug; droplets are created from one of these or from a snapshot id. */
export const DISTRIBUTION_IMAGES: Image[] = [
  { id: 161234501, slug: 'ubuntu-24-04-x64', name: '24.04 (LTS) x64', distribution: 'Ubuntu' },
  { id: 161234503, slug: 'ubuntu-22-04-x64', name: '22.04 (LTS) x64', distribution: 'Ubuntu' },
  { id: 161234502, slug: 'debian-12-x64', name: '12 x64', distribution: 'Debian' },
].map((image) => ({
  ...image,
  distribution: image.distribution as Image['distribution'],
  type: 'base' as const,
  public: true,
  regions: CPU_REGIONS as Image['regions'],
  created_at: '2026-04-25T10:00:00Z',
  min_disk_size: 15,
  size_gigabytes: 2.36,
  description: `${image.distribution} ${image.name}`,
  tags: [],
  status: 'available' as const,
}));
