// Which addresses the server may connect to for a URL that a user chose: public ones only, unless
// the operator of the installation allows a host or network (ALLOW_PRIVATE_URLS). Every outgoing
// request to such a URL (web import, an organization's model provider) is judged here.
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'

type Address = ipaddr.IPv4 | ipaddr.IPv6

const IPV4_LABELS: Record<string, string> = {
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  carrierGradeNat: 'carrier-grade NAT',
  private: 'private network',
}

const IPV6_LABELS: Record<string, string> = {
  unspecified: 'unspecified',
  linkLocal: 'link-local',
  multicast: 'multicast',
  loopback: 'loopback',
  uniqueLocal: 'unique local',
  deprecatedSiteLocal: 'site-local',
  discard: 'discard-only',
  rfc6145: 'IPv4-translated',
  benchmarking: 'benchmarking',
}

// ipaddr.js files these under "reserved"; the finer name makes an error message clearer.
const IPV4_RESERVED: [string, string][] = [
  ['192.0.2.0/24', 'documentation'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['198.18.0.0/15', 'benchmarking'],
]
const IPV6_DOCUMENTATION = ipaddr.IPv6.parseCIDR('2001:db8::/32')
const IPV6_GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3')
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96')

const v4FromParts = (high: number, low: number) => new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff])

function rangeOfV4(ip: ipaddr.IPv4): string {
  const range = ip.range()
  if (range === 'unicast') return 'public'
  if (range === 'reserved') {
    for (const [cidr, label] of IPV4_RESERVED) if (ip.match(ipaddr.IPv4.parseCIDR(cidr))) return label
    return 'reserved'
  }
  return IPV4_LABELS[range] ?? 'special-purpose'
}

/** An IPv6 form that carries an IPv4 address is as public as that address. */
function embedded(form: string, inner: ipaddr.IPv4[]): string {
  for (const v4 of inner) {
    const range = rangeOfV4(v4)
    if (range !== 'public') return `${form} of ${v4.toString()}, ${range}`
  }
  return 'public'
}

function rangeOfV6(ip: ipaddr.IPv6): string {
  const range = ip.range() as string
  const p = ip.parts
  switch (range) {
    // No public server is reached through these: DNS never has a reason to answer them.
    case 'ipv4Mapped':
      return `IPv4-mapped ${ip.toIPv4Address().toString()}`
    case 'rfc6052':
      // DNS64 networks answer public IPv4 sites as 64:ff9b::/96; the local-use /48 stays refused.
      return ip.match(NAT64_WELL_KNOWN) ? embedded('NAT64', [v4FromParts(p[6]!, p[7]!)]) : 'local-use NAT64'
    case '6to4':
      return embedded('6to4', [v4FromParts(p[1]!, p[2]!)])
    case 'teredo':
      // The Teredo server, and the client's address, stored inverted.
      return embedded('Teredo', [v4FromParts(p[2]!, p[3]!), v4FromParts(~p[6]! & 0xffff, ~p[7]! & 0xffff)])
    case 'reserved':
      return ip.match(IPV6_DOCUMENTATION) ? 'documentation' : 'reserved'
    case 'unicast':
      return ip.match(IPV6_GLOBAL_UNICAST) ? 'public' : 'reserved'
    default:
      return IPV6_LABELS[range] ?? 'special-purpose'
  }
}

/**
 * `public` for an address any server on the internet could have; otherwise the name of the special
 * range it is in (loopback, private network, link-local, ...). Not an IP address: `invalid`.
 */
export function addressRange(address: string): string {
  const bare = address.replace(/^\[|\]$/g, '')
  if (!isIP(bare)) return 'invalid'
  const ip = ipaddr.parse(bare)
  return ip.kind() === 'ipv4' ? rangeOfV4(ip as ipaddr.IPv4) : rangeOfV6(ip as ipaddr.IPv6)
}

/** Hosts and networks the operator lets organizations reach although they are not public. */
export type AllowList = { hosts: ReadonlySet<string>; networks: readonly [Address, number][] }

export const EMPTY_ALLOW_LIST: AllowList = { hosts: new Set(), networks: [] }

export const normalizeHost = (host: string) => host.trim().toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '')

/** Entries are host names, IP addresses or CIDR networks (`ollama.internal`, `10.0.0.0/8`), already validated by the configuration. */
export function parseAllowList(entries: readonly string[] = []): AllowList {
  const hosts = new Set<string>()
  const networks: [Address, number][] = []
  for (const raw of entries) {
    const entry = normalizeHost(raw)
    if (!entry) continue
    if (entry.includes('/')) networks.push(ipaddr.parseCIDR(entry))
    else if (isIP(entry)) {
      const ip = ipaddr.parse(entry)
      networks.push([ip, ip.kind() === 'ipv4' ? 32 : 128])
    } else hosts.add(entry)
  }
  return { hosts, networks }
}

export const isAllowedHost = (allow: AllowList, host: string) => allow.hosts.has(normalizeHost(host))

export function isAllowedAddress(allow: AllowList, address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '')
  if (!isIP(bare) || allow.networks.length === 0) return false
  // An IPv4-mapped IPv6 address is matched as the IPv4 address it stands for.
  const ip = ipaddr.process(bare)
  return allow.networks.some(([network, bits]) => network.kind() === ip.kind() && ip.match(network, bits))
}
