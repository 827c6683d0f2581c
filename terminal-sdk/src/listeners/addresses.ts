import ipaddr from 'ipaddr.js';

/**
 * The key a remote address is counted under: an IPv4 address as it is (also when it arrives mapped
 * into IPv6), an IPv6 address by its /64, since one host holds a whole /64 and could otherwise
 * take a fresh address for every connection.
 */
export function addressKey(address: string | undefined): string {
  if (!address || !ipaddr.isValid(address)) return address ?? 'unknown';
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((part) => part.toString(16)).join(':')}::/64`;
}

/**
 * Whether an address is one of `list` (addresses or CIDR ranges, IPv4 or IPv6): for the reverse
 * proxies a listener trusts. Throws on an entry that is neither, so a typo in a config is refused.
 */
export function addressMatcher(list: readonly string[]): (address: string | undefined) => boolean {
  const ranges = list.map((entry) => {
    if (entry.includes('/')) return ipaddr.parseCIDR(entry);
    const single = ipaddr.parse(entry);
    return [single, single.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
  });
  return (address) => {
    if (!address || !ipaddr.isValid(address)) return false;
    const parsed = ipaddr.process(address);
    return ranges.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
  };
}

/** Whether `entry` is an address or a CIDR range `addressMatcher` takes. */
export function isAddressOrRange(entry: string): boolean {
  return entry.includes('/') ? ipaddr.isValidCIDR(entry) : ipaddr.isValid(entry);
}
