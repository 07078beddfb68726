// Mutations of runtime files for the fuzz test (fuzz-runtime.test.ts; not a
// test file itself). A case is a seed file and mutations drawn by fast-check:
// first on the JSON tree (so most results are still JSON and reach the
// reader's deeper checks), then on the bytes.
//
// The tree keeps what Python's json accepts but a parsed value cannot hold:
// duplicate keys and the exact text of every number and string (NaN, 1e400,
// 4301-digit integers, lone surrogates in \u escapes).
import fc from "fast-check";
import { PyDict, dumpPyJson, parsePyJson, pyStringRepr, type PyValue } from "../../shared/pyjson";
import { DISK_SLOTS, NIC_SLOTS } from "../../shared/runtime";

export type JNode = { k: "leaf"; text: string } | { k: "arr"; items: JNode[] } | { k: "obj"; entries: { key: string; value: JNode }[] };

function toNode(v: PyValue): JNode {
  if (Array.isArray(v)) return { k: "arr", items: v.map(toNode) };
  if (v instanceof PyDict) return { k: "obj", entries: v.entries().map(([key, value]) => ({ key: pyStringRepr(key), value: toNode(value) })) };
  return { k: "leaf", text: dumpPyJson(v) };
}

/** Python's json.dumps layout (", " and ": "), one line, trailing newline. */
export function printNode(n: JNode): string {
  const parts: string[] = [];
  const walk = (x: JNode): void => {
    if (x.k === "leaf") parts.push(x.text);
    else if (x.k === "arr") {
      parts.push("[");
      x.items.forEach((item, i) => {
        if (i) parts.push(", ");
        walk(item);
      });
      parts.push("]");
    } else {
      parts.push("{");
      x.entries.forEach((e, i) => {
        parts.push(i ? ", " : "", e.key, ": ");
        walk(e.value);
      });
      parts.push("}");
    }
  };
  walk(n);
  return `${parts.join("")}\n`;
}

const leaf = (text: string): JNode => ({ k: "leaf", text });
const clone = (n: JNode): JNode => structuredClone(n);

// ------------------------------------------------------------- the pools

const HUGE_STRING = `"${"a".repeat(256 * 1024)}"`;
const DEEP = (depth: number): string => `${"[".repeat(depth)}${"]".repeat(depth)}`;

/** Values of every JSON type, edge numbers and hostile strings (raw JSON text). */
const VALUES = [
  "null", "true", "false", "0", "-0", "1", "-1", "7", "7.0", "-0.0", "31", "32", "4095", "1e400", "-1e400", "1E+2", "1.5",
  "9007199254740993", "18446744073709551616", "1e16", "1e-05", "NaN", "Infinity", "-Infinity",
  "123456789012345678901234567890", "1".repeat(4300), "1".repeat(4301), `-${"9".repeat(4300)}`,
  '""', '"x"', '"0x10"', '"0x20"', '"pci.0"', '"scsi.0"', '"paravirtual"', '"drbd"', '"plain"', '"rbd"',
  '"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', '"\\u00e9"', '"é"', '"\\u0000"', '"a\\nb"', '"\\"\\\\"', '"a,b"',
  "[]", "{}", "[1, 2]", '{"a": 1}', '["x"]', DEEP(8), DEEP(600),
];
/** Keys Ganeti and our reader give a meaning, and keys JavaScript does. */
const KEYS = [
  ...NIC_SLOTS, ...DISK_SLOTS, "driver", "id", "bus", "addr", "channel", "scsi-id", "lun", "link", "mode", "vlan",
  "nic_type", "disk_type", "kvm_pci_reservations", "disk_discard", "bridge", "physical_id", "unique_id",
  "__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "osparams_private", "osparams_secret", "osparams_private_cluster",
  "", "x", "é", "\ud800", "UUID", "uuid ",
].map((k) => pyStringRepr(k));
const SLOTS = ["-1", "0", "2", "3", "4", "5", "12", "13", "16", "31", "32", "7.0", '"5"', "true", "null", "1e400"];
const ADDRS = ['"0x0"', '"0x5"', '"0xc"', '"0xd"', '"0x10"', '"0x1f"', '"0x20"', '"0X1F"', '"0x001"', '"1f"', '" 0x1"', '"0x"', '"0xg"', "5", '"0x0c"'];
const IDS = [
  '"nic-003fc157-66a8-4e6d"', '"hotnic-003fc157-pci-5"', '"disk-7c079136-2573-4112"', '"hotdisk-7c079136-pci-4"',
  '"1abc"', '"a b"', `"${"a".repeat(40)}"`, '""', '"x"', '"nic-\\u00e9"', "7",
];
const UUIDS = [
  '"003fc157-66a8-4e6d-8b7e-ec4f69751396"', '"9e7c85f6-b6e5-4243-b27d-680b78c6d203"', '"7c079136-2573-4112-82d0-0d3d2aa90d8f"',
  '"c0ffee00-5eed-4b1d-9a7e-2f0d1c3b4a59"', '""', '"x"', '"nodashes"', '"ABCDEF01-2345-6789-ABCD-EF0123456789"', `"${"f".repeat(200)}"`, "5", "null",
];
const TYPES = ['"paravirtual"', '"e1000"', '"rtl8139"', '"ne2k_isa"', '"scsi-hd"', '"scsi-block"', '"ide"', '"foo"', "5", "null", '""'];
const DRIVERS = ['"virtio-net-pci"', '"virtio-blk-pci"', '"e1000"', '"scsi-hd"', '"scsi-block"', '"ide-hd"', '""', "5"];
/** kvm_cmd pieces Ganeti's loader rewrites (and broken forms of them). */
const KVM_SEGMENTS: string[][] = [
  ['"-localtime"'], ['"-balloon"', '"virtio"'], ['"-balloon"', '"virtio,id=balloon,bus=pci.0,addr=0x3"'], ['"-balloon"'], ['"-balloon"', "5"],
  ['"-vnc"', '":1,tls,x509verify=/etc/ganeti/vnc"'], ['"-vnc"', '":1,x509=/etc/x,password"'], ['"-vnc"'], ['"-vnc"', "5"],
  ['"-chroot"', '"/var/run/ganeti/kvm-hypervisor/chroot/inst1"'], ['"-chroot"'], ['"-rtc"', '"base=localtime"'], ["1024"], ["1.5"], ["null"],
];
/** Byte sequences that are not UTF-8, and some that are but are not ASCII. */
const BYTE_SEQS = [
  [0xff], [0xfe], [0xc0, 0x80], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0x80], [0xef, 0xbb, 0xbf], [0xc3, 0xa9], [0xf0, 0x9f, 0x98, 0x80], [0x00], [0x0d], [0x09], [0x7f],
];
const TOKENS = ['"', "\\", "{", "}", "[", "]", ",", ":", "\\u", "\\ud800", "NaN", "-", "0", "e", ".", "null", " ", "\n", "\\u00"];

// ------------------------------------------------------------ mutations

/** Positions are fractions of the length, so one mutation fits any file. */
const at = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const value = fc.oneof(
  { weight: 40, arbitrary: pick(VALUES.filter((v) => v.length < 1000)) },
  { weight: 2, arbitrary: pick(VALUES.filter((v) => v.length >= 1000)) },
  { weight: 1, arbitrary: fc.constant(HUGE_STRING) },
  { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 12 }).map((s) => pyStringRepr(s)) },
  { weight: 3, arbitrary: fc.integer().map(String) },
  { weight: 2, arbitrary: fc.double().map((d) => dumpPyJson(d)) },
);
const key = fc.oneof({ weight: 4, arbitrary: pick(KEYS) }, { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 8 }).map((s) => pyStringRepr(s)) });
const dev = fc.record({ kind: pick(["nic", "disk"] as const), index: fc.nat(7) });

export const TreeMutation = fc.oneof(
  // JSON-aware, anywhere in the file
  fc.record({ op: fc.constant("replace" as const), node: fc.nat(), value }),
  fc.record({ op: fc.constant("delete" as const), node: fc.nat() }),
  fc.record({ op: fc.constant("add-key" as const), node: fc.nat(), key, value, where: at }),
  fc.record({ op: fc.constant("dup-key" as const), node: fc.nat(), entry: fc.nat(), value, before: fc.boolean() }),
  fc.record({ op: fc.constant("rename-key" as const), node: fc.nat(), entry: fc.nat(), key }),
  fc.record({ op: fc.constant("dup-item" as const), node: fc.nat(), item: fc.nat() }),
  fc.record({ op: fc.constant("swap" as const), node: fc.nat(), i: fc.nat(), j: fc.nat() }),
  fc.record({ op: fc.constant("nest" as const), node: fc.nat(), depth: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom(511, 512, 600)) }),
  fc.record({ op: fc.constant("number" as const), node: fc.nat(), how: pick(["+1", "-1", "neg", "float", "exp", "big", "frac"] as const) }),
  fc.record({ op: fc.constant("string" as const), node: fc.nat(), how: pick(["surrogate", "escape", "utf8", "empty", "nul", "newline", "huge", "dash"] as const) }),
  // structure-aware, per generation: slots (B pci, C hvinfo), SCSI, ids, uuids, hvparams, kvm_cmd, entries
  fc.record({ op: fc.constant("pci" as const), dev, value: pick(SLOTS) }),
  fc.record({ op: fc.constant("addr" as const), dev, value: pick(ADDRS) }),
  fc.record({ op: fc.constant("scsi" as const), dev, scsiId: pick(["-1", "0", "3", "15", "16", "3.0", '"3"']), channel: pick(["0", "1"]), lun: pick(["0", "1"]) }),
  fc.record({ op: fc.constant("hvinfo-key" as const), dev, key: pick(["driver", "id", "bus", "addr", "channel", "scsi-id", "lun", "extra"]), value: fc.oneof(pick(IDS), pick(DRIVERS), pick(['"pci.0"', '"scsi.0"', '"pci.1"', "null"]), fc.constant("DELETE")) }),
  fc.record({ op: fc.constant("uuid" as const), dev, value: fc.oneof(pick(UUIDS), fc.constant("DELETE"), fc.constant("DUPLICATE")) }),
  fc.record({ op: fc.constant("hvparam" as const), key: pick(["nic_type", "disk_type", "kvm_pci_reservations", "disk_discard", "scsi_controller_type"]), value: fc.oneof(pick(TYPES), pick(["0", "3", "12", "32", "-1", '"default"', '"unmap"']), fc.constant("DELETE")) }),
  fc.record({ op: fc.constant("kvm" as const), segment: pick(KVM_SEGMENTS), where: fc.oneof(at, fc.constant(1)) }),
  fc.record({ op: fc.constant("entries" as const), how: pick(["drop-4th", "add-4th", "add-5th", "swap", "empty-nics", "empty-disks", "only-2", "nics-not-list", "hvparams-list"] as const) }),
  fc.record({ op: fc.constant("disk-entry" as const), index: fc.nat(3), how: pick(["len2", "len4", "link-int", "link-null", "uri-int", "uri-string", "uri-null", "disk-list", "child", "child-extra", "child-not-dict", "drbd"] as const) }),
  fc.record({ op: fc.constant("form" as const), dev, how: pick(["to-pci", "to-hvinfo", "both", "empty-hvinfo"] as const) }),
);
export type TreeMutation = typeof TreeMutation extends fc.Arbitrary<infer T> ? T : never;

export const ByteMutation = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant("set" as const), at, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant("truncate" as const), at }),
  fc.record({ op: fc.constant("insert" as const), at, bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 8 }), pick(TOKENS).map((t) => new TextEncoder().encode(t))) }),
  fc.record({ op: fc.constant("bytes" as const), at, seq: pick(BYTE_SEQS), replace: fc.boolean() }),
  fc.record({ op: fc.constant("remove" as const), at, length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant("repeat" as const), at, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant("splice" as const), at, other: fc.nat(), otherAt: at }),
);
export type ByteMutation = typeof ByteMutation extends fc.Arbitrary<infer T> ? T : never;

/** Most cases change only the tree: byte damage is mostly refused at the JSON level. */
export const FuzzCase = fc.record({
  seed: fc.nat(),
  tree: fc.array(TreeMutation, { minLength: 0, maxLength: 3 }),
  bytes: fc.oneof({ weight: 3, arbitrary: fc.constant([] as ByteMutation[]) }, { weight: 2, arbitrary: fc.array(ByteMutation, { minLength: 1, maxLength: 3 }) }),
});
export type FuzzCase = typeof FuzzCase extends fc.Arbitrary<infer T> ? T : never;

// ------------------------------------------------------- applying them

interface Slot {
  node: JNode;
  parent?: JNode;
  index?: number;
}

function allNodes(root: JNode): Slot[] {
  const out: Slot[] = [{ node: root }];
  const walk = (n: JNode): void => {
    const visit = (node: JNode, index: number): void => {
      out.push({ node, parent: n, index });
      walk(node);
    };
    if (n.k === "arr") n.items.forEach(visit);
    else if (n.k === "obj") n.entries.forEach((e, index) => visit(e.value, index));
  };
  walk(root);
  return out;
}

function nth<T>(xs: T[], n: number): T | undefined {
  return xs.length ? xs[n % xs.length] : undefined;
}

function put(s: Slot, replacement: JNode, root: { node: JNode }): void {
  if (!s.parent || s.index === undefined) root.node = replacement;
  else if (s.parent.k === "arr") s.parent.items[s.index] = replacement;
  else if (s.parent.k === "obj") (s.parent.entries[s.index] as { value: JNode }).value = replacement;
}

const K = (name: string): string => pyStringRepr(name);

function getKey(o: JNode | undefined, name: string): JNode | undefined {
  return o?.k === "obj" ? o.entries.find((e) => e.key === K(name))?.value : undefined;
}
function setKey(o: JNode, name: string, v: JNode): void {
  if (o.k !== "obj") return;
  const e = o.entries.find((x) => x.key === K(name));
  if (e) e.value = v;
  else o.entries.push({ key: K(name), value: v });
}
function deleteKey(o: JNode, name: string): void {
  if (o.k === "obj") o.entries = o.entries.filter((e) => e.key !== K(name));
}

/** The NIC and Disk dicts of a runtime-shaped tree. */
function devices(root: JNode, kind: "nic" | "disk"): JNode[] {
  if (root.k !== "arr") return [];
  if (kind === "nic") {
    const nics = root.items[1];
    return nics?.k === "arr" ? nics.items.filter((n) => n.k === "obj") : [];
  }
  const disks = root.items[3];
  if (disks?.k !== "arr") return [];
  return disks.items.flatMap((e) => (e.k === "arr" && e.items[0]?.k === "obj" ? [e.items[0]] : []));
}

function pickDevice(root: JNode, d: { kind: "nic" | "disk"; index: number }): JNode | undefined {
  return nth(devices(root, d.kind), d.index) ?? nth(devices(root, d.kind === "nic" ? "disk" : "nic"), d.index);
}

/** A fresh hvinfo on pci.0 for a device that has none. */
function ensureHvinfo(devNode: JNode): JNode {
  let h = getKey(devNode, "hvinfo");
  if (h?.k !== "obj") {
    h = { k: "obj", entries: [{ key: K("driver"), value: leaf('"virtio-net-pci"') }, { key: K("id"), value: leaf('"nic-003fc157-66a8-4e6d"') }, { key: K("bus"), value: leaf('"pci.0"') }, { key: K("addr"), value: leaf('"0x10"') }] };
    setKey(devNode, "hvinfo", h);
  }
  return h;
}

function applyTree(rootIn: JNode, m: TreeMutation): JNode {
  const root = { node: rootIn };
  const r = rootIn;
  switch (m.op) {
    case "replace": {
      const s = nth(allNodes(r), m.node);
      if (s) put(s, leaf(m.value), root);
      break;
    }
    case "delete": {
      const s = nth(allNodes(r).filter((x) => x.parent), m.node);
      if (s?.parent?.k === "arr") s.parent.items.splice(s.index as number, 1);
      else if (s?.parent?.k === "obj") s.parent.entries.splice(s.index as number, 1);
      break;
    }
    case "add-key": {
      const o = nth(allNodes(r).filter((x) => x.node.k === "obj"), m.node)?.node;
      if (o?.k === "obj") o.entries.splice(Math.floor(m.where * (o.entries.length + 1)), 0, { key: m.key, value: leaf(m.value) });
      break;
    }
    case "dup-key": {
      const o = nth(allNodes(r).filter((x) => x.node.k === "obj" && x.node.entries.length > 0), m.node)?.node;
      if (o?.k === "obj") {
        const i = m.entry % o.entries.length;
        const e = o.entries[i] as { key: string; value: JNode };
        o.entries.splice(m.before ? i : i + 1, 0, { key: e.key, value: leaf(m.value) });
      }
      break;
    }
    case "rename-key": {
      const o = nth(allNodes(r).filter((x) => x.node.k === "obj" && x.node.entries.length > 0), m.node)?.node;
      if (o?.k === "obj") (o.entries[m.entry % o.entries.length] as { key: string }).key = m.key;
      break;
    }
    case "dup-item": {
      const a = nth(allNodes(r).filter((x) => x.node.k === "arr" && x.node.items.length > 0), m.node)?.node;
      if (a?.k === "arr") {
        const i = m.item % a.items.length;
        a.items.splice(i, 0, clone(a.items[i] as JNode));
      }
      break;
    }
    case "swap": {
      const c = nth(allNodes(r).filter((x) => (x.node.k === "arr" ? x.node.items.length : x.node.k === "obj" ? x.node.entries.length : 0) > 1), m.node)?.node;
      if (c?.k === "arr") {
        const [i, j] = [m.i % c.items.length, m.j % c.items.length];
        [c.items[i], c.items[j]] = [c.items[j] as JNode, c.items[i] as JNode];
      } else if (c?.k === "obj") {
        const [i, j] = [m.i % c.entries.length, m.j % c.entries.length];
        [c.entries[i], c.entries[j]] = [c.entries[j] as { key: string; value: JNode }, c.entries[i] as { key: string; value: JNode }];
      }
      break;
    }
    case "nest": {
      const s = nth(allNodes(r), m.node);
      if (s) {
        let n = s.node;
        for (let i = 0; i < m.depth; i++) n = { k: "arr", items: [n] };
        put(s, n, root);
      }
      break;
    }
    case "number": {
      const s = nth(allNodes(r).filter((x) => x.node.k === "leaf" && /^-?\d/.test(x.node.text)), m.node);
      if (s?.node.k === "leaf") {
        const t = s.node.text;
        const n = Number(t);
        const text = { "+1": String(n + 1), "-1": String(n - 1), neg: t.startsWith("-") ? t.slice(1) : `-${t}`, float: /[.eE]/.test(t) ? t : `${t}.0`, exp: `${t}e0`, big: `${t}${"0".repeat(20)}`, frac: `${t}.5` }[m.how];
        put(s, leaf(text), root);
      }
      break;
    }
    case "string": {
      const s = nth(allNodes(r).filter((x) => x.node.k === "leaf" && x.node.text.startsWith('"')), m.node);
      if (s?.node.k === "leaf") {
        const body = s.node.text.slice(1, -1);
        const text = {
          surrogate: `"${body}\\ud800"`, escape: `"${body}\\u00e9"`, utf8: `"${body}é😀"`, empty: '""', nul: `"${body}\\u0000"`,
          newline: `"${body}\\n"`, huge: `"${body}${"x".repeat(64 * 1024)}"`, dash: `"${body}-"`,
        }[m.how];
        put(s, leaf(text), root);
      }
      break;
    }
    case "pci": {
      const d = pickDevice(r, m.dev);
      if (d) setKey(d, "pci", leaf(m.value));
      break;
    }
    case "addr": {
      const d = pickDevice(r, m.dev);
      if (d) setKey(ensureHvinfo(d), "addr", leaf(m.value));
      break;
    }
    case "scsi": {
      const d = pickDevice(r, m.dev);
      if (d) {
        setKey(d, "hvinfo", {
          k: "obj",
          entries: [
            { key: K("driver"), value: leaf('"scsi-hd"') }, { key: K("id"), value: leaf('"disk-7c079136-2573-4112"') }, { key: K("bus"), value: leaf('"scsi.0"') },
            { key: K("channel"), value: leaf(m.channel) }, { key: K("scsi-id"), value: leaf(m.scsiId) }, { key: K("lun"), value: leaf(m.lun) },
          ],
        });
      }
      break;
    }
    case "hvinfo-key": {
      const d = pickDevice(r, m.dev);
      if (d) {
        const h = ensureHvinfo(d);
        if (m.value === "DELETE") deleteKey(h, m.key);
        else setKey(h, m.key, leaf(m.value));
      }
      break;
    }
    case "uuid": {
      const d = pickDevice(r, m.dev);
      if (!d) break;
      if (m.value === "DELETE") deleteKey(d, "uuid");
      else if (m.value === "DUPLICATE") {
        const other = [...devices(r, "nic"), ...devices(r, "disk")].find((x) => x !== d && getKey(x, "uuid"));
        const u = getKey(other, "uuid");
        if (u) setKey(d, "uuid", clone(u));
      } else setKey(d, "uuid", leaf(m.value));
      break;
    }
    case "hvparam": {
      const hv = r.k === "arr" ? r.items[2] : undefined;
      if (hv?.k === "obj") {
        if (m.value === "DELETE") deleteKey(hv, m.key);
        else setKey(hv, m.key, leaf(m.value));
      }
      break;
    }
    case "kvm": {
      const cmd = r.k === "arr" ? r.items[0] : undefined;
      if (cmd?.k === "arr") cmd.items.splice(m.where === 1 ? cmd.items.length : Math.floor(m.where * (cmd.items.length + 1)), 0, ...m.segment.map(leaf));
      break;
    }
    case "entries": {
      if (r.k !== "arr") break;
      const it = r.items;
      if (m.how === "drop-4th") it.splice(3);
      else if (m.how === "add-4th" && it.length === 3) it.push({ k: "arr", items: [] });
      else if (m.how === "add-5th") it.push({ k: "arr", items: [] });
      else if (m.how === "swap" && it.length > 2) [it[1], it[2]] = [it[2] as JNode, it[1] as JNode];
      else if (m.how === "empty-nics") it[1] = { k: "arr", items: [] };
      else if (m.how === "empty-disks" && it.length > 3) it[3] = { k: "arr", items: [] };
      else if (m.how === "only-2") it.splice(2);
      else if (m.how === "nics-not-list") it[1] = { k: "obj", entries: [] };
      else if (m.how === "hvparams-list") it[2] = { k: "arr", items: [] };
      break;
    }
    case "disk-entry": {
      const disks = r.k === "arr" ? r.items[3] : undefined;
      const e = disks?.k === "arr" ? nth(disks.items, m.index) : undefined;
      if (e?.k !== "arr") break;
      const d = e.items[0];
      if (m.how === "len2") e.items.splice(2);
      else if (m.how === "len4") e.items.push(leaf("null"));
      else if (m.how === "link-int") e.items[1] = leaf("5");
      else if (m.how === "link-null") e.items[1] = leaf("null");
      else if (m.how === "uri-int") e.items[2] = leaf("5");
      else if (m.how === "uri-string") e.items[2] = leaf('"rbd:ganeti/img"');
      else if (m.how === "uri-null") e.items[2] = leaf("null");
      else if (m.how === "disk-list") e.items[0] = { k: "arr", items: [] };
      else if (d?.k === "obj") {
        const child = (extra: boolean): JNode => ({
          k: "obj",
          entries: [
            { key: K("dev_type"), value: leaf('"plain"') }, { key: K("logical_id"), value: { k: "arr", items: [leaf('"xenvg"'), leaf('"data"')] } },
            { key: K("size"), value: leaf("1024") }, ...(extra ? [{ key: K("no_such_key"), value: leaf("1") }] : []),
          ],
        });
        if (m.how === "child") setKey(d, "children", { k: "arr", items: [child(false)] });
        else if (m.how === "child-extra") setKey(d, "children", { k: "arr", items: [child(true)] });
        else if (m.how === "child-not-dict") setKey(d, "children", { k: "arr", items: [leaf('"sda"')] });
        else if (m.how === "drbd") {
          setKey(d, "dev_type", leaf('"drbd"'));
          if (getKey(d, "logical_id")?.k === "arr") deleteKey(d, "logical_id");
        }
      }
      break;
    }
    case "form": {
      const d = pickDevice(r, m.dev);
      if (!d) break;
      const h = getKey(d, "hvinfo");
      const p = getKey(d, "pci");
      const addr = getKey(h, "addr");
      const hex = addr?.k === "leaf" ? /^"0[xX]([0-9a-fA-F]{1,2})"$/.exec(addr.text) : null;
      const slot = hex ? String(parseInt(hex[1] as string, 16)) : "16";
      if (m.how === "to-pci") {
        deleteKey(d, "hvinfo");
        setKey(d, "pci", leaf(slot));
      } else if (m.how === "to-hvinfo") {
        deleteKey(d, "pci");
        ensureHvinfo(d);
      } else if (m.how === "both") {
        ensureHvinfo(d);
        if (!p) setKey(d, "pci", leaf(slot));
      } else setKey(d, "hvinfo", { k: "obj", entries: [] });
      break;
    }
  }
  return root.node;
}

function applyBytes(b: Uint8Array, m: ByteMutation, seeds: readonly Uint8Array[]): Uint8Array {
  const i = Math.floor(m.at * (b.length + 1));
  const cat = (...parts: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  switch (m.op) {
    case "flip":
    case "set": {
      if (b.length === 0) return b;
      const out = b.slice();
      const j = Math.min(i, b.length - 1);
      out[j] = m.op === "flip" ? (out[j] as number) ^ (1 << m.bit) : m.byte;
      return out;
    }
    case "truncate":
      return b.slice(0, i);
    case "insert":
      return cat(b.subarray(0, i), m.bytes, b.subarray(i));
    case "bytes":
      return cat(b.subarray(0, i), Uint8Array.from(m.seq), b.subarray(Math.min(b.length, i + (m.replace ? m.seq.length : 0))));
    case "remove":
      return cat(b.subarray(0, i), b.subarray(i + m.length));
    case "repeat":
      return cat(b.subarray(0, i + m.length), b.subarray(i));
    case "splice": {
      const other = seeds[m.other % seeds.length] as Uint8Array;
      return cat(b.subarray(0, i), other.subarray(Math.floor(m.otherAt * other.length)));
    }
  }
}

export interface Seed {
  name: string;
  /** The file as it is on disk (or as Ganeti wrote it). */
  bytes: Uint8Array;
}

/** The bytes of one case: the seed, its tree mutated and printed (when there are tree mutations), then its bytes mutated. */
export function caseBytes(seeds: readonly Seed[], c: FuzzCase): { seed: Seed; bytes: Uint8Array } {
  const seed = seeds[c.seed % seeds.length] as Seed;
  let bytes = seed.bytes;
  if (c.tree.length) {
    let root = toNode(parsePyJson(new TextDecoder().decode(seed.bytes)));
    for (const m of c.tree) root = applyTree(root, m);
    bytes = new TextEncoder().encode(printNode(root));
  }
  for (const m of c.bytes) bytes = applyBytes(bytes, m, seeds.map((s) => s.bytes));
  return { seed, bytes };
}
