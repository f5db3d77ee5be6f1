import { assertEquals, assertThrows } from "../assert.ts";
import * as shapes from "../../lib/io/arch_shapes.ts";
import type { StateDict } from "../../lib/io/raw_tensor.ts";

type ArchShapes = typeof shapes;
type Table = shapes.ArchTable;

/** A chained table with odd widths (U2-Net heights and RSU-4F stages). */
function oddTable(m: ArchShapes): Table {
  const outs = [7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27];
  const mids = [5, 3, 9, 7, 11, 13, 15, 3, 5, 7, 9];
  return m.archTable("full").map(([h, , , , f], s): shapes.ArchRow => {
    const inCh = s === 0 ? 3 : s < 6 ? outs[s - 1] : outs[s - 1] + outs[10 - s];
    return [h, inCh, mids[s], outs[s], f];
  });
}

/** Lite with halved widths, derived from its conv shapes by `deriveArchTable`. */
function halfLite(m: ArchShapes): Table {
  const half = m.archTable("lite").map(([h, i, mid, o, f], s): shapes.ArchRow => [
    h,
    s === 0 ? 3 : i / 2,
    mid / 2,
    o / 2,
    f,
  ]);
  const convs = m.archConvs(half).filter((c) => c.bn).map((c) => c.shape);
  return m.deriveArchTable(convs, (what) => {
    throw new TypeError(what);
  });
}

const sdOf = (keys: shapes.KeySpec[]): StateDict =>
  new Map(keys.map((k) => [k.key, { dtype: k.dtype, shape: k.shape, data: new Float32Array(0) }]));

function caught(fn: () => unknown): unknown {
  try {
    return { ok: fn() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

const fail = (what: string): never => {
  throw new TypeError(what);
};

/**
 * Every exported function's output on `full`, `lite`, halved lite and an odd-width
 * table, as JSON per function (the identity the lib/net-derived module must keep).
 */
export function cases(m: ArchShapes): Record<string, string> {
  const tables: [string, shapes.Arch | Table][] = [
    ["full", "full"],
    ["lite", "lite"],
    ["half", halfLite(m)],
    ["odd", oddTable(m)],
  ];
  const flags = [undefined, true, false];
  const opts: (shapes.ArchKeysOptions | undefined)[] = [undefined];
  for (const convBias of flags) {
    for (const bn of flags) {
      for (const numBatchesTracked of flags) opts.push({ convBias, bn, numBatchesTracked });
    }
  }
  const out: Record<string, unknown> = {
    STAGE_HEIGHTS: m.STAGE_HEIGHTS,
    archTable: [m.archTable("full"), m.archTable("lite")],
  };
  for (const [name, t] of tables) {
    const table = typeof t === "string" ? m.archTable(t) : t;
    out[`table ${name}`] = table;
    out[`archKindOf ${name}`] = m.archKindOf(table);
    out[`tableWidths ${name}`] = m.tableWidths(table);
    out[`archConvs ${name}`] = [m.archConvs(t), m.archConvs(table)];
    out[`archKeys ${name}`] = opts.map((o) => [o ?? null, m.archKeys(t, o), m.archKeys(table, o)]);
    out[`stateDict ${name}`] = opts.map((o) => {
      const sd = sdOf(m.archKeys(t, o));
      return [
        caught(() => m.detectArchTable(sd, () => "lite")),
        caught(() => m.archTableFromStateDict(sd, fail)),
      ];
    });
  }
  // Bad tables and state dicts: the fail messages.
  const lite = m.archConvs("lite").filter((c) => c.bn).map((c) => c.shape);
  const wrongIn = lite.map((s, i) => (i === 14 ? [s[0], s[1] + 1, 3, 3] : s));
  const sd = sdOf(m.archKeys("lite"));
  sd.delete("decode_modules.2.encode_modules.1.conv.weight");
  const odd = sdOf(m.archKeys(oddTable(m)));
  odd.set("side_modules.2.weight", {
    dtype: "F32",
    shape: [1, 2, 3, 3],
    data: new Float32Array(0),
  });
  out.errors = [
    caught(() => m.deriveArchTable(lite.slice(1), fail)),
    caught(() => m.deriveArchTable(wrongIn, fail)),
    caught(() => m.archTableFromStateDict(sd, fail)),
    caught(() => m.detectArchTable(sd, () => "full")),
    caught(() => m.detectArchTable(odd, () => "full")),
    caught(() => m.archTableFromStateDict(odd, fail)),
  ];
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, JSON.stringify(v)]));
}

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** sha256 of each case's JSON, computed from the stage-table module before lib/net derivation. */
const PINNED: Record<string, string> = {
  STAGE_HEIGHTS: "d8bf95686c1cfa17cc8a94a2f70320b1c86ee0a72bd3583a164f5be42bbc84a9",
  archTable: "b4daa9e945891eeb151159720c12c0ba8c4be83ded35ef4adb57bbf2749a4260",
  "table full": "98994a64e458f2f20cb49c9abdfeb72339bc8ed9f0fa8c4e43ef43e63d992d90",
  "archKindOf full": "1e5941238a72b1f89a5d4cfad9164d5d37f08fab209161841ebf39bf057083d4",
  "tableWidths full": "99a260d68214966f8d5d966ee3a08700ac0eb326467f41d809be89b9bade74c7",
  "archConvs full": "9602e20ab06a5ba3140d07bd3acbc35efc1933002b44f1555fe2a172ecdeef15",
  "archKeys full": "8788951c37ef7221171afe1f5eeed75e6660cd77589d4fce0c26b298b6cc900d",
  "stateDict full": "a2a48a0461c5fae7f082e21aeb50992b710d34a1701063748d059dc9938fc04f",
  "table lite": "9d8c7e374b5783e06e6718d2e34fce3b08c566e30bea6154fccfda164961dea7",
  "archKindOf lite": "5e2ba38b88f36439a31c32e3fdf100672d5f8d12dc86ebb82062a856ade69592",
  "tableWidths lite": "521af8c1e216283c8d6ca4e789a55c7e79086f1ee63808c8ec99841192c6139c",
  "archConvs lite": "6ab776c9438cb26ae9ff37165bd1b975dfa3a8cd65940918920f7dc2c876fc35",
  "archKeys lite": "200a1f3bccac2250567a5dfdc06b4f401dd3b5885b01f67b70ed99e454164483",
  "stateDict lite": "af5d81222cd5cbe4ec30753e01623a5e1a96fabf85d833ffebac4c5f03c7d5fc",
  "table half": "2665fc69f0eabf57414a37e89d1bc9d26e7ef95336dc96b533b68cdc508e4e24",
  "archKindOf half": "180c2c98506fa69d188721fe3211d6abebca4f13d7e0afc4814d837e99966aff",
  "tableWidths half": "1c8d45300d12af86674a3993ce255edb59f2ae1d934f4af465f97ae4431fe327",
  "archConvs half": "2ebe4b026c19774f8d0875c861587388185a8d65420db260ea359d26eb52a087",
  "archKeys half": "187e9913579329b8246d9902f3b27908e6985c66acf4d4809185f58850e2becc",
  "stateDict half": "e3c72a26c8004c2f389ea3e7f23d3292dc87b5d831f4fe1570dcbc587ecfa989",
  "table odd": "87799b8a1278a1b640833ad86abac722e5d68ec4d2b8c244a0fdeeffd6c3c270",
  "archKindOf odd": "180c2c98506fa69d188721fe3211d6abebca4f13d7e0afc4814d837e99966aff",
  "tableWidths odd": "3c8a91530819d7740bbf4c0347ec4fa987d30d531071ef0348d9795579469a6d",
  "archConvs odd": "9dfb8141e180e90dde1996e1698c0733d4a876b6f72843c37e8ee7d79a204d84",
  "archKeys odd": "216f4c5251bebed0289a92259f10eda2c3920e6d4052280f5abd2a6480b47532",
  "stateDict odd": "09cc181def07b583d1fe4d8cfb5fc73f350894bc3ed83cece13beeb553a0f466",
  errors: "e77fbc335254f981e5cba97a0d1dfa35d29d70e43f0b78a90421433ee299ad46",
};

Deno.test("arch_shapes exports match the pre-lib/net stage-table module when given full, lite and custom tables", async () => {
  const got: Record<string, string> = {};
  for (const [k, v] of Object.entries(cases(shapes))) got[k] = await sha256(v);
  assertEquals(got, PINNED);
});

Deno.test("archConvs() rejects a table when its heights are not U2-Net's", () => {
  const rows = shapes.archTable("lite").map(([h, i, mid, o, f], s): shapes.ArchRow => [
    s === 3 ? 5 : h,
    i,
    mid,
    o,
    f,
  ]);
  assertThrows(() => shapes.archConvs(rows), RangeError, "stage 3 is height 5");
});
