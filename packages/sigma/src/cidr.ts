import ipaddr from 'ipaddr.js';
import { CompileReason, SigmaCompileError } from './errors.js';

/**
 * A `sourceIPs` criterion: CIDRs (IPv4 and IPv6) parsed once, when the rule
 * is compiled, by ipaddr.js. A single address is its own /32 or /128.
 *
 * Parsing is strict: IPv4 in dotted-quad decimal only (no `10.1`, no hex,
 * no leading zeros that some parsers read as octal), a prefix length within
 * the family's bits. An IPv4-mapped IPv6 source address (`::ffff:10.0.0.1`,
 * what a dual-stack apiserver may log) is tested as the IPv4 address it
 * stands for.
 *
 * @example
 * ```ts
 * const internal = new CIDRList(['10.0.0.0/8', 'fd00::/8'], 'match.sourceIPs');
 * internal.anyInside(['192.0.2.1', '10.1.2.3']); // true
 * ```
 */
export class CIDRList {
  private readonly v4: readonly [ipaddr.IPv4, number][];
  private readonly v6: readonly [ipaddr.IPv6, number][];

  /** @throws SigmaCompileError `CIDR` for a value that is not an address or a CIDR. */
  constructor(cidrs: readonly string[], path: string) {
    const v4: [ipaddr.IPv4, number][] = [];
    const v6: [ipaddr.IPv6, number][] = [];
    cidrs.forEach((text, i) => {
      const parsed = parseCIDR(text);
      if (parsed === undefined) {
        throw new SigmaCompileError(
          CompileReason.CIDR,
          `${path}[${i}]`,
          `${JSON.stringify(text)} is not an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)`,
        );
      }
      if (parsed[0].kind() === 'ipv4') v4.push(parsed as [ipaddr.IPv4, number]);
      else v6.push(parsed as [ipaddr.IPv6, number]);
    });
    this.v4 = v4;
    this.v6 = v6;
  }

  /** True when some address of the list is inside some CIDR; a missing list or one of non-addresses holds nothing. */
  anyInside(addresses: unknown): boolean {
    if (!Array.isArray(addresses)) return false;
    for (let i = 0; i < addresses.length; i++) {
      const text: unknown = addresses[i];
      if (typeof text === 'string' && this.inside(text)) return true;
    }
    return false;
  }

  private inside(text: string): boolean {
    if (!ipaddr.isValid(text)) return false;
    // process() turns an IPv4-mapped IPv6 address into the IPv4 address.
    const address = ipaddr.process(text);
    const ranges = address.kind() === 'ipv4' ? this.v4 : this.v6;
    for (let i = 0; i < ranges.length; i++) if (address.match(ranges[i]!)) return true;
    return false;
  }
}

function parseCIDR(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const bitsText = slash === -1 ? undefined : text.slice(slash + 1);
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address) && ipaddr.IPv4.isValidFourPartDecimal(address)) {
    if (address.split('.').some((part) => part.length > 1 && part.startsWith('0'))) return undefined;
    parsed = ipaddr.IPv4.parse(address);
  } else if (address.includes(':') && ipaddr.IPv6.isValid(address)) {
    parsed = ipaddr.IPv6.parse(address);
  } else {
    return undefined;
  }
  const max = parsed.kind() === 'ipv4' ? 32 : 128;
  if (bitsText === undefined) return [parsed, max];
  if (!/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  return bits <= max ? [parsed, bits] : undefined;
}
