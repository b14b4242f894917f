/**
 * The demo country's administrative areas: 5 regions (`R01`..`R05`) with 3-5 districts each (`R01-D01`...). Paths are
 * dotted code chains as in `areas.path`: a region's path is its code, a district's `R01.R01-D02`. Coordinates are
 * invented boxes in the open South Atlantic, so no demo household lands in a real country.
 */

export interface BBox {
  south: number;
  north: number;
  west: number;
  east: number;
}

export interface RegionDef {
  code: string;
  name: string;
  bbox: BBox;
  /** Share of the demo population. */
  weight: number;
  /** Mean welfare (poverty score, higher = better off) before household effects. */
  welfare: number;
  /** ISO 639-3, as DCI's LanguageCode. */
  language: string;
}

export interface DistrictDef {
  code: string;
  name: string;
  regionCode: string;
  bbox: BBox;
  weight: number;
  urban: boolean;
  /** Welfare shift from the region's mean. */
  welfareShift: number;
}

const R = (code: string, name: string, bbox: BBox, weight: number, welfare: number, language: string): RegionDef => ({ code, name, bbox, weight, welfare, language });

export const REGIONS: readonly RegionDef[] = [
  R('R01', 'Northmoor', { south: -22.5, north: -21.0, west: -18.0, east: -15.0 }, 18, 47, 'eng'),
  R('R02', 'Sandhaven Coast', { south: -22.5, north: -21.0, west: -15.0, east: -12.0 }, 22, 52, 'por'),
  R('R03', 'Central Lowlands', { south: -24.0, north: -22.5, west: -18.0, east: -12.0 }, 30, 61, 'eng'),
  R('R04', 'Eastern Uplands', { south: -26.0, north: -24.0, west: -15.0, east: -12.0 }, 14, 40, 'fra'),
  R('R05', 'Southern Reach', { south: -26.0, north: -24.0, west: -18.0, east: -15.0 }, 16, 35, 'eng'),
];

const DISTRICT_SPECS: Record<string, [name: string, weight: number, urban: boolean, welfareShift: number][]> = {
  R01: [['Elmbridge', 34, true, 6], ['Carrow', 22, false, -2], ['Halden Fells', 18, false, -6], ['Wickmere', 26, false, 0]],
  R02: [['Port Ellis', 36, true, 7], ['Saltmarsh', 16, false, -4], ['Gullrock', 14, false, -5], ['Brinewood', 18, false, -1], ['Cape Tamsin', 16, false, 2]],
  R03: [['Aldmoor City', 52, true, 8], ['Riverside', 28, true, 2], ['Oakfield', 20, false, -5]],
  R04: [['Highcross', 32, true, 5], ['Stonebrook', 24, false, -3], ['Marrowdale', 22, false, -6], ['Kestrel Ridge', 22, false, -2]],
  R05: [['Dunmore', 28, true, 5], ['Fennick', 18, false, -4], ['Ravensfold', 20, false, -3], ['Lowater', 16, false, -7], ['Thornbury', 18, false, 0]],
};

/** Districts split their region's box into equal west-to-east strips. */
export const DISTRICTS: readonly DistrictDef[] = REGIONS.flatMap((r) => {
  const specs = DISTRICT_SPECS[r.code];
  const width = (r.bbox.east - r.bbox.west) / specs.length;
  return specs.map(([name, weight, urban, welfareShift], k) => ({
    code: `${r.code}-D${String(k + 1).padStart(2, '0')}`,
    name,
    regionCode: r.code,
    bbox: { south: r.bbox.south, north: r.bbox.north, west: r.bbox.west + k * width, east: r.bbox.west + (k + 1) * width },
    weight,
    urban,
    welfareShift,
  }));
});

export interface AreaRow {
  code: string;
  name: string;
  level: 'region' | 'district';
  parentCode: string | null;
  path: string;
}

/** Rows for the `areas` table, regions before their districts. */
export const AREA_ROWS: readonly AreaRow[] = [
  ...REGIONS.map((r) => ({ code: r.code, name: r.name, level: 'region' as const, parentCode: null, path: r.code })),
  ...DISTRICTS.map((d) => ({ code: d.code, name: d.name, level: 'district' as const, parentCode: d.regionCode, path: `${d.regionCode}.${d.code}` })),
];
